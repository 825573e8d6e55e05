// Where provisioned concurrency configs are kept: the state store's database
// (SQLite embedded, PostgreSQL in a cluster), one record per function qualifier.

/** What PutProvisionedConcurrencyConfig stored; the allocation itself is live state of the Worker Manager. */
export interface ProvisionedConfigRecord {
  functionName: string;
  /** A published version number or an alias name. */
  qualifier: string;
  requested: number;
  lastModified: string;
}

export interface ProvisionedConfigStore {
  get(functionName: string, qualifier: string): Promise<ProvisionedConfigRecord | undefined>;
  /** Creates or replaces; false when the function does not exist (any more). */
  put(config: ProvisionedConfigRecord): Promise<boolean>;
  /** True when there was a config to delete. */
  delete(functionName: string, qualifier: string): Promise<boolean>;
  /** One function's configs, or every config (startup). Ordered by function, then qualifier. */
  list(functionName?: string): Promise<ProvisionedConfigRecord[]>;
  close(): Promise<void>;
}
