// `npm run bench` Python cold starts: the client-observed first invoke of N
// just-created python3.12 functions (each its own package, handler
// index.handler returning a small dict), on a Kindling with the pool of generic
// sandboxes and on a second one without it (KINDLING_SANDBOX_POOL=off), one
// after the other in the same run so the two figures share the machine's load.
import { LambdaClient } from '@aws-sdk/client-lambda';
import { startBenchKindling, timeColdStarts, type ColdStartSpec } from './bench-kindling.js';
import { poolServed, type Credentials } from './fixtures.js';
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
const HANDLER = 'def handler(event, context):\n    return {"ok": True, "n": 1}\n';

const PYTHON: ColdStartSpec = { runtime: RUNTIME, files: (name) => ({ 'index.py': `${HANDLER}# ${name}\n` }) };

const figure = (t: number[]): ColdFigure => ({ functions: t.length, p50Ms: percentile(t, 50), p99Ms: percentile(t, 99) });

async function measure(opts: PythonColdOptions, pool: boolean): Promise<ColdFigure> {
  opts.log(`python cold starts over ${opts.functions} new functions, ${pool ? 'with' : 'without'} the pool ...`);
  const k = await startBenchKindling({
    bin: opts.bin,
    credentials: opts.credentials,
    ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
    ...(pool ? {} : { env: { KINDLING_SANDBOX_POOL: 'off' } }),
    log: opts.log,
  });
  const client = new LambdaClient({ endpoint: k.url, region: opts.region, credentials: opts.credentials, maxAttempts: 1 });
  try {
    // The first cold start makes the key (python, 128 MB) known to the pool and pays the server's lazy imports: not a figure.
    await timeColdStarts(client, PYTHON, 1, 'py-seed');
    await new Promise((r) => setTimeout(r, 1000));
    const before = pool ? await poolServed(k.url, 'python') : undefined;
    const out = figure(await timeColdStarts(client, PYTHON, opts.functions, pool ? 'py-cold' : 'py-cold-nopool', opts.gapMs));
    if (before) out.pooled = (await poolServed(k.url, 'python')).pool - before.pool;
    return out;
  } finally {
    client.destroy();
    await k.stop();
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
