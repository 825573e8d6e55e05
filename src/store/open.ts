// Which stores a Kindling process uses: the embedded default (SQLite files and
// a code folder in the data directory) or cluster mode's (PostgreSQL for state
// and the queue, an S3-compatible bucket for code). Everything above this file
// sees only the interfaces.
import { randomBytes } from 'node:crypto';
import type { EventConfigStore } from '../async/event-config.js';
import type { EventQueue } from '../async/queue.js';
import type { LayerStore } from '../control/layers.js';
import type { FunctionUrlStore } from '../control/urls.js';
import type { FunctionChange } from '../control/functions.js';
import { ensureRootKey, newRootKey, rootKeyFromEnv, serverSecret, writeRootKeyFile, type AccessKey, type RootKeySource } from '../credentials.js';
import type { CodeStore } from './code.js';
import type { DataDir } from './datadir.js';
import { FsCodeStore } from './fs-code.js';
import { SqliteKeyStore, type KeyStore } from './keys.js';
import { SqliteLogStore, type LogStore } from './logs.js';
import { type ChangeFeedHandlers, PgChangeFeed } from './postgres/changes.js';
import { sharedPostgres } from './postgres/db.js';
import { PgEventConfigStore } from './postgres/event-config.js';
import { PgFunctionUrlStore } from './postgres/function-urls.js';
import { PgKeyStore } from './postgres/keys.js';
import { PgLayerStore } from './postgres/layers.js';
import { PgLogStore } from './postgres/logs.js';
import { PgProvisionedConfigStore } from './postgres/provisioned.js';
import { PgEventQueue, pgStorageFailure } from './postgres/queue.js';
import { clusterSecrets } from './postgres/secrets.js';
import { PgStateStore } from './postgres/state.js';
import { isS3Url, parseS3Url, S3CodeStore } from './s3-code.js';
import { SqliteEventConfigStore } from './sqlite-event-config.js';
import { SqliteFunctionUrlStore } from './sqlite-function-urls.js';
import { SqliteLayerStore } from './sqlite-layers.js';
import type { ProvisionedConfigStore } from './provisioned.js';
import { SqliteProvisionedConfigStore } from './sqlite-provisioned.js';
import { SqliteEventQueue, sqliteStorageFailure } from './sqlite-queue.js';
import { SqliteStateStore } from './sqlite-state.js';
import type { StateStore } from './state.js';

export interface StoreLocations {
  /** postgres://... for cluster mode; undefined: state.sqlite and queue.sqlite in the data folder. */
  stateUrl?: string | undefined;
  /** s3://bucket[/prefix] for cluster mode; undefined: the data folder's code/. */
  codeUrl?: string | undefined;
  /** Hears of background writes that failed (cluster mode's buffered log lines). */
  onBackgroundError?: (err: unknown, what: string) => void;
}

/** Tells the cluster's other processes what changed here. */
export interface ChangeFeed {
  publish(change: FunctionChange): void;
}

export interface Stores {
  /** Where state lives, for the start-up line and the hosts API. */
  readonly stateBackend: 'sqlite' | 'postgres';
  readonly codeBackend: 'folder' | 's3';
  state: StateStore;
  code: CodeStore;
  layers: LayerStore;
  urls: FunctionUrlStore;
  provisioned: ProvisionedConfigStore;
  eventConfigs: EventConfigStore;
  queue: EventQueue;
  keys: KeyStore;
  logs: LogStore;
  /** What to tell a client whose event could not be stored; undefined when `err` is no storage failure. */
  storageFailure(err: unknown): string | undefined;
  /** True when this process is the only one using the queue (it may reset leases at start). */
  readonly queueIsPrivate: boolean;
  /** The root access key, and where it came from. */
  readonly root: { key: AccessKey; source: RootKeySource };
  /** Signs code download links (shared by a cluster's frontends). */
  readonly serverSecret: Buffer;
  /** Function changes to and from the cluster's other processes; undefined in embedded mode. */
  changeFeed(handlers: ChangeFeedHandlers, onPublishError: (err: unknown) => void): Promise<ChangeFeed | undefined>;
  close(): Promise<void>;
}

/** Opens every store; on failure closes what was opened and throws. */
export async function openStores(dir: DataDir, where: StoreLocations = {}): Promise<Stores> {
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) await fn();
  };
  try {
    const code = openCode(where.codeUrl, dir);
    if (code instanceof S3CodeStore) closers.push(() => code.close());
    const codeBackend = code instanceof S3CodeStore ? 's3' : 'folder';
    if (where.stateUrl !== undefined) return { ...(await openPostgresStores(where.stateUrl, dir, closers, where.onBackgroundError)), code, codeBackend, close };
    const root = ensureRootKey(dir.path);
    const statePath = dir.file('state.sqlite');
    const state = new SqliteStateStore(statePath);
    closers.push(() => state.close());
    const layers = new SqliteLayerStore(statePath);
    closers.push(() => layers.close());
    const urls = new SqliteFunctionUrlStore(statePath);
    closers.push(() => urls.close());
    const provisioned = new SqliteProvisionedConfigStore(statePath);
    closers.push(() => provisioned.close());
    const eventConfigs = new SqliteEventConfigStore(statePath);
    closers.push(() => eventConfigs.close());
    const queue = new SqliteEventQueue(dir.file('queue.sqlite'));
    closers.push(() => queue.close());
    const keys = new SqliteKeyStore(dir.file('keys.sqlite'), root.key);
    closers.push(() => keys.close());
    const logs = new SqliteLogStore(dir.file('logs.sqlite'));
    closers.push(() => logs.close());
    return {
      stateBackend: 'sqlite',
      codeBackend,
      root,
      serverSecret: serverSecret(dir.path),
      state,
      code,
      layers,
      urls,
      provisioned,
      eventConfigs,
      queue,
      keys,
      logs,
      storageFailure: sqliteStorageFailure,
      queueIsPrivate: true,
      // One process: there is no one else to tell.
      changeFeed: async () => undefined,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Cluster mode's state: every store on one pool. The state component is
 * migrated first (the per-qualifier tables reference its functions table).
 * The root key and code-link secret are the cluster's, so that any frontend
 * accepts what another signed; the root key is also written to the data
 * folder, where `kindling` commands on this machine read it.
 */
async function openPostgresStores(
  url: string,
  dir: DataDir,
  closers: (() => Promise<void> | void)[],
  onBackgroundError: (err: unknown, what: string) => void = () => {},
): Promise<Omit<Stores, 'code' | 'codeBackend' | 'close'>> {
  const db = sharedPostgres(url);
  closers.push(() => db.close());
  const env = rootKeyFromEnv();
  const secrets = await clusterSecrets(db, { rootKey: env ?? newRootKey(), serverSecret: randomBytes(32) });
  // A key from the environment wins for this process (as in embedded mode).
  const root = env ? { key: env, source: 'env' as const } : { key: secrets.rootKey, source: secrets.createdRootKey ? ('created' as const) : ('cluster' as const) };
  if (!env) writeRootKeyFile(dir.path, secrets.rootKey);
  const state = await PgStateStore.open(db);
  closers.push(() => state.close());
  const layers = await PgLayerStore.open(db);
  closers.push(() => layers.close());
  const urls = await PgFunctionUrlStore.open(db);
  closers.push(() => urls.close());
  const provisioned = await PgProvisionedConfigStore.open(db);
  closers.push(() => provisioned.close());
  const eventConfigs = await PgEventConfigStore.open(db);
  closers.push(() => eventConfigs.close());
  const queue = await PgEventQueue.open(db);
  closers.push(() => queue.close());
  const keys = await PgKeyStore.open(db, root.key);
  closers.push(() => keys.close());
  const logs = await PgLogStore.open(db, { onError: (err) => onBackgroundError(err, 'function log lines') });
  closers.push(() => logs.close());
  return {
    stateBackend: 'postgres',
    root,
    serverSecret: secrets.serverSecret,
    state,
    layers,
    urls,
    provisioned,
    eventConfigs,
    queue,
    keys,
    logs,
    storageFailure: pgStorageFailure,
    // Other frontends lease from the same queue: leases are theirs to let lapse.
    queueIsPrivate: false,
    changeFeed: async (handlers, onPublishError) => {
      const feed = await PgChangeFeed.open(db, handlers, onPublishError);
      closers.push(() => feed.close());
      return feed;
    },
  };
}

function openCode(url: string | undefined, dir: DataDir): CodeStore {
  if (url === undefined) return new FsCodeStore(dir.file('code'));
  if (!isS3Url(url)) throw new Error(`--code takes an s3://bucket[/prefix] URL, not '${url}'`);
  return new S3CodeStore(parseS3Url(url));
}
