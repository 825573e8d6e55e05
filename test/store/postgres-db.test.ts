// The shared PostgreSQL layer: migrations applied once per component even when
// several processes start together, and transactions that roll back on error.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { migrateComponent, openPostgres, type PostgresDb } from '../../src/store/postgres/db.js';
import { freshDatabase } from '../helpers/postgres.js';

let db: PostgresDb;
let drop: () => Promise<void>;
before(async () => {
  const fresh = await freshDatabase();
  drop = fresh.drop;
  db = openPostgres(fresh.url);
});
after(async () => {
  await db.close();
  await drop();
});

test('migrations run once per component, also when many starts race', async () => {
  const migrations = ['CREATE TABLE t1 (id INT PRIMARY KEY)', 'ALTER TABLE t1 ADD COLUMN v TEXT'];
  const others = Array.from({ length: 4 }, () => openPostgres(db.url, { max: 2 }));
  await Promise.all(others.map((o) => migrateComponent(o, 'probe', migrations)));
  await Promise.all(others.map((o) => o.close()));
  const v = await db.pool.query<{ version: number }>("SELECT version FROM kindling_schema WHERE component = 'probe'");
  assert.equal(v.rows[0]?.version, 2);
  // A third migration is applied on the next start; the first two are not run again.
  await migrateComponent(db, 'probe', [...migrations, 'CREATE INDEX t1_v ON t1 (v)']);
  const again = await db.pool.query<{ version: number }>("SELECT version FROM kindling_schema WHERE component = 'probe'");
  assert.equal(again.rows[0]?.version, 3);
});

test('a transaction that throws leaves nothing behind', async () => {
  await db.pool.query('CREATE TABLE t2 (id INT PRIMARY KEY)');
  await assert.rejects(
    db.transaction(async (c) => {
      await c.query('INSERT INTO t2 VALUES (1)');
      throw new Error('boom');
    }),
    /boom/,
  );
  const rows = await db.pool.query('SELECT * FROM t2');
  assert.equal(rows.rowCount, 0);
  assert.equal(await db.transaction(async (c) => (await c.query('INSERT INTO t2 VALUES (2) RETURNING id')).rows[0].id), 2);
});
