// `kindling bench --cluster`: warm sync invoke throughput through a Worker
// Manager (`kindling up --role manager`) with 1, 2 and 3 worker hosts
// (`kindling worker --join`) on this machine; given the cluster's stores
// (--state, --code), also through 1 and 2 frontends (`kindling up --role
// frontend`) sharing that manager. All of them share this machine's cores, so
// the figures are CPU-bound: the CPU time each invoke costs (every process on
// the machine but the load generator, from /proc/stat) says more than the rate.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { signInvoke, zipOf, type Credentials } from './fixtures.js';
import { runLoad } from './load.js';

export interface ClusterFigures {
  hosts: number;
  /** Frontends the load went through (0: straight to the manager). */
  frontends: number;
  concurrency: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Machine CPU (all processes but the load generator) per invoke, ms. */
  cpuMsPerInvoke: number;
}

export interface ClusterBenchOptions {
  bin: string;
  credentials: Credentials;
  region: string;
  seconds: number;
  sandbox?: string;
  hostCounts?: number[];
  concurrency?: number;
  /** The cluster's stores (--state postgres://..., --code s3://...): with them, frontends are measured too. */
  stores?: { state: string; code: string };
  log: (line: string) => void;
}

/** Busy CPU time of the whole machine so far, ms (user + nice + system + irq + softirq + steal). */
function machineBusyMs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  // USER_HZ is 100 on Linux.
  return (user + nice + system + irq + softirq + steal) * 10;
}

function start(bin: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = ready.exec(line);
      if (m) resolve({ child, match: m });
    });
    child.once('exit', (code) => reject(new Error(`kindling ${args[0]} exited with ${code}`)));
  });
}

const stop = async (children: ChildProcess[]) => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
};

async function benchOne(opts: ClusterBenchOptions, hosts: number, concurrency: number, frontends = 0): Promise<ClusterFigures> {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const env = { ...process.env, KINDLING_ACCESS_KEY_ID: opts.credentials.accessKeyId, KINDLING_SECRET_ACCESS_KEY: opts.credentials.secretAccessKey, KINDLING_LOG_LEVEL: 'warn' };
  const sandbox = opts.sandbox ? ['--sandbox', opts.sandbox] : [];
  const stores = frontends > 0 && opts.stores ? ['--state', opts.stores.state, '--code', opts.stores.code] : [];
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'kindling-bench-cluster-'));
    dirs.push(d);
    return d;
  };
  try {
    const manager = await start(opts.bin, ['up', '--port', '0', '--data', dataDir(), '--role', 'manager', ...stores, ...sandbox], env, /Kindling listening on (\S+)/);
    children.push(manager.child);
    const url = manager.match[1]!;
    for (let i = 0; i < hosts; i++) {
      const w = await start(opts.bin, ['worker', '--join', url, '--data', dataDir(), '--memory', '4096', ...sandbox], env, /Kindling worker \S+ joined/);
      children.push(w.child);
    }
    const entries = [url];
    if (frontends > 0) entries.length = 0;
    for (let i = 0; i < frontends; i++) {
      const f = await start(opts.bin, ['up', '--port', '0', '--data', dataDir(), '--role', 'frontend', '--manager', url, ...stores], env, /Kindling listening on (\S+)/);
      children.push(f.child);
      entries.push(f.match[1]!);
    }
    const client = new LambdaClient({ endpoint: entries[0]!, region: opts.region, credentials: opts.credentials, maxAttempts: 1 });
    // The cluster's stores outlive a run: every run has a function of its own.
    const name = `noop-${randomBytes(4).toString('hex')}`;
    const zip = await zipOf({ 'index.mjs': 'export const handler = async () => null;\n' });
    await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: 'arn:aws:iam::000000000000:role/bench', Code: { ZipFile: zip } }));
    // Warm a sandbox per slot first, so the run measures warm invokes only.
    await Promise.all(Array.from({ length: concurrency }, () => client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') }))));
    client.destroy();
    const targets = await Promise.all(entries.map(async (origin) => ({ origin, method: 'POST' as const, ...(await signInvoke(origin, opts.credentials, opts.region, name, Buffer.from('{}'))) })));
    const busy0 = machineBusyMs();
    const own0 = process.cpuUsage();
    // The load is split evenly over the entry points (a load balancer's round robin).
    const runs = await Promise.all(targets.map((t) => runLoad(t, Math.max(1, Math.round(concurrency / targets.length)), opts.seconds * 1000, 0)));
    const own = process.cpuUsage(own0);
    const busy = machineBusyMs() - busy0 - (own.user + own.system) / 1000;
    const requests = runs.reduce((n, r) => n + r.requests, 0);
    return {
      hosts,
      frontends,
      concurrency,
      perSecond: runs.reduce((n, r) => n + r.perSecond, 0),
      // Of several entry points, the slowest one's percentiles.
      p50Ms: Math.max(...runs.map((r) => r.p50Ms)),
      p99Ms: Math.max(...runs.map((r) => r.p99Ms)),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      cpuMsPerInvoke: requests > 0 ? busy / requests : NaN,
    };
  } finally {
    // Frontends and workers first: workers flush their last log lines to the manager as they go.
    await stop(children.slice(1));
    await stop(children.slice(0, 1));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

export async function benchCluster(opts: ClusterBenchOptions): Promise<ClusterFigures[]> {
  const out: ClusterFigures[] = [];
  const concurrency = opts.concurrency ?? 16;
  for (const hosts of opts.hostCounts ?? [1, 2, 3]) {
    opts.log(`cluster: manager + ${hosts} worker host(s), warm invokes, ${opts.seconds} s ...`);
    out.push(await benchOne(opts, hosts, concurrency));
  }
  if (!opts.stores) {
    opts.log('cluster: give --state postgres://... and --code s3://... to measure frontends (kindling up --role frontend) too');
    return out;
  }
  for (const frontends of [1, 2]) {
    opts.log(`cluster: ${frontends} frontend(s) + manager + 2 worker hosts, warm invokes, ${opts.seconds} s ...`);
    out.push(await benchOne(opts, 2, concurrency, frontends));
  }
  return out;
}

export function clusterRows(figures: ClusterFigures[]): string[][] {
  const rows = [['worker hosts', 'frontends', 'invokes/s', 'p50 ms', 'p99 ms', 'CPU ms/invoke', 'errors']];
  for (const f of figures) rows.push([`${f.hosts} (c=${f.concurrency})`, f.frontends === 0 ? '- (manager)' : String(f.frontends), f.perSecond.toFixed(0), f.p50Ms.toFixed(2), f.p99Ms.toFixed(2), f.cpuMsPerInvoke.toFixed(3), String(f.errors)]);
  return rows;
}
