// Provisioned concurrency configs in the state database (state.sqlite), one
// row per function qualifier (a published version or an alias): a table of
// its own, versioned on its own, cascading away with the function.
import type { ProvisionedConfigRecord, ProvisionedConfigStore } from './provisioned.js';
import { SqliteQualifierRows } from './sqlite-qualifier-rows.js';

export type { ProvisionedConfigRecord, ProvisionedConfigStore } from './provisioned.js';

const COMPONENT = 'provisioned_concurrency_configs';
const MIGRATIONS: string[] = [
  `CREATE TABLE provisioned_concurrency_configs (
     function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     qualifier TEXT NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (function_name, qualifier)
   );`,
];

export class SqliteProvisionedConfigStore implements ProvisionedConfigStore {
  private readonly rows: SqliteQualifierRows<ProvisionedConfigRecord>;

  /** `path` is the state database: the functions table must exist there already. */
  constructor(path: string) {
    this.rows = new SqliteQualifierRows(path, COMPONENT, MIGRATIONS);
  }

  async get(functionName: string, qualifier: string): Promise<ProvisionedConfigRecord | undefined> {
    return this.rows.get(functionName, qualifier);
  }

  /** False when the function went away between the check and the write. */
  async put(config: ProvisionedConfigRecord): Promise<boolean> {
    return this.rows.upsert(config);
  }

  async delete(functionName: string, qualifier: string): Promise<boolean> {
    return this.rows.delete(functionName, qualifier);
  }

  async list(functionName?: string): Promise<ProvisionedConfigRecord[]> {
    return functionName === undefined ? this.rows.listAll() : this.rows.list(functionName);
  }

  async close(): Promise<void> {
    this.rows.close();
  }
}
