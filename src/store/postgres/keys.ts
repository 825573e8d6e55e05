// Access keys on PostgreSQL (cluster mode): the table access_keys, held whole
// in every process's memory for the SigV4 verifier. Creates and deletes NOTIFY
// a channel in their transaction (so at COMMIT); every process LISTENs on it
// and applies the change within milliseconds, so a key made at one frontend
// signs requests to all of them and a deleted key stops working everywhere.
// Notifications sent while a listener was disconnected are lost: it reloads
// the whole table when it reconnects. Payloads carry ids only, never secrets.
//
// Notifications and reloads race with this process's own writes (a process
// hears its own notifications too, sometimes before its COMMIT returns), so
// deleted ids are remembered for a while: a row read in flight when the key
// was deleted never brings it back, and listeners hear of each delete once.
import type { AccessKey } from '../../credentials.js';
import { MemoryBackedKeyStore, newKey, sortKeys, type CreatedKey, type KeyInfo, type KeyRow } from '../keys.js';
import { migrateComponent, type PostgresDb } from './db.js';
import { notify, PgListener } from './listener.js';

export const KEYS_CHANNEL = 'kindling_access_keys';
const RELOAD_RETRY_MS = 1000;
/** Deleted ids remembered (ids are random and never reused; this bounds the memory). */
const TOMBSTONES_MAX = 10_000;

const MIGRATIONS = [
  `CREATE TABLE access_keys (
     access_key_id TEXT PRIMARY KEY,
     secret TEXT NOT NULL,
     name TEXT NOT NULL,
     created_at BIGINT NOT NULL
   );`,
];

interface Change {
  op: 'created' | 'deleted';
  id: string;
}

function parseChange(payload: string): Change | undefined {
  try {
    const msg = JSON.parse(payload) as Partial<Change>;
    if ((msg.op === 'created' || msg.op === 'deleted') && typeof msg.id === 'string') return { op: msg.op, id: msg.id };
  } catch {
    // not ours
  }
  return undefined;
}

export class PgKeyStore extends MemoryBackedKeyStore {
  private readonly listener: PgListener;
  /** Notifications and reloads, applied one at a time in arrival order. */
  private chain: Promise<void> = Promise.resolve();
  /** Ids deleted here or elsewhere, oldest first. */
  private readonly tombstones = new Set<string>();
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly db: PostgresDb,
    rootKey: AccessKey,
    rootCreatedAt: Date,
  ) {
    super(rootKey, rootCreatedAt);
    this.listener = new PgListener(db.url, [KEYS_CHANNEL], {
      notification: (_channel, payload) => {
        const change = parseChange(payload);
        if (change) void this.enqueue(() => this.apply(change));
      },
      reconnected: () => void this.enqueue(() => this.reload()),
    });
  }

  /** The database is the caller's: close() leaves it open. */
  static async open(db: PostgresDb, rootKey: AccessKey, rootCreatedAt = new Date(0)): Promise<PgKeyStore> {
    await migrateComponent(db, 'access_keys', MIGRATIONS);
    const store = new PgKeyStore(db, rootKey, rootCreatedAt);
    // Listening before the first load: a key made meanwhile is in the load or in a notification after it.
    await store.listener.start();
    try {
      await store.reload();
    } catch (err) {
      await store.listener.close();
      throw err;
    }
    return store;
  }

  /** Runs `step` after the ones before it; a failed step means changes may be missed, so the table is read again. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.catch(() => this.reloadLater());
    return run;
  }

  private reloadLater(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.enqueue(() => this.reload());
    }, RELOAD_RETRY_MS);
    this.retry.unref();
  }

  private async reload(): Promise<void> {
    if (this.closed) return;
    const rows = await this.db.pool.query<KeyRow>('SELECT access_key_id, secret, name, created_at FROM access_keys');
    const gone = this.memory.replace(rows.rows.filter((r) => !this.tombstones.has(r.access_key_id)));
    for (const id of gone) this.gone(id);
  }

  private async apply(change: Change): Promise<void> {
    if (this.closed) return;
    if (change.op === 'deleted') return this.gone(change.id);
    const r = await this.db.pool.query<KeyRow>('SELECT access_key_id, secret, name, created_at FROM access_keys WHERE access_key_id = $1', [
      change.id,
    ]);
    // No row: deleted since, and its own notification follows.
    const row = r.rows[0];
    if (row && !this.tombstones.has(row.access_key_id)) this.memory.remember(row);
  }

  /** A key deleted (here, elsewhere, or missing from a reload): forgotten, and listeners told once. */
  private gone(accessKeyId: string): void {
    if (this.isRoot(accessKeyId)) return;
    this.memory.forget(accessKeyId);
    if (this.tombstones.has(accessKeyId)) return;
    this.tombstones.add(accessKeyId);
    if (this.tombstones.size > TOMBSTONES_MAX) this.tombstones.delete(this.tombstones.values().next().value!);
    this.memory.deleted(accessKeyId);
  }

  async create(name = ''): Promise<CreatedKey> {
    const { accessKeyId, secretAccessKey } = newKey();
    const createdAt = Date.now();
    await this.db.transaction(async (c) => {
      await c.query('INSERT INTO access_keys (access_key_id, secret, name, created_at) VALUES ($1, $2, $3, $4)', [
        accessKeyId,
        secretAccessKey,
        name,
        createdAt,
      ]);
      await notify(c, KEYS_CHANNEL, JSON.stringify({ op: 'created', id: accessKeyId } satisfies Change));
    });
    const row: KeyRow = { access_key_id: accessKeyId, secret: secretAccessKey, name, created_at: createdAt };
    this.memory.remember(row);
    // Again after a reload that may be reading the table from before this key (it would drop it).
    await this.enqueue(async () => {
      this.tombstones.delete(accessKeyId);
      this.memory.remember(row);
    });
    return { accessKeyId, secretAccessKey, name, createdAt: new Date(createdAt), root: false };
  }

  /** From the table, not memory: what the cluster has, even before a notification arrives. */
  async list(): Promise<KeyInfo[]> {
    const rows = await this.db.pool.query<Omit<KeyRow, 'secret'>>('SELECT access_key_id, name, created_at FROM access_keys');
    const root = this.memory.list().filter((k) => k.root);
    const stored = rows.rows
      .filter((r) => !this.isRoot(r.access_key_id))
      .map((r): KeyInfo => ({ accessKeyId: r.access_key_id, name: r.name, createdAt: new Date(r.created_at), root: false }));
    return sortKeys([...root, ...stored]);
  }

  async delete(accessKeyId: string): Promise<boolean> {
    if (this.isRoot(accessKeyId)) return false;
    const had = this.memory.get(accessKeyId) !== undefined;
    const removed = await this.db.transaction(async (c) => {
      const r = await c.query('DELETE FROM access_keys WHERE access_key_id = $1', [accessKeyId]);
      const n = r.rowCount ?? 0;
      // Also when only this process still knew it: others may be as stale.
      if (n > 0 || had) await notify(c, KEYS_CHANNEL, JSON.stringify({ op: 'deleted', id: accessKeyId } satisfies Change));
      return n;
    });
    this.gone(accessKeyId);
    return removed > 0 || had;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    await this.listener.close();
    await this.chain;
  }
}
