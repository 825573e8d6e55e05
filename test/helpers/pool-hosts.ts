// Worker hosts with (or without) a sandbox pool, over one code store in a temporary
// folder, for the pool's tests; every host made is shut down after the file's tests.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { FunctionVersion } from '../../src/control/model.js';
import { WorkerHost } from '../../src/host/host.js';
import type { Sandbox } from '../../src/host/sandbox.js';
import type { SandboxDriver } from '../../src/sandbox/driver.js';
import { FsCodeStore } from '../../src/store/fs-code.js';
import { makeZip } from './kindling.js';
import { functionVersion } from './records.js';

export interface PoolHosts {
  /** A started host on the driver, with the default pool or none. */
  hostOn(driver: SandboxDriver, pool: boolean): Promise<WorkerHost>;
  /** A function version whose package (the files, plus `<marker>.txt`) is in the code store. */
  packaged(name: string, marker: string, files: Record<string, string>, extra?: Partial<FunctionVersion>): Promise<FunctionVersion>;
}

export function poolHosts(prefix: string): PoolHosts {
  let dir: string;
  let code: FsCodeStore;
  const hosts: WorkerHost[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), `kindling-${prefix}-`));
    code = new FsCodeStore(join(dir, 'store'));
  });
  after(async () => {
    await Promise.all(hosts.map((h) => h.shutdown()));
    await rm(dir, { recursive: true, force: true });
  });
  return {
    async hostOn(driver, pool) {
      const host = new WorkerHost({
        id: `${prefix}${hosts.length}`,
        memoryMb: 4096,
        dir: join(dir, `h${hosts.length}`),
        driver,
        code,
        logs: { append: () => undefined },
        account: { region: 'us-east-1', accountId: '000000000000' },
        pool: pool ? {} : false,
      });
      await host.start();
      hosts.push(host);
      return host;
    },
    async packaged(name, marker, files, extra = {}) {
      const stored = await code.put(await makeZip({ ...files, [`${marker}.txt`]: marker }));
      return functionVersion(name, { timeout: 10, codeSha256: stored.sha256Base64, codeSize: stored.size, ...extra });
    },
  };
}

/** A cold start that must have come from the pool (once the pool has its sandbox ready). */
export async function pooledColdStart(host: WorkerHost, fn: FunctionVersion): Promise<Sandbox> {
  await host.poolSettled(fn);
  const s = await host.createSandbox(fn);
  assert.equal(s.startup?.pooled, true, 'not from the pool');
  return s;
}

/**
 * Inside a describe: a pooled host on the driver whose key is made known by one cold
 * start of `seed` (never pooled itself); the sandboxes in `started` end after the suite.
 */
export function seededPool(hosts: PoolHosts, driver: () => SandboxDriver, seed: () => Promise<FunctionVersion>): { host: () => WorkerHost; started: Sandbox[] } {
  let host: WorkerHost | undefined;
  const started: Sandbox[] = [];
  before(async () => {
    host = await hosts.hostOn(driver(), true);
    const first = await host.createSandbox(await seed());
    assert.equal(first.startup?.pooled, false);
    started.push(first);
  });
  after(async () => {
    await Promise.all(started.map((s) => s.destroy()));
  });
  return { host: () => host!, started };
}
