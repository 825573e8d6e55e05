// Event invoke configs in the cluster's PostgreSQL state database, beside the
// functions they belong to, cascading away with the function.
import type { EventConfigStore, EventInvokeConfig } from '../../async/event-config.js';
import type { PostgresDb } from './db.js';
import { PgQualifierRows, qualifierTable } from './qualifier-rows.js';

const COMPONENT = 'event_invoke_configs';
const MIGRATIONS: string[] = [qualifierTable(COMPONENT)];

export class PgEventConfigStore implements EventConfigStore {
  private constructor(private readonly rows: PgQualifierRows<EventInvokeConfig>) {}

  /** Run PgStateStore.open on `db` first (the table refers to functions). The caller owns `db`. */
  static async open(db: PostgresDb): Promise<PgEventConfigStore> {
    return new PgEventConfigStore(await PgQualifierRows.open<EventInvokeConfig>(db, COMPONENT, MIGRATIONS));
  }

  get(functionName: string, qualifier: string): Promise<EventInvokeConfig | undefined> {
    return this.rows.get(functionName, qualifier);
  }

  /** False when the function does not exist (any more). */
  put(config: EventInvokeConfig): Promise<boolean> {
    return this.rows.upsert(config);
  }

  delete(functionName: string, qualifier: string): Promise<boolean> {
    return this.rows.delete(functionName, qualifier);
  }

  list(functionName: string, opts: { after?: string; limit: number }): Promise<EventInvokeConfig[]> {
    return this.rows.list(functionName, opts.after, opts.limit);
  }

  /** Nothing to release: the caller owns the database handle. */
  async close(): Promise<void> {}
}
