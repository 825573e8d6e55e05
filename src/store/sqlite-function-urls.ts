// Function URL configs in the state database (state.sqlite), beside the
// functions they belong to, cascading away with the function.
import type Database from 'better-sqlite3';
import type { FunctionUrlRecord, FunctionUrlStore } from '../control/urls.js';
import { migrateComponent } from './sqlite-component.js';
import { openSqlite } from './sqlite-state.js';

const COMPONENT = 'function_url_configs';
const MIGRATIONS: string[] = [
  `CREATE TABLE function_url_configs (
     function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     qualifier TEXT NOT NULL,
     url_id TEXT NOT NULL UNIQUE,
     data TEXT NOT NULL,
     PRIMARY KEY (function_name, qualifier)
   );`,
];

export class SqliteFunctionUrlStore implements FunctionUrlStore {
  private readonly db: Database.Database;
  private readonly stmt;

  /** `path` is the state database: the functions table must exist there already. */
  constructor(path: string) {
    this.db = openSqlite(path);
    migrateComponent(this.db, COMPONENT, MIGRATIONS);
    const db = this.db;
    this.stmt = {
      get: db.prepare<[string, string], { data: string }>('SELECT data FROM function_url_configs WHERE function_name = ? AND qualifier = ?'),
      byUrlId: db.prepare<[string], { data: string }>('SELECT data FROM function_url_configs WHERE url_id = ?'),
      insert: db.prepare('INSERT INTO function_url_configs (function_name, qualifier, url_id, data) VALUES (?, ?, ?, ?)'),
      update: db.prepare('UPDATE function_url_configs SET data = ? WHERE function_name = ? AND qualifier = ?'),
      delete: db.prepare('DELETE FROM function_url_configs WHERE function_name = ? AND qualifier = ?'),
      list: db.prepare<[string], { data: string }>('SELECT data FROM function_url_configs WHERE function_name = ? ORDER BY qualifier'),
    };
  }

  async get(functionName: string, qualifier: string): Promise<FunctionUrlRecord | undefined> {
    const row = this.stmt.get.get(functionName, qualifier);
    return row ? (JSON.parse(row.data) as FunctionUrlRecord) : undefined;
  }

  async getByUrlId(urlId: string): Promise<FunctionUrlRecord | undefined> {
    const row = this.stmt.byUrlId.get(urlId);
    return row ? (JSON.parse(row.data) as FunctionUrlRecord) : undefined;
  }

  async create(r: FunctionUrlRecord): Promise<boolean> {
    try {
      this.stmt.insert.run(r.functionName, r.qualifier, r.urlId, JSON.stringify(r));
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
      throw err;
    }
  }

  async update(r: FunctionUrlRecord): Promise<void> {
    this.stmt.update.run(JSON.stringify(r), r.functionName, r.qualifier);
  }

  async delete(functionName: string, qualifier: string): Promise<boolean> {
    return this.stmt.delete.run(functionName, qualifier).changes === 1;
  }

  async list(functionName: string): Promise<FunctionUrlRecord[]> {
    return this.stmt.list.all(functionName).map((r) => JSON.parse(r.data) as FunctionUrlRecord);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
