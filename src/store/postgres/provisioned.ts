// Provisioned concurrency configs in the cluster's PostgreSQL state database,
// one row per function qualifier (a published version or an alias), cascading
// away with the function.
import type { ProvisionedConfigRecord, ProvisionedConfigStore } from '../provisioned.js';
import type { PostgresDb } from './db.js';
import { PgQualifierRows, qualifierTable } from './qualifier-rows.js';

const COMPONENT = 'provisioned_concurrency_configs';
const MIGRATIONS: string[] = [qualifierTable(COMPONENT)];

export class PgProvisionedConfigStore implements ProvisionedConfigStore {
  private constructor(private readonly rows: PgQualifierRows<ProvisionedConfigRecord>) {}

  /** Run PgStateStore.open on `db` first (the table refers to functions). The caller owns `db`. */
  static async open(db: PostgresDb): Promise<PgProvisionedConfigStore> {
    return new PgProvisionedConfigStore(await PgQualifierRows.open<ProvisionedConfigRecord>(db, COMPONENT, MIGRATIONS));
  }

  get(functionName: string, qualifier: string): Promise<ProvisionedConfigRecord | undefined> {
    return this.rows.get(functionName, qualifier);
  }

  /** False when the function does not exist (any more). */
  put(config: ProvisionedConfigRecord): Promise<boolean> {
    return this.rows.upsert(config);
  }

  delete(functionName: string, qualifier: string): Promise<boolean> {
    return this.rows.delete(functionName, qualifier);
  }

  list(functionName?: string): Promise<ProvisionedConfigRecord[]> {
    return functionName === undefined ? this.rows.listAll() : this.rows.list(functionName);
  }

  /** Nothing to release: the caller owns the database handle. */
  async close(): Promise<void> {}
}
