// `npm run bench` Python cold starts: the client-observed first invoke of N
// just-created python3.12 functions (each its own package, handler
// index.handler returning a small dict), on a Kindling with the pool of generic
// sandboxes and on a second one without it (KINDLING_SANDBOX_POOL=off), one
// after the other in the same run so the two figures share the machine's load.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { poolServed, zipOf, type Credentials } from './fixtures.js';
import { percentile } from './load.js';

export interface PythonColdOptions {
  bin: string;
  credentials: Credentials;
  region: string;
  sandbox?: string;
  /** New functions per figure. */
  functions: number;
  /** Between cold starts, ms (the pool refills in between). */
  gapMs: number;
  log: (line: string) => void;
}

export interface ColdFigure {
  functions: number;
  p50Ms: number;
  p99Ms: number;
  /** Of those cold starts, how many took a pooled sandbox (with the pool). */
  pooled?: number;
}

export interface PythonColdFigures {
  runtime: string;
  pool: ColdFigure;
  noPool: ColdFigure;
}

const RUNTIME = 'python3.12';
const ROLE = 'arn:aws:iam::000000000000:role/bench';
const HANDLER = 'def handler(event, context):\n    return {"ok": True, "n": 1}\n';

interface Running {
  child: ChildProcess;
  url: string;
  client: LambdaClient;
  dir: string;
  stopping: boolean;
}

async function startKindling(opts: PythonColdOptions, pool: boolean): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-bench-py-'));
  const env = {
    ...process.env,
    KINDLING_ACCESS_KEY_ID: opts.credentials.accessKeyId,
    KINDLING_SECRET_ACCESS_KEY: opts.credentials.secretAccessKey,
    KINDLING_LOG_LEVEL: 'warn',
    ...(pool ? {} : { KINDLING_SANDBOX_POOL: 'off' }),
  };
  const args = [opts.bin, 'up', '--port', '0', '--data', dir, ...(opts.sandbox ? ['--sandbox', opts.sandbox] : [])];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const state = { stopping: false };
  const url = await new Promise<string>((resolve, reject) => {
    let listening = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /Kindling listening on (\S+)/.exec(line);
      if (m && !listening) {
        listening = true;
        resolve(m[1]!);
      } else if (listening) opts.log(`kindling: ${line}`);
    });
    child.once('exit', (code, signal) => {
      // Said, so that the requests' ECONNREFUSED that follows has its reason.
      if (listening && !state.stopping) opts.log(`kindling up (pool ${pool ? 'on' : 'off'}) exited early: ${code ?? signal}`);
      else reject(new Error(`kindling up exited with ${code ?? signal}`));
    });
  });
  return Object.assign(state, { child, dir, url, client: new LambdaClient({ endpoint: url, region: opts.region, credentials: opts.credentials, maxAttempts: 1 }) });
}

async function stopKindling(k: Running): Promise<void> {
  if (k.child.exitCode === null && k.child.signalCode === null) {
    k.stopping = true;
    const exited = new Promise((r) => k.child.once('exit', r));
    k.child.kill('SIGTERM');
    await exited;
  }
  rmSync(k.dir, { recursive: true, force: true });
}

/** Creates n functions, each with its own package, and times each one's first invoke (sorted, ms). */
async function coldStarts(client: LambdaClient, n: number, prefix: string, gapMs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const name = `${prefix}-${i}`;
    const zip = await zipOf({ 'index.py': `${HANDLER}# ${prefix} ${i}\n` });
    await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: RUNTIME, Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip } }));
    const t0 = performance.now();
    const out = await client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') }));
    times.push(performance.now() - t0);
    if (out.FunctionError) throw new Error(`cold invoke of ${name} failed: ${Buffer.from(out.Payload ?? []).toString()}`);
  }
  return times.sort((a, b) => a - b);
}

const figure = (t: number[]): ColdFigure => ({ functions: t.length, p50Ms: percentile(t, 50), p99Ms: percentile(t, 99) });

async function measure(opts: PythonColdOptions, pool: boolean): Promise<ColdFigure> {
  opts.log(`python cold starts over ${opts.functions} new functions, ${pool ? 'with' : 'without'} the pool ...`);
  const k = await startKindling(opts, pool);
  try {
    // The first cold start makes the key (python, 128 MB) known to the pool and pays the server's lazy imports: not a figure.
    await coldStarts(k.client, 1, 'py-seed', 0);
    await new Promise((r) => setTimeout(r, 1000));
    const before = pool ? await poolServed(k.url, 'python') : undefined;
    const out = figure(await coldStarts(k.client, opts.functions, pool ? 'py-cold' : 'py-cold-nopool', opts.gapMs));
    if (before) out.pooled = (await poolServed(k.url, 'python')).pool - before.pool;
    return out;
  } finally {
    await stopKindling(k);
  }
}

export async function benchPythonCold(opts: PythonColdOptions): Promise<PythonColdFigures> {
  const pool = await measure(opts, true);
  const noPool = await measure(opts, false);
  return { runtime: RUNTIME, pool, noPool };
}

export function pythonColdRows(r: PythonColdFigures): string[][] {
  const f = (n: number) => n.toFixed(2);
  return [
    [`python cold start p50 / p99 ms (${r.pool.functions} fns, ${r.runtime})`, `${f(r.pool.p50Ms)} / ${f(r.pool.p99Ms)}`, '', 'target p50 < 8 ms'],
    ...(r.pool.pooled !== undefined ? [[`  of them on a pooled sandbox`, `${r.pool.pooled}/${r.pool.functions}`, '', '']] : []),
    [`python cold start p50 / p99 ms, no pool`, `${f(r.noPool.p50Ms)} / ${f(r.noPool.p99Ms)}`, '', ''],
  ];
}
