// `npm run bench` cold start breakdown: the host's side of a cold start, in this
// process, through the real components (placement, the Worker Manager, a worker
// host with its code cache, pool and the default sandbox driver), with the pool
// and without it. Each cold start is a new function with its own package, as in
// the client-observed figure; they come `gapMs` apart. With the pool the package is
// prepared ahead, as CreateFunction does (host.prepare); without it, it is not, so
// that column shows what fetching and unpacking cost on the invoke path. Init to
// Ready is split by the guest's own timestamps.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FunctionVersion } from '../control/model.js';
import { WorkerHost } from '../host/host.js';
import type { Sandbox } from '../host/sandbox.js';
import { createLogger } from '../log.js';
import { PlacementService } from '../placement/placement.js';
import { selectDriver } from '../sandbox/select.js';
import { FsCodeStore } from '../store/fs-code.js';
import { WorkerManager } from '../workers/manager.js';
import { zipOf } from './fixtures.js';
import { percentile } from './load.js';

export interface PhaseFigures {
  p50Ms: number;
  p99Ms: number;
}

export interface ColdBreakdown {
  pool: boolean;
  driver: string;
  starts: number;
  /** Cold starts that took a pooled sandbox. */
  pooled: number;
  /** acquire() minus the host's part: placement and the Worker Manager. */
  placement: PhaseFigures;
  code: PhaseFigures;
  sandbox: PhaseFigures;
  init: PhaseFigures;
  /** Init to Ready, split: Init frame to the agent, becoming the function, the handler's import, Ready frame to the host. */
  initIn: PhaseFigures;
  become: PhaseFigures;
  handler: PhaseFigures;
  readyOut: PhaseFigures;
  /** host.prepare (the package fetched and unpacked ahead, off the invoke path); 0 when not prepared. */
  prepared: PhaseFigures;
  /** The first invoke on the new sandbox (after Ready). */
  firstInvoke: PhaseFigures;
  /** acquire() and the first invoke. */
  total: PhaseFigures;
}

const NOOP = 'export const handler = async () => null;\n';

function fnOf(name: string, codeSha256: string, codeSize: number): FunctionVersion {
  return {
    functionName: name,
    version: '$LATEST',
    description: '',
    runtime: 'nodejs20.x',
    role: 'arn:aws:iam::000000000000:role/bench',
    handler: 'index.handler',
    timeout: 3,
    memorySize: 128,
    ephemeralStorageMb: 512,
    architectures: ['x86_64'],
    tracingMode: 'PassThrough',
    logging: { logFormat: 'Text', logGroup: `/aws/lambda/${name}` },
    codeSha256,
    codeSize,
    packageType: 'Zip',
    layers: [],
    lastModified: new Date().toISOString().replace('Z', '+0000'),
    revisionId: randomUUID(),
    state: 'Active',
    lastUpdateStatus: 'Successful',
  };
}

const figures = (xs: number[]): PhaseFigures => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50Ms: percentile(s, 50), p99Ms: percentile(s, 99) };
};

export async function benchColdBreakdown(opts: { pool: boolean; starts: number; gapMs: number; sandbox?: string; log: (s: string) => void }): Promise<ColdBreakdown> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-bench-cold-'));
  const log = createLogger();
  const { driver } = selectDriver((opts.sandbox ?? 'auto') as 'auto');
  const code = new FsCodeStore(join(dir, 'store'));
  const host = new WorkerHost({
    id: 'bench',
    memoryMb: 8192,
    dir: join(dir, 'host'),
    driver,
    code,
    logs: { append: () => undefined },
    account: { region: 'us-east-1', accountId: '000000000000' },
    pool: opts.pool ? {} : false,
  });
  await host.start();
  const placement = new PlacementService();
  placement.register(host);
  const workers = new WorkerManager(placement, log, { idleMs: 600_000 });
  const rows = {
    placement: [] as number[],
    code: [] as number[],
    sandbox: [] as number[],
    init: [] as number[],
    initIn: [] as number[],
    become: [] as number[],
    handler: [] as number[],
    readyOut: [] as number[],
    prepared: [] as number[],
    firstInvoke: [] as number[],
    total: [] as number[],
  };
  let pooled = 0;
  try {
    const fns: FunctionVersion[] = [];
    for (let i = 0; i <= opts.starts; i++) {
      const stored = await code.put(await zipOf({ 'index.mjs': `${NOOP}// ${i} ${randomUUID()}\n` }));
      fns.push(fnOf(`cold-${i}`, stored.sha256Base64, stored.size));
    }
    // The first cold start of the key is not a figure: it seeds the pool (prepared, it takes a sandbox still starting).
    for (const [i, fn] of fns.entries()) {
      // What CreateFunction starts (the package here comes from the code store, not the request).
      const p0 = performance.now();
      if (opts.pool) await host.prepare(fn);
      const prepared = opts.pool ? performance.now() - p0 : 0;
      const t0 = performance.now();
      const lease = await workers.acquire(fn);
      const t1 = performance.now();
      const r = await lease.sandbox.invoke({ requestId: randomUUID(), payload: Buffer.from('{}'), invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${fn.functionName}`, traceId: 'Root=1-00000000-000000000000000000000000;Sampled=0', tail: false });
      const t2 = performance.now();
      workers.release(lease, r.reusable);
      if (r.functionError) throw new Error(`cold invoke failed: ${r.payload.toString()}`);
      const phases = (lease.sandbox as Sandbox).startup!;
      if (i === 0) {
        await host.poolSettled(fn);
        continue;
      }
      if (phases.pooled) pooled++;
      rows.placement.push(t1 - t0 - phases.totalMs);
      rows.code.push(phases.codeMs);
      rows.sandbox.push(phases.sandboxMs);
      rows.init.push(phases.initMs);
      if (phases.guest) {
        rows.initIn.push(phases.guest.initInMs);
        rows.become.push(phases.guest.becomeMs);
        rows.handler.push(phases.guest.handlerMs);
        rows.readyOut.push(phases.guest.readyOutMs);
      }
      rows.prepared.push(prepared);
      rows.firstInvoke.push(t2 - t1);
      rows.total.push(t2 - t0);
      await new Promise((r) => setTimeout(r, opts.gapMs));
    }
  } finally {
    await workers.shutdown();
    await host.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    pool: opts.pool,
    driver: driver.name,
    starts: rows.total.length,
    pooled,
    placement: figures(rows.placement),
    code: figures(rows.code),
    sandbox: figures(rows.sandbox),
    init: figures(rows.init),
    initIn: figures(rows.initIn),
    become: figures(rows.become),
    handler: figures(rows.handler),
    readyOut: figures(rows.readyOut),
    prepared: figures(rows.prepared),
    firstInvoke: figures(rows.firstInvoke),
    total: figures(rows.total),
  };
}

/** Table rows: one column per run (pool, no pool), p50 / p99 per phase. */
export function coldRows(runs: ColdBreakdown[]): string[][] {
  const f = (p: PhaseFigures) => `${p.p50Ms.toFixed(2)} / ${p.p99Ms.toFixed(2)}`;
  const rows: string[][] = [['cold start phase, p50 / p99 ms', ...runs.map((r) => `${r.driver}, ${r.pool ? 'pool' : 'no pool'}`)]];
  rows.push(['placement + Worker Manager', ...runs.map((r) => f(r.placement))]);
  rows.push(['code prepared ahead (CreateFunction)', ...runs.map((r) => f(r.prepared))]);
  rows.push(['code fetch + unpack (invoke path)', ...runs.map((r) => f(r.code))]);
  rows.push(['take pooled + attach / launch', ...runs.map((r) => f(r.sandbox))]);
  rows.push(['Init to Ready', ...runs.map((r) => f(r.init))]);
  rows.push(['  Init frame to the agent (no pool: Node.js start)', ...runs.map((r) => f(r.initIn))]);
  rows.push(['  agent becomes the function', ...runs.map((r) => f(r.become))]);
  rows.push(['  handler import', ...runs.map((r) => f(r.handler))]);
  rows.push(['  Ready frame to the host', ...runs.map((r) => f(r.readyOut))]);
  rows.push(['first invoke', ...runs.map((r) => f(r.firstInvoke))]);
  rows.push(['total (host side)', ...runs.map((r) => f(r.total))]);
  rows.push(['cold starts on a pooled sandbox', ...runs.map((r) => `${r.pooled}/${r.starts}`)]);
  return rows;
}
