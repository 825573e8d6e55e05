// `kindling bench --cluster`: warm sync invoke throughput through a Worker
// Manager (`kindling up --role manager`) with 1, 2 and 3 worker hosts
// (`kindling worker --join`) on this machine. All of them share its cores, so
// the figures are CPU-bound: the CPU time each invoke costs (every process on
// the machine but the load generator, from /proc/stat) says more than the rate.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { signInvoke, zipOf, type Credentials } from './fixtures.js';
import { runLoad } from './load.js';

export interface ClusterFigures {
  hosts: number;
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

async function benchOne(opts: ClusterBenchOptions, hosts: number, concurrency: number): Promise<ClusterFigures> {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const env = { ...process.env, KINDLING_ACCESS_KEY_ID: opts.credentials.accessKeyId, KINDLING_SECRET_ACCESS_KEY: opts.credentials.secretAccessKey, KINDLING_LOG_LEVEL: 'warn' };
  const sandbox = opts.sandbox ? ['--sandbox', opts.sandbox] : [];
  try {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-bench-manager-'));
    dirs.push(dir);
    const manager = await start(opts.bin, ['up', '--port', '0', '--data', dir, '--role', 'manager', ...sandbox], env, /Kindling listening on (\S+)/);
    children.push(manager.child);
    const url = manager.match[1]!;
    for (let i = 0; i < hosts; i++) {
      const wdir = mkdtempSync(join(tmpdir(), 'kindling-bench-worker-'));
      dirs.push(wdir);
      const w = await start(opts.bin, ['worker', '--join', url, '--data', wdir, '--memory', '4096', ...sandbox], env, /Kindling worker \S+ joined/);
      children.push(w.child);
    }
    const client = new LambdaClient({ endpoint: url, region: opts.region, credentials: opts.credentials, maxAttempts: 1 });
    const zip = await zipOf({ 'index.mjs': 'export const handler = async () => null;\n' });
    await client.send(new CreateFunctionCommand({ FunctionName: 'noop', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: 'arn:aws:iam::000000000000:role/bench', Code: { ZipFile: zip } }));
    // Warm a sandbox per slot first, so the run measures warm invokes only.
    await Promise.all(Array.from({ length: concurrency }, () => client.send(new InvokeCommand({ FunctionName: 'noop', Payload: Buffer.from('{}') }))));
    client.destroy();
    const target = { origin: url, method: 'POST' as const, ...(await signInvoke(url, opts.credentials, opts.region, 'noop', Buffer.from('{}'))) };
    const busy0 = machineBusyMs();
    const own0 = process.cpuUsage();
    const r = await runLoad(target, concurrency, opts.seconds * 1000, 0);
    const own = process.cpuUsage(own0);
    const busy = machineBusyMs() - busy0 - (own.user + own.system) / 1000;
    return { hosts, concurrency, perSecond: r.perSecond, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors, cpuMsPerInvoke: r.requests > 0 ? busy / r.requests : NaN };
  } finally {
    // Workers first: they flush their last log lines to the manager as they go.
    await stop(children.slice(1));
    await stop(children.slice(0, 1));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

export async function benchCluster(opts: ClusterBenchOptions): Promise<ClusterFigures[]> {
  const out: ClusterFigures[] = [];
  for (const hosts of opts.hostCounts ?? [1, 2, 3]) {
    opts.log(`cluster: manager + ${hosts} worker host(s), warm invokes, ${opts.seconds} s ...`);
    out.push(await benchOne(opts, hosts, opts.concurrency ?? 16));
  }
  return out;
}

export function clusterRows(figures: ClusterFigures[]): string[][] {
  const rows = [['worker hosts', 'invokes/s', 'p50 ms', 'p99 ms', 'CPU ms/invoke', 'errors']];
  for (const f of figures) rows.push([`${f.hosts} (c=${f.concurrency})`, f.perSecond.toFixed(0), f.p50Ms.toFixed(2), f.p99Ms.toFixed(2), f.cpuMsPerInvoke.toFixed(3), String(f.errors)]);
  return rows;
}
