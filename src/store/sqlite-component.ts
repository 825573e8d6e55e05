// Schema versions of parts that keep tables in the state database without
// sharing its user_version: one row per component in kindling_schema.
import type Database from 'better-sqlite3';

export function migrateComponent(db: Database.Database, component: string, migrations: string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS kindling_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  const row = db.prepare<[string], { version: number }>('SELECT version FROM kindling_schema WHERE component = ?').get(component);
  for (let i = row?.version ?? 0; i < migrations.length; i++) {
    db.transaction(() => {
      db.exec(migrations[i]!);
      db.prepare(
        'INSERT INTO kindling_schema (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version',
      ).run(component, i + 1);
    })();
  }
}
