// Provisioned concurrency configs in the state database (state.sqlite), one
// row per function qualifier (a published version or an alias): a table of
// its own, versioned on its own, cascading away with the function.
import { SqliteQualifierRows } from './sqlite-qualifier-rows.js';

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
  private readonly rows: SqliteQualifierRows<ProvisionedConfigRecord>;

  /** `path` is the state database: the functions table must exist there already. */
  constructor(path: string) {
    this.rows = new SqliteQualifierRows(path, COMPONENT, MIGRATIONS);
  }

  get(functionName: string, qualifier: string): ProvisionedConfigRecord | undefined {
    return this.rows.get(functionName, qualifier);
  }

  /** False when the function went away between the check and the write. */
  put(config: ProvisionedConfigRecord): boolean {
    return this.rows.upsert(config);
  }

  delete(functionName: string, qualifier: string): boolean {
    return this.rows.delete(functionName, qualifier);
  }

  /** One function's configs, or every config (startup). Ordered by function, then qualifier. */
  list(functionName?: string): ProvisionedConfigRecord[] {
    return functionName === undefined ? this.rows.listAll() : this.rows.list(functionName);
  }

  close(): void {
    this.rows.close();
  }
}
