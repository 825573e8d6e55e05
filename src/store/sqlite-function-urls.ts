// Function URL configs in the state database (state.sqlite), beside the
// functions they belong to, cascading away with the function.
import type { FunctionUrlRecord, FunctionUrlStore } from '../control/urls.js';
import { isMissingFunction, SqliteQualifierRows } from './sqlite-qualifier-rows.js';

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
  private readonly rows: SqliteQualifierRows<FunctionUrlRecord>;
  private readonly stmt;

  /** `path` is the state database: the functions table must exist there already. */
  constructor(path: string) {
    this.rows = new SqliteQualifierRows(path, COMPONENT, MIGRATIONS);
    const db = this.rows.db;
    // Beside the shared rows: the url_id column, unique, that a URL's host names.
    this.stmt = {
      byUrlId: db.prepare<[string], { data: string }>('SELECT data FROM function_url_configs WHERE url_id = ?'),
      insert: db.prepare('INSERT INTO function_url_configs (function_name, qualifier, url_id, data) VALUES (?, ?, ?, ?)'),
      update: db.prepare('UPDATE function_url_configs SET data = ? WHERE function_name = ? AND qualifier = ?'),
    };
  }

  async get(functionName: string, qualifier: string): Promise<FunctionUrlRecord | undefined> {
    return this.rows.get(functionName, qualifier);
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
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || isMissingFunction(err)) return false;
      throw err;
    }
  }

  async update(r: FunctionUrlRecord): Promise<void> {
    this.stmt.update.run(JSON.stringify(r), r.functionName, r.qualifier);
  }

  async delete(functionName: string, qualifier: string): Promise<boolean> {
    return this.rows.delete(functionName, qualifier);
  }

  async list(functionName: string): Promise<FunctionUrlRecord[]> {
    return this.rows.list(functionName);
  }

  async close(): Promise<void> {
    this.rows.close();
  }
}
