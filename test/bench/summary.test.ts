import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summaryRows, summaryTable, TARGETS } from '../../src/bench/summary.js';

const warm = (perSecond: number, p50Ms: number, p99Ms: number) => ({ perSecond, p50Ms, p99Ms, errors: 0 });
const row = (rows: ReturnType<typeof summaryRows>, figure: string) => rows.find((r) => r.figure === figure)!;

test('each figure is judged against its target and its same-run baseline', () => {
  const rows = summaryRows({
    // 21,000/s meets the absolute target but not 60% of a 40,000/s bare server.
    warm: { c50: { kindling: warm(21_000, 2, 5), bare: warm(40_000, 1, 3) }, c1: { kindling: warm(3000, 0.35, 1.5), bare: warm(9000, 0.1, 0.4) } },
    cold: { p50Ms: 3.5, p99Ms: 25 },
    coldNoPool: { p50Ms: 50, p99Ms: 80 },
    density: { sandboxes: 400, errors: 0, runtimePssMb: 7, overheadMb: 0.2, idleCpuPercent: 0.1 },
    burst: { invokes: 200, succeeded: 200, fiveHundreds: 0, allAnsweredMs: 9000 },
  });
  assert.equal(row(rows, 'warm invokes/s, concurrency 50').met, false);
  assert.equal(row(rows, 'warm p50, concurrency 1, 128 MB').met, true); // 0.25 ms over bare
  assert.equal(row(rows, 'warm p99, concurrency 1, 128 MB').met, true);
  assert.equal(row(rows, 'cold start p50, Node.js (client)').met, true);
  assert.equal(row(rows, 'cold start p99, Node.js (client)').met, false);
  assert.equal(row(rows, 'cold start p50, Python (client)').met, undefined);
  assert.equal(row(rows, 'warm idle sandboxes on one host').met, true);
  assert.equal(row(rows, "Kindling's memory per sandbox beyond the runtime").met, true);
  assert.equal(row(rows, 'concurrent first invokes that succeeded').met, true);
});

test('a burst with a 5xx, or fewer sandboxes than the target, does not meet it', () => {
  const rows = summaryRows({
    burst: { invokes: 200, succeeded: 199, fiveHundreds: 1, allAnsweredMs: 9000 },
    density: { sandboxes: TARGETS.densitySandboxes, errors: 3, runtimePssMb: 7, overheadMb: 2.5, idleCpuPercent: 0 },
  });
  assert.equal(row(rows, 'concurrent first invokes that succeeded').met, false);
  assert.equal(row(rows, 'warm idle sandboxes on one host').met, false);
  assert.equal(row(rows, "Kindling's memory per sandbox beyond the runtime").met, false);
});

test('the table shows the ratio to the baseline, and what was not measured', () => {
  const table = summaryTable(summaryRows({ warm: { c50: { kindling: warm(5000, 9, 30), bare: warm(50_000, 1, 3) }, c1: { kindling: warm(1000, 0.5, 3), bare: warm(9000, 0.1, 0.4) } } }));
  const c50 = table.find((r) => r[0] === 'warm invokes/s, concurrency 50')!;
  assert.equal(c50[3], '10.0%');
  assert.equal(c50[5], 'no');
  const py = table.find((r) => r[0] === 'cold start p50, Python (client)')!;
  assert.equal(py[1], 'not measured');
  assert.equal(py[5], '');
});
