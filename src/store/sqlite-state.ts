// The embedded state store on SQLite (better-sqlite3). Calls are synchronous
// underneath; the async interface is what the PostgreSQL store shares.
import Database from 'better-sqlite3';
import type { AliasRecord, FunctionRecord, FunctionVersion } from '../control/model.js';
import { LATEST } from '../control/model.js';
import type { StateStore, VersionKey } from './state.js';

const MIGRATIONS: string[] = [
  `CREATE TABLE functions (
     name TEXT PRIMARY KEY,
     data TEXT NOT NULL
   );
   CREATE TABLE function_versions (
     function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     version TEXT NOT NULL,
     -- $LATEST sorts before every number; numbers sort numerically
     version_order INTEGER NOT NULL,
     revision_id TEXT NOT NULL,
     code_sha256 TEXT NOT NULL,
     code_size INTEGER NOT NULL,
     config TEXT NOT NULL,
     PRIMARY KEY (function_name, version)
   );
   CREATE INDEX function_versions_order ON function_versions (function_name, version_order);
   CREATE INDEX function_versions_code ON function_versions (code_sha256);`,
  `CREATE TABLE function_aliases (
     function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     name TEXT NOT NULL,
     revision_id TEXT NOT NULL,
     config TEXT NOT NULL,
     PRIMARY KEY (function_name, name)
   );`,
];

const versionOrder = (version: string): number => (version === LATEST ? 0 : Number(version));

export function migrate(db: Database.Database, migrations: string[]): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let i = current; i < migrations.length; i++) {
    db.transaction(() => {
      db.exec(migrations[i]!);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
}

export function openSqlite(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // Control-plane writes are rare and must survive power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

export class SqliteStateStore implements StateStore {
  private readonly db: Database.Database;
  private readonly stmt;

  constructor(path: string) {
    this.db = openSqlite(path);
    migrate(this.db, MIGRATIONS);
    const db = this.db;
    this.stmt = {
      insertFunction: db.prepare('INSERT INTO functions (name, data) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
      updateFunction: db.prepare('UPDATE functions SET data = ? WHERE name = ?'),
      getFunction: db.prepare<[string], { data: string }>('SELECT data FROM functions WHERE name = ?'),
      getVersion: db.prepare<[string, string], { config: string }>(
        'SELECT config FROM function_versions WHERE function_name = ? AND version = ?',
      ),
      getRevision: db.prepare<[string, string], { revision_id: string }>(
        'SELECT revision_id FROM function_versions WHERE function_name = ? AND version = ?',
      ),
      upsertVersion: db.prepare(
        `INSERT INTO function_versions (function_name, version, version_order, revision_id, code_sha256, code_size, config)
         VALUES (@functionName, @version, @order, @revisionId, @codeSha256, @codeSize, @config)
         ON CONFLICT (function_name, version) DO UPDATE SET
           revision_id = excluded.revision_id, code_sha256 = excluded.code_sha256,
           code_size = excluded.code_size, config = excluded.config`,
      ),
      listVersions: db.prepare<[string], { config: string }>(
        'SELECT config FROM function_versions WHERE function_name = ? ORDER BY version_order',
      ),
      listLatest: db.prepare<[string, number], { config: string }>(
        `SELECT config FROM function_versions WHERE version_order = 0 AND function_name > ?
         ORDER BY function_name LIMIT ?`,
      ),
      listAll: db.prepare<[string, string, number, number], { config: string }>(
        `SELECT config FROM function_versions
         WHERE function_name > ? OR (function_name = ? AND version_order > ?)
         ORDER BY function_name, version_order LIMIT ?`,
      ),
      deleteFunction: db.prepare('DELETE FROM functions WHERE name = ?'),
      deleteVersion: db.prepare('DELETE FROM function_versions WHERE function_name = ? AND version = ?'),
      codeReferenced: db.prepare<[string], { n: number }>(
        'SELECT 1 AS n FROM function_versions WHERE code_sha256 = ? LIMIT 1',
      ),
      reservations: db.prepare<[], { name: string; reserved: number }>(
        `SELECT name, json_extract(data, '$.reservedConcurrency') AS reserved FROM functions
         WHERE json_extract(data, '$.reservedConcurrency') IS NOT NULL`,
      ),
      getAlias: db.prepare<[string, string], { config: string }>('SELECT config FROM function_aliases WHERE function_name = ? AND name = ?'),
      getAliasRevision: db.prepare<[string, string], { revision_id: string }>(
        'SELECT revision_id FROM function_aliases WHERE function_name = ? AND name = ?',
      ),
      upsertAlias: db.prepare(
        `INSERT INTO function_aliases (function_name, name, revision_id, config) VALUES (?, ?, ?, ?)
         ON CONFLICT (function_name, name) DO UPDATE SET revision_id = excluded.revision_id, config = excluded.config`,
      ),
      listAliases: db.prepare<[string], { config: string }>('SELECT config FROM function_aliases WHERE function_name = ? ORDER BY name'),
      deleteAlias: db.prepare('DELETE FROM function_aliases WHERE function_name = ? AND name = ?'),
      usage: db.prepare<[], { total: number | null; count: number }>(
        `SELECT (SELECT SUM(code_size) FROM function_versions) AS total, (SELECT COUNT(*) FROM functions) AS count`,
      ),
    };
  }

  private writeVersion(v: FunctionVersion): void {
    this.stmt.upsertVersion.run({
      functionName: v.functionName,
      version: v.version,
      order: versionOrder(v.version),
      revisionId: v.revisionId,
      codeSha256: v.codeSha256,
      codeSize: v.codeSize,
      config: JSON.stringify(v),
    });
  }

  async createFunction(fn: FunctionRecord, latest: FunctionVersion): Promise<boolean> {
    return this.db.transaction(() => {
      const inserted = this.stmt.insertFunction.run(fn.functionName, JSON.stringify(fn)).changes === 1;
      if (inserted) this.writeVersion(latest);
      return inserted;
    })();
  }

  async getFunction(name: string): Promise<FunctionRecord | undefined> {
    const row = this.stmt.getFunction.get(name);
    return row ? (JSON.parse(row.data) as FunctionRecord) : undefined;
  }

  async putFunction(fn: FunctionRecord): Promise<void> {
    // A record read before a publish must not move lastVersion back (the next publish would reuse a number).
    const row = this.stmt.getFunction.get(fn.functionName);
    if (!row) return;
    const stored = JSON.parse(row.data) as FunctionRecord;
    const next = stored.lastVersion > fn.lastVersion ? { ...fn, lastVersion: stored.lastVersion } : fn;
    this.stmt.updateFunction.run(JSON.stringify(next), fn.functionName);
  }

  async getVersion(name: string, version: string): Promise<FunctionVersion | undefined> {
    const row = this.stmt.getVersion.get(name, version);
    return row ? (JSON.parse(row.config) as FunctionVersion) : undefined;
  }

  async putVersion(record: FunctionVersion, expectedRevisionId: string | undefined): Promise<boolean> {
    return this.db.transaction(() => {
      const current = this.stmt.getRevision.get(record.functionName, record.version);
      if (current?.revision_id !== expectedRevisionId) return false;
      if (!this.stmt.getFunction.get(record.functionName)) return false;
      this.writeVersion(record);
      return true;
    })();
  }

  async publishVersion(fn: FunctionRecord, version: FunctionVersion): Promise<boolean> {
    return this.db.transaction(() => {
      const row = this.stmt.getFunction.get(fn.functionName);
      if (!row) return false;
      const stored = JSON.parse(row.data) as FunctionRecord;
      if (stored.lastVersion !== fn.lastVersion - 1) return false;
      this.stmt.updateFunction.run(JSON.stringify(fn), fn.functionName);
      this.writeVersion(version);
      return true;
    })();
  }

  async listVersions(name: string): Promise<FunctionVersion[]> {
    return this.stmt.listVersions.all(name).map((r) => JSON.parse(r.config) as FunctionVersion);
  }

  async listFunctionVersions(opts: { after?: VersionKey; limit: number; allVersions: boolean }): Promise<FunctionVersion[]> {
    const rows = opts.allVersions
      ? this.stmt.listAll.all(
          opts.after?.functionName ?? '',
          opts.after?.functionName ?? '',
          opts.after ? versionOrder(opts.after.version) : -1,
          opts.limit,
        )
      : this.stmt.listLatest.all(opts.after?.functionName ?? '', opts.limit);
    return rows.map((r) => JSON.parse(r.config) as FunctionVersion);
  }

  async deleteFunction(name: string): Promise<void> {
    this.stmt.deleteFunction.run(name);
  }

  async deleteVersion(name: string, version: string): Promise<void> {
    this.stmt.deleteVersion.run(name, version);
  }

  async isCodeReferenced(codeSha256: string): Promise<boolean> {
    return this.stmt.codeReferenced.get(codeSha256) !== undefined;
  }

  async listReservations(): Promise<{ functionName: string; reserved: number }[]> {
    return this.stmt.reservations.all().map((r) => ({ functionName: r.name, reserved: r.reserved }));
  }

  async getAlias(functionName: string, name: string): Promise<AliasRecord | undefined> {
    const row = this.stmt.getAlias.get(functionName, name);
    return row ? (JSON.parse(row.config) as AliasRecord) : undefined;
  }

  async putAlias(alias: AliasRecord, expectedRevisionId: string | undefined): Promise<boolean> {
    return this.db.transaction(() => {
      const current = this.stmt.getAliasRevision.get(alias.functionName, alias.name);
      if (current?.revision_id !== expectedRevisionId) return false;
      if (!this.stmt.getFunction.get(alias.functionName)) return false;
      this.stmt.upsertAlias.run(alias.functionName, alias.name, alias.revisionId, JSON.stringify(alias));
      return true;
    })();
  }

  async listAliases(functionName: string): Promise<AliasRecord[]> {
    return this.stmt.listAliases.all(functionName).map((r) => JSON.parse(r.config) as AliasRecord);
  }

  async deleteAlias(functionName: string, name: string): Promise<void> {
    this.stmt.deleteAlias.run(functionName, name);
  }

  async usage(): Promise<{ totalCodeSize: number; functionCount: number }> {
    const row = this.stmt.usage.get()!;
    return { totalCodeSize: row.total ?? 0, functionCount: row.count };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
