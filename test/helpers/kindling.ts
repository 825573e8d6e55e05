// Test helpers: a real `kindling up` child process per test file, a Lambda
// SDK client for it, signed raw HTTP requests, CLI runs and in-memory zips.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SignatureV4 } from '@smithy/signature-v4';
import yazl from 'yazl';

export const ACCESS_KEY_ID = 'AKKLTESTACCESSKEY01';
export const SECRET_ACCESS_KEY = 'kindling-test-secret-access-key-0123456789';
export const REGION = 'us-east-1';
export const ACCOUNT_ID = '000000000000';
export const ROLE = `arn:aws:iam::${ACCOUNT_ID}:role/kindling-test`;

export const functionArn = (name: string, qualifier?: string): string =>
  `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${name}${qualifier === undefined ? '' : `:${qualifier}`}`;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The repository root (this file runs from dist/test/helpers/). */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'bin', 'kindling.js'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the Kindling repository root from ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

export const KINDLING_BIN = join(ROOT, 'bin', 'kindling.js');

const STARTUP_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const READY_LINE = /Kindling listening on (http:\/\/\S+)/;
/** What `kindling worker` prints once it has joined its manager. */
const WORKER_READY_LINE = /Kindling worker (\S+) joined \S+; sandboxes served at (http:\/\/\S+)/;

/** The environment of every Kindling child: fixed test credentials, quiet logs, no stray KINDLING_* settings. */
export function kindlingEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('KINDLING_') && !k.startsWith('AWS_')) env[k] = v;
  }
  return {
    ...env,
    KINDLING_ACCESS_KEY_ID: ACCESS_KEY_ID,
    KINDLING_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    KINDLING_LOG_LEVEL: 'warn',
    ...extra,
  };
}

// Every child this process started, so none outlives the test run.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const exited = (child: ChildProcess): Promise<Exit> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

export interface StartOptions {
  /** `kindling up` (the default) or a worker host, `kindling worker --join ...` (give --join in args). */
  command?: 'up' | 'worker';
  /** Reuse this data folder; a fresh temporary one otherwise. */
  dataDir?: string;
  env?: Record<string, string>;
  args?: string[];
  /** Run inside this network namespace (`ip netns exec NAME node ...`; needs root). */
  netns?: string;
}

/** A running `kindling up` (or `kindling worker`). `url` and `child` change on restart(). */
export class KindlingServer {
  /** The API's URL (up), or where the worker serves its sandboxes (worker). */
  url = '';
  /** A worker's host id, once it has joined. */
  hostId = '';
  child!: ChildProcess;
  stdout = '';
  stderr = '';
  /** Resolves when the current child exits. */
  exit!: Promise<Exit>;
  private readonly ownsDataDir: boolean;

  private constructor(
    readonly dataDir: string,
    ownsDataDir: boolean,
    private readonly opts: StartOptions,
  ) {
    this.ownsDataDir = ownsDataDir;
  }

  static async start(opts: StartOptions = {}): Promise<KindlingServer> {
    const owns = opts.dataDir === undefined;
    const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'kindling-test-')));
    const server = new KindlingServer(dataDir, owns, opts);
    try {
      await server.spawn();
    } catch (err) {
      if (owns) await rm(dataDir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private spawn(): Promise<void> {
    this.stdout = '';
    this.stderr = '';
    this.url = '';
    const args =
      this.opts.command === 'worker'
        ? [KINDLING_BIN, 'worker', '--data', this.dataDir, ...(this.opts.args ?? [])]
        : [KINDLING_BIN, 'up', '--port', '0', '--data', this.dataDir, ...(this.opts.args ?? [])];
    // `ip netns exec` execs node in place, so the child's pid (and its signals) are node's.
    const [command, argv]: [string, string[]] = this.opts.netns === undefined ? [process.execPath, args] : ['ip', ['netns', 'exec', this.opts.netns, process.execPath, ...args]];
    const child = spawn(command, argv, { cwd: ROOT, env: kindlingEnv(this.opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    this.exit = exited(child).then((e) => {
      live.delete(child);
      return e;
    });
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => (this.stderr += s));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(
          new Error(
            `kindling up (data ${this.dataDir}) ${why}.\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`,
          ),
        );
      };
      const worker = this.opts.command === 'worker';
      const timer = setTimeout(
        () => fail(`did not print "${worker ? 'Kindling worker ... joined' : 'Kindling listening on'} ..." within ${STARTUP_TIMEOUT_MS / 1000} s`),
        STARTUP_TIMEOUT_MS,
      );
      child.stdout!.on('data', (s: string) => {
        this.stdout += s;
        const m = (worker ? WORKER_READY_LINE : READY_LINE).exec(this.stdout);
        if (m && !settled) {
          settled = true;
          clearTimeout(timer);
          if (worker) {
            this.hostId = m[1]!;
            this.url = m[2]!;
          } else this.url = m[1]!;
          resolve();
        }
      });
      child.once('error', (err) => fail(`could not be started: ${err.message}`));
      void this.exit.then(({ code, signal }) => fail(`exited (code ${code}, signal ${signal}) before it was ready`));
    });
  }

  private async signal(sig: NodeJS.Signals): Promise<Exit> {
    if (!this.running) return this.exit;
    this.child.kill(sig);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`kindling up did not exit within ${STOP_TIMEOUT_MS / 1000} s of ${sig}.\n--- stderr ---\n${this.stderr}`));
      }, STOP_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, and waits for the exit. */
  stop(): Promise<Exit> {
    return this.signal('SIGTERM');
  }

  /** SIGINT (Ctrl-C), and waits for the exit. */
  interrupt(): Promise<Exit> {
    return this.signal('SIGINT');
  }

  /** SIGKILL: a crash. */
  kill(): Promise<Exit> {
    return this.signal('SIGKILL');
  }

  /** Starts again on the same data folder (stopping first if still running). */
  async restart(): Promise<void> {
    if (this.running) await this.stop();
    await this.spawn();
  }

  /** Stops (or kills) the server and removes its data folder when this helper made it. */
  async dispose(): Promise<void> {
    if (this.running) {
      try {
        await this.stop();
      } catch {
        await this.kill();
      }
    }
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}

export const startKindling = (opts?: StartOptions): Promise<KindlingServer> => KindlingServer.start(opts);

/** A worker host joined to the Kindling at `managerUrl`. */
export const startWorker = (managerUrl: string, args: string[] = [], env?: Record<string, string>): Promise<KindlingServer> =>
  KindlingServer.start({ command: 'worker', args: ['--join', managerUrl, ...args], ...(env ? { env } : {}) });

/** An SDK client for a Kindling server, signed with the test credentials, no retries. */
export const lambdaClient = (url: string): LambdaClient =>
  new LambdaClient({
    endpoint: url,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    maxAttempts: 1,
  });

/**
 * One `kindling up` and an SDK client for the enclosing describe (call it inside one): started before its
 * tests, ended after them. Read them through the getters once the tests run.
 */
export function kindlingForSuite(opts?: StartOptions): { server: () => KindlingServer; client: () => LambdaClient } {
  let server: KindlingServer | undefined;
  let client: LambdaClient | undefined;
  before(async () => {
    server = await startKindling(opts);
    client = lambdaClient(server.url);
  });
  after(async () => {
    client?.destroy();
    await server?.dispose();
  });
  return { server: () => server!, client: () => client! };
}

// --- raw HTTP, signed as the SDKs sign ---

class NodeSha256 {
  private hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    if (secret === undefined) this.hash = createHash('sha256');
    else {
      const key =
        typeof secret === 'string'
          ? secret
          : ArrayBuffer.isView(secret)
            ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength)
            : Buffer.from(secret);
      this.hash = createHmac('sha256', key);
    }
  }
  update(data: Uint8Array | string): void {
    this.hash.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    throw new Error('not used');
  }
}

const signer = new SignatureV4({
  credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
  region: REGION,
  service: 'lambda',
  sha256: NodeSha256,
});

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** A SigV4-signed request with global fetch; the reply fully read. */
export async function rawRequest(
  baseUrl: string,
  method: string,
  pathAndQuery: string,
  opts: { body?: string | Buffer; headers?: Record<string, string>; sign?: boolean } = {},
): Promise<RawResponse> {
  const url = new URL(pathAndQuery, baseUrl);
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  let headers: Record<string, string> = {
    host: url.host,
    ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...opts.headers,
  };
  if (opts.sign !== false) {
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers,
      body: opts.body,
    });
    headers = signed.headers;
  }
  const { host: _host, ...sendHeaders } = headers;
  const res = await fetch(url, { method, headers: sendHeaders, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// --- running the CLI ---

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command to completion (SIGKILL after `timeoutMs`). */
export function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Runs `kindling ARGS` with the test credentials. */
export const runKindling = (args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> =>
  run(process.execPath, [KINDLING_BIN, ...args], {
    env: kindlingEnv(opts.env),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });

/** A readable description of a finished run, for assertion messages. */
export const describeRun = (r: RunResult): string =>
  `exit ${r.code} signal ${r.signal}${r.timedOut ? ' (timed out)' : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

// --- zips ---

export type ZipEntries = Record<string, string | Buffer>;

/** Builds a zip in memory. `compress: false` stores the entries as they are. */
export function makeZip(files: ZipEntries, opts: { compress?: boolean } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  // A fixed mtime, so the same entries always make the same bytes (and CodeSha256).
  const mtime = new Date('2024-01-01T00:00:00Z');
  for (const [name, content] of Object.entries(files)) {
    zip.addBuffer(typeof content === 'string' ? Buffer.from(content) : content, name, {
      mtime,
      mode: 0o100644,
      compress: opts.compress ?? true,
    });
  }
  zip.end();
  return collect(zip.outputStream);
}

/** A zip whose entries keep the given Unix modes (a bootstrap must be executable). */
export function zipWithModes(files: Record<string, { data: Buffer | string; mode?: number }>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, f] of Object.entries(files)) {
    zip.addBuffer(typeof f.data === 'string' ? Buffer.from(f.data) : f.data, name, { mode: 0o100000 | (f.mode ?? 0o644), mtime: new Date('2024-01-01T00:00:00Z') });
  }
  zip.end();
  return collect(zip.outputStream);
}

/** A zip with one entry of `size` zero bytes, streamed in, deflated: tiny zipped, huge unzipped. */
export function makeZeroZip(name: string, size: number): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const chunk = Buffer.alloc(1024 * 1024);
  const zeros = Readable.from(
    (function* () {
      for (let left = size; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
    })(),
  );
  zip.addReadStream(zeros, name, { mtime: new Date('2024-01-01T00:00:00Z'), size, compress: true });
  zip.end();
  return collect(zip.outputStream);
}

/** Bytes that no zip reader accepts (no end-of-central-directory record). */
export const invalidZip = (): Buffer => Buffer.from('PK\u0003\u0004 this is not really a zip file, only its first four bytes are');

export const sha256Base64 = (data: Buffer): string => createHash('sha256').update(data).digest('base64');

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A small Node.js handler package. */
export const nodeZip = (body = 'export const handler = async (event) => ({ ok: true, event });\n'): Promise<Buffer> =>
  makeZip({ 'index.mjs': body });

/** Awaits a rejected promise and returns its error, failing when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export interface ApiError extends Error {
  name: string;
  message: string;
  $metadata: { httpStatusCode?: number; requestId?: string };
  $response?: unknown;
  Type?: string;
}
