// The pool's sizing: a floor for a key seen recently, more as cold starts come
// faster than one launch takes, a cap, and nothing once the key has gone quiet.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PoolDemand } from '../../src/host/pool-demand.js';

const opts = { floor: 1, cap: 4, idleMs: 60_000 };

test('an unseen key wants nothing; one cold start makes the floor', () => {
  const d = new PoolDemand(opts);
  assert.equal(d.target(0), 0);
  d.coldStart(1000);
  assert.equal(d.target(1000), 1);
});

test('cold starts faster than a launch raise the target, up to the cap', () => {
  const d = new PoolDemand(opts);
  d.launched(100);
  for (let t = 0; t <= 1000; t += 50) d.coldStart(t); // 20/s, 100 ms launches: 2 during one, and one more
  assert.equal(d.target(1000), 3);
  const fast = new PoolDemand(opts);
  for (let t = 0; t <= 1000; t += 5) fast.coldStart(t);
  assert.equal(fast.target(1000), 4);
});

test('the rate decays once cold starts stop, and a quiet key wants none', () => {
  const d = new PoolDemand(opts);
  d.launched(100);
  for (let t = 0; t <= 1000; t += 20) d.coldStart(t);
  assert.ok(d.target(1000) > 1);
  assert.equal(d.target(11_000), 1);
  assert.equal(d.target(61_000), 0);
  assert.equal(d.idle(61_000), true);
});

test('an expected cold start (a function just created) makes the floor without counting toward the rate; it lapses like one', () => {
  const d = new PoolDemand(opts);
  d.expected(1000);
  assert.equal(d.target(1000), 1);
  assert.equal(d.ratePerSecond(1000), 0);
  // The invoke that follows is the key's first counted cold start: still no rate from one alone.
  d.coldStart(1010);
  assert.equal(d.ratePerSecond(1010), 0);
  assert.equal(d.target(1010), 1);
  const quiet = new PoolDemand(opts);
  quiet.expected(0);
  assert.equal(quiet.idle(opts.idleMs - 1), false);
  assert.equal(quiet.target(opts.idleMs), 0);
});
