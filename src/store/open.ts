// Which stores a Kindling process uses: the embedded default (SQLite files and
// a code folder in the data directory) or cluster mode's (PostgreSQL for state
// and the queue, an S3-compatible bucket for code). Everything above this file
// sees only the interfaces.
import type { EventConfigStore } from '../async/event-config.js';
import type { EventQueue } from '../async/queue.js';
import type { LayerStore } from '../control/layers.js';
import type { FunctionUrlStore } from '../control/urls.js';
import type { AccessKey } from '../credentials.js';
import type { CodeStore } from './code.js';
import type { DataDir } from './datadir.js';
import { FsCodeStore } from './fs-code.js';
import { KeyStore } from './keys.js';
import { SqliteLogStore } from './logs.js';
import { isS3Url, parseS3Url, S3CodeStore } from './s3-code.js';
import { SqliteEventConfigStore } from './sqlite-event-config.js';
import { SqliteFunctionUrlStore } from './sqlite-function-urls.js';
import { SqliteLayerStore } from './sqlite-layers.js';
import { SqliteProvisionedConfigStore } from './sqlite-provisioned.js';
import { SqliteEventQueue, sqliteStorageFailure } from './sqlite-queue.js';
import { SqliteStateStore } from './sqlite-state.js';
import type { StateStore } from './state.js';

export interface StoreLocations {
  /** postgres://... for cluster mode; undefined: state.sqlite and queue.sqlite in the data folder. */
  stateUrl?: string | undefined;
  /** s3://bucket[/prefix] for cluster mode; undefined: the data folder's code/. */
  codeUrl?: string | undefined;
}

export interface Stores {
  /** Where state lives, for the start-up line and the hosts API. */
  readonly stateBackend: 'sqlite' | 'postgres';
  readonly codeBackend: 'folder' | 's3';
  state: StateStore;
  code: CodeStore;
  layers: LayerStore;
  urls: FunctionUrlStore;
  provisioned: SqliteProvisionedConfigStore;
  eventConfigs: EventConfigStore;
  queue: EventQueue;
  keys: KeyStore;
  logs: SqliteLogStore;
  /** What to tell a client whose event could not be stored; undefined when `err` is no storage failure. */
  storageFailure(err: unknown): string | undefined;
  /** True when this process is the only one using the queue (it may reset leases at start). */
  readonly queueIsPrivate: boolean;
  close(): Promise<void>;
}

/** Opens every store; on failure closes what was opened and throws. */
export async function openStores(dir: DataDir, rootKey: AccessKey, where: StoreLocations = {}): Promise<Stores> {
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) await fn();
  };
  try {
    const code = openCode(where.codeUrl, dir);
    if (code instanceof S3CodeStore) closers.push(() => code.close());
    if (where.stateUrl !== undefined) throw new Error('PostgreSQL state is not wired yet');
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
    const keys = new KeyStore(dir.file('keys.sqlite'), rootKey);
    closers.push(() => keys.close());
    const logs = new SqliteLogStore(dir.file('logs.sqlite'));
    closers.push(() => logs.close());
    return {
      stateBackend: 'sqlite',
      codeBackend: code instanceof S3CodeStore ? 's3' : 'folder',
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
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function openCode(url: string | undefined, dir: DataDir): CodeStore {
  if (url === undefined) return new FsCodeStore(dir.file('code'));
  if (!isS3Url(url)) throw new Error(`--code takes an s3://bucket[/prefix] URL, not '${url}'`);
  return new S3CodeStore(parseS3Url(url));
}
