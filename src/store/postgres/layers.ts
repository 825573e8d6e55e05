// Layers on PostgreSQL (cluster mode), as src/store/sqlite-layers.ts keeps
// them: one row per layer name holding its last version number (so numbers
// are never reused, even after deletes) and one row per layer version.
// Concurrent publishers in any process get distinct numbers: the upsert of the
// name's row takes its row lock until COMMIT, so they take turns. Names are
// COLLATE "C" (byte order and equality, as in SQLite, whatever the locale).
// isCodeReferenced reads the state store's function_versions: open that first.
import type { LayerStore, LayerVersionRecord } from '../../control/layers.js';
import { migrateComponent, type PostgresDb } from './db.js';

const MIGRATIONS: string[] = [
  `CREATE TABLE layers (
     name TEXT COLLATE "C" PRIMARY KEY,
     last_version INTEGER NOT NULL
   );
   CREATE TABLE layer_versions (
     layer_name TEXT COLLATE "C" NOT NULL REFERENCES layers(name),
     version INTEGER NOT NULL,
     code_sha256 TEXT NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (layer_name, version)
   );
   CREATE INDEX layer_versions_code ON layer_versions (code_sha256);`,
];

export class PgLayerStore implements LayerStore {
  private constructor(private readonly db: PostgresDb) {}

  /** The database is the caller's: close() leaves it open. */
  static async open(db: PostgresDb): Promise<PgLayerStore> {
    await migrateComponent(db, 'layers', MIGRATIONS);
    return new PgLayerStore(db);
  }

  async publish(layerName: string, build: (version: number) => LayerVersionRecord): Promise<LayerVersionRecord> {
    return this.db.transaction(async (c) => {
      const bumped = await c.query<{ last_version: number }>(
        `INSERT INTO layers (name, last_version) VALUES ($1, 1)
         ON CONFLICT (name) DO UPDATE SET last_version = layers.last_version + 1
         RETURNING last_version`,
        [layerName],
      );
      const version = bumped.rows[0]!.last_version;
      const record = build(version);
      await c.query('INSERT INTO layer_versions (layer_name, version, code_sha256, data) VALUES ($1, $2, $3, $4)', [
        layerName,
        version,
        record.codeSha256,
        JSON.stringify(record),
      ]);
      return record;
    });
  }

  async get(layerName: string, version: number): Promise<LayerVersionRecord | undefined> {
    const r = await this.db.pool.query<{ data: string }>('SELECT data FROM layer_versions WHERE layer_name = $1 AND version = $2', [
      layerName,
      version,
    ]);
    const row = r.rows[0];
    return row ? (JSON.parse(row.data) as LayerVersionRecord) : undefined;
  }

  async listVersions(layerName: string): Promise<LayerVersionRecord[]> {
    const r = await this.db.pool.query<{ data: string }>('SELECT data FROM layer_versions WHERE layer_name = $1 ORDER BY version DESC', [
      layerName,
    ]);
    return r.rows.map((row) => JSON.parse(row.data) as LayerVersionRecord);
  }

  async listLayerNames(): Promise<string[]> {
    const r = await this.db.pool.query<{ layer_name: string }>('SELECT DISTINCT layer_name FROM layer_versions ORDER BY layer_name');
    return r.rows.map((row) => row.layer_name);
  }

  async delete(layerName: string, version: number): Promise<LayerVersionRecord | undefined> {
    const r = await this.db.pool.query<{ data: string }>('DELETE FROM layer_versions WHERE layer_name = $1 AND version = $2 RETURNING data', [
      layerName,
      version,
    ]);
    const row = r.rows[0];
    return row ? (JSON.parse(row.data) as LayerVersionRecord) : undefined;
  }

  async isCodeReferenced(codeSha256: string): Promise<boolean> {
    const layer = await this.db.pool.query('SELECT 1 FROM layer_versions WHERE code_sha256 = $1 LIMIT 1', [codeSha256]);
    if (layer.rowCount) return true;
    // The state store's table (opened first, as in SQLite): a function version's config names
    // every package it runs, its own and its layers'.
    const fn = await this.db.pool.query('SELECT 1 FROM function_versions WHERE code_sha256 = $1 OR strpos(config, $2) > 0 LIMIT 1', [
      codeSha256,
      `"codeSha256":"${codeSha256}"`,
    ]);
    return (fn.rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {}
}
