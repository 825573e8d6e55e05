// A pooled python agent's interpreter, started ahead of its function
// (python-standby.ts, bootstrap.py --standby): once it gets its function it is
// what a fresh `python3 -u bootstrap.py <handler>` with the function's
// environment would be (environment, sys.path, working folder, argv, time zone,
// encodings, open files, flags, log format, init errors), and a function whose
// environment changes what Python reads at startup gets a fresh interpreter.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { FrameType } from '../../src/guest/protocol.js';
import { Agent, fixture, lambdaEnv, newRequestId, removeFixture } from './harness.js';

const hasPython = spawnSync('python3', ['-c', 'pass']).status === 0;
// The interpreter itself (not a wrapper such as pyenv's shim, which adds to the environment of what it starts).
const PYTHON = hasPython ? spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim() : '';
const dirs: string[] = [];
after(() => dirs.forEach(removeFixture));

/** What the host expects a python function's runtime to start with (extendableEnvironment, at these paths). */
const START_ENV = {
  PATH: '/usr/local/bin:/usr/bin/:/bin:/opt/bin',
  LANG: 'en_US.UTF-8',
  TZ: ':UTC',
  LD_LIBRARY_PATH: '/lib64:/usr/lib64:/var/runtime:/var/task:/var/task/lib:/opt/lib',
  PYTHONPATH: '/opt/python',
};

const REPORT = `
import locale
import logging
import os
import sys
import time

logging.getLogger().warning("loaded")


def handler(event, context):
    if event.get("cmdline"):
        return {"cmdline": open("/proc/self/cmdline").read().split("\\0")}
    env = dict(os.environ)
    env.pop("AWS_LAMBDA_RUNTIME_API")
    logging.getLogger().warning("invoked %s", "now")
    return {
        "env": env,
        "environ_keys": list(os.environ.keys()),
        "path": sys.path,
        "cwd": os.getcwd(),
        "argv": sys.argv,
        "tz": [time.tzname, time.timezone, time.strftime("%Z", time.localtime(0))],
        "fds": sorted(os.listdir("/proc/self/fd")),
        "stdin": os.readlink("/proc/self/fd/0"),
        "enc": [sys.getfilesystemencoding(), sys.stdout.encoding, sys.stdout.errors, locale.setlocale(locale.LC_CTYPE)],
        "flags": list(sys.flags),
        "bytecode": sys.dont_write_bytecode,
        "text": "caf\\u00e9",
    }
`;

function code(files: Record<string, string>): string {
  const d = fixture(files);
  dirs.push(d);
  return d;
}

/** An agent as a python pool starts it: KINDLING_STANDBY=python, the expected environment; resolves at its Standby frame. */
async function standbyAgent(startEnv: Record<string, string> = START_ENV): Promise<Agent> {
  const agent = new Agent({ KINDLING_PYTHON: PYTHON, KINDLING_STANDBY: 'python', KINDLING_STANDBY_ENV: JSON.stringify(startEnv) });
  const { frame } = await agent.until([FrameType.Standby, FrameType.Exit]);
  assert.equal(frame.type, FrameType.Standby);
  return agent;
}

interface Run {
  ready: string;
  payload: string;
  logs: string;
  cmdline: string[];
}

/** Init with handler and env, one invoke (fixed request id, so runs compare), and the interpreter's command line. */
async function runOn(agent: Agent, taskRoot: string, env: Record<string, string>, requestId: string): Promise<Run> {
  try {
    agent.init({ family: 'python', handler: 'report.handler', taskRoot, env: lambdaEnv(taskRoot, env) });
    const ready = await agent.ready();
    const { result, logs } = await agent.invoke({}, { requestId, traceId: 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1' });
    assert.equal(result.type, FrameType.Response, result.payload.toString());
    const cmd = await agent.invoke({ cmdline: true });
    const cmdline = (JSON.parse(cmd.result.payload.toString()) as { cmdline: string[] }).cmdline;
    return { ready: ready.logs, payload: result.payload.toString(), logs, cmdline };
  } finally {
    await agent.close();
  }
}

const timeless = (logs: string): string => logs.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'T');

/** The same function on an interpreter started ahead and on a fresh one: identical, and which one ran. */
async function compare(env: Record<string, string>, startEnv?: Record<string, string>): Promise<{ standby: Run; fresh: Run }> {
  const taskRoot = code({ 'report.py': REPORT, 'lib/.keep': '' });
  const requestId = newRequestId();
  const [standby, fresh] = await Promise.all([
    standbyAgent(startEnv).then((a) => runOn(a, taskRoot, env, requestId)),
    runOn(new Agent({ KINDLING_PYTHON: PYTHON }), taskRoot, env, requestId),
  ]);
  assert.equal(standby.payload, fresh.payload);
  assert.equal(timeless(standby.ready), timeless(fresh.ready));
  assert.equal(timeless(standby.logs), timeless(fresh.logs));
  assert.equal(fresh.cmdline.includes('--standby'), false);
  return { standby, fresh };
}

describe('python interpreter started ahead', { skip: !hasPython && 'python3 is not installed' }, () => {
  it("becomes the function as a fresh interpreter with the function's environment would", async () => {
    const { standby } = await compare({ ...START_ENV, GREETING: 'hello', AWS_EXECUTION_ENV: 'AWS_Lambda_python3.11' });
    assert.ok(standby.cmdline.includes('--standby'), 'the interpreter started ahead was not used');
    const out = JSON.parse(standby.payload) as { env: Record<string, string>; cwd: string; argv: string[]; stdin: string; text: string };
    assert.equal(out.env.GREETING, 'hello');
    assert.equal(out.env.KINDLING_STANDBY, undefined);
    assert.equal(out.env.KINDLING_STANDBY_ENV, undefined);
    assert.equal(out.argv[1], 'report.handler');
    assert.equal(out.stdin, '/dev/null');
    assert.ok(standby.payload.includes('caf\\u00e9'), 'python3.11 escapes non-ASCII');
  });

  it('re-applies what it can: PYTHONPATH, TZ, the log format and level, non-ASCII output', async () => {
    const env = {
      ...START_ENV,
      PYTHONPATH: 'lib:/var/nowhere::/opt/python:lib',
      TZ: 'America/New_York',
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      AWS_LAMBDA_LOG_LEVEL: 'ERROR',
      AWS_EXECUTION_ENV: 'AWS_Lambda_python3.12',
    };
    const { standby } = await compare(env);
    assert.ok(standby.cmdline.includes('--standby'), 'the interpreter started ahead was not used');
    const out = JSON.parse(standby.payload) as { path: string[]; cwd: string; tz: unknown[] };
    assert.deepEqual(out.path.slice(0, 5).map((p) => p.replace(/python3\.\d+/, 'python3.x')), [out.cwd, '/opt/python/lib/python3.x/site-packages', '/opt/python', `${out.cwd}/lib`, '/var/nowhere']);
    assert.equal((out.tz[0] as string[])[0], 'EST');
    assert.ok(standby.payload.includes('café'), 'python3.12 writes non-ASCII as it is');
    // AWS_LAMBDA_LOG_LEVEL=ERROR: the handler's warnings are not logged.
    assert.equal(standby.logs, '');
  });

  it('a function whose environment changes what Python reads at startup gets a fresh interpreter', async () => {
    const extras: Record<string, string>[] = [{ PYTHONHASHSEED: '0' }, { LANG: 'C.UTF-8' }, { LD_LIBRARY_PATH: '/var/task/native' }, { PYTHONDONTWRITEBYTECODE: '1' }];
    for (const extra of extras) {
      const { standby } = await compare({ ...START_ENV, ...extra });
      assert.equal(standby.cmdline.includes('--standby'), false, `${JSON.stringify(extra)}: the interpreter started ahead ran`);
    }
  });

  it('reports handler import errors as before: InitError, then Exit 1', async () => {
    const taskRoot = code({ 'ok.py': 'x = 1\n', 'raises.py': 'raise RuntimeError("at import")\n' });
    for (const handler of ['nope.handler', 'ok.handler', 'raises.handler', 'nodot']) {
      const results = await Promise.all(
        [await standbyAgent(), new Agent({ KINDLING_PYTHON: PYTHON })].map(async (agent) => {
          agent.init({ family: 'python', handler, taskRoot, env: lambdaEnv(taskRoot, START_ENV) });
          const { frame, logs } = await agent.until([FrameType.InitError, FrameType.Ready]);
          const exit = await agent.until([FrameType.Exit]);
          await agent.exited;
          return { type: frame.type, meta: frame.meta, body: frame.payload.toString(), logs: timeless(logs), exit: exit.frame.meta };
        }),
      );
      assert.equal(results[0]!.type, FrameType.InitError, handler);
      assert.deepEqual(results[0], results[1], handler);
      assert.deepEqual(results[0]!.exit, { code: 1, signal: null });
    }
    assert.match(
      JSON.stringify(
        await (async () => {
          const agent = await standbyAgent();
          agent.init({ family: 'python', handler: 'nope.handler', taskRoot, env: lambdaEnv(taskRoot, START_ENV) });
          const { frame } = await agent.until([FrameType.InitError]);
          await agent.close();
          return frame.meta;
        })(),
      ),
      /Runtime\.ImportModuleError/,
    );
  });

  it('an interpreter that died while waiting is replaced by a fresh one at Init', async () => {
    const taskRoot = code({ 'report.py': REPORT });
    const agent = await standbyAgent();
    const python = spawnSync('pgrep', ['-P', String(agent.child.pid), '-f', 'bootstrap.py --standby'], { encoding: 'utf8' }).stdout.trim();
    assert.match(python, /^\d+$/);
    process.kill(Number(python), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    const run = await runOn(agent, taskRoot, START_ENV, newRequestId());
    assert.equal(run.cmdline.includes('--standby'), false);
    assert.equal((JSON.parse(run.payload) as { argv: string[] }).argv[1], 'report.handler');
  });
});
