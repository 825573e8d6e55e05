// The manager's side of the lease protocol (src/workers/remote/frontends.ts)
// over a real Worker Manager, Admission ledger and HostRegistry with fake
// worker hosts: one admission per invocation across every frontend, warm
// sandboxes shared between frontends, the manager's own host never leased,
// and a dead frontend's or a lost return's sandboxes and concurrency taken back.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, test } from 'node:test';
import type { ControlPlane } from '../../src/control/functions.js';
import { Admission } from '../../src/invoke/admission.js';
import { PlacementService } from '../../src/placement/placement.js';
import { WorkerManager } from '../../src/workers/manager.js';
import { FrontendRegistry } from '../../src/workers/remote/frontends.js';
import { FRONTEND_DEAD_AFTER_MS } from '../../src/workers/remote/lease-protocol.js';
import { HostRegistry } from '../../src/workers/remote/registry.js';
import { silentLog, until } from '../async/fakes.js';
import { FakeWorker, fnVersion } from './fake-worker.js';

interface Setup {
  frontends: FrontendRegistry;
  hosts: HostRegistry;
  workers: WorkerManager;
  admission: Admission;
  fakes: FakeWorker[];
  join(hostId?: string): Promise<FakeWorker>;
}

let open: Setup[] = [];

afterEach(async () => {
  for (const s of open) {
    s.frontends.close();
    await s.workers.shutdown();
    await s.hosts.close();
    await Promise.all(s.fakes.map((f) => f.stop()));
  }
  open = [];
});

async function setup(o: { reserved?: Record<string, number>; localHostId?: string } = {}): Promise<Setup> {
  const placement = new PlacementService();
  const workers = new WorkerManager(placement, silentLog, { idleMs: 60_000 });
  const hosts = new HostRegistry({ placement, workers, log: silentLog, settings: async () => ({}) });
  const control = new EventEmitter() as unknown as ControlPlane;
  const admission = new Admission(control, async () => Object.entries(o.reserved ?? {}).map(([functionName, reserved]) => ({ functionName, reserved })), 1000);
  const frontends = new FrontendRegistry({
    workers,
    admission,
    log: silentLog,
    ...(o.localHostId ? { localHostId: o.localHostId } : {}),
    provisioning: { provision: () => undefined, unprovision: () => undefined, statuses: () => ({}), reload: async () => undefined },
  });
  const s: Setup = {
    frontends,
    hosts,
    workers,
    admission,
    fakes: [],
    async join(hostId) {
      const fake = await FakeWorker.start();
      s.fakes.push(fake);
      hosts.register({ ...(hostId ? { hostId } : {}), url: fake.url, token: fake.token, memoryMb: 1024, drivers: ['process'] });
      return fake;
    },
  };
  open.push(s);
  return s;
}

const url = 'http://frontend.test:9000';

test('a grant names the worker host and its token; a returned sandbox is the warm one of another frontend', async () => {
  const s = await setup();
  const fake = await s.join();
  const a = s.frontends.register({ url }).frontendId;
  const b = s.frontends.register({ url }).frontendId;
  const fn = fnVersion('f');
  const first = await s.frontends.acquire(a, { invocationId: 'i-1', fn });
  assert.equal(first.cold, true);
  assert.equal(first.host.url, fake.url);
  assert.equal(first.host.token, fake.token);
  assert.ok(fake.sandboxes.has(first.identity.id));
  s.frontends.return(a, [{ leaseId: first.leaseId, reusable: true }], ['i-1']);
  const second = await s.frontends.acquire(b, { invocationId: 'i-2', fn });
  assert.equal(second.cold, false);
  assert.equal(second.identity.id, first.identity.id);
  assert.equal(fake.created.length, 1);
});

test('reserved concurrency is counted once per invocation, across frontends', async () => {
  const s = await setup({ reserved: { f: 1 } });
  await s.join();
  const a = s.frontends.register({ url }).frontendId;
  const b = s.frontends.register({ url }).frontendId;
  const fn = fnVersion('f');
  const lease = await s.frontends.acquire(a, { invocationId: 'i-1', fn });
  await assert.rejects(s.frontends.acquire(b, { invocationId: 'i-2', fn }), { name: 'TooManyRequestsException' });
  // A second attempt of the same invocation (its sandbox was unreachable) is not a second admission.
  const retry = await s.frontends.acquire(a, { invocationId: 'i-1', fn, returns: [{ leaseId: lease.leaseId, reusable: false }] });
  assert.notEqual(retry.identity.id, lease.identity.id);
  assert.equal(s.admission.running(), 1);
  s.frontends.return(a, [{ leaseId: retry.leaseId, reusable: true }], ['i-1']);
  assert.equal(s.admission.running(), 0);
  await s.frontends.acquire(b, { invocationId: 'i-2', fn });
});

test("the manager's own host is never leased to a frontend", async () => {
  const s = await setup({ localHostId: 'own-host' });
  const own = await s.join('own-host');
  const other = await s.join();
  const a = s.frontends.register({ url }).frontendId;
  const fn = fnVersion('f');
  // A warm sandbox on the manager's own host (the manager's own invoke made it).
  const local = await s.workers.acquire(fn);
  s.workers.release(local, true);
  assert.equal(own.created.length, 1);
  for (let i = 0; i < 3; i++) {
    const g = await s.frontends.acquire(a, { invocationId: `i-${i}`, fn });
    assert.equal(g.host.url, other.url);
  }
  assert.equal(own.created.length, 1);
});

test('a frontend that stops heartbeating is declared dead: its sandboxes end, its invokes are counted out', async () => {
  const s = await setup({ reserved: { f: 1 } });
  const fake = await s.join();
  const a = s.frontends.register({ url }).frontendId;
  const lease = await s.frontends.acquire(a, { invocationId: 'i-1', fn: fnVersion('f') });
  s.frontends.check(Date.now() + FRONTEND_DEAD_AFTER_MS + 1);
  assert.deepEqual(s.frontends.list(), []);
  assert.equal(s.admission.running(), 0);
  // The kill reaches the worker a moment later.
  await until(() => fake.deletes.some((d) => d.id === lease.identity.id), 10_000, 'the kill');
  assert.equal(s.frontends.heartbeat(a), undefined);
  await assert.rejects(s.frontends.acquire(a, { invocationId: 'i-2', fn: fnVersion('f') }), { name: 'ResourceNotFoundException' });
});

test('a lease never returned is taken back after its timeout, and its invocation counted out', async () => {
  const s = await setup();
  const fake = await s.join();
  const a = s.frontends.register({ url }).frontendId;
  const fn = fnVersion('f');
  const lease = await s.frontends.acquire(a, { invocationId: 'i-1', fn });
  // Still heartbeating, but the return was lost.
  const later = Date.now() + fn.timeout * 1000 + 61_000;
  s.frontends.heartbeat(a);
  s.frontends.check(Date.now());
  assert.equal(s.admission.running(), 1);
  s.frontends.heartbeat(a, later);
  s.frontends.check(later);
  assert.equal(s.admission.running(), 0);
  // The kill reaches the worker a moment later.
  await until(() => fake.deletes.some((d) => d.id === lease.identity.id), 10_000, 'the kill');
  assert.deepEqual(s.frontends.list().map((f) => [f.invocations, f.leases]), [[0, 0]]);
});

test("a frontend that could not reach a worker host says so: the manager leases none of that host's sandboxes until it heartbeats", async () => {
  const s = await setup();
  const first = await s.join();
  const a = s.frontends.register({ url }).frontendId;
  const fn = fnVersion('f');
  const lease = await s.frontends.acquire(a, { invocationId: 'i-1', fn });
  assert.equal(lease.host.url, first.url);
  const second = await s.join();
  // The sandbox would be reusable as far as the worker knows; the frontend could not connect to it.
  const retry = await s.frontends.acquire(a, { invocationId: 'i-1', fn, returns: [{ leaseId: lease.leaseId, reusable: true, unreachable: true }] });
  assert.equal(retry.host.url, second.url);
  assert.equal(retry.cold, true);
});

test("an acquire carries other invokes' returns and ends, taken before it is admitted", async () => {
  const s = await setup({ reserved: { f: 1 } });
  await s.join();
  const a = s.frontends.register({ url }).frontendId;
  const fn = fnVersion('f');
  const first = await s.frontends.acquire(a, { invocationId: 'i-1', fn });
  // Not returned on its own: the next acquire says i-1 is over, so i-2 fits the one reserved slot and gets its warm sandbox.
  const next = await s.frontends.acquire(a, { invocationId: 'i-2', fn, returns: [{ leaseId: first.leaseId, reusable: true }], ended: ['i-1'] });
  assert.equal(next.identity.id, first.identity.id);
  assert.equal(next.cold, false);
  assert.equal(s.admission.running(), 1);
});
