// One JSON record per (function, qualifier) in a table of the state database,
// cascading away with the function: what event invoke configs, provisioned
// concurrency configs and function URL configs all are.
import type Database from 'better-sqlite3';
import { migrateComponent } from './sqlite-component.js';
import { openSqlite } from './sqlite-state.js';

interface Keyed {
  functionName: string;
  qualifier: string;
}

/** Whether a write failed because the function went away between the check and the write. */
export const isMissingFunction = (err: unknown): boolean => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY';

export class SqliteQualifierRows<T extends Keyed> {
  readonly db: Database.Database;
  private readonly stmt;

  /**
   * `path` is the state database: the functions table must exist there already.
   * The table's migrations must give it function_name, qualifier and data columns.
   */
  constructor(path: string, table: string, migrations: string[]) {
    this.db = openSqlite(path);
    migrateComponent(this.db, table, migrations);
    const db = this.db;
    this.stmt = {
      get: db.prepare<[string, string], { data: string }>(`SELECT data FROM ${table} WHERE function_name = ? AND qualifier = ?`),
      upsert: db.prepare(
        `INSERT INTO ${table} (function_name, qualifier, data) VALUES (?, ?, ?)
         ON CONFLICT (function_name, qualifier) DO UPDATE SET data = excluded.data`,
      ),
      delete: db.prepare(`DELETE FROM ${table} WHERE function_name = ? AND qualifier = ?`),
      list: db.prepare<[string, number], { data: string }>(`SELECT data FROM ${table} WHERE function_name = ? ORDER BY qualifier LIMIT ?`),
      listAfter: db.prepare<[string, string, number], { data: string }>(
        `SELECT data FROM ${table} WHERE function_name = ? AND qualifier > ? ORDER BY qualifier LIMIT ?`,
      ),
      listAll: db.prepare<[], { data: string }>(`SELECT data FROM ${table} ORDER BY function_name, qualifier`),
    };
  }

  get(functionName: string, qualifier: string): T | undefined {
    const row = this.stmt.get.get(functionName, qualifier);
    return row ? (JSON.parse(row.data) as T) : undefined;
  }

  /** False when the function went away between the check and the write. */
  upsert(record: T): boolean {
    try {
      this.stmt.upsert.run(record.functionName, record.qualifier, JSON.stringify(record));
      return true;
    } catch (err) {
      if (isMissingFunction(err)) return false;
      throw err;
    }
  }

  delete(functionName: string, qualifier: string): boolean {
    return this.stmt.delete.run(functionName, qualifier).changes === 1;
  }

  /** One function's records in qualifier order, after `after` (exclusive) when given, at most `limit`. */
  list(functionName: string, after?: string, limit = -1): T[] {
    const rows = after === undefined ? this.stmt.list.all(functionName, limit) : this.stmt.listAfter.all(functionName, after, limit);
    return rows.map((r) => JSON.parse(r.data) as T);
  }

  /** Every record, by function then qualifier (startup). */
  listAll(): T[] {
    return this.stmt.listAll.all().map((r) => JSON.parse(r.data) as T);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
