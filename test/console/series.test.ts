// The console's per-minute series: buckets, percentiles, peaks, the 24 h ring.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FunctionSeries, SERIES_MINUTES } from '../../src/metrics/series.js';

test('per-minute buckets with counts, percentiles and peak concurrency', () => {
  let now = Date.UTC(2024, 0, 1, 10, 0, 30);
  const s = new FunctionSeries(() => now);
  for (let i = 1; i <= 100; i++) s.invoked('f', i, i % 10 === 0, i === 1);
  s.throttled('f');
  s.concurrency('f', 3);
  s.concurrency('f', 2);
  now += 60_000;
  s.invoked('f', 7, false, false);
  const pts = s.points('f', 3);
  assert.equal(pts.length, 3);
  assert.deepEqual(pts[0], { t: Date.UTC(2024, 0, 1, 9, 59), invocations: 0, errors: 0, throttles: 0, cold: 0, warm: 0, p50: null, p99: null, concurrent: 0 });
  assert.deepEqual(pts[1], { t: Date.UTC(2024, 0, 1, 10, 0), invocations: 100, errors: 10, throttles: 1, cold: 1, warm: 99, p50: 50, p99: 99, concurrent: 3 });
  assert.equal(pts[2]!.invocations, 1);
  assert.equal(pts[2]!.p50, 7);
  assert.deepEqual(s.totals(60).f, { invocations: 101, errors: 10, throttles: 1, cold: 1, warm: 100 });
  assert.deepEqual(s.points('other', 2).map((p) => p.invocations), [0, 0]);
});

test('minutes older than 24 h are gone, even where the ring reuses their slot', () => {
  let now = Date.UTC(2024, 0, 1, 0, 0, 0);
  const s = new FunctionSeries(() => now);
  s.invoked('f', 1, false, true);
  now += SERIES_MINUTES * 60_000;
  assert.equal(s.totals(SERIES_MINUTES).f!.invocations, 0);
  s.invoked('f', 1, false, false);
  assert.deepEqual(s.points('f', SERIES_MINUTES).filter((p) => p.invocations > 0).length, 1);
  assert.equal(s.points('f', 10_000).length, SERIES_MINUTES);
});
