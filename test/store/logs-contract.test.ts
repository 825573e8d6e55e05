// The log store's contract, held by the embedded SQLite store and by
// PostgreSQL (cluster mode): buffered appends split into lines, flushes,
// queries filtered by time, terms, id and limit, expiry, and close flushing.
// For PostgreSQL also: lines appended in one process are read in another, and
// while the database is unreachable appends neither throw nor lose lines (up
// to the buffer's cap, past which the oldest are dropped and counted).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import type pg from 'pg';
import { SqliteLogStore, type LogEvent, type LogStore } from '../../src/store/logs.js';
import { openPostgres, type PostgresDb } from '../../src/store/postgres/db.js';
import { BUFFER_CAP, PgLogStore } from '../../src/store/postgres/logs.js';
import { freshDatabase } from '../helpers/postgres.js';
import { onPostgres, onSqlite, type Backend as StoreBackend } from './backends.js';
import { until } from '../async/fakes.js';

type Backend = StoreBackend<LogStore>;

const sqliteBackend = () => onSqlite('logs.sqlite', (path) => new SqliteLogStore(path));
const postgresBackend = () => onPostgres((db) => PgLogStore.open(db));

const messages = (events: LogEvent[]): string[] => events.map((e) => e.message);


const backends: [string, () => Promise<Backend>][] = [
  ['sqlite', sqliteBackend],
  ['postgres', postgresBackend],
];

for (const [name, make] of backends) {
  describe(`log store: ${name}`, () => {
    // A fresh backend per test: expiry works across all functions.
    const made: Backend[] = [];
    const fresh = async (): Promise<LogStore> => {
      const b = await make();
      made.push(b);
      return b.open();
    };
    after(async () => {
      for (const b of made) await b.close();
    });

    test('append splits text into lines (no empty ones) kept per function and stream, in order', async () => {
      const logs = await fresh();
      const before = Date.now();
      logs.append('fn', 'stream-1', 'START RequestId: 1\nhello\n\nworld\n');
      logs.append('fn', 'stream-2', 'no newline at the end');
      logs.append('other-fn', 'stream-1', 'not mine\n');
      await logs.flush();
      const events = await logs.query({ functionName: 'fn', limit: 100 });
      assert.deepEqual(messages(events), ['START RequestId: 1', 'hello', 'world', 'no newline at the end']);
      assert.deepEqual(
        events.map((e) => [e.functionName, e.logStream]),
        [
          ['fn', 'stream-1'],
          ['fn', 'stream-1'],
          ['fn', 'stream-1'],
          ['fn', 'stream-2'],
        ],
      );
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.id > events[i - 1]!.id);
      for (const e of events) assert.ok(e.timestamp >= before && e.timestamp <= Date.now());
      assert.deepEqual(messages(await logs.query({ functionName: 'other-fn', limit: 100 })), ['not mine']);
      assert.deepEqual(await logs.query({ functionName: 'nobody', limit: 100 }), []);
    });

    test("a line appended with its writer's timestamp keeps it (a worker host's lines)", async () => {
      const logs = await fresh();
      logs.append('fn', 's', 'earlier\nstill earlier\n', 1_700_000_000_123);
      const events = await logs.query({ functionName: 'fn', limit: 10 });
      assert.deepEqual(events.map((e) => [e.message, e.timestamp]), [
        ['earlier', 1_700_000_000_123],
        ['still earlier', 1_700_000_000_123],
      ]);
    });

    test('query sees what this store appended without an explicit flush', async () => {
      const logs = await fresh();
      logs.append('fn', 's', 'just now\n');
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', limit: 10 })), ['just now']);
    });

    test('startTime and endTime bound the timestamps, both inclusive', async () => {
      const logs = await fresh();
      logs.append('fn', 's', 'early\n');
      await logs.flush();
      await sleep(15);
      const middle = Date.now();
      await sleep(15);
      logs.append('fn', 's', 'late\n');
      await logs.flush();
      const all = await logs.query({ functionName: 'fn', limit: 10 });
      assert.deepEqual(messages(all), ['early', 'late']);
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', startTime: middle, limit: 10 })), ['late']);
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', endTime: middle, limit: 10 })), ['early']);
      const [early, late] = all;
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', startTime: late!.timestamp, endTime: late!.timestamp, limit: 10 })), ['late']);
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', startTime: early!.timestamp, endTime: late!.timestamp, limit: 10 })), ['early', 'late']);
      assert.deepEqual(await logs.query({ functionName: 'fn', startTime: middle, endTime: middle, limit: 10 }), []);
    });

    test('terms must all appear, as plain case-sensitive text (no wildcards)', async () => {
      const logs = await fresh();
      logs.append('fn', 's', 'ERROR disk full on /dev/sda\nINFO all good\nERROR timeout after 3s\nerror lower case\n100% done_now\n1000 done\n');
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', terms: ['ERROR'], limit: 10 })), ['ERROR disk full on /dev/sda', 'ERROR timeout after 3s']);
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', terms: ['ERROR', 'timeout'], limit: 10 })), ['ERROR timeout after 3s']);
      assert.deepEqual(await logs.query({ functionName: 'fn', terms: ['ERROR', 'good'], limit: 10 }), []);
      // % and _ are characters here, not LIKE patterns.
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', terms: ['0%'], limit: 10 })), ['100% done_now']);
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', terms: ['e_n'], limit: 10 })), ['100% done_now']);
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', terms: [], limit: 2 })), ['ERROR disk full on /dev/sda', 'INFO all good']);
    });

    test('afterId and limit page through every event once, in order', async () => {
      const logs = await fresh();
      const lines = Array.from({ length: 25 }, (_, i) => `line ${i}`);
      logs.append('fn', 's', lines.slice(0, 10).join('\n'));
      logs.append('other', 's', 'interleaved\n');
      logs.append('fn', 's', lines.slice(10).join('\n'));
      const seen: string[] = [];
      let afterId: number | undefined;
      for (let page = 0; page < 10; page++) {
        const events = await logs.query({ functionName: 'fn', limit: 10, ...(afterId !== undefined ? { afterId } : {}) });
        if (events.length === 0) break;
        assert.ok(events.length <= 10);
        seen.push(...messages(events));
        afterId = events[events.length - 1]!.id;
      }
      assert.deepEqual(seen, lines);
      // Filters combine with afterId.
      const first = (await logs.query({ functionName: 'fn', limit: 1 }))[0]!;
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', afterId: first.id, terms: ['line 2'], limit: 3 })), ['line 2', 'line 20', 'line 21']);
    });

    test('thousands of lines at once (past the flush threshold) all arrive, in order', async () => {
      const logs = await fresh();
      const lines = Array.from({ length: 7000 }, (_, i) => `bulk ${i}`);
      for (let i = 0; i < lines.length; i += 700) logs.append('fn', 's', `${lines.slice(i, i + 700).join('\n')}\n`);
      const events = await logs.query({ functionName: 'fn', limit: 10_000 });
      assert.deepEqual(messages(events), lines);
    });

    test('expire drops events older than the window and counts them', async () => {
      const logs = await fresh();
      logs.append('fn', 's', 'old 1\nold 2\n');
      logs.append('other', 's', 'old 3\n');
      await logs.flush();
      assert.equal(await logs.expire(60_000), 0);
      await sleep(50);
      logs.append('fn', 's', 'new\n');
      assert.equal(await logs.expire(30), 3);
      assert.deepEqual(messages(await logs.query({ functionName: 'fn', limit: 10 })), ['new']);
      assert.deepEqual(await logs.query({ functionName: 'other', limit: 10 }), []);
      assert.equal(await logs.expire(60_000), 0);
    });

    test('a line with a NUL character does not stop the lines around it', async () => {
      const logs = await fresh();
      logs.append('fn', 's', 'before\nbinary \u0000 junk\nafter\n');
      const events = messages(await logs.query({ functionName: 'fn', limit: 10 }));
      assert.equal(events.length, 3);
      assert.equal(events[0], 'before');
      assert.match(events[1]!, /^binary . junk$/u);
      assert.equal(events[2], 'after');
    });

    test('close flushes what is buffered; a reopened store reads it', async () => {
      const b = await make();
      made.push(b);
      const logs = await b.open();
      logs.append('fn', 's', 'written at close\n');
      await logs.close();
      const again = await b.open();
      assert.deepEqual(messages(await again.query({ functionName: 'fn', limit: 10 })), ['written at close']);
    });
  });
}

describe('log store: postgres across processes', () => {
  let b: Backend & { url: string };
  after(async () => {
    await b.close();
  });

  test('lines appended on A are read on B after A flushes, and within moments without asking', async () => {
    b = await postgresBackend();
    const a = await b.open();
    const other = await b.open();
    a.append('shared', 's', 'from A\n');
    await a.flush();
    assert.deepEqual(messages(await other.query({ functionName: 'shared', limit: 10 })), ['from A']);
    // The background flush (every 100 ms) with no one calling flush.
    a.append('shared', 's', 'from A later\n');
    other.append('shared', 't', 'from B\n');
    await until(async () => (await other.query({ functionName: 'shared', limit: 10 })).length === 3, 10_000, 'B reads both');
    assert.deepEqual(new Set(messages(await a.query({ functionName: 'shared', limit: 10 }))), new Set(['from A', 'from A later', 'from B']));
  });
});

/** A pool that fails like an unreachable server while `down` is set. */
function flakyDb(real: PostgresDb): PostgresDb & { down: boolean } {
  const refused = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const flaky = {
    down: false,
    url: real.url,
    pool: real.pool,
    transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
      return flaky.down ? Promise.reject(refused()) : real.transaction(fn);
    },
    close: () => real.close(),
  };
  return flaky;
}

describe('log store: postgres while the database is away', () => {
  let fresh: { url: string; drop: () => Promise<void> };
  let real: PostgresDb;
  const errors: unknown[] = [];
  after(async () => {
    await real.close();
    await fresh.drop();
  });

  test('appends keep buffering without throwing, and everything arrives in order once it is back', async () => {
    fresh = await freshDatabase();
    real = openPostgres(fresh.url);
    const db = flakyDb(real);
    const logs = await PgLogStore.open(db, { onError: (err) => errors.push(err) });
    db.down = true;
    const lines = Array.from({ length: 3000 }, (_, i) => `buffered ${i}`);
    for (let i = 0; i < lines.length; i += 100) logs.append('fn', 's', lines.slice(i, i + 100).join('\n'));
    await assert.rejects(logs.flush(), /ECONNREFUSED/);
    await sleep(300);
    assert.equal(logs.bufferedLines, 3000);
    assert.equal(logs.droppedLines, 0);
    assert.ok(errors.length > 0, 'background flushes were tried and reported');
    db.down = false;
    // No flush called: the background retry writes them.
    await until(async () => logs.bufferedLines === 0, 10_000, 'the retry wrote everything');
    assert.deepEqual(messages(await logs.query({ functionName: 'fn', limit: 5000 })), lines);
    await logs.close();
  });

  test('past the cap the oldest lines are dropped and counted', async () => {
    const db = flakyDb(real);
    const logs = await PgLogStore.open(db);
    db.down = true;
    const extra = 10;
    const total = BUFFER_CAP + extra;
    for (let i = 0; i < total; i += 1000) {
      logs.append('capped', 's', Array.from({ length: Math.min(1000, total - i) }, (_, j) => `capped ${i + j}`).join('\n'));
    }
    assert.equal(logs.bufferedLines, BUFFER_CAP);
    assert.equal(logs.droppedLines, extra);
    db.down = false;
    await logs.flush();
    const events = await logs.query({ functionName: 'capped', limit: total });
    assert.equal(events.length, BUFFER_CAP);
    assert.equal(events[0]!.message, `capped ${extra}`);
    assert.equal(events[events.length - 1]!.message, `capped ${total - 1}`);
    await logs.close();
  });
});
