// A worker host's side of worker → manager (src/workers/remote/join.ts) and
// `kindling worker --join`, against a stand-in manager that checks every
// request's SigV4 signature as Kindling's frontend does.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'undici';
import type { SandboxIdentity } from '../../src/host/sandbox.js';
import { SigV4Verifier } from '../../src/frontend/sigv4.js';
import { HeartbeatLoop, isRefusal, ManagerClient, ManagerCodeStore, ManagerLogSink, type HeartbeatSource } from '../../src/workers/remote/join.js';
import {
  decodeResultFrame,
  FrameKind,
  HOSTS_PATH,
  InvokeFrameDecoder,
  INVOKE_HEADER,
  type HeartbeatRequest,
  type LogBatch,
  type RegisterHostRequest,
} from '../../src/workers/remote/protocol.js';
import { until } from '../async/fakes.js';
import { ACCESS_KEY_ID, describeRun, makeZip, REGION, runKindling, SECRET_ACCESS_KEY, startWorker, type KindlingServer } from '../helpers/kindling.js';
import { functionVersion } from '../helpers/records.js';

const KEY = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY };
const quiet = { warn: () => undefined, info: () => undefined };

/** The manager's side of the protocol, just enough of it, recording what workers send. */
class FakeManager {
  readonly registrations: RegisterHostRequest[] = [];
  readonly heartbeats: { hostId: string; body: HeartbeatRequest }[] = [];
  readonly logBatches: LogBatch[] = [];
  readonly code = new Map<string, Buffer>();
  /** Hosts the manager knows; a heartbeat of another gets 404. */
  readonly known = new Set<string>();
  /** Requests whose signature did not verify. */
  refused = 0;
  draining = false;
  intervalMs = 50;
  /** Answer log batches with this status instead of 204. */
  logsStatus = 204;
  /** Serve these bytes for every code request (a damaged download). */
  damage: Buffer | undefined;
  private server: Server | undefined;
  port = 0;
  private readonly verifier = new SigV4Verifier({ region: REGION, keys: { secretFor: (id) => (id === ACCESS_KEY_ID ? SECRET_ACCESS_KEY : undefined) } });

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get lines(): LogBatch['lines'] {
    return this.logBatches.flatMap((b) => b.lines);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Goes away (connections dropped); start() again brings it back on the same port. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const [path = '', rawQuery = ''] = (req.url ?? '').split('?');
    try {
      this.verifier.verify({ method: req.method ?? '', path, rawQuery, headers: req.headers, body }, 'lambda');
    } catch (err) {
      this.refused++;
      return send(res, 403, { message: (err as Error).message });
    }
    const m = path.startsWith(HOSTS_PATH) ? path.slice(HOSTS_PATH.length).split('/').filter(Boolean) : undefined;
    if (m?.length === 0 && req.method === 'POST') {
      const reg = JSON.parse(body.toString()) as RegisterHostRequest;
      this.registrations.push(reg);
      const hostId = reg.hostId ?? `made-${randomUUID()}`;
      this.known.add(hostId);
      return send(res, 200, { hostId, heartbeatIntervalMs: this.intervalMs, deadAfterMs: 3000 });
    }
    const hostId = decodeURIComponent(m?.[0] ?? '');
    if (m?.[1] === 'heartbeat' && req.method === 'POST') {
      if (!this.known.has(hostId)) return send(res, 404, { message: `no host ${hostId}` });
      this.heartbeats.push({ hostId, body: JSON.parse(body.toString()) as HeartbeatRequest });
      return send(res, 200, { draining: this.draining });
    }
    if (m?.[1] === 'logs' && req.method === 'POST') {
      if (this.logsStatus !== 204) return send(res, this.logsStatus, { message: 'not now' });
      this.logBatches.push(JSON.parse(body.toString()) as LogBatch);
      return send(res, 204);
    }
    if (m?.[1] === 'code' && m[2] !== undefined && req.method === 'GET') {
      const zip = this.damage ?? this.code.get(m[2]);
      if (!zip) return send(res, 404, { message: 'no such code' });
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': zip.length }).end(zip);
      return;
    }
    send(res, 404, { message: `no route ${req.method} ${path}` });
  }
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json' }).end(text);
}

class StubSource implements HeartbeatSource {
  ids: string[] = ['sbx-1', 'sbx-2'];
  ended: HeartbeatRequest['ended'] = [];
  sandboxes(): string[] {
    return this.ids;
  }
  takeEnded(): HeartbeatRequest['ended'] {
    const out = this.ended;
    this.ended = [];
    return out;
  }
  cachedCode(): string[] {
    return ['ab'.repeat(32)];
  }
}

const registration = (hostId: string): RegisterHostRequest => ({ hostId, url: 'http://127.0.0.1:1', token: 't', memoryMb: 1024, drivers: ['process'] });

describe('HeartbeatLoop', () => {
  let manager: FakeManager;
  before(async () => {
    manager = new FakeManager();
    await manager.start();
  });
  after(() => manager.stop());

  test('registers with its host id, heartbeats what the host reports, follows draining, registers again after a 404', async () => {
    const client = new ManagerClient(manager.url, KEY, REGION);
    const source = new StubSource();
    const draining: boolean[] = [];
    let forgotten = 0;
    const loop = new HeartbeatLoop({
      client,
      registration: registration('host-a'),
      source,
      log: quiet,
      onDraining: (d) => draining.push(d),
      onForgotten: () => forgotten++,
    });
    try {
      const res = await loop.start();
      assert.equal(res.hostId, 'host-a');
      assert.equal(loop.hostId, 'host-a');
      assert.deepEqual(manager.registrations.at(-1), registration('host-a'));
      source.ended.push({ id: 'sbx-0', reason: 'Runtime.ExitError: boom' });
      const beats = await until(() => (manager.heartbeats.filter((h) => h.hostId === 'host-a').length >= 3 ? manager.heartbeats.filter((h) => h.hostId === 'host-a') : undefined), 5000, 'three heartbeats');
      assert.deepEqual(beats[0]!.body, { sandboxes: ['sbx-1', 'sbx-2'], ended: [{ id: 'sbx-0', reason: 'Runtime.ExitError: boom' }], cachedCode: ['ab'.repeat(32)] });
      // A death is reported once, not in every heartbeat.
      assert.deepEqual(beats[1]!.body.ended, []);

      manager.draining = true;
      await until(() => loop.draining, 5000, 'draining to be reported');
      assert.deepEqual(draining, [true]);
      manager.draining = false;
      await until(() => !loop.draining, 5000, 'draining to end');

      // The manager forgets the host (it restarted): the loop registers again, as the same host.
      const registered = manager.registrations.length;
      manager.known.clear();
      await until(() => manager.registrations.length > registered, 5000, 'a second registration');
      assert.equal(manager.registrations.at(-1)!.hostId, 'host-a');
      assert.equal(forgotten, 1);
      const after404 = manager.heartbeats.length;
      await until(() => manager.heartbeats.length > after404, 5000, 'heartbeats after registering again');
      assert.equal(manager.refused, 0);
    } finally {
      await loop.stop();
      await client.close();
    }
  });

  test('keeps trying while the manager is down, and loses no ended sandbox meanwhile', async () => {
    const client = new ManagerClient(manager.url, KEY, REGION);
    const source = new StubSource();
    const loop = new HeartbeatLoop({ client, registration: registration('host-b'), source, log: quiet, backoffMs: { min: 20, max: 100 } });
    try {
      await loop.start();
      await until(() => manager.heartbeats.some((h) => h.hostId === 'host-b'), 5000, 'a heartbeat');
      await manager.stop();
      source.ended.push({ id: 'died-while-away', reason: 'Runtime.OutOfMemory' });
      await new Promise((r) => setTimeout(r, 500));
      const before = manager.heartbeats.length;
      await manager.start();
      const beat = await until(() => manager.heartbeats.slice(before).find((h) => h.hostId === 'host-b'), 5000, 'a heartbeat after the outage');
      assert.deepEqual(beat.body.ended, [{ id: 'died-while-away', reason: 'Runtime.OutOfMemory' }]);
    } finally {
      await loop.stop();
      await client.close();
    }
  });

  test('a manager that does not know the key refuses the first registration: start() rejects', async () => {
    const client = new ManagerClient(manager.url, { accessKeyId: 'AKKLNOTAKEY', secretAccessKey: 'x' }, REGION);
    const loop = new HeartbeatLoop({ client, registration: registration('host-c'), source: new StubSource(), log: quiet });
    try {
      const err = await loop.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isRefusal(err), String(err));
      assert.ok(manager.refused > 0);
    } finally {
      await loop.stop();
      await client.close();
      manager.refused = 0;
    }
  });
});

describe('ManagerLogSink', () => {
  let manager: FakeManager;
  let client: ManagerClient;
  before(async () => {
    manager = new FakeManager();
    await manager.start();
    client = new ManagerClient(manager.url, KEY, REGION);
  });
  after(async () => {
    await client.close();
    await manager.stop();
  });

  test('sends lines in batches of at most 1000, soon after they are written', async () => {
    const sink = new ManagerLogSink(client, () => 'host-l', quiet);
    const before = Date.now();
    sink.append('fn', 'stream-1', 'one\ntwo\n');
    const written = Date.now();
    // Sent by the sink's own timer: nobody flushes.
    await until(() => manager.lines.length === 2, 10_000, 'two lines');
    // Stamped when the function wrote them, not when the batch arrives.
    const stamps = manager.lines.map((l) => l.timestamp ?? -1);
    for (const t of stamps) assert.ok(t >= before && t <= written, `timestamp ${t} outside [${before}, ${written}]`);
    assert.deepEqual(
      manager.lines.map(({ timestamp: _t, ...l }) => l),
      [
        { functionName: 'fn', logStream: 'stream-1', text: 'one\n' },
        { functionName: 'fn', logStream: 'stream-1', text: 'two\n' },
      ],
    );
    manager.logBatches.length = 0;
    sink.append('fn', 'stream-1', Array.from({ length: 2500 }, (_, i) => `line ${i}\n`).join(''));
    await until(() => manager.lines.length === 2500, 5000, '2500 lines');
    assert.deepEqual(manager.logBatches.map((b) => b.lines.length), [1000, 1000, 500]);
    assert.deepEqual(manager.lines.map((l) => l.text), Array.from({ length: 2500 }, (_, i) => `line ${i}\n`));
    await sink.close();
    assert.equal(manager.refused, 0);
  });

  test('keeps lines while the manager cannot take them, dropping the oldest past the cap', async () => {
    manager.logBatches.length = 0;
    manager.logsStatus = 503;
    const sink = new ManagerLogSink(client, () => 'host-l', quiet, { maxLines: 100, retryMs: 50 });
    for (let i = 0; i < 150; i++) sink.append('fn', 's', `line ${i}\n`);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(manager.lines.length, 0);
    assert.equal(sink.pending, 100);
    assert.equal(sink.dropped, 50);
    manager.logsStatus = 204;
    await until(() => manager.lines.length === 100, 5000, 'the kept lines');
    assert.deepEqual(manager.lines.map((l) => l.text), Array.from({ length: 100 }, (_, i) => `line ${i + 50}\n`));
    await sink.close();
  });

  test('waits for the host id before sending', async () => {
    manager.logBatches.length = 0;
    let hostId: string | undefined;
    const sink = new ManagerLogSink(client, () => hostId, quiet, { retryMs: 50 });
    sink.append('fn', 's', 'early\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(manager.lines.length, 0);
    hostId = 'host-late';
    await until(() => manager.lines.length === 1, 5000, 'the early line');
    await sink.close();
  });
});

describe('ManagerCodeStore', () => {
  let manager: FakeManager;
  let client: ManagerClient;
  before(async () => {
    manager = new FakeManager();
    await manager.start();
    client = new ManagerClient(manager.url, KEY, REGION);
  });
  after(async () => {
    await client.close();
    await manager.stop();
  });

  test('fetches a package from the manager and checks its hash', async () => {
    const zip = await makeZip({ 'index.mjs': 'export const handler = async () => 1;\n' });
    const hex = createHash('sha256').update(zip).digest('hex');
    manager.code.set(hex, zip);
    const store = new ManagerCodeStore(client, () => 'host-c');
    assert.ok((await store.get(hex))!.equals(zip));
    const opened = await store.open(hex);
    assert.equal(opened!.size, zip.length);
    const streamed: Buffer[] = [];
    for await (const c of opened!.stream) streamed.push(c as Buffer);
    assert.ok(Buffer.concat(streamed).equals(zip));

    assert.equal(await store.get('cd'.repeat(32)), undefined);
    assert.equal(await store.open('cd'.repeat(32)), undefined);

    manager.damage = Buffer.from('not the package');
    await assert.rejects(store.get(hex), /arrived damaged/);
    manager.damage = undefined;

    await assert.rejects(store.put(zip), /a worker host cannot store code/);
    await assert.rejects(store.delete(hex), /a worker host cannot store code/);
    await assert.rejects(new ManagerCodeStore(client, () => undefined).get(hex), /not registered/);
    assert.equal(manager.refused, 0);
  });
});

describe('kindling worker --join', () => {
  let manager: FakeManager;
  let worker: KindlingServer | undefined;
  let pool: Pool | undefined;
  before(async () => {
    manager = new FakeManager();
    manager.intervalMs = 200;
    await manager.start();
  });
  after(async () => {
    await pool?.close();
    await worker?.dispose();
    await manager.stop();
  });

  test('joins, serves sandboxes with code and logs through the manager, stops cleanly, and restarts as the same host', async () => {
    worker = await startWorker(manager.url, ['--memory', '512', '--sandbox', 'process']);
    assert.match(worker.stdout, new RegExp(`^Kindling worker ${worker.hostId} joined ${manager.url}; sandboxes served at ${worker.url}$`, 'm'));
    assert.match(worker.stderr, /!!! .*sandbox driver 'process'/);
    const reg = manager.registrations.at(-1)!;
    assert.equal(reg.hostId, worker.hostId);
    assert.equal(reg.url, worker.url);
    assert.equal(reg.memoryMb, 512);
    assert.equal(reg.drivers[0], 'process');
    assert.equal((await readFile(join(worker.dataDir, 'host-id'), 'utf8')).trim(), worker.hostId);

    // The manager's side: a sandbox on the worker, its code fetched from the manager.
    const zip = await makeZip({ 'index.mjs': "export const handler = async (event) => { console.log('on the worker'); return { got: event }; };\n" });
    const digest = createHash('sha256').update(zip);
    const hex = digest.copy().digest('hex');
    manager.code.set(hex, zip);
    pool = new Pool(worker.url);
    const headers = { authorization: `Bearer ${reg.token}` };
    const fn = functionVersion('remote', { timeout: 10, codeSha256: digest.digest('base64'), codeSize: zip.length });
    const created = await pool.request({ method: 'POST', path: '/sandboxes', headers, body: JSON.stringify({ fn, options: {}, settings: {} }) });
    const createdText = await created.body.text();
    assert.equal(created.statusCode, 201, createdText);
    const { identity } = JSON.parse(createdText) as { identity: SandboxIdentity };

    const invoked = await pool.request({
      method: 'POST',
      path: `/sandboxes/${identity.id}/invoke`,
      headers: { ...headers, [INVOKE_HEADER]: JSON.stringify({ requestId: randomUUID(), invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:remote', traceId: '', tail: false, stream: false }) },
      body: '{"n":1}',
    });
    assert.equal(invoked.statusCode, 200);
    const frames: [FrameKind, Buffer][] = [];
    const decoder = new InvokeFrameDecoder((k, b) => frames.push([k, Buffer.from(b)]));
    for await (const c of invoked.body) decoder.push(c as Buffer);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]![0], FrameKind.Result);
    assert.deepEqual(JSON.parse(decodeResultFrame(frames[0]![1]).payload.toString()), { got: { n: 1 } });

    await until(() => manager.lines.some((l) => l.functionName === 'remote' && l.logStream === identity.logStream && l.text.includes('on the worker')), 5000, 'the function log line at the manager');
    const beat = await until(() => manager.heartbeats.find((h) => h.hostId === worker!.hostId && h.body.sandboxes.includes(identity.id)), 5000, 'a heartbeat listing the sandbox');
    assert.ok(beat.body.cachedCode.includes(hex));
    assert.equal(manager.refused, 0);

    // SIGTERM: exit 0, sandboxes gone, and the manager hears so at once.
    const beatsBefore = manager.heartbeats.length;
    const exit = await worker.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, worker.stderr);
    const last = manager.heartbeats.slice(beatsBefore).at(-1);
    assert.ok(last, 'a last heartbeat at shutdown');
    assert.deepEqual(last.body.sandboxes, []);
    assert.deepEqual(last.body.ended, [{ id: identity.id, reason: 'the worker host shut down' }]);

    const hostId = worker.hostId;
    await pool.close();
    pool = undefined;
    await worker.restart();
    assert.equal(worker.hostId, hostId, 'a restarted worker is the same host');
  });

  test('a second worker on the same data folder is refused', async () => {
    assert.ok(worker?.running);
    const r = await runKindling(['worker', '--join', manager.url, '--data', worker.dataDir, '--sandbox', 'process'], { timeoutMs: 15_000 });
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /already using the data folder/);
  });

  test('bad flags exit 2 with a clear message', async () => {
    const data = await mkdtemp(join(tmpdir(), 'kindling-worker-flags-'));
    try {
      const cases: [string[], RegExp][] = [
        [[], /--join URL is required/],
        [['--join', 'not a url'], /--join takes the manager's http/],
        [['--join', 'ftp://x'], /--join takes the manager's http/],
        [['--join', manager.url, '--memory', 'lots'], /--memory takes MB/],
        [['--join', manager.url, '--memory', '64'], /--memory takes MB/],
        [['--join', manager.url, '--listen', 'nowhere'], /--listen takes HOST:PORT/],
        [['--join', manager.url, '--advertise', 'nope'], /--advertise takes an http/],
        [['--join', manager.url, '--sandbox', 'docker'], /--sandbox takes/],
      ];
      for (const [args, message] of cases) {
        const r = await runKindling(['worker', '--data', data, ...args]);
        assert.equal(r.code, 2, `${args.join(' ')}: ${describeRun(r)}`);
        assert.match(r.stderr, message);
      }
      // No key in the environment or the folder: nothing to sign with.
      const r = await runKindling(['worker', '--data', data, '--join', manager.url], { env: { KINDLING_ACCESS_KEY_ID: '', KINDLING_SECRET_ACCESS_KEY: '' } });
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr, /no root key to sign with/);
      assert.ok(!existsSync(join(data, 'host-id')), 'a refused start makes no host');
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});
