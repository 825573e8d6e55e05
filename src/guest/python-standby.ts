// A pooled python sandbox's interpreter, started before its function is known
// (Lambda's pre-initialized runtime): `python3 -u bootstrap.py --standby` with
// the environment the host expects the function to have (BOOT_STANDBY_ENV),
// its imports done, blocked reading fd 3 (a socket pair with this agent). At
// Init it gets one JSON line {env, handler, taskRoot} and becomes what
// `python3 -u bootstrap.py <handler>` started with that env in the task root
// would be (bootstrap.py, _standby). What an interpreter reads only at its
// start (locale, LD_*, PYTHON* but PYTHONPATH, HOME) must be the same in the
// function's env; otherwise Init starts a fresh interpreter as without a pool.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Duplex } from 'node:stream';

/** Read once when an interpreter starts (glibc, Python's startup, site): the function's value must be the standby's. */
const AT_START = /^(PYTHON(?!PATH$)|LD_|MALLOC_|GLIBC_TUNABLES$|LANG$|LC_ALL$|LC_CTYPE$|HOME$)/;

export interface PythonStandby {
  /** The interpreter, for the function, if it fits this env: it has been sent its function. Else undefined (and ended). */
  take(env: Record<string, string>, handler: string, taskRoot: string): Promise<ChildProcess | undefined>;
}

let standby: PythonStandby | undefined;

/** The standby started at boot, once (the one Init takes). */
export function pythonStandby(): PythonStandby | undefined {
  return standby;
}

/** Whether a runtime started with `env` would start exactly as one started with `startEnv`. */
export function sameStart(startEnv: Record<string, string>, env: Record<string, string>): boolean {
  for (const key of new Set([...Object.keys(startEnv), ...Object.keys(env)])) {
    if (AT_START.test(key) && startEnv[key] !== env[key]) return false;
  }
  return true;
}

/** Starts the interpreter; resolves once it waits for its function (or has failed: Init starts one then). */
export function startPythonStandby(file: string, bootstrap: string, startEnv: Record<string, string>): Promise<void> {
  // Python's locale coercion sets LC_CTYPE when it was unset: the standby tells that apart only if it starts unset.
  const env = { ...startEnv };
  delete env.LC_CTYPE;
  let child: ChildProcess;
  try {
    child = spawn(file, ['-u', bootstrap, '--standby'], { cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  } catch {
    return Promise.resolve();
  }
  const control = child.stdio[3] as Duplex;
  control.on('error', () => undefined);
  let taken = false;
  const waiting = new Promise<boolean>((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) done(text.startsWith('standby\n'));
    };
    const done = (ok: boolean): void => {
      control.off('data', onData);
      child.off('exit', onExit);
      resolve(ok);
    };
    const onExit = (): void => done(false);
    control.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onExit);
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const end = (): void => {
    if (alive()) child.kill('SIGKILL');
  };
  // The agent never outlives its host; neither does an interpreter nobody took.
  process.once('exit', () => {
    if (!taken) end();
  });
  standby = {
    async take(fnEnv, handler, taskRoot) {
      standby = undefined;
      const ok = (await waiting) && alive() && sameStart(env, fnEnv);
      if (!ok) {
        end();
        return undefined;
      }
      taken = true;
      control.end(`${JSON.stringify({ env: fnEnv, handler, taskRoot })}\n`);
      return child;
    },
  };
  return waiting.then(() => undefined);
}
