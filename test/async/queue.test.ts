// The internal queue's semantics, held by the embedded SQLite queue and by
// the PostgreSQL one (cluster mode): leases (visibility timeout), receive
// counts, delayed redelivery, at least once, atomic acks with what follows
// them, and the failed-events store. Then what only one of them has: SQLite's
// group commit, and PostgreSQL's sharing between processes (SKIP LOCKED
// receives, LISTEN/NOTIFY wake-ups, surviving a server restart).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import pg from 'pg';
import type { EventQueue, NewEvent, QueuedEvent } from '../../src/async/queue.js';
import { openPostgres, type PostgresDb } from '../../src/store/postgres/db.js';
import { isPgStorageFailure, PgEventQueue } from '../../src/store/postgres/queue.js';
import { isStorageFailure, SqliteEventQueue } from '../../src/store/sqlite-queue.js';
import { ADMIN_URL, freshDatabase } from '../helpers/postgres.js';

let dir: string;
let n = 0;
let pgUrl: string;
let pgName: string;
let dropDatabase: (() => Promise<void>) | undefined;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kindling-queue-'));
  const db = await freshDatabase('kindling_queue_test');
  pgUrl = db.url;
  pgName = db.name;
  dropDatabase = db.drop;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await dropDatabase?.();
});

// What a test opened, closed after it even when it fails (close is idempotent).
const opened: EventQueue[] = [];
const pools: PostgresDb[] = [];
afterEach(async () => {
  for (const q of opened.splice(0)) await q.close();
  for (const db of pools.splice(0)) await db.close();
});

type Clock = { now: number };

interface Fresh {
  queue: EventQueue;
  clock: Clock;
  /** Another queue on the same storage with the same clock: a restarted process, or (PostgreSQL) a second one. */
  another(): Promise<EventQueue>;
}

/** A SQLite queue on a fresh file with a clock the test moves. */
function freshSqlite(opts: { groupCommitMs?: number; maxBatch?: number } = {}) {
  const clock: Clock = { now: 1_000_000 };
  const path = join(dir, `q${++n}.sqlite`);
  const queue = new SqliteEventQueue(path, { ...opts, now: () => clock.now });
  opened.push(queue);
  return { queue, clock, path };
}

/** A PostgreSQL queue with its own pool, as a separate Kindling process would have. */
async function openPg(clock?: Clock): Promise<PgEventQueue> {
  const db = openPostgres(pgUrl, { max: 8 });
  pools.push(db);
  const queue = await PgEventQueue.open(db, clock ? { now: () => clock.now } : {});
  opened.push(queue);
  return queue;
}

const backends: [string, () => Promise<Fresh>][] = [
  [
    'sqlite',
    async () => {
      const { queue, clock, path } = freshSqlite();
      return {
        queue,
        clock,
        another: async () => {
          const q = new SqliteEventQueue(path, { now: () => clock.now });
          opened.push(q);
          return q;
        },
      };
    },
  ],
  [
    'postgres',
    async () => {
      // One database for the file, emptied for each test.
      const clock: Clock = { now: 1_000_000 };
      const queue = await openPg(clock);
      await pools.at(-1)!.pool.query('TRUNCATE async_events, async_failed_events RESTART IDENTITY');
      return { queue, clock, another: () => openPg(clock) };
    },
  ],
];

const ev = (i: number, extra: Partial<NewEvent> = {}): NewEvent => ({
  functionName: 'fn',
  requestId: `req-${i}`,
  payload: Buffer.from(JSON.stringify({ i })),
  ...extra,
});

for (const [backend, fresh] of backends) {
  describe(`${backend}: leases`, () => {
    test('a received event is invisible until its visibility timeout lapses, then comes back counted', async () => {
      const { queue, clock } = await fresh();
      await queue.enqueue(ev(1));
      const [first] = await queue.receive({ max: 10, visibilityMs: 1000 });
      assert.ok(first);
      assert.equal(first.requestId, 'req-1');
      assert.equal(first.receiveCount, 1);
      assert.deepEqual(JSON.parse(first.payload.toString()), { i: 1 });
      assert.deepEqual(await queue.receive({ max: 10, visibilityMs: 1000 }), []);
      clock.now += 999;
      assert.deepEqual(await queue.receive({ max: 10, visibilityMs: 1000 }), []);
      clock.now += 1;
      const [again] = await queue.receive({ max: 10, visibilityMs: 1000 });
      assert.ok(again);
      assert.equal(again.id, first.id);
      assert.equal(again.receiveCount, 2);
      // The first lease is stale now: it can neither ack nor extend.
      assert.equal(await queue.ack(first.receipt), false);
      assert.equal(await queue.extend(first.receipt, 1000), false);
      // Receipts that name nothing are refused, not errors.
      for (const bad of ['garbage', `${again.id}:nope`, `x:${again.receipt.split(':')[1]}`, '99999999999999999999999:ab']) {
        assert.equal(await queue.ack(bad), false, bad);
        assert.equal(await queue.extend(bad, 1000), false, bad);
      }
      assert.equal(await queue.ack(again.receipt), true);
      clock.now += 10_000;
      assert.deepEqual(await queue.receive({ max: 10, visibilityMs: 1000 }), []);
      await queue.close();
    });

    test('extend keeps a lease; release gives it back at once without counting the delivery', async () => {
      const { queue, clock } = await fresh();
      await queue.enqueue(ev(1));
      const [a] = await queue.receive({ max: 1, visibilityMs: 100 });
      clock.now += 90;
      assert.equal(await queue.extend(a!.receipt, 100), true);
      clock.now += 90;
      assert.deepEqual(await queue.receive({ max: 1, visibilityMs: 100 }), []);
      let woke = 0;
      queue.onVisible(() => woke++);
      assert.equal(await queue.release(a!.receipt), true);
      assert.equal(woke, 1);
      assert.equal(await queue.release(a!.receipt), false, 'a released receipt is stale');
      const [b] = await queue.receive({ max: 1, visibilityMs: 100 });
      assert.equal(b!.receiveCount, 1);
      await queue.close();
    });

    test('oldest first, at most max, and functions can be left out', async () => {
      const { queue } = await fresh();
      for (let i = 0; i < 5; i++) await queue.enqueue(ev(i, { functionName: i % 2 === 0 ? 'even' : 'odd' }));
      const two = await queue.receive({ max: 2, visibilityMs: 1000 });
      assert.deepEqual(two.map((e) => e.requestId), ['req-0', 'req-1']);
      const odd = await queue.receive({ max: 10, visibilityMs: 1000, exclude: ['even'] });
      assert.deepEqual(odd.map((e) => e.requestId), ['req-3']);
      assert.deepEqual(await queue.receive({ max: 10, visibilityMs: 1000, exclude: ['even', 'odd'] }), []);
      const rest = await queue.receive({ max: 10, visibilityMs: 1000 });
      assert.deepEqual(rest.map((e) => e.requestId), ['req-2', 'req-4']);
      assert.deepEqual(await queue.receive({ max: 0, visibilityMs: 1000 }), []);
      await queue.close();
    });

    test('leaving a function out still takes the others oldest first, at most max', async () => {
      const { queue, clock } = await fresh();
      for (let i = 0; i < 6; i++) {
        await queue.enqueue(ev(i, { functionName: ['a', 'b', 'c'][i % 3]! }));
        clock.now += 1;
      }
      await queue.enqueue(ev(9, { functionName: 'b', delayMs: 1000 }));
      const got = await queue.receive({ max: 3, visibilityMs: 1000, exclude: ['a'] });
      assert.deepEqual(got.map((e) => e.requestId), ['req-1', 'req-2', 'req-4']);
      const more = await queue.receive({ max: 10, visibilityMs: 1000, exclude: ['a'] });
      assert.deepEqual(more.map((e) => e.requestId), ['req-5'], 'the delayed event stays back');
      await queue.close();
    });

    test('stats count visible, in flight and delayed events', async () => {
      const { queue } = await fresh();
      await queue.enqueue(ev(1));
      await queue.enqueue(ev(2));
      await queue.enqueue(ev(3, { delayMs: 5000 }));
      await queue.receive({ max: 1, visibilityMs: 1000 });
      assert.deepEqual(await queue.stats(), { visible: 1, inFlight: 1, delayed: 1, failed: 0 });
      assert.deepEqual(await queue.stats('fn'), { visible: 1, inFlight: 1, delayed: 1, failed: 0 });
      assert.deepEqual(await queue.stats('other'), { visible: 0, inFlight: 0, delayed: 0, failed: 0 });
      await queue.close();
    });

    test('an enqueue in flight at close is committed; later calls are refused', async () => {
      const { queue, another } = await fresh();
      const p = queue.enqueue(ev(1));
      await queue.close();
      await p;
      await assert.rejects(queue.enqueue(ev(2)), /closed/);
      await assert.rejects(queue.receive({ max: 1, visibilityMs: 1000 }), /closed/);
      const other = await another();
      assert.equal((await other.stats()).visible, 1);
      await other.close();
    });
  });

  describe(`${backend}: delayed redelivery`, () => {
    test('retry hides the event for its delay and keeps its counters; nextVisibleAt says when', async () => {
      const { queue, clock } = await fresh();
      assert.equal(await queue.nextVisibleAt(), undefined);
      await queue.enqueue(ev(1));
      const [a] = await queue.receive({ max: 1, visibilityMs: 1000 });
      assert.equal(await queue.retry(a!.receipt, { delayMs: 60_000, functionErrors: 1, systemRetries: 0 }), true);
      assert.equal(await queue.nextVisibleAt(), clock.now + 60_000);
      clock.now += 59_999;
      assert.deepEqual(await queue.receive({ max: 1, visibilityMs: 1000 }), []);
      clock.now += 1;
      const [b] = await queue.receive({ max: 1, visibilityMs: 1000 });
      assert.equal(b!.functionErrors, 1);
      assert.equal(b!.systemRetries, 0);
      assert.equal(b!.receiveCount, 2);
      assert.equal(b!.requestId, 'req-1');
      assert.equal(b!.enqueuedAt, 1_000_000, 'the age counts from the first accept');
      assert.equal(await queue.retry(a!.receipt, { delayMs: 0, functionErrors: 9, systemRetries: 9 }), false, 'a stale receipt changes nothing');
      await queue.close();
    });

    test('an enqueue can be delayed', async () => {
      const { queue, clock } = await fresh();
      await queue.enqueue(ev(1, { delayMs: 500 }));
      assert.deepEqual(await queue.receive({ max: 1, visibilityMs: 1000 }), []);
      assert.equal(await queue.nextVisibleAt(), clock.now + 500);
      clock.now += 500;
      assert.equal((await queue.receive({ max: 1, visibilityMs: 1000 })).length, 1);
      await queue.close();
    });
  });

  describe(`${backend}: at least once`, () => {
    if (backend === 'sqlite') {
      test('an event leased when the process stopped is delivered again after recover()', async () => {
        const { queue, another } = await fresh();
        await queue.enqueue(ev(1));
        await queue.enqueue(ev(2));
        const [a] = await queue.receive({ max: 1, visibilityMs: 3_600_000 });
        assert.equal(a!.requestId, 'req-1');
        await queue.close(); // never acked

        const reopened = await another();
        assert.equal(await reopened.recover(), 1);
        const got = await reopened.receive({ max: 10, visibilityMs: 1000 });
        assert.deepEqual(got.map((e) => e.requestId).sort(), ['req-1', 'req-2']);
        assert.equal(got.find((e) => e.requestId === 'req-1')!.receiveCount, 2);
        await reopened.close();
      });
    } else {
      test('recover() in a cluster: an expired lease comes back, a live lease of another process does not', async () => {
        const { queue: a, clock, another } = await fresh();
        for (let i = 1; i <= 3; i++) await a.enqueue(ev(i));
        const [short] = await a.receive({ max: 1, visibilityMs: 1000 }); // its holder is gone, say
        const [long] = await a.receive({ max: 1, visibilityMs: 3_600_000 }); // its holder is still running
        assert.equal(short!.requestId, 'req-1');
        assert.equal(long!.requestId, 'req-2');

        const b = await another();
        assert.equal(await b.recover(), 1, 'only req-3 is visible: no lease is taken from anyone');
        clock.now += 1000;
        assert.equal(await b.recover(), 2, 'the lapsed lease counts as visible again');
        const got = await b.receive({ max: 10, visibilityMs: 1000 });
        assert.deepEqual(got.map((e) => e.requestId), ['req-1', 'req-3']);
        assert.equal(got[0]!.receiveCount, 2);
        assert.equal(await a.ack(short!.receipt), false, 'the lapsed lease is stale');
        assert.equal(await a.ack(long!.receipt), true, 'the live lease still belongs to its holder');
        await b.close();
        await a.close();
      });
    }

    test('a delayed retry stays delayed across recover()', async () => {
      const { queue, another } = await fresh();
      await queue.enqueue(ev(1));
      const [a] = await queue.receive({ max: 1, visibilityMs: 1000 });
      await queue.retry(a!.receipt, { delayMs: 60_000, functionErrors: 1, systemRetries: 0 });
      await queue.close();
      const reopened = await another();
      assert.equal(await reopened.recover(), 0);
      assert.deepEqual(await reopened.receive({ max: 1, visibilityMs: 1000 }), []);
      await reopened.close();
    });
  });

  describe(`${backend}: ack outcomes`, () => {
    test('ack with forward enqueues the destination event in the same transaction', async () => {
      const { queue } = await fresh();
      await queue.enqueue(ev(1));
      const [a] = await queue.receive({ max: 1, visibilityMs: 1000 });
      let woke = 0;
      queue.onVisible(() => woke++);
      const forward: NewEvent = { functionName: 'dest', qualifier: 'live', requestId: 'rec-1', payload: Buffer.from('{"version":"1.0"}') };
      assert.equal(await queue.ack(a!.receipt, { forward }), true);
      assert.equal(woke, 1);
      const [d] = await queue.receive({ max: 10, visibilityMs: 1000 });
      assert.equal(d!.functionName, 'dest');
      assert.equal(d!.qualifier, 'live');
      assert.equal(d!.requestId, 'rec-1');
      assert.equal(d!.traceId, undefined);
      assert.equal(await queue.ack(a!.receipt, { forward }), false, 'a second ack forwards nothing');
      await queue.ack(d!.receipt);
      assert.deepEqual(await queue.stats(), { visible: 0, inFlight: 0, delayed: 0, failed: 0 });
      await queue.close();
    });

    test('a failed event is kept, listed in pages, and redriven as a new event with its request id', async () => {
      const { queue, clock } = await fresh();
      for (let i = 0; i < 3; i++) await queue.enqueue(ev(i, { qualifier: i === 2 ? '7' : undefined, traceId: i === 1 ? 'Root=1-x' : undefined }));
      clock.now += 5;
      for (const e of await queue.receive({ max: 10, visibilityMs: 1000 })) {
        await queue.ack(e.receipt, {
          failed: { condition: 'RetriesExhausted', record: JSON.stringify({ n: e.requestId }), errorType: 'Error', errorMessage: 'boom' },
        });
      }
      assert.equal((await queue.stats('fn')).failed, 3);
      assert.equal((await queue.stats()).failed, 3);
      const page1 = await queue.listFailed('fn', { limit: 2 });
      assert.deepEqual(page1.map((f) => f.requestId), ['req-0', 'req-1']);
      assert.equal(page1[1]!.traceId, 'Root=1-x');
      assert.equal(page1[0]!.enqueuedAt, 1_000_000);
      assert.equal(page1[0]!.failedAt, 1_000_005);
      assert.deepEqual(JSON.parse(page1[0]!.record), { n: 'req-0' });
      assert.deepEqual(JSON.parse(page1[0]!.payload.toString()), { i: 0 });
      const page2 = await queue.listFailed('fn', { after: page1[1]!.id, limit: 2 });
      assert.deepEqual(page2.map((f) => f.requestId), ['req-2']);
      assert.equal(page2[0]!.qualifier, '7');
      assert.equal(page2[0]!.condition, 'RetriesExhausted');
      assert.equal(page2[0]!.errorType, 'Error');
      assert.equal(page2[0]!.errorMessage, 'boom');
      assert.deepEqual(await queue.listFailed('other', { limit: 10 }), []);
      assert.deepEqual(await queue.listFailed('fn', { after: '99999999999999999999999', limit: 10 }), []);

      assert.equal(await queue.redrive('fn', ['abc', '99999999999999999999999']), 0);
      assert.equal(await queue.redrive('other'), 0);
      let woke = 0;
      queue.onVisible(() => woke++);
      assert.equal(await queue.redrive('fn', [page1[0]!.id, '999']), 1);
      assert.equal(woke, 1);
      assert.equal(await queue.redrive('fn'), 2);
      assert.equal(await queue.redrive('fn'), 0);
      assert.equal((await queue.stats('fn')).failed, 0);
      const again = await queue.receive({ max: 10, visibilityMs: 1000 });
      assert.deepEqual(again.map((e) => e.requestId), ['req-0', 'req-1', 'req-2']);
      assert.ok(again.every((e) => e.receiveCount === 1 && e.functionErrors === 0));
      assert.equal(again[1]!.traceId, 'Root=1-x');
      assert.equal(again[2]!.qualifier, '7');
      await queue.close();
    });
  });
}

describe('sqlite: group commit', () => {
  test('concurrent enqueues share transactions, and every one is on disk when its promise resolves', async () => {
    const { queue, path } = freshSqlite({ maxBatch: 256 });
    const count = 2000;
    await Promise.all(Array.from({ length: count }, (_, i) => queue.enqueue(ev(i))));
    assert.equal(queue.commits.events, count);
    assert.ok(queue.commits.transactions <= Math.ceil(count / 256) + 1, `${queue.commits.transactions} transactions for ${count} events`);
    // A second connection sees them all (committed, not just buffered).
    const other = new SqliteEventQueue(path);
    assert.equal((await other.stats()).visible, count);
    await other.close();
    await queue.close();
  });

  test('a window holds the commit open for stragglers', async () => {
    const { queue } = freshSqlite({ groupCommitMs: 20 });
    const a = queue.enqueue(ev(1));
    await new Promise((r) => setTimeout(r, 5));
    const b = queue.enqueue(ev(2));
    await Promise.all([a, b]);
    assert.deepEqual(queue.commits, { transactions: 1, events: 2 });
    await queue.close();
  });

  test('pollers are told after the commit', async () => {
    const { queue } = freshSqlite();
    let seen = -1;
    queue.onVisible(() => {
      seen = queue.commits.events;
    });
    await queue.enqueue(ev(1));
    assert.equal(seen, 1);
    await queue.close();
  });

  test('enqueues waiting at close are committed, later ones refused', async () => {
    const { queue, path } = freshSqlite({ groupCommitMs: 1000 });
    const p = queue.enqueue(ev(1));
    await queue.close();
    await p;
    await assert.rejects(queue.enqueue(ev(2)), /closed/);
    const other = new SqliteEventQueue(path);
    assert.equal((await other.stats()).visible, 1);
    await other.close();
  });
});

/** Resolves on the listener's next call; fails the test after `ms`. */
function nextVisible(queue: EventQueue, what: string, ms = 10_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${what}: onVisible was not called within ${ms} ms`));
    }, ms);
    const off = queue.onVisible(() => {
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('postgres: processes sharing the queue', () => {
  test('concurrent receivers in two processes get every event exactly once while the leases hold', async () => {
    const clock: Clock = { now: 1_000_000 };
    const a = await openPg(clock);
    await pools.at(-1)!.pool.query('TRUNCATE async_events, async_failed_events RESTART IDENTITY');
    const b = await openPg(clock);
    const count = 500;
    await Promise.all(Array.from({ length: count }, (_, i) => (i % 2 ? a : b).enqueue(ev(i, { functionName: `f${i % 5}` }))));

    const seen = new Map<string, number>();
    const got: QueuedEvent[] = [];
    const receiver = async (queue: EventQueue, k: number) => {
      for (;;) {
        // Some receivers leave a function out: the skip-scan receive races the plain one.
        const batch = await queue.receive({ max: 1 + (k % 7), visibilityMs: 60_000, ...(k % 3 === 0 ? { exclude: ['f0'] } : {}) });
        if (batch.length === 0) return;
        for (const e of batch) {
          seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
          got.push(e);
        }
      }
    };
    await Promise.all(Array.from({ length: 32 }, (_, k) => receiver(k % 2 ? a : b, k)));
    assert.equal(got.length, count, 'deliveries');
    assert.equal(seen.size, count, 'distinct events');
    assert.ok([...seen.values()].every((v) => v === 1));
    assert.ok(got.every((e) => e.receiveCount === 1));
    assert.deepEqual(new Set(got.map((e) => e.requestId)).size, count);
    assert.deepEqual(await a.stats(), { visible: 0, inFlight: count, delayed: 0, failed: 0 });
    // Acks from either process, with the receipt of whoever received the event.
    const acks = await Promise.all(got.map((e, i) => (i % 2 ? a : b).ack(e.receipt)));
    assert.ok(acks.every(Boolean));
    assert.deepEqual(await b.stats(), { visible: 0, inFlight: 0, delayed: 0, failed: 0 });
  });

  test("one process's pollers are woken by another's enqueue, release, retry and redrive (LISTEN/NOTIFY)", async () => {
    const clock: Clock = { now: 1_000_000 };
    const a = await openPg(clock);
    await pools.at(-1)!.pool.query('TRUNCATE async_events, async_failed_events RESTART IDENTITY');
    const b = await openPg(clock);
    let ownWakes = 0;
    a.onVisible(() => ownWakes++);

    let woken = nextVisible(b, 'enqueue');
    await a.enqueue(ev(1));
    await woken;
    const [e] = await a.receive({ max: 1, visibilityMs: 1000 });
    woken = nextVisible(b, 'release');
    await a.release(e!.receipt);
    await woken;
    const [e2] = await a.receive({ max: 1, visibilityMs: 1000 });
    woken = nextVisible(b, 'retry');
    await a.retry(e2!.receipt, { delayMs: 0, functionErrors: 1, systemRetries: 0 });
    await woken;
    const [e3] = await a.receive({ max: 1, visibilityMs: 1000 });
    await a.ack(e3!.receipt, { failed: { condition: 'RetriesExhausted', record: '{}' } });
    woken = nextVisible(b, 'redrive');
    assert.equal(await a.redrive('fn'), 1);
    await woken;
    // a told its own listeners at once (enqueue, release, redrive) and ignores its own NOTIFYs.
    await sleep(200);
    assert.equal(ownWakes, 3);
  });

  test('after its connections are killed (a PostgreSQL restart) the queue works again and its listener comes back', async () => {
    const clock: Clock = { now: 1_000_000 };
    const a = await openPg(clock);
    await pools.at(-1)!.pool.query('TRUNCATE async_events, async_failed_events RESTART IDENTITY');
    const b = await openPg(clock);
    await a.enqueue(ev(1));
    assert.equal((await b.stats()).visible, 1);

    const aBack = nextVisible(a, 'a reconnected');
    const bBack = nextVisible(b, 'b reconnected');
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      const killed = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [pgName],
      );
      assert.ok((killed.rowCount ?? 0) >= 4, `${killed.rowCount} connections killed`); // two pools, two listeners
    } finally {
      await admin.end();
    }
    // Each listener connects again and wakes its pollers once (NOTIFYs may have been missed).
    await Promise.all([aBack, bBack]);

    // One call may still fail on a connection that died under it: as a storage failure, then it works.
    const once = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        assert.ok(isPgStorageFailure(err), `not a storage failure: ${String(err)}`);
        return await fn();
      }
    };
    await once(() => a.enqueue(ev(2)));
    const got = await once(() => b.receive({ max: 10, visibilityMs: 1000 }));
    assert.deepEqual(got.map((e) => e.requestId), ['req-1', 'req-2']);
    assert.equal(await once(() => b.ack(got[0]!.receipt)), true);

    // The new LISTEN connections hear the other process again.
    const woken = nextVisible(b, 'enqueue after the restart');
    await once(() => a.enqueue(ev(3)));
    await woken;
  });
});

test('PostgreSQL storage failures: unreachable, disk full, out of memory, read-only', () => {
  for (const code of ['53100', '53200', '25006', '57P01', '08006', 'ECONNREFUSED', 'ECONNRESET']) {
    assert.equal(isPgStorageFailure(Object.assign(new Error('x'), { code })), true, code);
  }
  assert.equal(isPgStorageFailure(new Error('Connection terminated unexpectedly')), true);
  assert.equal(isPgStorageFailure(new Error('timeout exceeded when trying to connect')), true);
  assert.equal(isPgStorageFailure(Object.assign(new Error('x'), { code: '23505' })), false);
  assert.equal(isPgStorageFailure(new Error('x')), false);
  assert.equal(isPgStorageFailure(undefined), false);
});

test('SQLite storage failures are recognised by their codes', () => {
  for (const code of ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_IOERR_WRITE', 'SQLITE_CANTOPEN']) {
    assert.equal(isStorageFailure(Object.assign(new Error('x'), { code })), true, code);
  }
  assert.equal(isStorageFailure(Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT' })), false);
  assert.equal(isStorageFailure(new Error('x')), false);
});
