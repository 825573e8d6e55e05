// The manager's side of cluster mode: the host registry and placement with
// real RemoteHosts talking HTTP to small fake workers (fake-worker.ts):
// registration, heartbeats, death by silence, draining, re-registration; and
// RemoteSandbox's invokes: frames, an unreachable host, a body cut mid-invoke,
// Init failures, and the invoke path running elsewhere what never started.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import type { ControlPlane } from '../../src/control/functions.js';
import type { FunctionVersion } from '../../src/control/model.js';
import { InitFailure, type ResponseSink, type SandboxHandle, type SandboxInvoke } from '../../src/host/sandbox.js';
import { Admission } from '../../src/invoke/admission.js';
import { LocalInvokeBackend } from '../../src/invoke/backend.js';
import { InvokeService } from '../../src/invoke/invoke.js';
import { HostCannotRun, PlacementService, type PlacementHost } from '../../src/placement/placement.js';
import { WorkerManager } from '../../src/workers/manager.js';
import { DEAD_AFTER_MS, HEARTBEAT_INTERVAL_MS, type HeartbeatRequest } from '../../src/workers/remote/protocol.js';
import { HostRegistry } from '../../src/workers/remote/registry.js';
import { RemoteHost, SandboxUnreachable } from '../../src/workers/remote/remote-host.js';
import { silentLog, until } from '../async/fakes.js';
import { FakeWorker, fnVersion } from './fake-worker.js';

const SHA_HEX = Buffer.alloc(32, 7).toString('hex');
const beat = (over: Partial<HeartbeatRequest> = {}): HeartbeatRequest => ({ sandboxes: [], ended: [], cachedCode: [], ...over });

interface Cluster {
  placement: PlacementService;
  workers: WorkerManager;
  registry: HostRegistry;
  fakes: FakeWorker[];
  /** Registers a new fake worker; returns it and its host id. */
  join(memoryMb?: number): Promise<{ fake: FakeWorker; hostId: string }>;
}

let open: Cluster[] = [];

async function cluster(): Promise<Cluster> {
  const placement = new PlacementService();
  const workers = new WorkerManager(placement, silentLog, { idleMs: 60_000 });
  const registry = new HostRegistry({ placement, workers, log: silentLog, settings: async () => ({ network: 'none' }) });
  const c: Cluster = {
    placement,
    workers,
    registry,
    fakes: [],
    async join(memoryMb = 1024) {
      const fake = await FakeWorker.start();
      c.fakes.push(fake);
      const { hostId } = registry.register({ url: fake.url, token: fake.token, memoryMb, drivers: ['process'] });
      return { fake, hostId };
    },
  };
  open.push(c);
  return c;
}

afterEach(async () => {
  for (const c of open) {
    await c.workers.shutdown();
    await c.registry.close();
    await Promise.all(c.fakes.map((f) => f.stop()));
  }
  open = [];
});

const invokeReq = (over: Partial<SandboxInvoke> = {}): SandboxInvoke => ({
  requestId: 'req-1',
  payload: Buffer.from('{"a":1}'),
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
  traceId: 'Root=1-00000000-000000000000000000000000',
  tail: false,
  ...over,
});

const hostOf = (c: Cluster, s: SandboxHandle): string | undefined => c.workers.sandboxes().find((x) => x.id === s.identity.id)?.hostId;

const deadCounter = (s: SandboxHandle): { count: number } => {
  const d = { count: 0 };
  s.onDead(() => d.count++);
  return d;
};

describe('registration and heartbeats', () => {
  test('a worker registers: it gets a host id and the protocol timings, and placement knows its memory', async () => {
    const c = await cluster();
    const fake = await FakeWorker.start();
    c.fakes.push(fake);
    const r = c.registry.register({ url: fake.url, token: fake.token, memoryMb: 2048, drivers: ['process'] });
    assert.match(r.hostId, /^host-[0-9a-f]{16}$/);
    assert.equal(r.heartbeatIntervalMs, HEARTBEAT_INTERVAL_MS);
    assert.equal(r.deadAfterMs, DEAD_AFTER_MS);
    assert.deepEqual(c.placement.capacity(), [{ hostId: r.hostId, memoryMb: 2048, reservedMb: 0 }]);
    const [info] = c.registry.list();
    assert.equal(info?.hostId, r.hostId);
    assert.equal(info?.state, 'live');
    assert.equal(info?.url, fake.url);
    assert.equal(info?.local, false);
    // A worker that kept its id across a restart gets the same one back.
    assert.equal(c.registry.register({ hostId: 'kept-id', url: fake.url, token: fake.token, memoryMb: 512, drivers: ['process'] }).hostId, 'kept-id');
  });

  test('heartbeats keep a host live past DEAD_AFTER_MS; its cached code steers placement; unknown hosts get undefined', async () => {
    const c = await cluster();
    const { hostId } = await c.join();
    const started = Date.now();
    while (Date.now() - started < DEAD_AFTER_MS + 1000) {
      assert.deepEqual(c.registry.heartbeat(hostId, beat({ cachedCode: [SHA_HEX] })), { draining: false });
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(c.registry.list()[0]?.state, 'live');
    const placed = c.placement.place(fnVersion('f'));
    assert.ok(placed);
    assert.equal(placed.host.id, hostId);
    assert.equal(placed.host.cachesCode(Buffer.alloc(32, 7).toString('base64')), true);
    assert.equal(placed.host.cachesCode(Buffer.alloc(32, 8).toString('base64')), false);
    placed.release();
    assert.equal(c.registry.heartbeat('no-such-host', beat()), undefined);
  });

  test('a host that misses its heartbeats is declared dead, not before DEAD_AFTER_MS: out of placement, its sandboxes dead', async () => {
    const c = await cluster();
    const { hostId } = await c.join();
    const fn = fnVersion('f');
    const idle = await c.workers.acquire(fn);
    const busy = await c.workers.acquire(fn);
    c.workers.release(idle, true);
    const deaths = [deadCounter(idle.sandbox), deadCounter(busy.sandbox)];
    const lastBeat = Date.now();
    c.registry.heartbeat(hostId, beat());
    await until(() => c.registry.list()[0]?.state === 'dead', 30_000, 'the host to be declared dead');
    const silentMs = Date.now() - lastBeat;
    assert.ok(silentMs >= DEAD_AFTER_MS, `declared dead after ${silentMs} ms`);
    assert.deepEqual(c.placement.capacity(), []);
    assert.equal(c.placement.place(fn), undefined);
    assert.deepEqual(deaths.map((d) => d.count), [1, 1]);
    assert.equal(idle.sandbox.state, 'dead');
    // The Worker Manager forgot both, so nothing of them holds memory or a pool slot.
    assert.deepEqual(c.workers.sandboxes(), []);
    assert.equal(c.registry.list()[0]?.sandboxes, 0);
    // A late heartbeat is told to register again.
    assert.equal(c.registry.heartbeat(hostId, beat()), undefined);
    await assert.rejects(idle.sandbox.invoke(invokeReq()), SandboxUnreachable);
  });

  test('a heartbeat that reports a sandbox ended marks it dead', async () => {
    const c = await cluster();
    const { hostId } = await c.join();
    const lease = await c.workers.acquire(fnVersion('f'));
    c.workers.release(lease, true);
    const dead = deadCounter(lease.sandbox);
    c.registry.heartbeat(hostId, beat({ ended: [{ id: lease.sandbox.identity.id, reason: 'Runtime.OutOfMemory' }] }));
    assert.equal(dead.count, 1);
    assert.equal(lease.sandbox.state, 'dead');
    assert.deepEqual(c.workers.stats().map((s) => s.idle), [0]);
  });

  test('re-registering replaces the host: the old registration’s sandboxes are dead, new ones go to the new address', async () => {
    const c = await cluster();
    const { hostId } = await c.join();
    const lease = await c.workers.acquire(fnVersion('f'));
    c.workers.release(lease, true);
    const dead = deadCounter(lease.sandbox);
    const restarted = await FakeWorker.start();
    c.fakes.push(restarted);
    assert.equal(c.registry.register({ hostId, url: restarted.url, token: restarted.token, memoryMb: 1024, drivers: ['process'] }).hostId, hostId);
    assert.equal(dead.count, 1);
    assert.equal(c.registry.list().length, 1);
    assert.equal(c.registry.list()[0]?.url, restarted.url);
    assert.deepEqual(c.placement.capacity(), [{ hostId, memoryMb: 1024, reservedMb: 0 }]);
    const again = await c.workers.acquire(fnVersion('f'));
    assert.equal(again.cold, true);
    assert.equal(restarted.created.length, 1);
    assert.equal(hostOf(c, again.sandbox), hostId);
  });
});

describe('draining', () => {
  test('a drained host gets no new sandboxes; its idle ones are killed, busy ones finish and are retired', async () => {
    const c = await cluster();
    const a = await c.join();
    const fn = fnVersion('f');
    const idle = await c.workers.acquire(fn);
    const busy = await c.workers.acquire(fn);
    c.workers.release(idle, true);
    const b = await c.join();
    const info = c.registry.drain(a.hostId);
    assert.equal(info?.state, 'draining');
    assert.equal(c.placement.isDraining(a.hostId), true);
    assert.deepEqual(c.registry.heartbeat(a.hostId, beat()), { draining: true });
    assert.deepEqual(c.registry.heartbeat(b.hostId, beat()), { draining: false });
    await until(() => a.fake.deletes.some((d) => d.id === idle.sandbox.identity.id && d.how === 'kill'), 2000, 'the idle sandbox to be killed');
    // Placement prefers hosts caching the code; a drained one is out anyway.
    c.registry.heartbeat(a.hostId, beat({ cachedCode: [SHA_HEX] }));
    for (let i = 0; i < 10; i++) {
      const r = c.placement.place(fn);
      assert.equal(r?.host.id, b.hostId);
      r?.release();
    }
    // The busy sandbox finishes its invoke, then ends instead of going back to the pool.
    const out = await busy.sandbox.invoke(invokeReq());
    assert.equal(out.payload.toString(), 'echo:{"a":1}');
    c.workers.release(busy, out.reusable);
    await until(() => a.fake.deletes.some((d) => d.id === busy.sandbox.identity.id), 2000, 'the busy sandbox to be retired after its invoke');
    assert.equal(c.registry.list().find((h) => h.hostId === a.hostId)?.sandboxes, 0);
    const next = await c.workers.acquire(fn);
    assert.equal(next.cold, true);
    assert.equal(hostOf(c, next.sandbox), b.hostId);
    assert.equal(c.registry.drain('no-such-host'), undefined);
  });

  test('PlacementService.drain: excluded from place() until the host registers again', () => {
    const placement = new PlacementService();
    const host = (id: string): PlacementHost => ({ id, memoryMb: 1024, cachesCode: () => false, createSandbox: () => Promise.reject(new Error('not here')) });
    placement.register(host('x'));
    placement.register(host('y'));
    assert.equal(placement.drain('x'), true);
    assert.equal(placement.drain('nope'), false);
    for (let i = 0; i < 5; i++) assert.equal(placement.place(fnVersion(`f${i}`))?.host.id, 'y');
    assert.equal(placement.drain('y'), true);
    assert.equal(placement.place(fnVersion('g')), undefined);
    placement.register(host('x'));
    assert.equal(placement.isDraining('x'), false);
    assert.equal(placement.place(fnVersion('g'))?.host.id, 'x');
  });
});

describe('remote sandboxes', () => {
  test('an invoke sends its meta, payload and token; START and CHUNK frames reach the sink, RESULT resolves it', async () => {
    const c = await cluster();
    const { fake } = await c.join();
    const lease = await c.workers.acquire(fnVersion('f'));
    assert.deepEqual(fake.created[0]?.settings, { network: 'none' });
    assert.deepEqual(fake.created[0]?.options, {});
    assert.equal(fake.created[0]?.fn.functionName, 'f');
    const plain = await lease.sandbox.invoke(invokeReq({ clientContext: '{"custom":"héllo ✓"}', tail: true }));
    assert.equal(plain.payload.toString(), 'echo:{"a":1}');
    assert.equal(plain.initDurationMs, 5);
    assert.equal(plain.reusable, true);
    assert.equal(lease.sandbox.state, 'ready');
    const sent = fake.invokes[0]!;
    assert.equal(sent.auth, `Bearer ${fake.token}`);
    assert.equal(sent.payload.toString(), '{"a":1}');
    assert.deepEqual(sent.meta, {
      requestId: 'req-1',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
      traceId: 'Root=1-00000000-000000000000000000000000',
      clientContext: '{"custom":"héllo ✓"}',
      tail: true,
      stream: false,
    });
    fake.mode = 'stream';
    const got: string[] = [];
    const sink: ResponseSink = { start: (t) => got.push(`start ${t}`), chunk: (b) => void got.push(b.toString()) };
    const streamed = await lease.sandbox.invoke(invokeReq({ requestId: 'req-2', stream: sink }));
    assert.deepEqual(got, ['start text/plain; charset=utf-8', 'hello ', 'world']);
    assert.equal(streamed.streamed, true);
    assert.equal(streamed.contentType, 'text/plain; charset=utf-8');
    assert.equal(fake.invokes[1]?.meta.stream, true);
  });

  test('SandboxUnreachable when the worker is gone before the invoke: the sandbox is dead and its host skipped', async () => {
    const c = await cluster();
    const { fake } = await c.join();
    const lease = await c.workers.acquire(fnVersion('f'));
    const dead = deadCounter(lease.sandbox);
    await fake.stop();
    // The kept-alive connection's close reaches the client: the invoke must connect anew.
    await new Promise((r) => setTimeout(r, 50));
    const err = await lease.sandbox.invoke(invokeReq()).then(
      () => assert.fail('the invoke should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SandboxUnreachable, String(err));
    assert.equal(err.name, 'ServiceException');
    assert.equal(err.status, 500);
    assert.equal(lease.sandbox.state, 'dead');
    assert.equal(dead.count, 1);
    // The host refused a connection: no new sandboxes go there until it heartbeats again.
    assert.equal(c.placement.place(fnVersion('g')), undefined);
  });

  test('a body cut after START: ServiceException (the invoke had started), the sandbox dead', async () => {
    const c = await cluster();
    const { fake } = await c.join();
    const lease = await c.workers.acquire(fnVersion('f'));
    const dead = deadCounter(lease.sandbox);
    fake.mode = 'cut';
    const got: string[] = [];
    const err = await lease.sandbox.invoke(invokeReq({ stream: { start: (t) => got.push(t), chunk: () => undefined } })).then(
      () => assert.fail('the invoke should fail'),
      (e: unknown) => e as Error & { type?: string; status?: number },
    );
    assert.equal(err instanceof SandboxUnreachable, false);
    assert.equal(err.type, 'ServiceException');
    assert.equal(err.status, 500);
    assert.equal(err.message, 'The worker host running the sandbox went away during the invoke.');
    assert.deepEqual(got, ['text/plain']);
    assert.equal(lease.sandbox.state, 'dead');
    assert.equal(dead.count, 1);
  });

  test('404 from the worker (the sandbox died there): SandboxUnreachable and dead', async () => {
    const c = await cluster();
    const { fake } = await c.join();
    const lease = await c.workers.acquire(fnVersion('f'));
    fake.sandboxes.clear();
    await assert.rejects(lease.sandbox.invoke(invokeReq()), SandboxUnreachable);
    assert.equal(lease.sandbox.state, 'dead');
    // A vanished sandbox says nothing about its host.
    const next = c.placement.place(fnVersion('g'));
    assert.ok(next);
    next.release();
  });

  test('Init failing on the worker (422) rejects the create with the same InitFailure a local host gives', async () => {
    const c = await cluster();
    const { fake } = await c.join();
    fake.initFailure = { errorType: 'Runtime.ImportModuleError', body: Buffer.from('{"errorType":"Runtime.ImportModuleError"}').toString('base64'), logs: 'INIT_REPORT ...\n', durationMs: 12.5 };
    const err = await c.workers.acquire(fnVersion('f')).then(
      () => assert.fail('the acquire should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof InitFailure, String(err));
    assert.equal(err.errorType, 'Runtime.ImportModuleError');
    assert.equal(err.body.toString(), '{"errorType":"Runtime.ImportModuleError"}');
    assert.equal(err.logs, 'INIT_REPORT ...\n');
    assert.equal(err.durationMs, 12.5);
    // Its reservation went back.
    assert.equal(c.placement.capacity()[0]?.reservedMb, 0);
  });

  test('kill() ends the sandbox on the worker (how=kill) and destroy() waits for how=destroy', async () => {
    const c = await cluster();
    const { fake } = await c.join();
    const one = await c.workers.acquire(fnVersion('f'));
    const two = await c.workers.acquire(fnVersion('f'));
    one.sandbox.kill();
    assert.equal(one.sandbox.state, 'dead');
    await until(() => fake.deletes.length === 1, 2000, 'the kill to reach the worker');
    assert.deepEqual(fake.deletes[0], { id: one.sandbox.identity.id, how: 'kill' });
    await two.sandbox.destroy();
    assert.deepEqual(fake.deletes[1], { id: two.sandbox.identity.id, how: 'destroy' });
  });

  test('a RemoteHost registered on its own is a PlacementHost', () => {
    const host = new RemoteHost({ id: 'h', url: 'http://127.0.0.1:1', token: 't', memoryMb: 256, drivers: ['process'], settings: async () => ({}) });
    const asPlacement: PlacementHost = host;
    assert.equal(asPlacement.available?.(), true);
    return host.close();
  });
});

describe('sandbox drivers', () => {
  test('a function whose kindling:sandbox tag asks for a driver a host lacks is placed on one that has it, or refused', async () => {
    const placement = new PlacementService();
    const workers = new WorkerManager(placement, silentLog, { idleMs: 60_000 });
    const registry = new HostRegistry({ placement, workers, log: silentLog, settings: async () => ({ driver: 'microvm' }) });
    const plain = await FakeWorker.start();
    const vms = await FakeWorker.start();
    try {
      const a = registry.register({ url: plain.url, token: plain.token, memoryMb: 1024, drivers: ['process'] });
      const b = registry.register({ url: vms.url, token: vms.token, memoryMb: 1024, drivers: ['microvm', 'process'] });
      // Spreading would put the second sandbox on the other host: the driver keeps both on b.
      const leases = [await workers.acquire(fnVersion('vm')), await workers.acquire(fnVersion('vm'))];
      for (const l of leases) assert.equal(workers.sandboxes().find((x) => x.id === l.sandbox.identity.id)?.hostId, b.hostId);
      assert.equal(plain.created.length, 0);
      // Without the host that has it, the invoke is refused with why.
      registry.drain(b.hostId);
      const err = await workers.acquire(fnVersion('vm')).then(
        () => undefined,
        (e: Error & { name?: string }) => e,
      );
      assert.ok(err, 'placed on a host without the driver');
      assert.match(err.message, new RegExp(`${a.hostId} runs process, not 'microvm'`));
      assert.equal(plain.created.length, 0);
    } finally {
      await workers.shutdown();
      await registry.close();
      await Promise.all([plain.stop(), vms.stop()]);
    }
  });

  test('a RemoteHost refuses a driver it does not run before calling the worker', async () => {
    const host = new RemoteHost({ id: 'h', url: 'http://127.0.0.1:1', token: 't', memoryMb: 256, drivers: ['process'], settings: async () => ({ driver: 'namespace' }) });
    try {
      await assert.rejects(host.createSandbox(fnVersion('f')), (e: unknown) => e instanceof HostCannotRun && e.hostId === 'h');
    } finally {
      await host.close();
    }
  });
});

describe('the invoke path', () => {
  const control = (fn: FunctionVersion): ControlPlane =>
    Object.assign(new EventEmitter(), {
      account: { region: 'us-east-1', accountId: '000000000000' },
      resolveTarget: async () => ({}),
      getVersionNumber: async () => fn,
    }) as unknown as ControlPlane;

  const invokerOver = (cp: ControlPlane, workers: WorkerManager): InvokeService =>
    new InvokeService(cp, new LocalInvokeBackend(workers, new Admission(cp, async () => [], 1000)));

  test('an invoke whose warm sandbox is on an unreachable host runs on another host', async () => {
    const c = await cluster();
    const fn = fnVersion('f');
    const a = await c.join();
    const warm = await c.workers.acquire(fn);
    c.workers.release(warm, true);
    const b = await c.join();
    await a.fake.stop();
    const invoker = invokerOver(control(fn), c.workers);
    const out = await invoker.invoke({ ref: { name: 'f' }, requestId: 'r-1', payload: Buffer.from('{}'), tail: false });
    assert.equal(out.payload.toString(), 'echo:{}');
    assert.equal(out.cold, true);
    assert.equal(b.fake.invokes.length, 1);
    assert.equal(warm.sandbox.state, 'dead');
  });

  test('an invoke cut mid-way is not run again: the caller gets the ServiceException', async () => {
    const c = await cluster();
    const fn = fnVersion('f');
    const a = await c.join();
    const b = await c.join();
    a.fake.mode = 'cut';
    b.fake.mode = 'cut';
    const invoker = invokerOver(control(fn), c.workers);
    await assert.rejects(invoker.invoke({ ref: { name: 'f' }, requestId: 'r-2', payload: Buffer.from('{}'), tail: false }), {
      name: 'ServiceException',
      message: 'The worker host running the sandbox went away during the invoke.',
    });
    assert.equal(a.fake.invokes.length + b.fake.invokes.length, 1);
  });

  test('at most 3 sandboxes are tried when every host is unreachable', async () => {
    const c = await cluster();
    const fn = fnVersion('f');
    const joined = [await c.join(), await c.join(), await c.join(), await c.join()];
    // A warm sandbox on each host, then every host goes away.
    const leases = await Promise.all(joined.map(() => c.workers.acquire(fn)));
    for (const l of leases) c.workers.release(l, true);
    await Promise.all(joined.map((j) => j.fake.stop()));
    const invoker = invokerOver(control(fn), c.workers);
    await assert.rejects(invoker.invoke({ ref: { name: 'f' }, requestId: 'r-3', payload: Buffer.from('{}'), tail: false }), SandboxUnreachable);
    assert.equal(leases.filter((l) => l.sandbox.state === 'dead').length, 3);
  });
});
