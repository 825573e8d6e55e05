// Access keys: the root key (from the environment or DATA/root-key.json, kept
// in memory only) and keys made with `kindling keys create`. SigV4
// verification needs the secret itself, so secrets are stored as they are;
// they leave this module only to the verifier and, once, to the caller that
// created the key. Every store keeps all keys in memory: the verifier looks a
// secret up on each request, synchronously, with no query on the hot path.
//
// SqliteKeyStore (here) keeps them in DATA/keys.sqlite (owner-only, 0600);
// PgKeyStore (postgres/keys.ts) in a cluster's database.
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

export interface KeyStore {
  /** For the SigV4 verifier: from memory, never a query. */
  secretFor(accessKeyId: string): string | undefined;
  isRoot(accessKeyId: string): boolean;
  get(accessKeyId: string): KeyInfo | undefined;
  /** Called with the id of every key deleted, here or (cluster mode) by another process, so caches can forget it. */
  onDelete(fn: (accessKeyId: string) => void): void;
  create(name?: string): Promise<CreatedKey>;
  /** The root key first, then by creation time. */
  list(): Promise<KeyInfo[]>;
  /** Deletes a created key; false when there is none. The root key is never deleted here. */
  delete(accessKeyId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A stored key's row (the same columns in SQLite and PostgreSQL). */
export interface KeyRow {
  access_key_id: string;
  secret: string;
  name: string;
  created_at: number;
}

/** A new access key id and secret. */
export function newKey(): { accessKeyId: string; secretAccessKey: string } {
  return { accessKeyId: `AKKL${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
}

/** The in-memory half every store shares: keys by id, the root key that cannot be shadowed, delete listeners. */
export class KeyMemory {
  private byId = new Map<string, { secret: string; info: KeyInfo }>();
  private readonly listeners: ((accessKeyId: string) => void)[] = [];

  constructor(
    private readonly rootKey: AccessKey,
    private readonly rootCreatedAt: Date,
  ) {
    this.replace([]);
  }

  /** Replaces every stored key with `rows` (the root key stays); returns the ids that went away. */
  replace(rows: KeyRow[]): string[] {
    const before = this.byId;
    this.byId = new Map();
    for (const row of rows) this.remember(row);
    this.setRoot();
    return [...before.keys()].filter((id) => !this.byId.has(id));
  }

  remember(row: KeyRow): void {
    // The root key wins over a stored key of the same id.
    if (row.access_key_id === this.rootKey.accessKeyId) return;
    this.byId.set(row.access_key_id, {
      secret: row.secret,
      info: { accessKeyId: row.access_key_id, name: row.name, createdAt: new Date(row.created_at), root: false },
    });
  }

  private setRoot(): void {
    const { accessKeyId, secretAccessKey } = this.rootKey;
    this.byId.set(accessKeyId, { secret: secretAccessKey, info: { accessKeyId, name: 'root', createdAt: this.rootCreatedAt, root: true } });
  }

  /** Forgets a key; true when it was known. */
  forget(accessKeyId: string): boolean {
    if (this.isRoot(accessKeyId)) return false;
    return this.byId.delete(accessKeyId);
  }

  deleted(accessKeyId: string): void {
    for (const fn of this.listeners) fn(accessKeyId);
  }

  onDelete(fn: (accessKeyId: string) => void): void {
    this.listeners.push(fn);
  }

  secretFor(accessKeyId: string): string | undefined {
    return this.byId.get(accessKeyId)?.secret;
  }

  isRoot(accessKeyId: string): boolean {
    return accessKeyId === this.rootKey.accessKeyId;
  }

  get(accessKeyId: string): KeyInfo | undefined {
    return this.byId.get(accessKeyId)?.info;
  }

  list(): KeyInfo[] {
    return sortKeys([...this.byId.values()].map((k) => k.info));
  }
}

/** What every store answers from memory; subclasses store and load the keys. */
export abstract class MemoryBackedKeyStore implements KeyStore {
  protected readonly memory: KeyMemory;

  constructor(rootKey: AccessKey, rootCreatedAt: Date) {
    this.memory = new KeyMemory(rootKey, rootCreatedAt);
  }

  secretFor(accessKeyId: string): string | undefined {
    return this.memory.secretFor(accessKeyId);
  }

  isRoot(accessKeyId: string): boolean {
    return this.memory.isRoot(accessKeyId);
  }

  get(accessKeyId: string): KeyInfo | undefined {
    return this.memory.get(accessKeyId);
  }

  onDelete(fn: (accessKeyId: string) => void): void {
    this.memory.onDelete(fn);
  }

  abstract create(name?: string): Promise<CreatedKey>;
  abstract list(): Promise<KeyInfo[]>;
  abstract delete(accessKeyId: string): Promise<boolean>;
  abstract close(): Promise<void>;
}

export const sortKeys = (keys: KeyInfo[]): KeyInfo[] =>
  keys.sort((a, b) => Number(b.root) - Number(a.root) || a.createdAt.getTime() - b.createdAt.getTime() || (a.accessKeyId < b.accessKeyId ? -1 : 1));

const MIGRATIONS = [
  `CREATE TABLE access_keys (
     access_key_id TEXT PRIMARY KEY,
     secret TEXT NOT NULL,
     name TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );`,
];

export class SqliteKeyStore extends MemoryBackedKeyStore {
  private readonly db: Database.Database;

  constructor(path: string, rootKey: AccessKey, rootCreatedAt = new Date(0)) {
    super(rootKey, rootCreatedAt);
    // Made owner-only before SQLite opens it (its -wal and -shm files take the same mode).
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    migrate(this.db, MIGRATIONS);
    this.memory.replace(this.db.prepare('SELECT * FROM access_keys').all() as KeyRow[]);
  }

  async create(name = ''): Promise<CreatedKey> {
    const { accessKeyId, secretAccessKey } = newKey();
    const createdAt = Date.now();
    this.db
      .prepare('INSERT INTO access_keys (access_key_id, secret, name, created_at) VALUES (?, ?, ?, ?)')
      .run(accessKeyId, secretAccessKey, name, createdAt);
    this.memory.remember({ access_key_id: accessKeyId, secret: secretAccessKey, name, created_at: createdAt });
    return { accessKeyId, secretAccessKey, name, createdAt: new Date(createdAt), root: false };
  }

  async list(): Promise<KeyInfo[]> {
    return this.memory.list();
  }

  async delete(accessKeyId: string): Promise<boolean> {
    if (this.isRoot(accessKeyId)) return false;
    const { changes } = this.db.prepare('DELETE FROM access_keys WHERE access_key_id = ?').run(accessKeyId);
    const had = this.memory.forget(accessKeyId);
    this.memory.deleted(accessKeyId);
    return changes > 0 || had;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
