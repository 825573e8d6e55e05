// Event invoke configs in the state database (state.sqlite), beside the
// functions they belong to: a table of their own, versioned on its own (the
// state store's user_version stays the state store's), cascading away with
// the function.
import type { EventConfigStore, EventInvokeConfig } from '../async/event-config.js';
import { SqliteQualifierRows } from './sqlite-qualifier-rows.js';

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
  private readonly rows: SqliteQualifierRows<EventInvokeConfig>;

  /** `path` is the state database: the functions table must exist there already. */
  constructor(path: string) {
    this.rows = new SqliteQualifierRows(path, COMPONENT, MIGRATIONS);
  }

  async get(functionName: string, qualifier: string): Promise<EventInvokeConfig | undefined> {
    return this.rows.get(functionName, qualifier);
  }

  /** False when the function went away between the check and the write. */
  async put(config: EventInvokeConfig): Promise<boolean> {
    return this.rows.upsert(config);
  }

  async delete(functionName: string, qualifier: string): Promise<boolean> {
    return this.rows.delete(functionName, qualifier);
  }

  async list(functionName: string, opts: { after?: string; limit: number }): Promise<EventInvokeConfig[]> {
    return this.rows.list(functionName, opts.after, opts.limit);
  }

  async close(): Promise<void> {
    this.rows.close();
  }
}
