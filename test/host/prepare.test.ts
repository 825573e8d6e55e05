// Preparing a function's code ahead of its first invoke (WorkerHost.prepare, as
// CreateFunction and UpdateFunctionCode call it): the package is fetched and
// unpacked once, whether the cold start comes after it or races it; a failed
// preparation is only tried again; layers are prepared too; the function's pool
// key gets a generic sandbox before any cold start; and placement is not drawn
// to a host by packages it only prepared.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FunctionVersion } from '../../src/control/model.js';
import { WorkerHost } from '../../src/host/host.js';
import type { Sandbox } from '../../src/host/sandbox.js';
import { ProcessDriver } from '../../src/sandbox/process-driver.js';
import { base64ToHex } from '../../src/store/code.js';
import { FsCodeStore } from '../../src/store/fs-code.js';
import { makeZip } from '../helpers/kindling.js';
import { functionVersion } from '../helpers/records.js';

/** The folder code store, counting its reads; it can be told to fail the next ones. */
class CountingStore extends FsCodeStore {
  gets = 0;
  failNext = 0;
  override async get(hex: string): Promise<Buffer | undefined> {
    this.gets++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('the code store is unreachable');
    }
    return super.get(hex);
  }
}

let dir: string;
let store: CountingStore;
const hosts: WorkerHost[] = [];
const sandboxes: Sandbox[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kindling-prepare-'));
  store = new CountingStore(join(dir, 'store'));
});

after(async () => {
  await Promise.all(sandboxes.map((s) => s.destroy()));
  await Promise.all(hosts.map((h) => h.shutdown()));
  await rm(dir, { recursive: true, force: true });
});

async function newHost(pool: boolean): Promise<{ host: WorkerHost; codeDir: string }> {
  const hostDir = join(dir, `h${hosts.length}`);
  const host = new WorkerHost({
    id: `h${hosts.length}`,
    memoryMb: 4096,
    dir: hostDir,
    driver: new ProcessDriver(),
    code: store,
    logs: { append: () => undefined },
    account: { region: 'us-east-1', accountId: '000000000000' },
    pool: pool ? {} : false,
  });
  await host.start();
  hosts.push(host);
  return { host, codeDir: join(hostDir, 'code') };
}

let n = 0;
async function stored(files: Record<string, string>): Promise<{ zip: Buffer; sha256Base64: string; size: number }> {
  const zip = await makeZip(files);
  return { zip, ...(await store.put(zip)) };
}

async function fnWith(extra: Partial<FunctionVersion> = {}): Promise<{ fn: FunctionVersion; zip: Buffer }> {
  const marker = `m${++n}`;
  const s = await stored({ 'index.mjs': `export const handler = async () => ({ marker: '${marker}' });\n` });
  return { fn: functionVersion(`fn-${marker}`, { timeout: 10, codeSha256: s.sha256Base64, codeSize: s.size, ...extra }), zip: s.zip };
}

async function coldStart(host: WorkerHost, fn: FunctionVersion): Promise<Sandbox> {
  const s = await host.createSandbox(fn);
  sandboxes.push(s);
  const r = await s.invoke({ requestId: `r${++n}`, payload: Buffer.from('{}'), invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:x', traceId: 'Root=1-0-0', tail: false });
  assert.equal(r.functionError, undefined, r.payload.toString());
  return s;
}

describe('preparing code ahead', () => {
  test("a prepared package is unpacked before any cold start, and the cold start uses it as it is", async () => {
    const { host, codeDir } = await newHost(false);
    const { fn } = await fnWith();
    const gets = store.gets;
    await host.prepare(fn);
    assert.equal(store.gets - gets, 1);
    assert.ok(existsSync(join(codeDir, base64ToHex(fn.codeSha256), 'index.mjs')), 'not unpacked into the host cache');
    await coldStart(host, fn);
    assert.equal(store.gets - gets, 1, 'the cold start fetched the package again');
  });

  test('a cold start racing the preparation joins it: the package is fetched and unpacked once', async () => {
    const { host, codeDir } = await newHost(false);
    const { fn } = await fnWith();
    const gets = store.gets;
    const preparing = host.prepare(fn);
    await coldStart(host, fn);
    await preparing;
    assert.equal(store.gets - gets, 1);
    // One folder for the package, no second unpack's leftovers beside it.
    assert.deepEqual(readdirSync(codeDir), [base64ToHex(fn.codeSha256)]);
  });

  test("given the package's bytes (CreateFunction has them), preparing does not read the code store", async () => {
    const { host, codeDir } = await newHost(false);
    const { fn, zip } = await fnWith();
    const gets = store.gets;
    await host.prepare(fn, zip);
    assert.equal(store.gets, gets);
    assert.ok(existsSync(join(codeDir, base64ToHex(fn.codeSha256), 'index.mjs')));
    await coldStart(host, fn);
    assert.equal(store.gets, gets);
  });

  test('a failed preparation rejects, and the cold start tries again', async () => {
    const { host } = await newHost(false);
    const { fn } = await fnWith();
    const gets = store.gets;
    store.failNext = 1;
    await assert.rejects(host.prepare(fn), /unreachable/);
    await coldStart(host, fn);
    assert.equal(store.gets - gets, 2);
  });

  test("a function's layers are prepared with its code: each layer unpacked, and their merged /opt", async () => {
    const { host, codeDir } = await newHost(false);
    const layers = [];
    for (const i of [1, 2]) {
      const s = await stored({ [`nodejs/node_modules/l${i}/index.js`]: `module.exports = ${i};\n` });
      layers.push({ arn: `arn:aws:lambda:us-east-1:000000000000:layer:l${i}:1`, codeSha256: s.sha256Base64, codeSize: s.size, unzippedSize: 100 });
    }
    const { fn } = await fnWith({ layers: layers.map((l) => l.arn), layerCode: layers });
    const gets = store.gets;
    await host.prepare(fn);
    assert.equal(store.gets - gets, 3);
    for (const l of layers) assert.ok(existsSync(join(codeDir, base64ToHex(l.codeSha256), 'nodejs')), 'a layer was not unpacked');
    const merged = readdirSync(join(dir, `h${hosts.length - 1}`, 'opt')).filter((d) => !d.startsWith('.'));
    assert.equal(merged.length, 1, 'no merged /opt');
    await coldStart(host, fn);
    assert.equal(store.gets - gets, 3);
  });

  test('placement is not drawn to a host by a package it only prepared; it is once a sandbox uses it', async () => {
    const { host } = await newHost(false);
    const { fn } = await fnWith();
    await host.prepare(fn);
    assert.equal(host.cachesCode(fn.codeSha256), false);
    assert.deepEqual(host.cachedCodeHex(), []);
    await coldStart(host, fn);
    assert.equal(host.cachesCode(fn.codeSha256), true);
  });

  test("a prepared function's pool key gets a generic sandbox before its first invoke, which takes it", async () => {
    const { host } = await newHost(true);
    // A memory size no other function here has: a key never seen before.
    const { fn } = await fnWith({ memorySize: 320 });
    await host.prepare(fn);
    await host.poolSettled(fn);
    const key = host.poolStats().find((k) => k.key.endsWith('/nodejs/320/512/'));
    assert.ok(key, JSON.stringify(host.poolStats()));
    assert.equal(key.ready, 1);
    // Expected, not counted as a cold start: the invoke that follows counts.
    assert.equal(key.coldStartsPerSecond, 0);
    const s = await coldStart(host, fn);
    assert.equal(s.startup?.pooled, true, 'the first cold start did not take the pooled sandbox');
  });
});
