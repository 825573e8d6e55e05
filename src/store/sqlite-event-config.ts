// Event invoke configs in the state database (state.sqlite), beside the
// functions they belong to: a table of their own, versioned on its own (the
// state store's user_version stays the state store's), cascading away with
// the function.
import type Database from 'better-sqlite3';
import type { EventConfigStore, EventInvokeConfig } from '../async/event-config.js';
import { migrateComponent } from './sqlite-component.js';
import { openSqlite } from './sqlite-state.js';

const COMPONENT = 'event_invoke_configs';
const MIGRATIONS: string[] = [
  `CREATE TABLE event_invoke_configs (
     function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     qualifier TEXT NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (function_name, qualifier)
   );`,
];

export class SqliteEventConfigStore implements EventConfigStore {
  private readonly db: Database.Database;
  private readonly stmt;

  /** `path` is the state database: the functions table must exist there already. */
  constructor(path: string) {
    this.db = openSqlite(path);
    migrateComponent(this.db, COMPONENT, MIGRATIONS);
    const db = this.db;
    this.stmt = {
      get: db.prepare<[string, string], { data: string }>('SELECT data FROM event_invoke_configs WHERE function_name = ? AND qualifier = ?'),
      put: db.prepare(
        `INSERT INTO event_invoke_configs (function_name, qualifier, data) VALUES (?, ?, ?)
         ON CONFLICT (function_name, qualifier) DO UPDATE SET data = excluded.data`,
      ),
      delete: db.prepare('DELETE FROM event_invoke_configs WHERE function_name = ? AND qualifier = ?'),
      list: db.prepare<[string, string, number], { data: string }>(
        'SELECT data FROM event_invoke_configs WHERE function_name = ? AND qualifier > ? ORDER BY qualifier LIMIT ?',
      ),
    };
  }

  async get(functionName: string, qualifier: string): Promise<EventInvokeConfig | undefined> {
    const row = this.stmt.get.get(functionName, qualifier);
    return row ? (JSON.parse(row.data) as EventInvokeConfig) : undefined;
  }

  async put(config: EventInvokeConfig): Promise<boolean> {
    try {
      this.stmt.put.run(config.functionName, config.qualifier, JSON.stringify(config));
      return true;
    } catch (err) {
      // The function went away between the check and the write.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
      throw err;
    }
  }

  async delete(functionName: string, qualifier: string): Promise<boolean> {
    return this.stmt.delete.run(functionName, qualifier).changes === 1;
  }

  async list(functionName: string, opts: { after?: string; limit: number }): Promise<EventInvokeConfig[]> {
    return this.stmt.list.all(functionName, opts.after ?? '', opts.limit).map((r) => JSON.parse(r.data) as EventInvokeConfig);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
