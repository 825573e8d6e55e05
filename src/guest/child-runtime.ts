// provided and python functions: the runtime is a child process that talks to the
// Runtime API this agent serves (runtime-api.ts); its stdout and stderr become Log frames.
//
// provided: ${LAMBDA_TASK_ROOT}/bootstrap, else /opt/bootstrap (Lambda's order);
// python:   python3 -u src/guest/python/bootstrap.py <handler> (Lambda's Python runtime);
//           in a pooled sandbox, the interpreter started ahead (python-standby.ts) when it fits.
// When the child exits, the agent sends Exit {code, signal} (after its last output)
// and exits too.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BOOT_PATH, BOOT_PYTHON, type RuntimeHandle } from './boot.js';
import type { HostChannel } from './channel.js';
import { FrameType, type InitMeta } from './protocol.js';
import { pythonStandby, startPythonStandby } from './python-standby.js';
import { RuntimeApi } from './runtime-api.js';

/** Lambda's Python runtime loop; it is not compiled: it stays in src/guest/python/. */
export function pythonBootstrap(): string {
  const candidates = [
    fileURLToPath(new URL('./python/bootstrap.py', import.meta.url)),
    fileURLToPath(new URL('../../../src/guest/python/bootstrap.py', import.meta.url)),
  ];
  return candidates.find((c) => existsSync(c)) ?? candidates[candidates.length - 1]!;
}

function findOnPath(name: string, pathList: string): string | undefined {
  for (const dir of pathList.split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The interpreter python functions run on, as the agent found it at boot. */
const bootPython = (): string | undefined => BOOT_PYTHON ?? findOnPath('python3', BOOT_PATH);

/**
 * The Runtime API server a pooled agent listens on ahead, at the address its Init will
 * most likely ask for. A promise from the start of the warm-up: an Init that comes
 * before it is over (a pooled sandbox taken while still starting) waits for it.
 */
let apiAhead: Promise<{ api: RuntimeApi; address: string; port: number } | undefined> | undefined;

/**
 * A pooled provided/python agent: warms the Runtime API (listening ahead at `listen`,
 * the driver's fixed address, when there is one) and, for python with the expected
 * environment, starts the interpreter ahead; resolves once all wait for the function.
 */
export async function prestartChildRuntime(ch: HostChannel, family: string, startEnv: Record<string, string> | undefined, listen: string | undefined): Promise<void> {
  const file = family === 'python' && startEnv !== undefined ? bootPython() : undefined;
  apiAhead = RuntimeApi.warmUp(ch, listen);
  await Promise.all([file === undefined ? undefined : startPythonStandby(file, pythonBootstrap(), startEnv!), apiAhead]);
}

/** The Runtime API for an Init asking for `address`: the one listening ahead there, else a new one listening. */
async function runtimeApiAt(ch: HostChannel, address: string, started: number): Promise<{ api: RuntimeApi; port: number }> {
  const ahead = await apiAhead;
  apiAhead = undefined;
  if (ahead && ahead.address === address) {
    ahead.api.begin(started);
    return ahead;
  }
  ahead?.api.close();
  const api = new RuntimeApi(ch, started);
  try {
    return { api, port: await api.listen(address) };
  } catch (err) {
    api.close();
    throw err;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Go's words for exec failures, as Lambda reports them. */
function execFailure(file: string, err: NodeJS.ErrnoException): string {
  const words: Record<string, string> = {
    EACCES: 'permission denied',
    ENOENT: 'no such file or directory',
    ENOEXEC: 'exec format error',
    ENOTDIR: 'not a directory',
  };
  return `fork/exec ${file}: ${words[err.code ?? ''] ?? err.message}`;
}

export async function startChildRuntime(ch: HostChannel, meta: InitMeta, started: number): Promise<RuntimeHandle | undefined> {
  const initError = (errorMessage: string, exitCode: number): undefined => {
    const errorType = 'Runtime.InvalidEntrypoint';
    ch.send(FrameType.InitError, JSON.stringify({ errorType }), JSON.stringify({ errorType, errorMessage }));
    ch.exit(exitCode, null, 0);
    return undefined;
  };

  let file: string;
  let args: string[];
  if (meta.family === 'python') {
    file = bootPython() ?? findOnPath('python3', process.env.PATH ?? '') ?? 'python3';
    args = ['-u', pythonBootstrap(), meta.handler];
  } else {
    const candidates = [path.join(meta.taskRoot, 'bootstrap'), path.join(meta.optDir ?? '/opt', 'bootstrap')];
    const found = candidates.find(isFile);
    if (!found) return initError(`Couldn't find valid bootstrap(s): [${candidates.join(' ')}]`, 127);
    file = found;
    args = [];
  }

  let api: RuntimeApi;
  let port: number;
  try {
    ({ api, port } = await runtimeApiAt(ch, meta.runtimeApiListen || '127.0.0.1:9001', started));
  } catch (err) {
    ch.send(
      FrameType.InitError,
      '{"errorType":"Runtime.Unknown"}',
      JSON.stringify({ errorType: 'Runtime.Unknown', errorMessage: `Runtime API could not listen on ${meta.runtimeApiListen}: ${(err as Error).message}` }),
    );
    ch.exit(null, null, 1);
    return undefined;
  }

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.AWS_LAMBDA_RUNTIME_API = `127.0.0.1:${port}`;
  process.env.AWS_LAMBDA_RUNTIME_API = env.AWS_LAMBDA_RUNTIME_API;

  // A pooled sandbox's interpreter, already started, if it starts as this one would.
  const ahead = meta.family === 'python' ? await pythonStandby()?.take(env, meta.handler, meta.taskRoot) : undefined;
  let spawned = ahead !== undefined;
  let child: ChildProcess;
  try {
    child = ahead ?? spawn(file, args, { cwd: meta.taskRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    api.close();
    return initError(execFailure(file, err as NodeJS.ErrnoException), 126);
  }

  const out = ch.lineWriter();
  const errOut = ch.lineWriter();
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => out.write(text));
  child.stderr!.on('data', (text: string) => errOut.write(text));

  let exited = false;
  const onExit = (code: number | null, signal: string | null): void => {
    if (exited) return;
    exited = true;
    // Its last output may still be in the pipes: 'close' comes once they are drained.
    let sent = false;
    const send = (): void => {
      if (sent) return;
      sent = true;
      ch.exit(code, signal, 0);
    };
    if (child.stdout!.readableEnded && child.stderr!.readableEnded) send();
    else {
      child.once('close', send);
      setTimeout(send, 200);
    }
  };
  child.once('spawn', () => {
    spawned = true;
  });
  child.once('error', (err: NodeJS.ErrnoException) => {
    if (spawned) return;
    exited = true;
    api.close();
    initError(execFailure(file, err), err.code === 'ENOENT' ? 127 : 126);
  });
  child.once('exit', onExit);

  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  process.once('SIGTERM', () => {
    kill();
    process.exit(143);
  });

  return {
    invoke: (m, payload) => api.invoke(m, payload),
    shutdown: kill,
  };
}
