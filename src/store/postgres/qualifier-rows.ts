// One JSON record per (function, qualifier) in a table of the state database,
// cascading away with the function: what event invoke configs, provisioned
// concurrency configs and function URL configs all are. The PostgreSQL
// counterpart of src/store/sqlite-qualifier-rows.ts.
import { migrateComponent, type PostgresDb } from './db.js';
import { isMissingFunction } from './state.js';

export { isMissingFunction } from './state.js';

interface Keyed {
  functionName: string;
  qualifier: string;
}

/**
 * A qualifier table's first migration: function_name, qualifier and data, keyed
 * by both, byte-ordered like the state tables. `extra` adds column definitions.
 */
export const qualifierTable = (table: string, extra: string[] = []): string =>
  `CREATE TABLE ${table} (
     function_name TEXT COLLATE "C" NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     qualifier TEXT COLLATE "C" NOT NULL,
     ${extra.map((c) => `${c},\n     `).join('')}data TEXT NOT NULL,
     PRIMARY KEY (function_name, qualifier)
   );`;

export class PgQualifierRows<T extends Keyed> {
  private constructor(
    readonly db: PostgresDb,
    private readonly table: string,
  ) {}

  /**
   * `db` holds the state tables already (PgStateStore.open first: these refer to
   * functions). The migrations must give `table` function_name, qualifier and data
   * columns; the component is named after the table.
   */
  static async open<T extends Keyed>(db: PostgresDb, table: string, migrations: string[]): Promise<PgQualifierRows<T>> {
    await migrateComponent(db, table, migrations);
    return new PgQualifierRows<T>(db, table);
  }

  async get(functionName: string, qualifier: string): Promise<T | undefined> {
    const { rows } = await this.db.pool.query<{ data: string }>(
      `SELECT data FROM ${this.table} WHERE function_name = $1 AND qualifier = $2`,
      [functionName, qualifier],
    );
    return rows[0] ? (JSON.parse(rows[0].data) as T) : undefined;
  }

  /** False when the function does not exist (any more): the foreign key refuses the row. */
  async upsert(record: T): Promise<boolean> {
    try {
      await this.db.pool.query(
        `INSERT INTO ${this.table} (function_name, qualifier, data) VALUES ($1, $2, $3)
         ON CONFLICT (function_name, qualifier) DO UPDATE SET data = excluded.data`,
        [record.functionName, record.qualifier, JSON.stringify(record)],
      );
      return true;
    } catch (err) {
      if (isMissingFunction(err)) return false;
      throw err;
    }
  }

  async delete(functionName: string, qualifier: string): Promise<boolean> {
    const r = await this.db.pool.query(`DELETE FROM ${this.table} WHERE function_name = $1 AND qualifier = $2`, [functionName, qualifier]);
    return r.rowCount === 1;
  }

  /** One function's records in qualifier order, after `after` (exclusive) when given, at most `limit` (negative: all). */
  async list(functionName: string, after?: string, limit = -1): Promise<T[]> {
    // LIMIT NULL is no limit (a negative LIMIT is an error in PostgreSQL).
    const { rows } = await this.db.pool.query<{ data: string }>(
      `SELECT data FROM ${this.table} WHERE function_name = $1 AND ($2::text IS NULL OR qualifier > $2)
       ORDER BY qualifier LIMIT $3`,
      [functionName, after ?? null, limit < 0 ? null : limit],
    );
    return rows.map((r) => JSON.parse(r.data) as T);
  }

  /** Every record, by function then qualifier (startup). */
  async listAll(): Promise<T[]> {
    const { rows } = await this.db.pool.query<{ data: string }>(`SELECT data FROM ${this.table} ORDER BY function_name, qualifier`);
    return rows.map((r) => JSON.parse(r.data) as T);
  }
}
