// The one table `npm run bench` opens with: every figure issue #7 names, each
// beside the baseline measured in the same run, the ratio or difference, the
// target and whether this run met it. The same rows go into --json.

export interface SummaryRow {
  figure: string;
  kindling: number | undefined;
  unit: string;
  /** What Kindling is compared with, measured in the same run (undefined: none for this figure). */
  baseline?: { name: string; value: number };
  /** "ratio" (kindling / baseline as a percentage) or "delta" (kindling - baseline). */
  compare?: 'ratio' | 'delta';
  target: string;
  /** Whether this run met the target; undefined when the figure has none or was not measured. */
  met: boolean | undefined;
}

export interface WarmFigures {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export interface SummaryInput {
  /** c1vcpu: concurrency 1 on the same function at 1769 MB (a whole vCPU, no CPU quota to spend). */
  warm?: Partial<Record<'c1' | 'c1vcpu' | 'c50', { kindling: WarmFigures; bare: WarmFigures }>>;
  /** CPU per warm invoke at concurrency 50, µs: Kindling's main process, its sandboxes, and the bare server. */
  cpu?: { mainUs: number; sandboxesUs: number; bareUs: number };
  cold?: { p50Ms: number; p99Ms: number };
  coldNoPool?: { p50Ms: number; p99Ms: number };
  coldPython?: { pool: { p50Ms: number; p99Ms: number }; noPool: { p50Ms: number; p99Ms: number } };
  density?: { sandboxes: number; errors: number; runtimePssMb: number; overheadMb: number; idleCpuPercent: number };
  burst?: { invokes: number; succeeded: number; fiveHundreds: number; allAnsweredMs: number };
  drivers?: { driver: string; coldP50Ms: number; warmP50Ms: number; pssMb: number }[];
}

/** Issue #7's numbers. */
export const TARGETS = {
  warmC50PerSecond: 20_000,
  warmC50ShareOfBare: 0.6,
  warmC1P50OverBareMs: 0.3,
  warmC1P99Ms: 2,
  coldP50Ms: 4,
  coldP99Ms: 20,
  pythonColdP50Ms: 8,
  densitySandboxes: 400,
  overheadPerSandboxMb: 2,
  burst: 200,
} as const;

export function summaryRows(r: SummaryInput): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const w50 = r.warm?.c50;
  rows.push({
    figure: 'warm invokes/s, concurrency 50',
    kindling: w50?.kindling.perSecond,
    unit: '/s',
    ...(w50 ? { baseline: { name: 'bare node http', value: w50.bare.perSecond }, compare: 'ratio' as const } : {}),
    target: `>= ${TARGETS.warmC50PerSecond} and >= ${TARGETS.warmC50ShareOfBare * 100}% of bare`,
    met: w50 ? w50.kindling.perSecond >= TARGETS.warmC50PerSecond && w50.kindling.perSecond >= TARGETS.warmC50ShareOfBare * w50.bare.perSecond : undefined,
  });
  if (r.cpu) {
    rows.push({
      figure: 'CPU per warm invoke, c=50: main process',
      kindling: r.cpu.mainUs,
      unit: 'µs',
      baseline: { name: 'bare node http', value: r.cpu.bareUs },
      compare: 'delta',
      target: '',
      met: undefined,
    });
    rows.push({ figure: 'CPU per warm invoke, c=50: its sandbox', kindling: r.cpu.sandboxesUs, unit: 'µs', target: '', met: undefined });
  }
  for (const [key, label] of [['c1', '128 MB'], ['c1vcpu', '1769 MB']] as const) {
    const w1 = r.warm?.[key];
    if (key === 'c1vcpu' && !w1) continue;
    rows.push({
      figure: `warm p50, concurrency 1, ${label}`,
      kindling: w1?.kindling.p50Ms,
      unit: 'ms',
      ...(w1 ? { baseline: { name: 'bare node http', value: w1.bare.p50Ms }, compare: 'delta' as const } : {}),
      target: `<= bare + ${TARGETS.warmC1P50OverBareMs} ms`,
      met: w1 ? w1.kindling.p50Ms - w1.bare.p50Ms <= TARGETS.warmC1P50OverBareMs : undefined,
    });
    rows.push({
      figure: `warm p99, concurrency 1, ${label}`,
      kindling: w1?.kindling.p99Ms,
      unit: 'ms',
      ...(w1 ? { baseline: { name: 'bare node http', value: w1.bare.p99Ms }, compare: 'delta' as const } : {}),
      target: `< ${TARGETS.warmC1P99Ms} ms`,
      met: w1 ? w1.kindling.p99Ms < TARGETS.warmC1P99Ms : undefined,
    });
  }
  const noPool = r.coldNoPool;
  rows.push({
    figure: 'cold start p50, Node.js (client)',
    kindling: r.cold?.p50Ms,
    unit: 'ms',
    ...(noPool ? { baseline: { name: 'no pool', value: noPool.p50Ms }, compare: 'ratio' as const } : {}),
    target: `< ${TARGETS.coldP50Ms} ms`,
    met: r.cold ? r.cold.p50Ms < TARGETS.coldP50Ms : undefined,
  });
  rows.push({
    figure: 'cold start p99, Node.js (client)',
    kindling: r.cold?.p99Ms,
    unit: 'ms',
    ...(noPool ? { baseline: { name: 'no pool', value: noPool.p99Ms }, compare: 'ratio' as const } : {}),
    target: `< ${TARGETS.coldP99Ms} ms`,
    met: r.cold ? r.cold.p99Ms < TARGETS.coldP99Ms : undefined,
  });
  const py = r.coldPython;
  rows.push({
    figure: 'cold start p50, Python (client)',
    kindling: py?.pool.p50Ms,
    unit: 'ms',
    ...(py ? { baseline: { name: 'no pool', value: py.noPool.p50Ms }, compare: 'ratio' as const } : {}),
    target: `< ${TARGETS.pythonColdP50Ms} ms`,
    met: py ? py.pool.p50Ms < TARGETS.pythonColdP50Ms : undefined,
  });
  const d = r.density;
  rows.push({
    figure: 'warm idle sandboxes on one host',
    kindling: d ? d.sandboxes - d.errors : undefined,
    unit: '',
    target: `>= ${TARGETS.densitySandboxes}`,
    met: d ? d.sandboxes - d.errors >= TARGETS.densitySandboxes : undefined,
  });
  rows.push({
    figure: "Kindling's memory per sandbox beyond the runtime",
    kindling: d?.overheadMb,
    unit: 'MB',
    ...(d ? { baseline: { name: 'runtime PSS', value: d.runtimePssMb }, compare: 'ratio' as const } : {}),
    target: `<= ${TARGETS.overheadPerSandboxMb} MB`,
    met: d ? d.overheadMb <= TARGETS.overheadPerSandboxMb : undefined,
  });
  rows.push({ figure: 'CPU with all of them idle', kindling: d?.idleCpuPercent, unit: '% core', target: 'about 0', met: d ? d.idleCpuPercent < 1 : undefined });
  const b = r.burst;
  rows.push({
    figure: 'concurrent first invokes that succeeded',
    kindling: b?.succeeded,
    unit: `of ${b?.invokes ?? TARGETS.burst}`,
    target: 'all, no 5xx',
    met: b ? b.succeeded === b.invokes && b.fiveHundreds === 0 : undefined,
  });
  rows.push({ figure: '  until all had answered', kindling: b ? b.allAnsweredMs / 1000 : undefined, unit: 's', target: '', met: undefined });
  const ns = r.drivers?.find((x) => x.driver === 'namespace');
  const vm = r.drivers?.find((x) => x.driver === 'microvm');
  rows.push({
    figure: 'micro-VM cold start p50 (snapshot restore to Ready)',
    kindling: vm?.coldP50Ms,
    unit: 'ms',
    ...(vm && ns ? { baseline: { name: 'namespace', value: ns.coldP50Ms }, compare: 'ratio' as const } : {}),
    target: 'reported',
    met: undefined,
  });
  rows.push({
    figure: 'micro-VM warm invoke p50 (host to guest and back)',
    kindling: vm?.warmP50Ms,
    unit: 'ms',
    ...(vm && ns ? { baseline: { name: 'namespace', value: ns.warmP50Ms }, compare: 'delta' as const } : {}),
    target: 'reported',
    met: undefined,
  });
  rows.push({
    figure: 'micro-VM memory per sandbox (PSS)',
    kindling: vm?.pssMb,
    unit: 'MB',
    ...(vm && ns ? { baseline: { name: 'namespace', value: ns.pssMb }, compare: 'delta' as const } : {}),
    target: 'reported',
    met: undefined,
  });
  return rows;
}

const digits = (n: number): number => (Math.abs(n) >= 1000 ? 0 : Math.abs(n) >= 100 ? 1 : Math.abs(n) >= 1 ? 2 : 3);
const num = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(digits(n)));

/** The rows as text cells, a header first. */
export function summaryTable(rows: SummaryRow[]): string[][] {
  const out: string[][] = [['figure', 'kindling', 'baseline', 'ratio / delta', 'target', 'met']];
  for (const r of rows) {
    const value = r.kindling === undefined || Number.isNaN(r.kindling) ? 'not measured' : `${num(r.kindling)} ${r.unit}`.trim();
    const base = r.baseline ? `${num(r.baseline.value)} ${r.unit.startsWith('of') ? '' : r.unit} (${r.baseline.name})`.replace('  ', ' ') : '';
    let cmp = '';
    if (r.baseline && r.kindling !== undefined) {
      cmp = r.compare === 'ratio' ? `${((r.kindling / r.baseline.value) * 100).toFixed(1)}%` : `${r.kindling - r.baseline.value >= 0 ? '+' : ''}${num(r.kindling - r.baseline.value)} ${r.unit}`;
    }
    out.push([r.figure, value, base, cmp, r.target, r.met === undefined ? '' : r.met ? 'yes' : 'no']);
  }
  return out;
}
