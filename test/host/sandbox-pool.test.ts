// The worker host's pool of generic sandboxes, on the namespace driver: a
// function's first invoke runs on a pooled sandbox, which gets that function's
// code, environment, task root and memory limit and nothing of another's; the
// pool refills; a pooled sandbox that died is never a function's; without the
// pool (or with a driver that cannot pool) cold starts launch as before.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FunctionVersion } from '../../src/control/model.js';
import type { WorkerHost } from '../../src/host/host.js';
import type { Sandbox } from '../../src/host/sandbox.js';
import { cgroupDirs } from '../../src/sandbox/cgroup.js';
import { GUEST_INTERRUPT_BUDGET, type SandboxDriver } from '../../src/sandbox/driver.js';
import { NamespaceDriver } from '../../src/sandbox/namespace-driver.js';
import { ProcessDriver } from '../../src/sandbox/process-driver.js';
import { poolHosts, pooledColdStart, seededPool } from '../helpers/pool-hosts.js';
import { skipReason } from '../sandbox/helpers.js';

const skip = skipReason();

/** Reports what the function sees of itself: its code, environment, folder, flags. */
const REPORTER = (marker: string) => `
import fs from 'node:fs';
export const handler = async (event) => {
  if (event.read) { try { return { read: fs.readFileSync(event.read, 'utf8') }; } catch (e) { return { read: null, code: e.code }; } }
  let write;
  try { fs.writeFileSync('/var/task/x', 'x'); write = 'ok'; } catch (e) { write = e.code; }
  return { marker: ${JSON.stringify(marker)}, env: process.env, cwd: process.cwd(), task: fs.readdirSync(process.env.LAMBDA_TASK_ROOT).sort(), execArgv: process.execArgv, argv: process.argv.slice(1), write };
};
`;

const hosts = poolHosts('pool');
const hostOn = hosts.hostOn;

let n = 0;
async function fnWith(marker: string, extra: Partial<FunctionVersion> = {}): Promise<FunctionVersion> {
  return hosts.packaged(`fn-${marker}-${++n}`, marker, { 'index.mjs': REPORTER(marker) }, extra);
}

async function run(s: Sandbox, event: unknown = {}): Promise<any> {
  const r = await s.invoke({ requestId: `r${++n}`, payload: Buffer.from(JSON.stringify(event)), invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:x', traceId: 'Root=1-0-0', tail: false });
  assert.equal(r.functionError, undefined, r.payload.toString());
  return JSON.parse(r.payload.toString());
}

/** A cold start of fn, after the pool has one of its key ready. */
const memoryLimitMb = (s: Sandbox): number => {
  const dirs = cgroupDirs(`${process.pid}-${s.identity.id}`);
  const v1 = dirs.find((d) => d.includes('/memory/'));
  const [memDir, file] = v1 ? [v1, 'memory.limit_in_bytes'] : [dirs[0]!, 'memory.max'];
  return Number(readFileSync(join(memDir, file), 'utf8')) / 1048576;
};

describe('sandbox pool, namespace driver', { skip }, () => {
  // The key's first cold start is never pooled: it makes the key known.
  const pool = seededPool(hosts, () => new NamespaceDriver({ defaultNetwork: 'none' }), () => fnWith('seed'));
  const started = pool.started;
  let host: WorkerHost;
  before(() => {
    host = pool.host();
  });

  test("a first invoke runs on a pooled sandbox with the function's code, environment, task root and memory limit", async () => {
    const fn = await fnWith('alpha');
    const s = await pooledColdStart(host, fn);
    started.push(s);
    const out = await run(s);
    assert.equal(out.marker, 'alpha');
    assert.deepEqual(out.task, ['alpha.txt', 'index.mjs']);
    assert.equal(out.cwd, '/var/task');
    assert.equal(out.env.LAMBDA_TASK_ROOT, '/var/task');
    assert.equal(out.env.AWS_LAMBDA_FUNCTION_NAME, fn.functionName);
    assert.equal(out.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '128');
    assert.equal(out.env.AWS_LAMBDA_LOG_STREAM_NAME, s.identity.logStream);
    // Nothing of the pooled start is left in the function's environment or arguments.
    assert.equal(out.env.KINDLING_STANDBY, undefined);
    assert.deepEqual(out.execArgv, ['--max-old-space-size=115', `--interrupt-budget=${GUEST_INTERRUPT_BUDGET}`]);
    assert.deepEqual(out.argv, ['/var/runtime/agent.js']);
    assert.equal(out.write, 'EROFS');
    assert.equal(memoryLimitMb(s), 128);
  });

  test('a pooled sandbox of another memory size is never used: the key has its own pool', async () => {
    const big = await fnWith('big', { memorySize: 256 });
    const first = await host.createSandbox(big);
    started.push(first);
    assert.equal(first.startup?.pooled, false);
    const second = await pooledColdStart(host, await fnWith('big2', { memorySize: 256 }));
    started.push(second);
    assert.equal(memoryLimitMb(second), 256);
    assert.deepEqual((await run(second)).execArgv, ['--max-old-space-size=230', `--interrupt-budget=${GUEST_INTERRUPT_BUDGET}`]);
  });

  test("two functions never share a sandbox or see each other's code", async () => {
    const a = await pooledColdStart(host, await fnWith('one'));
    const b = await pooledColdStart(host, await fnWith('two'));
    started.push(a, b);
    assert.notEqual(a.identity.id, b.identity.id);
    assert.notEqual(a.pid, b.pid);
    const [outA, outB] = [await run(a), await run(b)];
    assert.deepEqual([outA.marker, outB.marker], ['one', 'two']);
    assert.deepEqual(outA.task, ['index.mjs', 'one.txt']);
    assert.deepEqual(outB.task, ['index.mjs', 'two.txt']);
    assert.deepEqual(await run(a, { read: '/var/task/two.txt' }), { read: null, code: 'ENOENT' });
  });

  test('the pool refills after a take', async () => {
    const fn = await fnWith('refill');
    const s = await pooledColdStart(host, fn);
    started.push(s);
    await host.poolSettled(fn);
    const key = host.poolStats().find((k) => k.key.startsWith('namespace/nodejs/128/'))!;
    assert.ok(key.ready >= 1, JSON.stringify(key));
    assert.ok(!key.pids.includes(s.pid), 'the taken sandbox is still in the pool');
  });

  test("the refill waits for the cold start's first invoke to be answered (a launch blocks the host's event loop)", async () => {
    const fn = await fnWith('refill-after');
    const s = await pooledColdStart(host, fn);
    started.push(s);
    const key = () => host.poolStats().find((k) => k.key.startsWith('namespace/nodejs/128/'))!;
    assert.equal(key().starting, 0, `at Ready, before the first invoke: ${JSON.stringify(key())}`);
    assert.equal((await run(s)).marker, 'refill-after');
    const until = Date.now() + 10_000;
    while (key().starting + key().ready === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.ok(key().starting + key().ready >= 1, `refilled after the invoke: ${JSON.stringify(key())}`);
  });

  test('a pooled sandbox that died is not handed out', async () => {
    const fn = await fnWith('after-death');
    await host.poolSettled(fn);
    const key = host.poolStats().find((k) => k.key.startsWith('namespace/nodejs/128/'))!;
    for (const pid of key.pids) process.kill(pid, 'SIGKILL');
    // Once their ends are seen (a death in the instant of a take is caught after attach instead).
    const until = Date.now() + 10_000;
    const stillPooled = () => (host.poolStats().find((k) => k.key === key.key)?.pids ?? []).filter((p) => key.pids.includes(p));
    while (stillPooled().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(stillPooled(), []);
    const s = await host.createSandbox(fn);
    started.push(s);
    assert.ok(!key.pids.includes(s.pid));
    assert.equal((await run(s)).marker, 'after-death');
  });
});

describe('sandbox pool, off or not possible', () => {
  test('with the pool disabled, cold starts launch and work', async () => {
    const host = await hostOn(new ProcessDriver(), false);
    for (const m of ['off1', 'off2']) {
      const s = await host.createSandbox(await fnWith(m));
      assert.equal(s.startup?.pooled, false);
      assert.equal((await run(s)).marker, m);
      await s.destroy();
    }
    assert.deepEqual(host.poolStats(), []);
  });

  test('a driver that cannot start generic sandboxes (as microvm) is never pooled', async () => {
    const real = new ProcessDriver();
    const noGeneric: SandboxDriver = { name: real.name, enforcesMemory: real.enforcesMemory, launch: (spec) => real.launch(spec), cleanup: () => real.cleanup() };
    const host = await hostOn(noGeneric, true);
    for (const m of ['vm1', 'vm2']) {
      const s = await host.createSandbox(await fnWith(m));
      assert.equal(s.startup?.pooled, false);
      assert.equal((await run(s)).marker, m);
      await s.destroy();
    }
    assert.equal(host.poolStats().every((k) => k.pids.length === 0), true);
  });

  test('on the process driver a pooled agent gets its code folder at Init', async () => {
    const host = await hostOn(new ProcessDriver(), true);
    const seed = await host.createSandbox(await fnWith('p-seed'));
    await seed.destroy();
    const fn = await fnWith('p-pooled');
    const s = await pooledColdStart(host, fn);
    const out = await run(s);
    assert.equal(out.marker, 'p-pooled');
    assert.equal(out.cwd, out.env.LAMBDA_TASK_ROOT);
    assert.deepEqual(out.task, ['index.mjs', 'p-pooled.txt']);
    assert.equal(out.env.KINDLING_STANDBY, undefined);
    await s.destroy();
  });
});
