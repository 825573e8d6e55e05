// `npm run bench -- --drivers`: the sandbox drivers side by side, driven
// directly (no HTTP): cold start (launch to Ready), warm invoke latency, and
// memory per sandbox (PSS of its process tree, with several alive at once so
// that what they share counts in part) beyond the process driver's, which is
// the runtime's own.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Sandbox } from '../host/sandbox.js';
import { nodeFlagsFor, type SandboxDriver } from '../sandbox/driver.js';
import { MicrovmDriver, microvmUnavailable } from '../sandbox/microvm/driver.js';
import { NamespaceDriver, namespaceUnavailable } from '../sandbox/namespace-driver.js';
import { ProcessDriver } from '../sandbox/process-driver.js';
import { treePssKb } from '../sandbox/proc-stat.js';
import { percentile } from './load.js';

export interface DriverFigures {
  driver: string;
  coldP50Ms: number;
  coldP99Ms: number;
  warmP50Ms: number;
  warmP99Ms: number;
  /** Mean PSS per sandbox with `density` alive, MB. */
  pssMb: number;
}

export interface DriverBenchOptions {
  cold: number;
  warm: number;
  density: number;
  microvmDir: string;
  log: (s: string) => void;
}

const MEMORY_MB = 128;
let seq = 0;

async function startSandbox(driver: SandboxDriver, taskRoot: string): Promise<{ sandbox: Sandbox; pid: number; ms: number }> {
  const id = `bench${process.pid}x${++seq}`;
  const t0 = performance.now();
  const proc = await driver.launch({ id, memoryMb: MEMORY_MB, ephemeralStorageMb: 512, taskRoot, nodeFlags: nodeFlagsFor(MEMORY_MB), network: 'none' });
  const sandbox = new Sandbox({ id, functionName: 'bench', version: '$LATEST', memoryMb: MEMORY_MB, timeoutSeconds: 30, logStream: 'bench' }, proc, { append: () => undefined }, !driver.enforcesMemory);
  await sandbox.init(
    {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', LAMBDA_TASK_ROOT: proc.taskRootInGuest, AWS_LAMBDA_FUNCTION_NAME: 'bench', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MEMORY_MB), _HANDLER: 'index.handler' },
      family: 'nodejs',
      handler: 'index.handler',
      taskRoot: proc.taskRootInGuest,
      runtimeApiListen: proc.runtimeApiListen,
    },
    60_000,
  );
  return { sandbox, pid: proc.pid, ms: performance.now() - t0 };
}

let req = 0;
const invokeOnce = (s: Sandbox) =>
  s.invoke({ requestId: `r${++req}`, payload: Buffer.from('{}'), invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench', traceId: 'Root=1-00000000-000000000000000000000000;Sampled=0', tail: false });

async function benchOne(name: string, driver: SandboxDriver, opts: DriverBenchOptions, taskRoot: string): Promise<DriverFigures> {
  await driver.cleanup();
  if (driver instanceof MicrovmDriver) {
    opts.log('microvm: guest image and 128 MB snapshot (first run only) ...');
    await driver.warm(MEMORY_MB, nodeFlagsFor(MEMORY_MB));
  }
  opts.log(`${name}: ${opts.cold} cold starts ...`);
  const cold: number[] = [];
  for (let i = 0; i < opts.cold; i++) {
    const s = await startSandbox(driver, taskRoot);
    cold.push(s.ms);
    await s.sandbox.destroy();
  }
  opts.log(`${name}: ${opts.warm} warm invokes, then ${opts.density} sandboxes alive ...`);
  const live = [await startSandbox(driver, taskRoot)];
  const warm: number[] = [];
  for (let i = 0; i < opts.warm; i++) {
    const t0 = performance.now();
    await invokeOnce(live[0]!.sandbox);
    warm.push(performance.now() - t0);
  }
  while (live.length < opts.density) live.push(await startSandbox(driver, taskRoot));
  for (const s of live) await invokeOnce(s.sandbox);
  const pssKb = live.reduce((sum, s) => sum + treePssKb(s.pid), 0) / live.length;
  await Promise.all(live.map((s) => s.sandbox.destroy()));
  cold.sort((a, b) => a - b);
  warm.sort((a, b) => a - b);
  return { driver: name, coldP50Ms: percentile(cold, 50), coldP99Ms: percentile(cold, 99), warmP50Ms: percentile(warm, 50), warmP99Ms: percentile(warm, 99), pssMb: pssKb / 1024 };
}

export async function benchDrivers(opts: DriverBenchOptions): Promise<{ figures: DriverFigures[]; skipped: Record<string, string> }> {
  const taskRoot = mkdtempSync(path.join(tmpdir(), 'kindling-bench-task-'));
  chmodSync(taskRoot, 0o755); // the sandbox user must enter it
  writeFileSync(path.join(taskRoot, 'index.mjs'), 'export const handler = async () => null;\n', { mode: 0o644 });
  const figures: DriverFigures[] = [];
  const skipped: Record<string, string> = {};
  try {
    figures.push(await benchOne('process', new ProcessDriver(), opts, taskRoot));
    const ns = namespaceUnavailable();
    if (ns === undefined) figures.push(await benchOne('namespace', new NamespaceDriver({ defaultNetwork: 'none' }), opts, taskRoot));
    else skipped.namespace = ns;
    const vm = microvmUnavailable();
    if (vm === undefined) figures.push(await benchOne('microvm', new MicrovmDriver({ baseDir: opts.microvmDir }), opts, taskRoot));
    else skipped.microvm = vm;
  } finally {
    rmSync(taskRoot, { recursive: true, force: true });
  }
  return { figures, skipped };
}

export function driverRows(result: { figures: DriverFigures[]; skipped: Record<string, string> }): string[][] {
  const base = result.figures.find((f) => f.driver === 'process');
  const f = (n: number, d = 1) => n.toFixed(d);
  const rows: string[][] = [['driver', 'cold p50 ms', 'cold p99 ms', 'warm p50 ms', 'warm p99 ms', 'PSS/sandbox MB', 'beyond runtime MB']];
  for (const x of result.figures) {
    rows.push([x.driver, f(x.coldP50Ms), f(x.coldP99Ms), f(x.warmP50Ms, 3), f(x.warmP99Ms, 3), f(x.pssMb), base ? f(x.pssMb - base.pssMb) : '']);
  }
  for (const [driver, why] of Object.entries(result.skipped)) rows.push([driver, `skipped: ${why}`, '', '', '', '', '']);
  return rows;
}
