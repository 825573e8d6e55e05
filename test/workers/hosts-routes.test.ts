// The worker hosts' routes (frontend/hosts-routes.ts) behind the real HTTP
// frontend with SigV4 and a rate limit: root key only, Lambda-style validation
// errors, heartbeats and log batches never throttled, code served as a stream.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { hostsRoutes } from '../../src/frontend/hosts-routes.js';
import { HttpFrontend } from '../../src/frontend/http.js';
import { RateLimiter } from '../../src/frontend/rate-limit.js';
import { SigV4Verifier } from '../../src/frontend/sigv4.js';
import { PlacementService } from '../../src/placement/placement.js';
import { WorkerManager } from '../../src/workers/manager.js';
import { HOSTS_PATH, type HostInfo, type RegisterHostResponse } from '../../src/workers/remote/protocol.js';
import { HostRegistry } from '../../src/workers/remote/registry.js';
import { silentLog } from '../async/fakes.js';

const REGION = 'us-east-1';
const ROOT = { accessKeyId: 'AKKLROOTKEY00001', secretAccessKey: 'root-secret-0123456789' };
const OTHER = { accessKeyId: 'AKKLOTHERKEY0001', secretAccessKey: 'other-secret-0123456789' };
const ZIP = Buffer.from('PK\u0003\u0004 a zip, as far as these routes care');
const ZIP_HEX = 'ab'.repeat(32);

const appended: { functionName: string; logStream: string; text: string; timestamp?: number }[] = [];
let server: Server;
let base: string;
let placement: PlacementService;
let workers: WorkerManager;
let registry: HostRegistry;

before(async () => {
  placement = new PlacementService();
  workers = new WorkerManager(placement, silentLog, { idleMs: 60_000 });
  registry = new HostRegistry({ placement, workers, log: silentLog, settings: async () => ({}) });
  const secrets = new Map([ROOT, OTHER].map((k) => [k.accessKeyId, k.secretAccessKey]));
  const routes = hostsRoutes({
    registry,
    keys: { isRoot: (id) => id === ROOT.accessKeyId },
    logs: { append: (functionName, logStream, text, timestamp) => void appended.push({ functionName, logStream, text, ...(timestamp !== undefined ? { timestamp } : {}) }) },
    code: { open: async (hex) => (hex === ZIP_HEX ? { stream: Readable.from([ZIP]), size: ZIP.length } : undefined) },
  });
  // One request a second per key, and the clock stands still: a throttled route answers once.
  const frontend = new HttpFrontend(silentLog, routes, {
    auth: new SigV4Verifier({ region: REGION, keys: { secretFor: (id) => secrets.get(id) } }),
    rateLimit: new RateLimiter(1, 1, () => 0),
  });
  server = createServer(frontend.listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await workers.shutdown();
  await registry.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Answer {
  status: number;
  type: string | null;
  json: Record<string, unknown>;
  bytes: Buffer;
}

async function call(method: 'GET' | 'POST', path: string, body?: unknown, key = ROOT): Promise<Answer> {
  const url = new URL(path, base);
  const text = body === undefined ? undefined : JSON.stringify(body);
  const signer = new SignatureV4({ credentials: key, region: REGION, service: 'lambda', sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method,
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: {},
    headers: { host: url.host, ...(text !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(text !== undefined ? { body: text } : {}),
  });
  const { host: _host, ...headers } = signed.headers;
  const res = await fetch(url, { method, headers, ...(text !== undefined ? { body: text } : {}) });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    // not JSON (a zip, or empty)
  }
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), json, bytes };
}

const registration = { url: 'http://127.0.0.1:1', token: 'worker-token', memoryMb: 1024, drivers: ['process'] };

describe('register and heartbeat', () => {
  test('a worker registers with the root key and heartbeats as often as it likes', async () => {
    const r = await call('POST', HOSTS_PATH, registration);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const { hostId, heartbeatIntervalMs, deadAfterMs } = r.json as unknown as RegisterHostResponse;
    assert.equal(typeof hostId, 'string');
    assert.equal(heartbeatIntervalMs, 1000);
    assert.equal(deadAfterMs, 3000);
    for (let i = 0; i < 5; i++) {
      const h = await call('POST', `${HOSTS_PATH}/${hostId}/heartbeat`, { sandboxes: [], ended: [], cachedCode: [ZIP_HEX] });
      assert.equal(h.status, 200, `heartbeat ${i}: ${h.type} ${JSON.stringify(h.json)}`);
      assert.deepEqual(h.json, { draining: false });
    }
    assert.equal(placement.capacity().find((c) => c.hostId === hostId)?.memoryMb, 1024);
  });

  test('an unknown host is told to register again (404)', async () => {
    const r = await call('POST', `${HOSTS_PATH}/never-registered/heartbeat`, { sandboxes: [], ended: [], cachedCode: [] });
    assert.equal(r.status, 404);
    assert.equal(r.type, 'ResourceNotFoundException');
  });

  test('malformed registrations and heartbeats get InvalidParameterValueException', async () => {
    const bad: [unknown, RegExp][] = [
      [{ ...registration, url: 'ftp://10.0.0.1' }, /^url must be the http/],
      [{ ...registration, url: 'http://u:p@10.0.0.1:9100' }, /^url must be/],
      [{ ...registration, token: '' }, /^token must be/],
      [{ ...registration, memoryMb: 64 }, /^memoryMb must be a whole number of MB, at least 128/],
      [{ ...registration, memoryMb: '1024' }, /^memoryMb/],
      [{ ...registration, drivers: [] }, /^drivers must list/],
      [{ ...registration, hostId: '../x' }, /^hostId must be/],
    ];
    for (const [body, message] of bad) {
      const r = await call('POST', HOSTS_PATH, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.type, 'InvalidParameterValueException');
      assert.match(String(r.json.message), message);
    }
    const { hostId } = (await call('POST', HOSTS_PATH, registration)).json as unknown as RegisterHostResponse;
    const beat = await call('POST', `${HOSTS_PATH}/${hostId}/heartbeat`, { sandboxes: [], ended: [{ id: 1 }], cachedCode: [] });
    assert.equal(beat.status, 400);
    assert.equal(beat.type, 'InvalidParameterValueException');
    const notHex = await call('POST', `${HOSTS_PATH}/${hostId}/heartbeat`, { sandboxes: [], ended: [], cachedCode: ['XYZ'] });
    assert.match(String(notHex.json.message), /cachedCode must be a list of SHA-256s/);
  });

  test('any key but the root key is refused', async () => {
    const r = await call('POST', HOSTS_PATH, registration, OTHER);
    assert.equal(r.status, 403);
    assert.equal(r.type, 'AccessDeniedException');
  });
});

describe('logs and code', () => {
  test('log batches go to the log store, unthrottled', async () => {
    appended.length = 0;
    for (let i = 0; i < 3; i++) {
      const r = await call('POST', `${HOSTS_PATH}/host-x/logs`, { lines: [{ functionName: 'f', logStream: 's', text: `line ${i}\n` }] });
      assert.equal(r.status, 204, `batch ${i}: ${r.type}`);
    }
    assert.deepEqual(
      appended.map((l) => l.text),
      ['line 0\n', 'line 1\n', 'line 2\n'],
    );
    const bad = await call('POST', `${HOSTS_PATH}/host-x/logs`, { lines: [{ functionName: '', logStream: 's', text: 'x' }] });
    assert.equal(bad.type, 'InvalidParameterValueException');
  });

  test("a line's timestamp from the worker is the one stored", async () => {
    appended.length = 0;
    const r = await call('POST', `${HOSTS_PATH}/host-x/logs`, { lines: [{ functionName: 'f', logStream: 's', text: 'stamped\n', timestamp: 1_700_000_000_123 }] });
    assert.equal(r.status, 204, String(r.type));
    assert.deepEqual(appended, [{ functionName: 'f', logStream: 's', text: 'stamped\n', timestamp: 1_700_000_000_123 }]);
    const bad = await call('POST', `${HOSTS_PATH}/host-x/logs`, { lines: [{ functionName: 'f', logStream: 's', text: 'x', timestamp: 'soon' }] });
    assert.equal(bad.type, 'InvalidParameterValueException');
  });

  test('code packages are served by hex SHA-256', async () => {
    const r = await call('GET', `${HOSTS_PATH}/host-x/code/${ZIP_HEX}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.bytes, ZIP);
    const missing = await call('GET', `${HOSTS_PATH}/host-x/code/${'cd'.repeat(32)}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.type, 'ResourceNotFoundException');
    const bad = await call('GET', `${HOSTS_PATH}/host-x/code/not-a-sha`);
    assert.equal(bad.status, 400);
    assert.equal(bad.type, 'InvalidParameterValueException');
  });
});

describe('drain', () => {
  test('an operator drains a host (and, unlike worker traffic, is rate limited)', async () => {
    const { hostId } = (await call('POST', HOSTS_PATH, registration)).json as unknown as RegisterHostResponse;
    const r = await call('POST', `${HOSTS_PATH}/${hostId}/drain`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal((r.json as unknown as HostInfo).state, 'draining');
    assert.equal(placement.isDraining(hostId), true);
    const beat = await call('POST', `${HOSTS_PATH}/${hostId}/heartbeat`, { sandboxes: [], ended: [], cachedCode: [] });
    assert.deepEqual(beat.json, { draining: true });
    const again = await call('POST', `${HOSTS_PATH}/${hostId}/drain`);
    assert.equal(again.status, 429);
    assert.equal(again.type, 'TooManyRequestsException');
  });
});
