// Python functions on the worker host's pool, namespace driver: a pooled
// sandbox's interpreter, started ahead, serves its function with the function's
// environment, sys.path and working folder; handler import errors are Lambda's
// as before; another function on a fresh pooled sandbox sees nothing of the
// first; on the process driver (whose task root differs per function) and
// without the pool, python cold starts work as before.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FunctionVersion } from '../../src/control/model.js';
import type { WorkerHost } from '../../src/host/host.js';
import { InitFailure, type Sandbox } from '../../src/host/sandbox.js';
import type { SandboxDriver } from '../../src/sandbox/driver.js';
import { NamespaceDriver } from '../../src/sandbox/namespace-driver.js';
import { ProcessDriver } from '../../src/sandbox/process-driver.js';
import { poolHosts, pooledColdStart, seededPool } from '../helpers/pool-hosts.js';
import { skipReason } from '../sandbox/helpers.js';

const skip = skipReason();

/** Reports what the function sees of itself; `state` is what it left behind in its sandbox. */
const REPORTER = (marker: string) => `
import os
import sys

seen = []


def handler(event, context):
    if event.get("leave"):
        seen.append(event["leave"])
        os.environ["LEFT"] = event["leave"]
        open("/tmp/left", "w").write(event["leave"])
    try:
        tmp = open("/tmp/left").read()
    except OSError:
        tmp = None
    return {
        "marker": ${JSON.stringify(marker)},
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "path": sys.path,
        "argv": sys.argv,
        "cmdline": open("/proc/self/cmdline").read().split("\\0"),
        "task": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"])),
        "seen": seen,
        "tmp": tmp,
    }
`;

const hosts = poolHosts('pypool');
const hostOn = hosts.hostOn;

let n = 0;
async function fnWith(marker: string, extra: Partial<FunctionVersion> = {}, files: Record<string, string> = { 'index.py': REPORTER(marker) }): Promise<FunctionVersion> {
  return hosts.packaged(`py-${marker}-${++n}`, marker, files, { runtime: 'python3.12', ...extra });
}

async function run(s: Sandbox, event: unknown = {}): Promise<any> {
  const r = await s.invoke({ requestId: `r${++n}`, payload: Buffer.from(JSON.stringify(event)), invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:x', traceId: 'Root=1-0-0', tail: false });
  assert.equal(r.functionError, undefined, r.payload.toString());
  return JSON.parse(r.payload.toString());
}

async function initFailure(host: WorkerHost, fn: FunctionVersion): Promise<InitFailure> {
  try {
    const s = await host.createSandbox(fn);
    await s.destroy();
  } catch (err) {
    assert.ok(err instanceof InitFailure, String(err));
    return err;
  }
  throw new Error('Init did not fail');
}

describe('python on the sandbox pool, namespace driver', { skip }, () => {
  // The key's first cold start is never pooled: it makes the key known.
  const pool = seededPool(hosts, () => new NamespaceDriver({ defaultNetwork: 'none' }), () => fnWith('seed'));
  const started = pool.started;
  let host: WorkerHost;
  before(() => {
    host = pool.host();
  });

  test("the interpreter started ahead serves its function with the function's environment, sys.path and folder", async () => {
    const fn = await fnWith('alpha', { environment: { GREETING: 'hello', PYTHONPATH: '/var/task/vendor' } });
    const s = await pooledColdStart(host, fn);
    started.push(s);
    const out = await run(s);
    assert.ok(out.cmdline.includes('--standby'), `not the interpreter started ahead: ${out.cmdline.join(' ')}`);
    assert.equal(out.marker, 'alpha');
    assert.deepEqual(out.task, ['alpha.txt', 'index.py']);
    assert.equal(out.cwd, '/var/task');
    assert.deepEqual(out.argv, ['/var/runtime/python/bootstrap.py', 'index.handler']);
    assert.equal(out.env.GREETING, 'hello');
    assert.equal(out.env.AWS_LAMBDA_FUNCTION_NAME, fn.functionName);
    assert.equal(out.env.AWS_EXECUTION_ENV, 'AWS_Lambda_python3.12');
    assert.equal(out.env.LAMBDA_TASK_ROOT, '/var/task');
    assert.equal(out.env.AWS_LAMBDA_LOG_STREAM_NAME, s.identity.logStream);
    assert.equal(out.env._HANDLER, 'index.handler');
    assert.equal(out.env.KINDLING_STANDBY, undefined);
    assert.equal(out.env.KINDLING_STANDBY_ENV, undefined);
    assert.equal(out.env.TZ, ':UTC');
    const version = /python3\.\d+/.exec(out.path[1])?.[0];
    assert.deepEqual(out.path.slice(0, 4), ['/var/task', `/opt/python/lib/${version}/site-packages`, '/opt/python', '/var/task/vendor']);
  });

  test('a handler that cannot be imported gives the same Lambda error as without the pool', async () => {
    const fn = await fnWith('missing', { handler: 'nope.handler' });
    await host.poolSettled(fn);
    const pooled = await initFailure(host, fn);
    const fresh = await initFailure(await noPoolHost(), fn);
    assert.equal(pooled.errorType, 'Runtime.ImportModuleError');
    assert.equal(pooled.errorType, fresh.errorType);
    assert.deepEqual(JSON.parse(pooled.body.toString()), JSON.parse(fresh.body.toString()));
    assert.equal(JSON.parse(pooled.body.toString()).errorMessage, "Unable to import module 'nope': No module named 'nope'");
  });

  test("a second function on a fresh pooled sandbox sees nothing of the first's", async () => {
    const a = await pooledColdStart(host, await fnWith('one'));
    started.push(a);
    assert.deepEqual((await run(a, { leave: 'one-was-here' })).seen, ['one-was-here']);
    const b = await pooledColdStart(host, await fnWith('two'));
    started.push(b);
    const out = await run(b);
    assert.ok(out.cmdline.includes('--standby'));
    assert.equal(out.marker, 'two');
    assert.deepEqual(out.task, ['index.py', 'two.txt']);
    assert.deepEqual(out.seen, []);
    assert.equal(out.tmp, null);
    assert.equal(out.env.LEFT, undefined);
    assert.notEqual(a.pid, b.pid);
  });

  test('a function whose environment changes what Python reads at startup runs on a fresh interpreter', async () => {
    const s = await pooledColdStart(host, await fnWith('seeded', { environment: { PYTHONHASHSEED: '0' } }));
    started.push(s);
    const out = await run(s);
    assert.equal(out.cmdline.includes('--standby'), false);
    assert.equal(out.env.PYTHONHASHSEED, '0');
    assert.equal(out.marker, 'seeded');
  });

  let noPool: WorkerHost | undefined;
  async function noPoolHost(): Promise<WorkerHost> {
    noPool ??= await hostOn(new NamespaceDriver({ defaultNetwork: 'none' }), false);
    return noPool;
  }
});

describe('python without the interpreter started ahead', () => {
  test('on the process driver a pooled python sandbox starts its interpreter at Init', async () => {
    const host = await hostOn(new ProcessDriver(), true);
    const seed = await host.createSandbox(await fnWith('p-seed'));
    await seed.destroy();
    const s = await pooledColdStart(host, await fnWith('p-pooled', { environment: { GREETING: 'hi' } }));
    const out = await run(s);
    assert.equal(out.marker, 'p-pooled');
    assert.equal(out.cwd, out.env.LAMBDA_TASK_ROOT);
    assert.equal(out.env.GREETING, 'hi');
    assert.equal(out.cmdline.includes('--standby'), false);
    await s.destroy();
  });

  test('with the pool off, python cold starts launch and work', async () => {
    const host = await hostOn(new ProcessDriver(), false);
    const s = await host.createSandbox(await fnWith('off'));
    assert.equal(s.startup?.pooled, false);
    assert.equal((await run(s)).marker, 'off');
    await s.destroy();
  });
});
