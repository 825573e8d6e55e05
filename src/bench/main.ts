// `npm run bench` / `kindling bench`: every figure of issue #7 in one table
// (summary.ts), each beside its baseline from the same run: warm sync invokes at
// concurrency 1 and 50 beside a bare Node http server (and the CPU each invoke
// costs), client-observed cold starts with the pool of generic sandboxes and
// without it (a second Kindling with KINDLING_SANDBOX_POOL=off), burst, density,
// and the sandbox drivers side by side (micro-VMs beside namespaces); then the
// detail tables (where a cold start's time goes on the host, async). --quick: warm
// and cold only. --cold, --drivers, --burst, --density, --placement, --cluster:
// that section alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { poolServed, signInvoke, zipOf } from './fixtures.js';
import { percentile, runLoad, type LoadResult, type LoadTarget } from './load.js';
import { summaryRows, summaryTable } from './summary.js';
import { processTicks, treeTicks } from '../sandbox/proc-stat.js';
import { asyncRows, benchAsync } from './async.js';
import { benchDrivers, driverRows } from './drivers.js';
import { benchPlacement, placementRows } from './placement.js';
import { benchCluster, clusterRows } from './cluster.js';
import { benchBurst, benchDensity, burstRows, densityRows } from './density.js';
import { benchColdBreakdown, coldRows, type ColdBreakdown } from './cold.js';
import { benchPythonCold, pythonColdRows } from './python-cold.js';
import { startBenchKindling, timeColdStarts, type ColdStartSpec } from './bench-kindling.js';

const BIN = fileURLToPath(new URL('../../../bin/kindling.js', import.meta.url));
const BARE = fileURLToPath(new URL('./bare-server.js', import.meta.url));
const CREDS = { accessKeyId: 'KINDLINGBENCH', secretAccessKey: 'kindling-bench-secret' };
const REGION = 'us-east-1';

interface Options {
  seconds: number;
  coldFunctions: number;
  json: boolean;
  /** The sandbox driver of the Kindling under test (kindling up --sandbox). */
  sandbox?: string;
  /** Compare the sandbox drivers instead (cold start, warm invoke, memory per sandbox). */
  drivers: boolean;
  /** Time the Placement Service's decisions over a simulated cluster instead. */
  placement: boolean;
  /** Warm throughput through a Worker Manager with 1, 2 and 3 worker hosts instead. */
  cluster: boolean;
  /** N concurrent first invokes of one function instead. */
  burst?: number;
  /** N warm idle sandboxes on one host: memory and idle CPU, instead. */
  density?: number;
  /** Only the cold start figures (client-observed with and without the pool, and the breakdown). */
  coldOnly: boolean;
  /** Warm and cold only: no async, burst, density or drivers sections. */
  quick: boolean;
  /** Only the Python cold start figure (with and without the pool). */
  coldPython: boolean;
  /** --cluster with the cluster's stores: frontends are measured too. */
  state?: string;
  code?: string;
  microvmDir: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 10, coldFunctions: 30, json: false, drivers: false, placement: false, cluster: false, coldOnly: false, quick: false, coldPython: false, microvmDir: process.env.KINDLING_MICROVM_DIR || join(tmpdir(), 'kindling-bench-microvm') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--cold-functions') o.coldFunctions = Number(argv[++i]);
    else if (a === '--sandbox') o.sandbox = argv[++i];
    else if (a === '--drivers') o.drivers = true;
    else if (a === '--placement') o.placement = true;
    else if (a === '--cluster') o.cluster = true;
    else if (a === '--cold') o.coldOnly = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--cold-python') o.coldPython = true;
    else if (a === '--microvm-dir') o.microvmDir = argv[++i]!;
    else if (a === '--burst') o.burst = /^\d+$/.test(argv[i + 1] ?? '') ? Number(argv[++i]) : 200;
    else if (a === '--density') o.density = /^\d+$/.test(argv[i + 1] ?? '') ? Number(argv[++i]) : 400;
    else if (a === '--state') o.state = argv[++i]!;
    else if (a === '--code') o.code = argv[++i]!;
    else throw new Error(`unknown option ${a}: use --seconds N, --cold-functions N, --sandbox namespace|microvm|process, --drivers [--microvm-dir DIR], --placement, --cluster [--state URL --code URL], --cold, --cold-python, --quick, --burst [N], --density [N], --json`);
  }
  return o;
}

function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, pattern: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = pattern.exec(line);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}


async function signedInvoke(url: string, name: string, body: Buffer): Promise<LoadTarget> {
  return { origin: url, method: 'POST', ...(await signInvoke(url, CREDS, REGION, name, body)) };
}

const NOOP = 'export const handler = async () => null;\n';

const ROLE = 'arn:aws:iam::000000000000:role/bench';
/** Between the cold starts of the paced figures: 10 new functions a second. */
const COLD_GAP_MS = 100;

/** A no-op Node.js function, its package distinct per function name (nothing cached from another). */
const NODE_COLD: ColdStartSpec = { runtime: 'nodejs20.x', files: (name) => ({ 'index.mjs': `${NOOP}// ${name}\n` }) };

/** Client-observed cold starts: create a function with its own package, time its first invoke. */
const coldStarts = (client: LambdaClient, n: number, prefix: string, gapMs = 0): Promise<number[]> => timeColdStarts(client, NODE_COLD, n, prefix, gapMs);

/** The same cold starts on a Kindling without the pool (started for it, then stopped). */
async function coldStartsWithoutPool(sandbox: string | undefined, n: number, log: (s: string) => void): Promise<number[]> {
  const k = await startBenchKindling({ bin: BIN, credentials: CREDS, ...(sandbox ? { sandbox } : {}), env: { KINDLING_SANDBOX_POOL: 'off' }, log });
  const client = new LambdaClient({ endpoint: k.url, region: REGION, credentials: CREDS, maxAttempts: 1 });
  try {
    // The first cold start of a fresh server pays for its lazy imports: not a figure.
    await coldStarts(client, 1, 'seed');
    return await coldStarts(client, n, 'cold-nopool', COLD_GAP_MS);
  } finally {
    client.destroy();
    await k.stop();
  }
}

async function breakdowns(opts: Options, log: (s: string) => void): Promise<ColdBreakdown[]> {
  const out: ColdBreakdown[] = [];
  for (const pool of [true, false]) {
    log(`cold start breakdown in this process, ${pool ? 'with' : 'without'} the pool ...`);
    out.push(await benchColdBreakdown({ pool, starts: opts.coldFunctions, gapMs: COLD_GAP_MS, ...(opts.sandbox ? { sandbox: opts.sandbox } : {}), log }));
  }
  return out;
}

const CLK_TCK = 100;

/** Stops a child (once) and waits for it to be gone. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.cluster) {
    const stores = opts.state !== undefined && opts.code !== undefined ? { stores: { state: opts.state, code: opts.code } } : {};
    const result = await benchCluster({ bin: BIN, credentials: CREDS, region: REGION, seconds: opts.seconds, ...(opts.sandbox ? { sandbox: opts.sandbox } : {}), ...stores, log: (s) => process.stderr.write(`${s}\n`) });
    if (opts.json) console.log(JSON.stringify(result, null, 2));
    else printTable(clusterRows(result));
    return;
  }
  if (opts.burst !== undefined || opts.density !== undefined) {
    const many = { bin: BIN, credentials: CREDS, region: REGION, ...(opts.sandbox ? { sandbox: opts.sandbox } : {}), log: (s: string) => process.stderr.write(`${s}\n`) };
    const burst = opts.burst !== undefined ? await benchBurst(many, opts.burst) : undefined;
    const density = opts.density !== undefined ? await benchDensity(many, opts.density) : undefined;
    if (opts.json) console.log(JSON.stringify({ burst, density }, null, 2));
    else {
      if (burst) printTable(burstRows(burst));
      if (density) printTable(densityRows(density));
    }
    return;
  }
  if (opts.placement) {
    const result = benchPlacement();
    if (opts.json) console.log(JSON.stringify(result, null, 2));
    else printTable(placementRows(result));
    return;
  }
  const pythonCold = () =>
    benchPythonCold({ bin: BIN, credentials: CREDS, region: REGION, functions: opts.coldFunctions, gapMs: COLD_GAP_MS, ...(opts.sandbox ? { sandbox: opts.sandbox } : {}), log: (s) => process.stderr.write(`${s}\n`) });
  if (opts.coldPython) {
    const coldPython = await pythonCold();
    if (opts.json) console.log(JSON.stringify({ coldPython }, null, 2));
    else printTable([['figure', 'kindling', '', ''], ...pythonColdRows(coldPython)]);
    return;
  }
  if (opts.drivers) {
    const result = await benchDrivers({ cold: Math.min(opts.coldFunctions, 10), warm: 200, density: 5, microvmDir: opts.microvmDir, log: (s) => process.stderr.write(`${s}\n`) });
    if (opts.json) console.log(JSON.stringify(result, null, 2));
    else printTable(driverRows(result));
    return;
  }
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const kindling = await startBenchKindling({ bin: BIN, credentials: CREDS, ...(opts.sandbox ? { sandbox: opts.sandbox } : {}), log });
  const bare = await startChild(process.execPath, [BARE, 'null'], process.env, /listening on (\S+)/);
  try {
    const client = new LambdaClient({ endpoint: kindling.url, region: REGION, credentials: CREDS, maxAttempts: 1 });
    const zip = await zipOf({ 'index.mjs': NOOP });
    await client.send(new CreateFunctionCommand({ FunctionName: 'noop', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip } }));
    // The same function with a whole vCPU (Lambda's share at 1769 MB): at 128 MB a sandbox gets
    // 128/1769 of one, and invokes back to back spend it, which is Lambda's CPU model, not overhead.
    await client.send(new CreateFunctionCommand({ FunctionName: 'noop-vcpu', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, MemorySize: 1769, Code: { ZipFile: zip } }));
    const invokeTarget = await signedInvoke(kindling.url, 'noop', Buffer.from('{}'));
    const bareTarget: LoadTarget = { origin: bare.url, path: '/', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') };

    const warm: Partial<Record<'c1' | 'c1vcpu' | 'c50', { kindling: LoadResult; bare: LoadResult }>> = {};
    let cpu: { mainUs: number; sandboxesUs: number; bareUs: number } | undefined;
    for (const c of opts.coldOnly ? [] : [1, 50]) {
      log(`warm invokes, concurrency ${c}, ${opts.seconds} s ...`);
      // CPU of Kindling's main process and of its sandboxes over the recorded window.
      const kpid = kindling.child.pid!;
      let main0 = 0;
      let tree0 = 0;
      let mainTicks = 0;
      let treeTicksUsed = 0;
      // Signed afresh per run: Kindling refuses signatures older than 15 minutes (SigV4's skew window).
      // Warm-up before the recorded window: at c=50 it makes 50 sandboxes (their cold starts,
      // tens of ms of CPU each, must not count as warm invokes) and lets their code tier up.
      const warmupMs = c === 1 ? 1000 : 5000;
      const k = await runLoad(c === 1 ? invokeTarget : await signedInvoke(kindling.url, 'noop', Buffer.from('{}')), c, opts.seconds * 1000, warmupMs, {
        opened: () => ((main0 = processTicks(kpid)), (tree0 = treeTicks(kpid))),
        closed: () => ((mainTicks = processTicks(kpid) - main0), (treeTicksUsed = treeTicks(kpid) - tree0)),
      });
      log(`bare server, concurrency ${c}, ${opts.seconds} s ...`);
      let bare0 = 0;
      let bareTicks = 0;
      const bpid = bare.child.pid!;
      const b = await runLoad(bareTarget, c, opts.seconds * 1000, 1000, {
        opened: () => (bare0 = processTicks(bpid)),
        closed: () => (bareTicks = processTicks(bpid) - bare0),
      });
      warm[c === 1 ? 'c1' : 'c50'] = { kindling: k, bare: b };
      if (c === 1) {
        log(`warm invokes, concurrency 1, 1769 MB (one vCPU), ${opts.seconds} s ...`);
        warm.c1vcpu = { kindling: await runLoad(await signedInvoke(kindling.url, 'noop-vcpu', Buffer.from('{}')), 1, opts.seconds * 1000), bare: b };
      }
      if (c === 50) {
        const us = (ticks: number, n: number) => (n > 0 ? (ticks / CLK_TCK / n) * 1e6 : NaN);
        cpu = { mainUs: us(mainTicks, k.requests), sandboxesUs: us(treeTicksUsed - mainTicks, k.requests), bareUs: us(bareTicks, b.requests) };
      }
    }

    log(`cold starts over ${opts.coldFunctions} new functions, with the pool ...`);
    // The noop function's cold start (the warm runs') seeds the pool for its key (nodejs, 128 MB); give it a moment to fill.
    await client.send(new InvokeCommand({ FunctionName: 'noop', Payload: Buffer.from('{}') }));
    await new Promise((r) => setTimeout(r, 500));
    // Paced: one new function every COLD_GAP_MS (the pool refills in between); burst: back to back.
    const served0 = await poolServed(kindling.url, 'nodejs');
    const cold = await coldStarts(client, opts.coldFunctions, 'cold', COLD_GAP_MS);
    const served1 = await poolServed(kindling.url, 'nodejs');
    log(`cold starts over ${opts.coldFunctions} new functions, back to back, with the pool ...`);
    const coldBurst = await coldStarts(client, opts.coldFunctions, 'burst');
    const served2 = await poolServed(kindling.url, 'nodejs');
    log(`cold starts over ${opts.coldFunctions} new functions, without the pool (a second Kindling) ...`);
    const coldNoPool = await coldStartsWithoutPool(opts.sandbox, opts.coldFunctions, log);
    const breakdown = await breakdowns(opts, log);
    const full = !opts.coldOnly && !opts.quick;
    const asyncFigures = full ? await benchAsync({ url: kindling.url, credentials: CREDS, region: REGION, seconds: opts.seconds, log }) : undefined;
    // The sections below start Kindlings (or sandboxes) of their own: this one stops first.
    await stop(kindling.child);
    const coldPython = await pythonCold();
    const many = { bin: BIN, credentials: CREDS, region: REGION, ...(opts.sandbox ? { sandbox: opts.sandbox } : {}), log };
    const burst = full ? await benchBurst(many, 200) : undefined;
    const density = full ? await benchDensity(many, 400) : undefined;
    const drivers = full ? await benchDrivers({ cold: Math.min(opts.coldFunctions, 10), warm: 200, density: 5, microvmDir: opts.microvmDir, log }) : undefined;
    const figures = (xs: number[]) => ({ functions: xs.length, p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99) });
    const measured = {
      warm,
      ...(cpu ? { cpu } : {}),
      cold: { ...figures(cold), pooled: served1.pool - served0.pool },
      coldNoPool: figures(coldNoPool),
      coldPython,
      ...(density ? { density } : {}),
      ...(burst ? { burst } : {}),
      ...(drivers ? { drivers: drivers.figures } : {}),
    };
    const summary = summaryRows(measured as Parameters<typeof summaryRows>[0]);
    const report = {
      machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
      summary,
      ...measured,
      coldBurst: { ...figures(coldBurst), pooled: served2.pool - served1.pool },
      coldBreakdown: breakdown,
      ...(asyncFigures ? { async: asyncFigures } : {}),
      ...(drivers && Object.keys(drivers.skipped).length > 0 ? { driversSkipped: drivers.skipped } : {}),
    };
    if (opts.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    printTable(summaryTable(summary));
    const f = (n: number, d = 2) => n.toFixed(d);
    console.log('');
    const rows: string[][] = [['more figures', 'kindling', '', '']];
    rows.push([`cold starts (one every ${COLD_GAP_MS} ms) on a pooled sandbox`, `${report.cold.pooled}/${cold.length}`, '', '']);
    rows.push([`cold start p50 / p99 ms, back to back (${coldBurst.length} fns)`, `${f(report.coldBurst.p50Ms)} / ${f(report.coldBurst.p99Ms)}`, '', '']);
    rows.push([`  of them on a pooled sandbox`, `${report.coldBurst.pooled}/${coldBurst.length}`, '', '']);
    for (const c of ['c1', 'c1vcpu', 'c50'] as const) {
      const x = warm[c];
      if (x && x.kindling.errors > 0) rows.push([`errors, ${c}`, String(x.kindling.errors), String(x.bare.errors), '']);
    }
    rows.push(...pythonColdRows(coldPython));
    if (asyncFigures) for (const [figure, value, target] of asyncRows(asyncFigures)) rows.push([figure!, value!, '', target ? `target ${target}` : '']);
    printTable(rows);
    console.log('');
    printTable(coldRows(breakdown));
    if (burst) (console.log(''), printTable(burstRows(burst)));
    if (density) (console.log(''), printTable(densityRows(density)));
    if (drivers) (console.log(''), printTable(driverRows(drivers)));
  } finally {
    await kindling.stop();
    await stop(bare.child);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
