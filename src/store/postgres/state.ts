// The state store on PostgreSQL (cluster mode): the same tables and semantics
// as the embedded SQLite store (src/store/sqlite-state.ts), for several
// Kindling processes sharing one database.
//
// - Records are kept as JSON TEXT (not JSONB) so that they read back exactly
//   as written; the few columns queries filter on are copied out beside them.
// - Names and qualifiers sort with COLLATE "C": byte order, as in SQLite, so
//   $LATEST sorts first and pagination markers mean the same whatever the
//   database's locale.
// - Transactions run at READ COMMITTED: conditional writes are single
//   statements (UPDATE ... WHERE revision_id = $expected, INSERT ... ON
//   CONFLICT DO NOTHING) judged by their row count, and publishVersion locks
//   the function row (SELECT ... FOR NO KEY UPDATE), so concurrent publishers
//   in any process queue on it and each sees the lastVersion the previous one
//   wrote. NO KEY: inserts of rows that refer to the function (their foreign
//   key checks take KEY SHARE) need not wait for a publish; a delete still does.
import type { AliasRecord, FunctionRecord, FunctionVersion } from '../../control/model.js';
import { LATEST } from '../../control/model.js';
import type { StateStore, VersionKey } from '../state.js';
import { migrateComponent, type PostgresDb, type Queryable } from './db.js';

export const STATE_COMPONENT = 'state';

const MIGRATIONS: string[] = [
  `CREATE TABLE functions (
     name TEXT COLLATE "C" PRIMARY KEY,
     data TEXT NOT NULL
   );
   CREATE TABLE function_versions (
     function_name TEXT COLLATE "C" NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     version TEXT COLLATE "C" NOT NULL,
     -- $LATEST sorts before every number; numbers sort numerically
     version_order BIGINT NOT NULL,
     revision_id TEXT NOT NULL,
     code_sha256 TEXT NOT NULL,
     code_size BIGINT NOT NULL,
     config TEXT NOT NULL,
     PRIMARY KEY (function_name, version)
   );
   CREATE INDEX function_versions_order ON function_versions (function_name, version_order);
   CREATE INDEX function_versions_code ON function_versions (code_sha256);`,
  `CREATE TABLE function_aliases (
     function_name TEXT COLLATE "C" NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     name TEXT COLLATE "C" NOT NULL,
     revision_id TEXT NOT NULL,
     config TEXT NOT NULL,
     PRIMARY KEY (function_name, name)
   );`,
];

/** PostgreSQL's foreign_key_violation: the function the row belongs to is gone. */
export const isMissingFunction = (err: unknown): boolean => (err as { code?: string } | undefined)?.code === '23503';

const versionOrder = (version: string): number => (version === LATEST ? 0 : Number(version));

const VERSION_COLUMNS = 'function_name, version, version_order, revision_id, code_sha256, code_size, config';
const versionValues = (v: FunctionVersion): unknown[] => [
  v.functionName,
  v.version,
  versionOrder(v.version),
  v.revisionId,
  v.codeSha256,
  v.codeSize,
  JSON.stringify(v),
];

/** Writes a version whatever is stored (creating the function's $LATEST, publishing a number). */
async function upsertVersion(q: Queryable, v: FunctionVersion): Promise<void> {
  await q.query(
    `INSERT INTO function_versions (${VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (function_name, version) DO UPDATE SET
       revision_id = excluded.revision_id, code_sha256 = excluded.code_sha256,
       code_size = excluded.code_size, config = excluded.config`,
    versionValues(v),
  );
}

export class PgStateStore implements StateStore {
  private constructor(private readonly db: PostgresDb) {}

  /** Migrates the state tables (before any component whose tables refer to functions). The caller owns `db`. */
  static async open(db: PostgresDb): Promise<PgStateStore> {
    await migrateComponent(db, STATE_COMPONENT, MIGRATIONS);
    return new PgStateStore(db);
  }

  async createFunction(fn: FunctionRecord, latest: FunctionVersion): Promise<boolean> {
    return this.db.transaction(async (c) => {
      // A concurrent creator of the same name waits on the key, then inserts nothing.
      const inserted = await c.query('INSERT INTO functions (name, data) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
        fn.functionName,
        JSON.stringify(fn),
      ]);
      if (inserted.rowCount !== 1) return false;
      await upsertVersion(c, latest);
      return true;
    });
  }

  async getFunction(name: string): Promise<FunctionRecord | undefined> {
    const { rows } = await this.db.pool.query<{ data: string }>('SELECT data FROM functions WHERE name = $1', [name]);
    return rows[0] ? (JSON.parse(rows[0].data) as FunctionRecord) : undefined;
  }

  /**
   * Replaces function-wide settings, except that lastVersion never moves back:
   * a writer holding a record read before another process published must not
   * hand that version number out again.
   */
  async putFunction(fn: FunctionRecord): Promise<void> {
    await this.db.transaction(async (c) => {
      const { rows } = await c.query<{ data: string }>('SELECT data FROM functions WHERE name = $1 FOR NO KEY UPDATE', [fn.functionName]);
      if (!rows[0]) return;
      const stored = JSON.parse(rows[0].data) as FunctionRecord;
      const next = stored.lastVersion > fn.lastVersion ? { ...fn, lastVersion: stored.lastVersion } : fn;
      await c.query('UPDATE functions SET data = $1 WHERE name = $2', [JSON.stringify(next), fn.functionName]);
    });
  }

  async getVersion(name: string, version: string): Promise<FunctionVersion | undefined> {
    const { rows } = await this.db.pool.query<{ config: string }>(
      'SELECT config FROM function_versions WHERE function_name = $1 AND version = $2',
      [name, version],
    );
    return rows[0] ? (JSON.parse(rows[0].config) as FunctionVersion) : undefined;
  }

  async putVersion(record: FunctionVersion, expectedRevisionId: string | undefined): Promise<boolean> {
    if (expectedRevisionId === undefined) {
      // Only when absent; a deleted function fails the foreign key.
      try {
        const r = await this.db.pool.query(
          `INSERT INTO function_versions (${VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (function_name, version) DO NOTHING`,
          versionValues(record),
        );
        return r.rowCount === 1;
      } catch (err) {
        if (isMissingFunction(err)) return false;
        throw err;
      }
    }
    // A concurrent writer with the same expectation waits on the row, then finds
    // the revision changed and updates nothing. A deleted function's rows are gone.
    const r = await this.db.pool.query(
      `UPDATE function_versions SET revision_id = $4, code_sha256 = $5, code_size = $6, config = $7
       WHERE function_name = $1 AND version = $2 AND revision_id = $3`,
      [record.functionName, record.version, expectedRevisionId, record.revisionId, record.codeSha256, record.codeSize, JSON.stringify(record)],
    );
    return r.rowCount === 1;
  }

  async publishVersion(fn: FunctionRecord, version: FunctionVersion): Promise<boolean> {
    return this.db.transaction(async (c) => {
      // The row lock orders publishers across processes; under READ COMMITTED
      // the locked read returns the row as the previous holder committed it.
      const { rows } = await c.query<{ data: string }>('SELECT data FROM functions WHERE name = $1 FOR NO KEY UPDATE', [fn.functionName]);
      if (!rows[0]) return false;
      const stored = JSON.parse(rows[0].data) as FunctionRecord;
      if (stored.lastVersion !== fn.lastVersion - 1) return false;
      await c.query('UPDATE functions SET data = $1 WHERE name = $2', [JSON.stringify(fn), fn.functionName]);
      await upsertVersion(c, version);
      return true;
    });
  }

  async listVersions(name: string): Promise<FunctionVersion[]> {
    const { rows } = await this.db.pool.query<{ config: string }>(
      'SELECT config FROM function_versions WHERE function_name = $1 ORDER BY version_order',
      [name],
    );
    return rows.map((r) => JSON.parse(r.config) as FunctionVersion);
  }

  async listFunctionVersions(opts: { after?: VersionKey; limit: number; allVersions: boolean }): Promise<FunctionVersion[]> {
    const afterName = opts.after?.functionName ?? '';
    const { rows } = opts.allVersions
      ? await this.db.pool.query<{ config: string }>(
          `SELECT config FROM function_versions WHERE (function_name, version_order) > ($1, $2)
           ORDER BY function_name, version_order LIMIT $3`,
          [afterName, opts.after ? versionOrder(opts.after.version) : -1, opts.limit],
        )
      : await this.db.pool.query<{ config: string }>(
          `SELECT config FROM function_versions WHERE version_order = 0 AND function_name > $1
           ORDER BY function_name LIMIT $2`,
          [afterName, opts.limit],
        );
    return rows.map((r) => JSON.parse(r.config) as FunctionVersion);
  }

  async deleteFunction(name: string): Promise<void> {
    // Versions, aliases and every qualifier table cascade away with the row.
    await this.db.pool.query('DELETE FROM functions WHERE name = $1', [name]);
  }

  async deleteVersion(name: string, version: string): Promise<void> {
    await this.db.pool.query('DELETE FROM function_versions WHERE function_name = $1 AND version = $2', [name, version]);
  }

  async isCodeReferenced(codeSha256: string): Promise<boolean> {
    const { rows } = await this.db.pool.query('SELECT 1 FROM function_versions WHERE code_sha256 = $1 LIMIT 1', [codeSha256]);
    return rows.length > 0;
  }

  async listReservations(): Promise<{ functionName: string; reserved: number }[]> {
    const { rows } = await this.db.pool.query<{ name: string; reserved: number }>(
      `SELECT name, (data::jsonb ->> 'reservedConcurrency')::int8 AS reserved FROM functions
       WHERE data::jsonb ->> 'reservedConcurrency' IS NOT NULL ORDER BY name`,
    );
    return rows.map((r) => ({ functionName: r.name, reserved: r.reserved }));
  }

  async getAlias(functionName: string, name: string): Promise<AliasRecord | undefined> {
    const { rows } = await this.db.pool.query<{ config: string }>(
      'SELECT config FROM function_aliases WHERE function_name = $1 AND name = $2',
      [functionName, name],
    );
    return rows[0] ? (JSON.parse(rows[0].config) as AliasRecord) : undefined;
  }

  async putAlias(alias: AliasRecord, expectedRevisionId: string | undefined): Promise<boolean> {
    const config = JSON.stringify(alias);
    if (expectedRevisionId === undefined) {
      try {
        const r = await this.db.pool.query(
          `INSERT INTO function_aliases (function_name, name, revision_id, config) VALUES ($1, $2, $3, $4)
           ON CONFLICT (function_name, name) DO NOTHING`,
          [alias.functionName, alias.name, alias.revisionId, config],
        );
        return r.rowCount === 1;
      } catch (err) {
        if (isMissingFunction(err)) return false;
        throw err;
      }
    }
    const r = await this.db.pool.query(
      `UPDATE function_aliases SET revision_id = $4, config = $5
       WHERE function_name = $1 AND name = $2 AND revision_id = $3`,
      [alias.functionName, alias.name, expectedRevisionId, alias.revisionId, config],
    );
    return r.rowCount === 1;
  }

  async listAliases(functionName: string): Promise<AliasRecord[]> {
    const { rows } = await this.db.pool.query<{ config: string }>(
      'SELECT config FROM function_aliases WHERE function_name = $1 ORDER BY name',
      [functionName],
    );
    return rows.map((r) => JSON.parse(r.config) as AliasRecord);
  }

  async deleteAlias(functionName: string, name: string): Promise<void> {
    await this.db.pool.query('DELETE FROM function_aliases WHERE function_name = $1 AND name = $2', [functionName, name]);
  }

  async usage(): Promise<{ totalCodeSize: number; functionCount: number }> {
    // SUM of BIGINT is NUMERIC (read as a string): cast back to BIGINT.
    const { rows } = await this.db.pool.query<{ total: number; count: number }>(
      `SELECT (SELECT COALESCE(SUM(code_size), 0)::int8 FROM function_versions) AS total,
              (SELECT COUNT(*) FROM functions) AS count`,
    );
    const row = rows[0]!;
    return { totalCodeSize: row.total, functionCount: row.count };
  }

  /** Nothing to release: the caller owns the database handle. */
  async close(): Promise<void> {}
}
