// `kindling bench --density` and `--burst`: many sandboxes on one host.
// Burst: N concurrent first invokes of one just-created function (N cold
// starts at once): do all succeed, and how long until the last has answered.
// Density: N invokes held open at once make N warm sandboxes; once they are
// idle, what each costs in memory (the runtime's own PSS, and what Kindling
// adds beyond it: its jailer and its own heap per sandbox) and in CPU while
// idle. Every process is found from /proc under the `kindling up` it starts.
import { readFileSync } from 'node:fs';
import { CreateFunctionCommand } from '@aws-sdk/client-lambda';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { Pool } from 'undici';
import { childPids, treePssKb, treeTicks } from '../sandbox/proc-stat.js';
import { signInvoke, zipOf, type Credentials } from './fixtures.js';
import { startBenchKindling, type BenchKindling } from './bench-kindling.js';

export interface ManyOptions {
  bin: string;
  credentials: Credentials;
  region: string;
  sandbox?: string;
  log: (line: string) => void;
}

export interface BurstFigures {
  invokes: number;
  succeeded: number;
  /** Answers with a 5xx status. */
  fiveHundreds: number;
  errors: Record<string, number>;
  /** From sending all of them to the last answer. */
  allAnsweredMs: number;
  sandboxes: number;
}

export interface DensityFigures {
  sandboxes: number;
  /** When the last held invoke started, about (its answer, less the hold). */
  lastStartedSeconds: number;
  /** The runtime process's own PSS, per sandbox. */
  runtimePssMb: number;
  /** Kindling's per-sandbox cost beyond the runtime: its jailer process and its main process's growth, per sandbox. */
  overheadMb: number;
  jailerPssMb: number;
  mainGrowthMb: number;
  /** Kindling's main process RSS before the sandboxes were made and with all of them idle. */
  mainRssBeforeMb: number;
  mainRssAfterMb: number;
  /** CPU of Kindling and every sandbox over 10 s with all of them idle, % of one core. */
  idleCpuPercent: number;
  errors: number;
}

const HANDLER = 'export const handler = async (event) => { if (event && event.holdMs) await new Promise((r) => setTimeout(r, event.holdMs)); return null; };\n';
const CLK_TCK = 100;

type Running = BenchKindling;

const startKindling = (opts: ManyOptions, memoryMb: number): Promise<Running> =>
  startBenchKindling({ bin: opts.bin, credentials: opts.credentials, ...(opts.sandbox ? { sandbox: opts.sandbox } : {}), args: ['--memory', String(memoryMb)], log: opts.log });

async function createFunction(k: Running, opts: ManyOptions, name: string): Promise<void> {
  const client = new LambdaClient({ endpoint: k.url, region: opts.region, credentials: opts.credentials, maxAttempts: 1 });
  try {
    await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: 'arn:aws:iam::000000000000:role/bench', MemorySize: 128, Timeout: 120, Code: { ZipFile: await zipOf({ 'index.mjs': HANDLER }) } }));
  } finally {
    client.destroy();
  }
}

/** n invokes at once (each on its own connection); their statuses and error types, and when the last answered. */
async function invokeAll(k: Running, opts: ManyOptions, name: string, n: number, payload: unknown): Promise<{ ms: number; ok: number; fiveHundreds: number; errors: Record<string, number> }> {
  const target = await signInvoke(k.url, opts.credentials, opts.region, name, Buffer.from(JSON.stringify(payload)));
  const pool = new Pool(k.url, { connections: n, pipelining: 1 });
  const errors: Record<string, number> = {};
  let ok = 0;
  let fiveHundreds = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: n }, async () => {
        try {
          const res = await pool.request({ method: 'POST', path: target.path, headers: target.headers, body: target.body, headersTimeout: 300_000, bodyTimeout: 300_000 });
          const text = await res.body.text();
          if (res.statusCode === 200 && res.headers['x-amz-function-error'] === undefined) ok++;
          else {
            if (res.statusCode >= 500) fiveHundreds++;
            const type = String(res.headers['x-amzn-errortype'] ?? res.headers['x-amz-function-error'] ?? res.statusCode);
            errors[type] = (errors[type] ?? 0) + 1;
            if (Object.keys(errors).length === 1 && errors[type] === 1) opts.log(`  first error: ${res.statusCode} ${text.slice(0, 200)}`);
          }
        } catch (err) {
          const type = (err as { code?: string }).code ?? 'network';
          errors[type] = (errors[type] ?? 0) + 1;
        }
      }),
    );
  } finally {
    await pool.close();
  }
  return { ms: performance.now() - t0, ok, fiveHundreds, errors };
}

/** The sandboxes under a Kindling: its children that have children of their own (jailer -> runtime). */
function sandboxTrees(pid: number): { root: number; runtime: number }[] {
  const out: { root: number; runtime: number }[] = [];
  for (const c of childPids(pid)) {
    let leaf = c;
    for (let kids = childPids(leaf); kids.length > 0; kids = childPids(leaf)) leaf = kids[0]!;
    if (leaf !== c) out.push({ root: c, runtime: leaf });
  }
  return out;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

export async function benchBurst(opts: ManyOptions, n: number): Promise<BurstFigures> {
  // Room for every sandbox's MemorySize (placement reserves it), whatever the machine.
  const k = await startKindling(opts, n * 128 + 2048);
  try {
    await createFunction(k, opts, 'burst');
    opts.log(`burst: ${n} concurrent first invokes of one function ...`);
    const r = await invokeAll(k, opts, 'burst', n, {});
    return { invokes: n, succeeded: r.ok, fiveHundreds: r.fiveHundreds, errors: r.errors, allAnsweredMs: r.ms, sandboxes: sandboxTrees(k.child.pid!).length };
  } finally {
    await k.stop();
  }
}

export async function benchDensity(opts: ManyOptions, n: number): Promise<DensityFigures> {
  const k = await startKindling(opts, n * 128 + 2048);
  try {
    await createFunction(k, opts, 'idle');
    const pid = k.child.pid!;
    const mainBefore = rssKb(pid);
    opts.log(`density: ${n} sandboxes (invokes held open together) ...`);
    // Held long enough that all n are running at once, however slowly they start.
    const holdMs = 10_000 + n * 100;
    const r = await invokeAll(k, opts, 'idle', n, { holdMs });
    const trees = sandboxTrees(pid);
    opts.log(`density: ${trees.length} sandboxes idle; measuring memory and 10 s of idle CPU ...`);
    await new Promise((res) => setTimeout(res, 2000));
    const ticks0 = treeTicks(pid);
    const t0 = performance.now();
    await new Promise((res) => setTimeout(res, 10_000));
    const ticks = treeTicks(pid) - ticks0;
    const seconds = (performance.now() - t0) / 1000;
    let runtimeKb = 0;
    let treeKb = 0;
    for (const t of trees) {
      runtimeKb += treePssKb(t.runtime);
      treeKb += treePssKb(t.root);
    }
    const count = Math.max(1, trees.length);
    const jailerPssMb = (treeKb - runtimeKb) / count / 1024;
    const mainAfter = rssKb(pid);
    // Garbage collection can leave the process smaller than before: no growth then, not a negative cost.
    const mainGrowthMb = Math.max(0, mainAfter - mainBefore) / count / 1024;
    return {
      sandboxes: trees.length,
      lastStartedSeconds: Math.max(0, r.ms - holdMs) / 1000,
      mainRssBeforeMb: mainBefore / 1024,
      mainRssAfterMb: mainAfter / 1024,
      runtimePssMb: runtimeKb / count / 1024,
      overheadMb: jailerPssMb + mainGrowthMb,
      jailerPssMb,
      mainGrowthMb,
      idleCpuPercent: (ticks / CLK_TCK / seconds) * 100,
      errors: n - r.ok,
    };
  } finally {
    await k.stop();
  }
}

export function burstRows(b: BurstFigures): string[][] {
  return [
    ['burst', 'value'],
    ['concurrent first invokes', String(b.invokes)],
    ['succeeded', String(b.succeeded)],
    ['errors', Object.keys(b.errors).length === 0 ? '0' : JSON.stringify(b.errors)],
    ['sandboxes made', String(b.sandboxes)],
    ['until all answered', `${(b.allAnsweredMs / 1000).toFixed(2)} s`],
  ];
}

export function densityRows(d: DensityFigures): string[][] {
  const f = (n: number, digits = 2) => n.toFixed(digits);
  return [
    ['density', 'value'],
    ['warm idle sandboxes', String(d.sandboxes)],
    ['errors making them', String(d.errors)],
    ['the last one started after (about)', `${f(d.lastStartedSeconds)} s`],
    ['runtime PSS per sandbox', `${f(d.runtimePssMb)} MB`],
    ["Kindling's overhead per sandbox (jailer + main process)", `${f(d.overheadMb)} MB`],
    ['  of which jailer PSS', `${f(d.jailerPssMb)} MB`],
    ['  of which main process growth', `${f(d.mainGrowthMb)} MB (RSS ${f(d.mainRssBeforeMb, 0)} -> ${f(d.mainRssAfterMb, 0)} MB)`],
    ['CPU while all idle (10 s)', `${f(d.idleCpuPercent)} % of a core`],
  ];
}
