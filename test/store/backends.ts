// The two backends a store contract runs against: a SQLite file in a fresh
// folder, or a fresh PostgreSQL database where each open() is a pool of its
// own, as separate processes would have.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgres, type PostgresDb } from '../../src/store/postgres/db.js';
import { freshDatabase } from '../helpers/postgres.js';

export interface Backend<T> {
  /** A store on the backend's data, as a (re)started process opens it. */
  open(): Promise<T>;
  close(): Promise<void>;
}

interface Closable {
  close(): Promise<void>;
}

export async function onSqlite<T extends Closable>(file: string, make: (path: string) => T): Promise<Backend<T>> {
  const dir = await mkdtemp(join(tmpdir(), 'kindling-contract-'));
  const stores: T[] = [];
  return {
    open: async () => {
      const s = make(join(dir, file));
      stores.push(s);
      return s;
    },
    close: async () => {
      for (const s of stores) await s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function onPostgres<T extends Closable>(make: (db: PostgresDb) => Promise<T>): Promise<Backend<T> & { url: string }> {
  const fresh = await freshDatabase();
  const opened: { store: T; db: PostgresDb }[] = [];
  return {
    url: fresh.url,
    open: async () => {
      const db = openPostgres(fresh.url, { max: 3 });
      const store = await make(db);
      opened.push({ store, db });
      return store;
    },
    close: async () => {
      for (const o of opened) {
        await o.store.close();
        await o.db.close();
      }
      await fresh.drop();
    },
  };
}
