// Layers in the state database (state.sqlite): one row per layer name (its
// last version number, never reused) and one per layer version.
import type Database from 'better-sqlite3';
import type { LayerStore, LayerVersionRecord } from '../control/layers.js';
import { migrateComponent } from './sqlite-component.js';
import { openSqlite } from './sqlite-state.js';

const COMPONENT = 'layers';
const MIGRATIONS: string[] = [
  `CREATE TABLE layers (
     name TEXT PRIMARY KEY,
     last_version INTEGER NOT NULL
   );
   CREATE TABLE layer_versions (
     layer_name TEXT NOT NULL REFERENCES layers(name),
     version INTEGER NOT NULL,
     code_sha256 TEXT NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (layer_name, version)
   );
   CREATE INDEX layer_versions_code ON layer_versions (code_sha256);`,
];

export class SqliteLayerStore implements LayerStore {
  private readonly db: Database.Database;
  private readonly stmt;

  /** `path` is the state database (function versions are consulted for code references). */
  constructor(path: string) {
    this.db = openSqlite(path);
    migrateComponent(this.db, COMPONENT, MIGRATIONS);
    const db = this.db;
    this.stmt = {
      last: db.prepare<[string], { last_version: number }>('SELECT last_version FROM layers WHERE name = ?'),
      bump: db.prepare(
        `INSERT INTO layers (name, last_version) VALUES (?, 1)
         ON CONFLICT (name) DO UPDATE SET last_version = last_version + 1`,
      ),
      insert: db.prepare('INSERT INTO layer_versions (layer_name, version, code_sha256, data) VALUES (?, ?, ?, ?)'),
      get: db.prepare<[string, number], { data: string }>('SELECT data FROM layer_versions WHERE layer_name = ? AND version = ?'),
      listVersions: db.prepare<[string], { data: string }>('SELECT data FROM layer_versions WHERE layer_name = ? ORDER BY version DESC'),
      listNames: db.prepare<[], { layer_name: string }>('SELECT DISTINCT layer_name FROM layer_versions ORDER BY layer_name'),
      delete: db.prepare('DELETE FROM layer_versions WHERE layer_name = ? AND version = ?'),
      layerCode: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM layer_versions WHERE code_sha256 = ? LIMIT 1'),
      // A function version's config names every package it runs: its own and its layers'.
      functionCode: db.prepare<[string, string], { n: number }>(
        'SELECT 1 AS n FROM function_versions WHERE code_sha256 = ? OR config LIKE ? LIMIT 1',
      ),
    };
  }

  async publish(layerName: string, build: (version: number) => LayerVersionRecord): Promise<LayerVersionRecord> {
    return this.db.transaction(() => {
      this.stmt.bump.run(layerName);
      const version = this.stmt.last.get(layerName)!.last_version;
      const record = build(version);
      this.stmt.insert.run(layerName, version, record.codeSha256, JSON.stringify(record));
      return record;
    })();
  }

  async get(layerName: string, version: number): Promise<LayerVersionRecord | undefined> {
    const row = this.stmt.get.get(layerName, version);
    return row ? (JSON.parse(row.data) as LayerVersionRecord) : undefined;
  }

  async listVersions(layerName: string): Promise<LayerVersionRecord[]> {
    return this.stmt.listVersions.all(layerName).map((r) => JSON.parse(r.data) as LayerVersionRecord);
  }

  async listLayerNames(): Promise<string[]> {
    return this.stmt.listNames.all().map((r) => r.layer_name);
  }

  async delete(layerName: string, version: number): Promise<LayerVersionRecord | undefined> {
    return this.db.transaction(() => {
      const row = this.stmt.get.get(layerName, version);
      if (!row) return undefined;
      this.stmt.delete.run(layerName, version);
      return JSON.parse(row.data) as LayerVersionRecord;
    })();
  }

  async isCodeReferenced(codeSha256: string): Promise<boolean> {
    if (this.stmt.layerCode.get(codeSha256)) return true;
    return this.stmt.functionCode.get(codeSha256, `%"codeSha256":"${codeSha256}"%`) !== undefined;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
