// A function whose kindling:sandbox tag asks for a driver a worker host cannot
// run: that host refuses with HostCannotRun, and the Worker Manager places the
// sandbox on a host that can (the manager's own host included, role all).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkerHost } from '../../src/host/host.js';
import { HostCannotRun, PlacementService } from '../../src/placement/placement.js';
import { SandboxDrivers } from '../../src/sandbox/drivers.js';
import { ProcessDriver } from '../../src/sandbox/process-driver.js';
import { FsCodeStore } from '../../src/store/fs-code.js';
import { WorkerManager } from '../../src/workers/manager.js';
import { WorkerAgent } from '../../src/workers/remote/agent.js';
import { RemoteHost } from '../../src/workers/remote/remote-host.js';
import { silentLog } from '../async/fakes.js';
import { makeZip } from '../helpers/kindling.js';
import { functionVersion } from '../helpers/records.js';

let dir: string;
let code: FsCodeStore;
const hosts: WorkerHost[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kindling-host-drivers-'));
  code = new FsCodeStore(join(dir, 'code'));
});

after(async () => {
  await Promise.all(hosts.map((h) => h.shutdown()));
  await rm(dir, { recursive: true, force: true });
});

/** A host on the process driver; `microvm` is a second driver only where `canMicrovm`. */
async function hostWith(id: string, canMicrovm: boolean): Promise<WorkerHost> {
  const driver = new ProcessDriver();
  const host = new WorkerHost({
    id,
    memoryMb: 4096,
    dir: join(dir, id),
    driver,
    drivers: new SandboxDrivers(driver, (name) => {
      if (name === 'microvm' && canMicrovm) return new ProcessDriver();
      throw new Error(`no ${name} on this machine`);
    }),
    sandboxSettings: async () => ({ driver: 'microvm' }),
    code,
    logs: { append: () => undefined },
    account: { region: 'us-east-1', accountId: '000000000000' },
  });
  await host.start();
  hosts.push(host);
  return host;
}

const fn = async () => {
  const stored = await code.put(await makeZip({ 'index.mjs': 'export const handler = async () => "ran";\n' }));
  return functionVersion('tagged', { timeout: 10, codeSha256: stored.sha256Base64, codeSize: stored.size });
};

test('a host that cannot run the asked-for driver refuses with HostCannotRun', async () => {
  const host = await hostWith('no-microvm', false);
  await assert.rejects(host.createSandbox(await fn()), (e: unknown) => e instanceof HostCannotRun && e.hostId === 'no-microvm' && /asks for 'microvm'/.test(e.message));
});

test('the Worker Manager moves the sandbox from such a host to one that can run it', async () => {
  const placement = new PlacementService();
  // Both empty: spread-first placement may pick either; the one without microvm refuses.
  placement.register(await hostWith('local-like', false));
  placement.register(await hostWith('with-microvm', true));
  const workers = new WorkerManager(placement, silentLog, { idleMs: 60_000 });
  try {
    for (let i = 0; i < 3; i++) {
      const lease = await workers.acquire(await fn());
      assert.equal(workers.sandboxes().find((s) => s.id === lease.sandbox.identity.id)?.hostId, 'with-microvm');
    }
  } finally {
    await workers.shutdown();
  }
});

test('with no host able to run it, the invoke gets a ServiceException that names why', async () => {
  const placement = new PlacementService();
  placement.register(await hostWith('alone', false));
  const workers = new WorkerManager(placement, silentLog, { idleMs: 60_000 });
  try {
    await assert.rejects(workers.acquire(await fn()), (e: Error) => e.name === 'ServiceException' && /asks for 'microvm', which cannot run on worker host alone/.test(e.message));
  } finally {
    await workers.shutdown();
  }
});

test("a joined worker host's refusal reaches the manager as HostCannotRun", async () => {
  const agent = new WorkerAgent(await hostWith('worker-no-microvm', false), 'token-0123456789');
  const { port } = await agent.listen(0, '127.0.0.1');
  // The worker registered microvm (say its KVM went away since): its agent still refuses.
  const remote = new RemoteHost({ id: 'worker-no-microvm', url: `http://127.0.0.1:${port}`, token: 'token-0123456789', memoryMb: 4096, drivers: ['process', 'microvm'], settings: async () => ({ driver: 'microvm' }) });
  try {
    await assert.rejects(remote.createSandbox(await fn()), (e: unknown) => e instanceof HostCannotRun && e.hostId === 'worker-no-microvm' && /asks for 'microvm'/.test(e.message));
  } finally {
    await remote.close();
    await agent.close();
  }
});
