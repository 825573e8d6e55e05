// Access keys: the root key (from the environment or DATA/root-key.json, kept
// in memory only) and keys made with `kindling keys create`, kept in
// DATA/keys.sqlite (owner-only, 0600). SigV4 verification needs the secret
// itself, so secrets are stored as they are; they leave this module only to
// the verifier and, once, to the caller that created the key.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { AccessKey } from '../credentials.js';
import { migrate } from './sqlite-state.js';

export interface KeyInfo {
  accessKeyId: string;
  name: string;
  createdAt: Date;
  root: boolean;
}

export interface CreatedKey extends KeyInfo {
  secretAccessKey: string;
}

const MIGRATIONS = [
  `CREATE TABLE access_keys (
     access_key_id TEXT PRIMARY KEY,
     secret TEXT NOT NULL,
     name TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );`,
];

interface Row {
  access_key_id: string;
  secret: string;
  name: string;
  created_at: number;
}

export class KeyStore {
  private readonly db: Database.Database;
  /** Every key by id; the verifier reads this on each request, so no query on the hot path. */
  private readonly byId = new Map<string, { secret: string; info: KeyInfo }>();
  private readonly listeners: ((accessKeyId: string) => void)[] = [];

  constructor(
    path: string,
    private readonly rootKey: AccessKey,
    rootCreatedAt = new Date(0),
  ) {
    // Made owner-only before SQLite opens it (its -wal and -shm files take the same mode).
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    migrate(this.db, MIGRATIONS);
    for (const row of this.db.prepare('SELECT * FROM access_keys').all() as Row[]) this.remember(row);
    // The root key wins over a stored key of the same id (it cannot be shadowed).
    this.byId.set(rootKey.accessKeyId, {
      secret: rootKey.secretAccessKey,
      info: { accessKeyId: rootKey.accessKeyId, name: 'root', createdAt: rootCreatedAt, root: true },
    });
  }

  private remember(row: Row): void {
    this.byId.set(row.access_key_id, {
      secret: row.secret,
      info: { accessKeyId: row.access_key_id, name: row.name, createdAt: new Date(row.created_at), root: false },
    });
  }

  /** For the SigV4 verifier. */
  secretFor(accessKeyId: string): string | undefined {
    return this.byId.get(accessKeyId)?.secret;
  }

  isRoot(accessKeyId: string): boolean {
    return accessKeyId === this.rootKey.accessKeyId;
  }

  /** Called with the id of every key deleted (so caches can forget it). */
  onDelete(fn: (accessKeyId: string) => void): void {
    this.listeners.push(fn);
  }

  create(name = ''): CreatedKey {
    const accessKeyId = `AKKL${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64url');
    const createdAt = Date.now();
    this.db
      .prepare('INSERT INTO access_keys (access_key_id, secret, name, created_at) VALUES (?, ?, ?, ?)')
      .run(accessKeyId, secretAccessKey, name, createdAt);
    this.remember({ access_key_id: accessKeyId, secret: secretAccessKey, name, created_at: createdAt });
    return { accessKeyId, secretAccessKey, name, createdAt: new Date(createdAt), root: false };
  }

  list(): KeyInfo[] {
    return [...this.byId.values()]
      .map((k) => k.info)
      .sort((a, b) => Number(b.root) - Number(a.root) || a.createdAt.getTime() - b.createdAt.getTime() || (a.accessKeyId < b.accessKeyId ? -1 : 1));
  }

  get(accessKeyId: string): KeyInfo | undefined {
    return this.byId.get(accessKeyId)?.info;
  }

  /** Deletes a created key; false when there is none. The root key is never deleted here. */
  delete(accessKeyId: string): boolean {
    if (this.isRoot(accessKeyId)) return false;
    const { changes } = this.db.prepare('DELETE FROM access_keys WHERE access_key_id = ?').run(accessKeyId);
    const had = this.byId.delete(accessKeyId);
    for (const fn of this.listeners) fn(accessKeyId);
    return changes > 0 || had;
  }

  close(): void {
    this.db.close();
  }
}
