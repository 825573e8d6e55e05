// `kindling bench --placement`: how long the Placement Service takes to pick a
// host when a cluster is large (issue #8 asks for 1,000 hosts and 100,000
// functions). The hosts are simulated: placement sees only their memory and
// which code they cache, so nothing else is needed to time its decision.
import type { FunctionVersion } from '../control/model.js';
import type { Sandbox } from '../host/sandbox.js';
import { PlacementService, type PlacementHost, type Reservation } from '../placement/placement.js';

export interface PlacementFigures {
  hosts: number;
  functions: number;
  /** Sandboxes placed before the timed decisions (a busy cluster, not an empty one). */
  preplaced: number;
  decisions: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  decisionsPerSecond: number;
  /** Share of decisions that chose a host already caching the function's code. */
  codeCacheHitRate: number;
}

const MEMORY_SIZES = [128, 256, 512, 1024, 1769, 3008];

class SimulatedHost implements PlacementHost {
  readonly cached = new Set<string>();
  constructor(
    readonly id: string,
    readonly memoryMb: number,
  ) {}
  cachesCode(codeSha256: string): boolean {
    return this.cached.has(codeSha256);
  }
  createSandbox(): Promise<Sandbox> {
    throw new Error('simulated host: placement decisions only');
  }
}

/** A deterministic generator, so runs compare. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function benchPlacement(opts: { hosts?: number; functions?: number; decisions?: number } = {}): PlacementFigures {
  const hostCount = opts.hosts ?? 1000;
  const functionCount = opts.functions ?? 100_000;
  const decisions = opts.decisions ?? 20_000;
  const random = rng(8);
  const placement = new PlacementService();
  const hosts: SimulatedHost[] = [];
  for (let i = 0; i < hostCount; i++) {
    // Hosts of 64 to 256 GiB, as a fleet of mixed machines.
    const host = new SimulatedHost(`host-${i}`, 65_536 * (1 + (i % 4)));
    hosts.push(host);
    placement.register(host);
  }
  const functions: FunctionVersion[] = [];
  for (let i = 0; i < functionCount; i++) {
    functions.push({ functionName: `fn-${i}`, version: '$LATEST', memorySize: MEMORY_SIZES[i % MEMORY_SIZES.length]!, codeSha256: `code-${i}` } as FunctionVersion);
  }
  // A busy cluster: one sandbox for every function, with its code cached where it was placed.
  const held: Reservation[] = [];
  for (const fn of functions) {
    const r = placement.place(fn);
    if (!r) break;
    (r.host as SimulatedHost).cached.add(fn.codeSha256);
    held.push(r);
  }
  // Timed: new sandboxes for functions picked at random (hot functions scale out), each released again.
  const times = new Float64Array(decisions);
  let hits = 0;
  for (let i = 0; i < decisions; i++) {
    const fn = functions[Math.floor(random() * functions.length)]!;
    const t0 = process.hrtime.bigint();
    const r = placement.place(fn);
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
    if (!r) continue;
    if ((r.host as SimulatedHost).cachesCode(fn.codeSha256)) hits++;
    r.release();
  }
  for (const r of held) r.release();
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const total = sorted.reduce((s, t) => s + t, 0);
  return {
    hosts: hostCount,
    functions: functionCount,
    preplaced: held.length,
    decisions,
    p50Us: at(0.5),
    p99Us: at(0.99),
    meanUs: total / decisions,
    decisionsPerSecond: decisions / (total / 1e6),
    codeCacheHitRate: hits / decisions,
  };
}

export function placementRows(f: PlacementFigures): string[][] {
  return [
    ['placement', 'value'],
    ['simulated hosts', String(f.hosts)],
    ['functions (one sandbox each, placed first)', `${f.functions} (${f.preplaced} placed)`],
    ['decision p50', `${f.p50Us.toFixed(1)} µs`],
    ['decision p99', `${f.p99Us.toFixed(1)} µs`],
    ['decisions per second (one core)', f.decisionsPerSecond.toFixed(0)],
    ['chose a host caching the code', `${(f.codeCacheHitRate * 100).toFixed(1)}%`],
  ];
}
