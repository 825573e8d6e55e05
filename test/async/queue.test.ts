// The internal queue's semantics on SQLite: leases (visibility timeout),
// receive counts, delayed redelivery, at-least-once across a restart, atomic
// acks with what follows them, the failed-events store, and group commit.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NewEvent } from '../../src/async/queue.js';
import { isStorageFailure, SqliteEventQueue } from '../../src/store/sqlite-queue.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kindling-queue-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A queue on a fresh file with a clock the test moves. */
function fresh(opts: { groupCommitMs?: number; maxBatch?: number } = {}) {
  const clock = { now: 1_000_000 };
  const path = join(dir, `q${++n}.sqlite`);
  const queue = new SqliteEventQueue(path, { ...opts, now: () => clock.now });
  return { queue, clock, path };
}

const ev = (i: number, extra: Partial<NewEvent> = {}): NewEvent => ({
  functionName: 'fn',
  requestId: `req-${i}`,
  payload: Buffer.from(JSON.stringify({ i })),
  ...extra,
});

describe('leases', () => {
  test('a received event is invisible until its visibility timeout lapses, then comes back counted', async () => {
    const { queue, clock } = fresh();
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
    assert.equal(await queue.ack(again.receipt), true);
    clock.now += 10_000;
    assert.deepEqual(await queue.receive({ max: 10, visibilityMs: 1000 }), []);
    await queue.close();
  });

  test('extend keeps a lease; release gives it back at once without counting the delivery', async () => {
    const { queue, clock } = fresh();
    await queue.enqueue(ev(1));
    const [a] = await queue.receive({ max: 1, visibilityMs: 100 });
    clock.now += 90;
    assert.equal(await queue.extend(a!.receipt, 100), true);
    clock.now += 90;
    assert.deepEqual(await queue.receive({ max: 1, visibilityMs: 100 }), []);
    assert.equal(await queue.release(a!.receipt), true);
    const [b] = await queue.receive({ max: 1, visibilityMs: 100 });
    assert.equal(b!.receiveCount, 1);
    await queue.close();
  });

  test('oldest first, at most max, and functions can be left out', async () => {
    const { queue } = fresh();
    for (let i = 0; i < 5; i++) await queue.enqueue(ev(i, { functionName: i % 2 === 0 ? 'even' : 'odd' }));
    const two = await queue.receive({ max: 2, visibilityMs: 1000 });
    assert.deepEqual(two.map((e) => e.requestId), ['req-0', 'req-1']);
    const odd = await queue.receive({ max: 10, visibilityMs: 1000, exclude: ['even'] });
    assert.deepEqual(odd.map((e) => e.requestId), ['req-3']);
    const rest = await queue.receive({ max: 10, visibilityMs: 1000 });
    assert.deepEqual(rest.map((e) => e.requestId), ['req-2', 'req-4']);
    await queue.close();
  });

  test('stats count visible, in flight and delayed events', async () => {
    const { queue } = fresh();
    await queue.enqueue(ev(1));
    await queue.enqueue(ev(2));
    await queue.enqueue(ev(3, { delayMs: 5000 }));
    await queue.receive({ max: 1, visibilityMs: 1000 });
    assert.deepEqual(await queue.stats(), { visible: 1, inFlight: 1, delayed: 1, failed: 0 });
    assert.deepEqual(await queue.stats('other'), { visible: 0, inFlight: 0, delayed: 0, failed: 0 });
    await queue.close();
  });
});

describe('delayed redelivery', () => {
  test('retry hides the event for its delay and keeps its counters; nextVisibleAt says when', async () => {
    const { queue, clock } = fresh();
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
    const { queue, clock } = fresh();
    await queue.enqueue(ev(1, { delayMs: 500 }));
    assert.deepEqual(await queue.receive({ max: 1, visibilityMs: 1000 }), []);
    clock.now += 500;
    assert.equal((await queue.receive({ max: 1, visibilityMs: 1000 })).length, 1);
    await queue.close();
  });
});

describe('at least once', () => {
  test('an event leased when the process stopped is delivered again after recover()', async () => {
    const { queue, path } = fresh();
    await queue.enqueue(ev(1));
    await queue.enqueue(ev(2));
    const [a] = await queue.receive({ max: 1, visibilityMs: 3_600_000 });
    assert.equal(a!.requestId, 'req-1');
    await queue.close(); // never acked

    const reopened = new SqliteEventQueue(path);
    assert.equal(await reopened.recover(), 1);
    const got = await reopened.receive({ max: 10, visibilityMs: 1000 });
    assert.deepEqual(got.map((e) => e.requestId).sort(), ['req-1', 'req-2']);
    assert.equal(got.find((e) => e.requestId === 'req-1')!.receiveCount, 2);
    await reopened.close();
  });

  test('a delayed retry stays delayed across recover()', async () => {
    const { queue, clock, path } = fresh();
    await queue.enqueue(ev(1));
    const [a] = await queue.receive({ max: 1, visibilityMs: 1000 });
    await queue.retry(a!.receipt, { delayMs: 60_000, functionErrors: 1, systemRetries: 0 });
    await queue.close();
    const reopened = new SqliteEventQueue(path, { now: () => clock.now });
    assert.equal(await reopened.recover(), 0);
    assert.deepEqual(await reopened.receive({ max: 1, visibilityMs: 1000 }), []);
    await reopened.close();
  });
});

describe('ack outcomes', () => {
  test('ack with forward enqueues the destination event in the same transaction', async () => {
    const { queue } = fresh();
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
    assert.equal(await queue.ack(a!.receipt, { forward }), false, 'a second ack forwards nothing');
    await queue.ack(d!.receipt);
    assert.deepEqual(await queue.stats(), { visible: 0, inFlight: 0, delayed: 0, failed: 0 });
    await queue.close();
  });

  test('a failed event is kept, listed in pages, and redriven as a new event with its request id', async () => {
    const { queue } = fresh();
    for (let i = 0; i < 3; i++) await queue.enqueue(ev(i, { qualifier: i === 2 ? '7' : undefined }));
    for (const e of await queue.receive({ max: 10, visibilityMs: 1000 })) {
      await queue.ack(e.receipt, {
        failed: { condition: 'RetriesExhausted', record: JSON.stringify({ n: e.requestId }), errorType: 'Error', errorMessage: 'boom' },
      });
    }
    assert.equal((await queue.stats('fn')).failed, 3);
    const page1 = await queue.listFailed('fn', { limit: 2 });
    assert.deepEqual(page1.map((f) => f.requestId), ['req-0', 'req-1']);
    const page2 = await queue.listFailed('fn', { after: page1[1]!.id, limit: 2 });
    assert.deepEqual(page2.map((f) => f.requestId), ['req-2']);
    assert.equal(page2[0]!.qualifier, '7');
    assert.equal(page2[0]!.condition, 'RetriesExhausted');
    assert.equal(page2[0]!.errorMessage, 'boom');
    assert.deepEqual(await queue.listFailed('other', { limit: 10 }), []);

    assert.equal(await queue.redrive('fn', [page1[0]!.id, '999']), 1);
    assert.equal(await queue.redrive('fn'), 2);
    assert.equal(await queue.redrive('fn'), 0);
    const again = await queue.receive({ max: 10, visibilityMs: 1000 });
    assert.deepEqual(again.map((e) => e.requestId), ['req-0', 'req-1', 'req-2']);
    assert.ok(again.every((e) => e.receiveCount === 1 && e.functionErrors === 0));
    assert.equal(again[2]!.qualifier, '7');
    await queue.close();
  });
});

describe('group commit', () => {
  test('concurrent enqueues share transactions, and every one is on disk when its promise resolves', async () => {
    const { queue, path } = fresh({ maxBatch: 256 });
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
    const { queue } = fresh({ groupCommitMs: 20 });
    const a = queue.enqueue(ev(1));
    await new Promise((r) => setTimeout(r, 5));
    const b = queue.enqueue(ev(2));
    await Promise.all([a, b]);
    assert.deepEqual(queue.commits, { transactions: 1, events: 2 });
    await queue.close();
  });

  test('pollers are told after the commit', async () => {
    const { queue } = fresh();
    let seen = -1;
    queue.onVisible(() => {
      seen = queue.commits.events;
    });
    await queue.enqueue(ev(1));
    assert.equal(seen, 1);
    await queue.close();
  });

  test('enqueues waiting at close are committed, later ones refused', async () => {
    const { queue, path } = fresh({ groupCommitMs: 1000 });
    const p = queue.enqueue(ev(1));
    await queue.close();
    await p;
    await assert.rejects(queue.enqueue(ev(2)), /closed/);
    const other = new SqliteEventQueue(path);
    assert.equal((await other.stats()).visible, 1);
    await other.close();
  });
});

test('storage failures are recognised by their SQLite codes', () => {
  for (const code of ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_IOERR_WRITE', 'SQLITE_CANTOPEN']) {
    assert.equal(isStorageFailure(Object.assign(new Error('x'), { code })), true, code);
  }
  assert.equal(isStorageFailure(Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT' })), false);
  assert.equal(isStorageFailure(new Error('x')), false);
});
