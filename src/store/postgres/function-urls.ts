// Function URL configs in the cluster's PostgreSQL state database, beside the
// functions they belong to, cascading away with the function. Every request to
// a function URL looks its config up by url id: that column is UNIQUE, hence
// indexed.
import type { FunctionUrlRecord, FunctionUrlStore } from '../../control/urls.js';
import type { PostgresDb } from './db.js';
import { isMissingFunction, PgQualifierRows, qualifierTable } from './qualifier-rows.js';

const COMPONENT = 'function_url_configs';
const MIGRATIONS: string[] = [qualifierTable(COMPONENT, ['url_id TEXT NOT NULL UNIQUE'])];

export class PgFunctionUrlStore implements FunctionUrlStore {
  private constructor(private readonly rows: PgQualifierRows<FunctionUrlRecord>) {}

  /** Run PgStateStore.open on `db` first (the table refers to functions). The caller owns `db`. */
  static async open(db: PostgresDb): Promise<PgFunctionUrlStore> {
    return new PgFunctionUrlStore(await PgQualifierRows.open<FunctionUrlRecord>(db, COMPONENT, MIGRATIONS));
  }

  get(functionName: string, qualifier: string): Promise<FunctionUrlRecord | undefined> {
    return this.rows.get(functionName, qualifier);
  }

  async getByUrlId(urlId: string): Promise<FunctionUrlRecord | undefined> {
    const { rows } = await this.rows.db.pool.query<{ data: string }>('SELECT data FROM function_url_configs WHERE url_id = $1', [urlId]);
    return rows[0] ? (JSON.parse(rows[0].data) as FunctionUrlRecord) : undefined;
  }

  /** False when the qualifier has a config already or the function is gone; a url id collision still throws (as in SQLite). */
  async create(r: FunctionUrlRecord): Promise<boolean> {
    try {
      const inserted = await this.rows.db.pool.query(
        `INSERT INTO function_url_configs (function_name, qualifier, url_id, data) VALUES ($1, $2, $3, $4)
         ON CONFLICT (function_name, qualifier) DO NOTHING`,
        [r.functionName, r.qualifier, r.urlId, JSON.stringify(r)],
      );
      return inserted.rowCount === 1;
    } catch (err) {
      if (isMissingFunction(err)) return false;
      throw err;
    }
  }

  async update(r: FunctionUrlRecord): Promise<void> {
    await this.rows.db.pool.query('UPDATE function_url_configs SET data = $1 WHERE function_name = $2 AND qualifier = $3', [
      JSON.stringify(r),
      r.functionName,
      r.qualifier,
    ]);
  }

  delete(functionName: string, qualifier: string): Promise<boolean> {
    return this.rows.delete(functionName, qualifier);
  }

  list(functionName: string): Promise<FunctionUrlRecord[]> {
    return this.rows.list(functionName);
  }

  /** Nothing to release: the caller owns the database handle. */
  async close(): Promise<void> {}
}
