// Starts real guest agents through a sandbox driver and speaks the real protocol
// to them (src/host/sandbox.ts's Sandbox), for the sandbox tests.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox } from '../../src/host/sandbox.js';
import type { SandboxDriver, SandboxLaunch, SandboxProcess } from '../../src/sandbox/driver.js';
import { JAILER_PATH } from '../../src/sandbox/namespace-driver.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The microvm tests' image and snapshots, shared by their drivers and `kindling up`, so they are built once. */
export const MICROVM_TEST_DIR = path.join(tmpdir(), 'kindling-microvm-test');

/** Why these tests cannot run here (undefined: they can). Builds the jailer when it is missing or stale. */
export function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'namespace sandboxes need Linux';
  if (process.getuid?.() !== 0) return 'namespace sandboxes need root';
  const src = path.join(ROOT, 'native', 'jailer.c');
  if (!existsSync(JAILER_PATH) || statSync(JAILER_PATH).mtimeMs < statSync(src).mtimeMs || !existsSync(path.join(ROOT, 'dist/src/guest/python/bootstrap.py'))) {
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'native', 'build.mjs')], { stdio: 'pipe' });
    } catch (err) {
      return `cannot build the jailer: ${(err as Error).message}`;
    }
  }
  if (!existsSync(JAILER_PATH)) return 'the jailer could not be built (no C compiler?)';
  return undefined;
}

export function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kindling-sbx-'));
  chmodSync(dir, 0o755);
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text, { mode: rel === 'bootstrap' ? 0o755 : 0o644 });
  }
  return dir;
}

export const removeFixture = (dir: string): void => rmSync(dir, { recursive: true, force: true });

export interface Started {
  sandbox: Sandbox;
  proc: SandboxProcess;
  taskRoot: string;
  /** Milliseconds from launch() to the agent's Ready. */
  startMs: number;
  logs: string[];
  close(): Promise<void>;
}

let n = 0;

export async function start(
  driver: SandboxDriver,
  files: Record<string, string>,
  opts: {
    family?: string;
    handler?: string;
    memoryMb?: number;
    tmpMb?: number;
    network?: SandboxLaunch['network'];
    timeoutSeconds?: number;
    env?: Record<string, string>;
    /** Start it generic (launchGeneric, as the host's pool does), then attach the code. */
    pooled?: boolean;
  } = {},
): Promise<Started> {
  const taskRoot = fixture(files);
  const memoryMb = opts.memoryMb ?? 256;
  const id = `t${process.pid}x${++n}${Math.random().toString(16).slice(2, 8)}`;
  const t0 = performance.now();
  const launch: SandboxLaunch = {
    id,
    memoryMb,
    ephemeralStorageMb: opts.tmpMb ?? 64,
    taskRoot,
    nodeFlags: [`--max-old-space-size=${Math.max(16, Math.floor(memoryMb * 0.9))}`],
  };
  if (opts.network) launch.network = opts.network;
  let proc: SandboxProcess;
  if (opts.pooled) {
    const generic = await driver.launchGeneric!({ ...launch, family: opts.family ?? 'nodejs' });
    await generic.standby;
    proc = await generic.attach({ taskRoot });
  } else {
    proc = await driver.launch(launch);
  }
  const logs: string[] = [];
  const sandbox = new Sandbox(
    { id, functionName: 'fn', version: '$LATEST', memoryMb, timeoutSeconds: opts.timeoutSeconds ?? 20, logStream: 'stream' },
    proc,
    { append: (_f, _s, text) => logs.push(text) },
    !driver.enforcesMemory,
  );
  const runtimeDir = proc.runtimeDirInGuest ?? '/';
  await sandbox.init(
    {
      env: {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        LANG: 'en_US.UTF-8',
        TZ: ':UTC',
        LAMBDA_TASK_ROOT: proc.taskRootInGuest,
        LAMBDA_RUNTIME_DIR: runtimeDir,
        AWS_REGION: 'us-east-1',
        AWS_LAMBDA_FUNCTION_NAME: 'fn',
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
        AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/fn',
        AWS_LAMBDA_LOG_STREAM_NAME: 'stream',
        _HANDLER: opts.handler ?? 'index.handler',
        ...(opts.env ?? {}),
      },
      family: opts.family ?? 'nodejs',
      handler: opts.handler ?? 'index.handler',
      taskRoot: proc.taskRootInGuest,
      runtimeApiListen: proc.runtimeApiListen,
    },
    15_000,
  );
  const startMs = performance.now() - t0;
  return {
    sandbox,
    proc,
    taskRoot,
    startMs,
    logs,
    async close() {
      await sandbox.destroy();
      removeFixture(taskRoot);
    },
  };
}

let reqs = 0;
export async function invoke(s: Started, event: unknown): Promise<{ body: any; errorType?: string; text: string }> {
  const r = await s.sandbox.invoke({
    requestId: `req-${++reqs}`,
    payload: Buffer.from(JSON.stringify(event)),
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn',
    traceId: 'Root=1-00000000-000000000000000000000000;Sampled=0',
    tail: false,
  });
  const text = r.payload.toString('utf8');
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return r.errorType !== undefined ? { body, errorType: r.errorType, text } : { body, text };
}
