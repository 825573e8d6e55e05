// The Worker Manager runs at most initsPerHost Inits on one host at once; the
// other cold starts wait their turn and are all served (a burst of hundreds
// would otherwise starve every Init past its 10 s).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FunctionVersion } from '../../src/control/model.js';
import type { SandboxHandle, SandboxResult } from '../../src/host/sandbox.js';
import { PlacementService, type PlacementHost } from '../../src/placement/placement.js';
import { WorkerManager } from '../../src/workers/manager.js';
import { silentLog } from '../async/fakes.js';
import { functionVersion } from '../helpers/records.js';

class SlowHost implements PlacementHost {
  active = 0;
  maxActive = 0;
  created = 0;
  constructor(
    readonly id: string,
    readonly memoryMb = 1 << 20,
  ) {}
  cachesCode(): boolean {
    return false;
  }
  async createSandbox(fn: FunctionVersion): Promise<SandboxHandle> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    await new Promise((r) => setTimeout(r, 20));
    this.active--;
    const id = `${this.id}-${++this.created}`;
    const dead: (() => void)[] = [];
    const sandbox: SandboxHandle = {
      identity: { id, functionName: fn.functionName, version: fn.version, memoryMb: fn.memorySize, timeoutSeconds: fn.timeout, logStream: id },
      state: 'ready',
      lastUsed: Date.now(),
      invoke: async (): Promise<SandboxResult> => ({ payload: Buffer.from('null'), durationMs: 1, reusable: true }),
      kill: () => dead.splice(0).forEach((l) => l()),
      destroy: async () => dead.splice(0).forEach((l) => l()),
      onDead: (l) => void dead.push(l),
    };
    return sandbox;
  }
}

test('a burst of cold starts runs at most initsPerHost Inits per host at once, and every one is served', async () => {
  const placement = new PlacementService();
  const a = new SlowHost('a');
  const b = new SlowHost('b');
  placement.register(a);
  placement.register(b);
  const workers = new WorkerManager(placement, silentLog, { idleMs: 60_000, initsPerHost: 3 });
  try {
    const leases = await Promise.all(Array.from({ length: 24 }, () => workers.acquire(functionVersion('burst'))));
    assert.equal(leases.length, 24);
    assert.ok(leases.every((l) => l.cold));
    assert.equal(a.created + b.created, 24);
    assert.equal(a.maxActive, 3);
    assert.equal(b.maxActive, 3);
    // The turns are given back: a later cold start does not wait on anything.
    for (const l of leases) workers.release(l, false);
    await workers.acquire(functionVersion('after'));
    assert.equal(a.active + b.active, 0);
  } finally {
    await workers.shutdown();
  }
});
