// Provisioned concurrency configs in the state database (state.sqlite), one
// row per function qualifier (a published version or an alias): a table of
// its own, versioned on its own, cascading away with the function.
import type Database from 'better-sqlite3';
import { migrateComponent } from './sqlite-component.js';
import { openSqlite } from './sqlite-state.js';

/** What PutProvisionedConcurrencyConfig stored; the allocation itself is live state of the Worker Manager. */
export interface ProvisionedConfigRecord {
  functionName: string;
  /** A published version number or an alias name. */
  qualifier: string;
  requested: number;
  lastModified: string;
}

const COMPONENT = 'provisioned_concurrency_configs';
const MIGRATIONS: string[] = [
  `CREATE TABLE provisioned_concurrency_configs (
     function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     qualifier TEXT NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (function_name, qualifier)
   );`,
];

export class SqliteProvisionedConfigStore {
  private readonly db: Database.Database;
  private readonly stmt;

  /** `path` is the state database: the functions table must exist there already. */
  constructor(path: string) {
    this.db = openSqlite(path);
    migrateComponent(this.db, COMPONENT, MIGRATIONS);
    const db = this.db;
    this.stmt = {
      get: db.prepare<[string, string], { data: string }>('SELECT data FROM provisioned_concurrency_configs WHERE function_name = ? AND qualifier = ?'),
      put: db.prepare(
        `INSERT INTO provisioned_concurrency_configs (function_name, qualifier, data) VALUES (?, ?, ?)
         ON CONFLICT (function_name, qualifier) DO UPDATE SET data = excluded.data`,
      ),
      delete: db.prepare('DELETE FROM provisioned_concurrency_configs WHERE function_name = ? AND qualifier = ?'),
      listFunction: db.prepare<[string], { data: string }>('SELECT data FROM provisioned_concurrency_configs WHERE function_name = ? ORDER BY qualifier'),
      listAll: db.prepare<[], { data: string }>('SELECT data FROM provisioned_concurrency_configs ORDER BY function_name, qualifier'),
    };
  }

  get(functionName: string, qualifier: string): ProvisionedConfigRecord | undefined {
    const row = this.stmt.get.get(functionName, qualifier);
    return row ? (JSON.parse(row.data) as ProvisionedConfigRecord) : undefined;
  }

  /** False when the function went away between the check and the write. */
  put(config: ProvisionedConfigRecord): boolean {
    try {
      this.stmt.put.run(config.functionName, config.qualifier, JSON.stringify(config));
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
      throw err;
    }
  }

  delete(functionName: string, qualifier: string): boolean {
    return this.stmt.delete.run(functionName, qualifier).changes === 1;
  }

  /** One function's configs, or every config (startup). Ordered by function, then qualifier. */
  list(functionName?: string): ProvisionedConfigRecord[] {
    const rows = functionName === undefined ? this.stmt.listAll.all() : this.stmt.listFunction.all(functionName);
    return rows.map((r) => JSON.parse(r.data) as ProvisionedConfigRecord);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
