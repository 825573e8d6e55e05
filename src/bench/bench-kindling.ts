// What the benchmarks share to run a Kindling of their own: `kindling up` on a
// free port with a fresh data folder and the bench's root key, and cold starts
// timed through the AWS SDK (a new function each, with its own package).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient, type Runtime } from '@aws-sdk/client-lambda';
import { zipOf, type Credentials } from './fixtures.js';

export interface BenchKindlingOptions {
  /** bin/kindling.js */
  bin: string;
  credentials: Credentials;
  /** kindling up --sandbox */
  sandbox?: string;
  /** More arguments for kindling up (--memory MB). */
  args?: string[];
  /** More environment (KINDLING_SANDBOX_POOL=off). */
  env?: Record<string, string>;
  /** Told when the server exits while the bench still uses it (the ECONNREFUSED that follows has its reason). */
  log?: (line: string) => void;
}

export interface BenchKindling {
  child: ChildProcess;
  url: string;
  dir: string;
  /** Stops it (once) and removes its data folder. */
  stop(): Promise<void>;
}

export async function startBenchKindling(o: BenchKindlingOptions): Promise<BenchKindling> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-bench-'));
  const env = {
    ...process.env,
    KINDLING_ACCESS_KEY_ID: o.credentials.accessKeyId,
    KINDLING_SECRET_ACCESS_KEY: o.credentials.secretAccessKey,
    KINDLING_LOG_LEVEL: 'warn',
    ...o.env,
  };
  const args = [o.bin, 'up', '--port', '0', '--data', dir, ...(o.sandbox ? ['--sandbox', o.sandbox] : []), ...(o.args ?? [])];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let stopping = false;
  const url = await new Promise<string>((resolve, reject) => {
    let listening = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /Kindling listening on (\S+)/.exec(line);
      if (m && !listening) {
        listening = true;
        resolve(m[1]!);
      } else if (listening) o.log?.(`kindling: ${line}`);
    });
    child.once('exit', (code, signal) => {
      if (!listening) reject(new Error(`kindling up exited with ${code ?? signal}`));
      else if (!stopping) o.log?.(`kindling up exited early: ${code ?? signal}`);
    });
  }).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    child,
    url,
    dir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        stopping = true;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ColdStartSpec {
  runtime: Runtime;
  /** The package of the function of this name (each distinct, so nothing is cached from another). */
  files: (name: string) => Record<string, string>;
}

const ROLE = 'arn:aws:iam::000000000000:role/bench';

/** Creates n functions and times each one's first invoke, client-observed (ms, sorted); gapMs between them. */
export async function timeColdStarts(client: LambdaClient, spec: ColdStartSpec, n: number, prefix: string, gapMs = 0): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const name = `${prefix}-${i}`;
    const zip = await zipOf(spec.files(name));
    await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: spec.runtime, Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip } }));
    const t0 = performance.now();
    const out = await client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') }));
    times.push(performance.now() - t0);
    if (out.FunctionError) throw new Error(`cold invoke of ${name} failed: ${Buffer.from(out.Payload ?? []).toString()}`);
  }
  return times.sort((a, b) => a - b);
}
