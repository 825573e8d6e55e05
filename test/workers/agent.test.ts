// The worker host's sandbox API (src/workers/remote/agent.ts) over a real
// WorkerHost with the `process` driver and a folder code store, driven over
// HTTP as the manager drives it; and the invoke frames' decoder.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'undici';
import type { FunctionVersion } from '../../src/control/model.js';
import { WorkerHost } from '../../src/host/host.js';
import type { FunctionLogSink, SandboxIdentity, SandboxResult } from '../../src/host/sandbox.js';
import { ProcessDriver } from '../../src/sandbox/process-driver.js';
import { FsCodeStore } from '../../src/store/fs-code.js';
import { WorkerAgent } from '../../src/workers/remote/agent.js';
import {
  decodeResultFrame,
  encodeInvokeFrame,
  encodeResultFrame,
  FrameKind,
  InvokeFrameDecoder,
  INVOKE_HEADER,
  type CreateSandboxRequest,
  type InitFailureBody,
  type InvokeRequestMeta,
} from '../../src/workers/remote/protocol.js';
import { makeZip } from '../helpers/kindling.js';
import { functionVersion } from '../helpers/records.js';

const TOKEN = 'test-token-0123456789';

class Lines implements FunctionLogSink {
  readonly lines: string[] = [];
  append(_fn: string, _stream: string, text: string): void {
    this.lines.push(text);
  }
}

let dir: string;
let code: FsCodeStore;
let host: WorkerHost;
let agent: WorkerAgent;
let pool: Pool;
const logs = new Lines();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kindling-agent-'));
  code = new FsCodeStore(join(dir, 'code'));
  host = new WorkerHost({
    id: 'agent-test',
    memoryMb: 4096,
    dir: join(dir, 'host'),
    driver: new ProcessDriver(),
    code,
    logs,
    account: { region: 'us-east-1', accountId: '000000000000' },
  });
  await host.start();
  agent = new WorkerAgent(host, TOKEN);
  const { port } = await agent.listen(0, '127.0.0.1');
  pool = new Pool(`http://127.0.0.1:${port}`);
});

after(async () => {
  await pool?.close();
  await agent?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A function version whose code is `files`, stored in the test's code store. */
async function fnWith(name: string, files: Record<string, string>, extra: Partial<FunctionVersion> = {}): Promise<FunctionVersion> {
  const stored = await code.put(await makeZip(files));
  return functionVersion(name, { timeout: 10, codeSha256: stored.sha256Base64, codeSize: stored.size, ...extra });
}

const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });

async function call(method: 'POST' | 'DELETE' | 'GET', path: string, opts: { body?: string | Buffer; headers?: Record<string, string> } = {}) {
  const res = await pool.request({ method, path, headers: { ...auth(), ...opts.headers }, body: opts.body ?? null });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

async function create(fn: FunctionVersion): Promise<SandboxIdentity> {
  const req: CreateSandboxRequest = { fn, options: {}, settings: {} };
  const res = await call('POST', '/sandboxes', { body: JSON.stringify(req), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 201, res.text);
  return (res.json as { identity: SandboxIdentity }).identity;
}

interface Framed {
  kind: FrameKind;
  bytes: Buffer;
  /** ms since the request was sent. */
  at: number;
}

const meta = (extra: Partial<InvokeRequestMeta> = {}): InvokeRequestMeta => ({
  requestId: randomUUID(),
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn',
  traceId: 'Root=1-00000000-000000000000000000000000',
  tail: false,
  stream: false,
  ...extra,
});

/** An invoke: the frames as they arrived, and the RESULT decoded; or the refusal's status and body. */
async function invoke(id: string, payload: unknown, m: InvokeRequestMeta = meta(), token = TOKEN) {
  const started = performance.now();
  const res = await pool.request({
    method: 'POST',
    path: `/sandboxes/${id}/invoke`,
    headers: { ...auth(token), [INVOKE_HEADER]: JSON.stringify(m) },
    body: typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload),
  });
  const frames: Framed[] = [];
  const decoder = new InvokeFrameDecoder((kind, bytes) => frames.push({ kind, bytes: Buffer.from(bytes), at: performance.now() - started }));
  const raw: Buffer[] = [];
  for await (const chunk of res.body) {
    raw.push(chunk as Buffer);
    if (res.statusCode === 200) decoder.push(chunk as Buffer);
  }
  const last = frames.at(-1);
  const result: SandboxResult | undefined = last?.kind === FrameKind.Result ? decodeResultFrame(last.bytes) : undefined;
  return { status: res.statusCode, headers: res.headers, frames, result, text: Buffer.concat(raw).toString('utf8') };
}

describe('the sandbox API', () => {
  let echo: FunctionVersion;
  before(async () => {
    echo = await fnWith('echo', {
      'index.mjs': `export const handler = async (event) => {
  console.log('got', JSON.stringify(event));
  if (event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  if (event.exit) process.exit(3);
  return { echo: event, pid: process.pid };
};
`,
    });
  });

  test('every request needs the bearer token', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { authorization: TOKEN }, { authorization: `Bearer ${TOKEN}x` }]) {
      const res = await pool.request({ method: 'POST', path: '/sandboxes', headers, body: '{}' });
      assert.equal(res.statusCode, 401);
      await res.body.text();
    }
    const res = await invoke('anything', {}, meta(), 'nope');
    assert.equal(res.status, 401);
  });

  test('create, then invoke: one RESULT frame with the function\'s answer', async () => {
    const identity = await create(echo);
    assert.equal(identity.functionName, 'echo');
    assert.equal(identity.version, '$LATEST');
    assert.equal(identity.memoryMb, 128);
    assert.match(identity.logStream, /\[\$LATEST\]/);
    assert.ok(agent.liveSandboxes().includes(identity.id));
    assert.ok(host.cachedCodeHex().includes(Buffer.from(echo.codeSha256, 'base64').toString('hex')));

    const first = await invoke(identity.id, { hello: 'world' }, meta({ tail: true }));
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.frames.map((f) => f.kind), [FrameKind.Result]);
    const r = first.result!;
    const answer = JSON.parse(r.payload.toString()) as { echo: unknown; pid: number };
    assert.deepEqual(answer.echo, { hello: 'world' });
    assert.equal(r.functionError, undefined);
    assert.equal(r.reusable, true);
    assert.ok(r.initDurationMs !== undefined, 'the first invoke reports its Init');
    assert.match(Buffer.from(r.logResult!, 'base64').toString(), /got \{"hello":"world"\}[\s\S]*REPORT RequestId/);
    assert.ok(logs.lines.some((l) => l.includes('got {"hello":"world"}')));

    // Warm: the same process, no Init.
    const second = await invoke(identity.id, { n: 2 });
    assert.equal(second.status, 200);
    assert.equal((JSON.parse(second.result!.payload.toString()) as { pid: number }).pid, answer.pid);
    assert.equal(second.result!.initDurationMs, undefined);
  });

  test('an invoke of a busy sandbox is refused with 409; of an unknown one with 404', async () => {
    const { id } = await create(echo);
    const slow = invoke(id, { sleepMs: 600 });
    await new Promise((r) => setTimeout(r, 150));
    const busy = await invoke(id, {});
    assert.equal(busy.status, 409, busy.text);
    assert.equal((await slow).status, 200);
    assert.equal((await invoke('no-such-sandbox', {})).status, 404);
  });

  test('a payload over 7 MB is refused with 413', async () => {
    const { id } = await create(echo);
    const res = await invoke(id, Buffer.alloc(7 * 1024 * 1024 + 1, 'a'));
    assert.equal(res.status, 413, res.text);
    // The sandbox was not taken.
    assert.equal((await invoke(id, { after: 'big' })).status, 200);
  });

  test('a bad invoke header is a 400', async () => {
    const { id } = await create(echo);
    const res = await pool.request({ method: 'POST', path: `/sandboxes/${id}/invoke`, headers: { ...auth(), [INVOKE_HEADER]: '{"requestId": 1}' }, body: '{}' });
    assert.equal(res.statusCode, 400);
    await res.body.text();
  });

  test('a streamed response arrives as START and CHUNKs, as the function writes them, before RESULT', async () => {
    const fn = await fnWith('streamer', {
      'index.mjs': `export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType('application/x-ndjson');
  for (let i = 0; i < 4; i++) {
    responseStream.write(JSON.stringify({ i }) + '\\n');
    await new Promise((r) => setTimeout(r, 150));
  }
  responseStream.end();
});
`,
    });
    const { id } = await create(fn);
    const res = await invoke(id, {}, meta({ stream: true }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    const kinds = res.frames.map((f) => f.kind);
    assert.equal(kinds[0], FrameKind.Start);
    assert.equal(res.frames[0]!.bytes.toString(), 'application/x-ndjson');
    assert.equal(kinds.at(-1), FrameKind.Result);
    const chunks = res.frames.filter((f) => f.kind === FrameKind.Chunk);
    assert.ok(chunks.length >= 4, `chunks: ${chunks.length}`);
    assert.equal(Buffer.concat(chunks.map((c) => c.bytes)).toString(), '{"i":0}\n{"i":1}\n{"i":2}\n{"i":3}\n');
    // The first chunk came while the function was still writing, not with the end.
    const resultAt = res.frames.at(-1)!.at;
    assert.ok(resultAt - chunks[0]!.at >= 300, `first chunk at ${chunks[0]!.at} ms, result at ${resultAt} ms`);
    const r = res.result!;
    assert.equal(r.streamed, true);
    assert.equal(r.contentType, 'application/x-ndjson');
    assert.equal(r.payload.length, 0);

    // Without stream: the same function's response, buffered into RESULT.
    const buffered = await invoke(id, {});
    assert.deepEqual(buffered.frames.map((f) => f.kind), [FrameKind.Result]);
    assert.equal(buffered.result!.payload.toString(), '{"i":0}\n{"i":1}\n{"i":2}\n{"i":3}\n');
    assert.equal(buffered.result!.streamed, undefined);
  });

  test('an Init failure is a 422 with the error type, body and logs', async () => {
    const fn = await fnWith('broken', {
      'index.mjs': `console.log('starting up');\nthrow new TypeError('cannot start');\n`,
    });
    const res = await call('POST', '/sandboxes', { body: JSON.stringify({ fn, options: {}, settings: {} } satisfies CreateSandboxRequest) });
    assert.equal(res.status, 422, res.text);
    const failure = res.json as InitFailureBody;
    assert.equal(failure.errorType, 'TypeError');
    const body = JSON.parse(Buffer.from(failure.body, 'base64').toString()) as { errorType: string; errorMessage: string };
    assert.equal(body.errorType, 'TypeError');
    assert.equal(body.errorMessage, 'cannot start');
    assert.match(failure.logs, /starting up/);
    assert.equal(typeof failure.durationMs, 'number');

    const missing = await fnWith('missing-handler', { 'index.mjs': 'export const other = 1;\n' });
    const res2 = await call('POST', '/sandboxes', { body: JSON.stringify({ fn: missing, options: {}, settings: {} }) });
    assert.equal(res2.status, 422);
    assert.equal((res2.json as InitFailureBody).errorType, 'Runtime.HandlerNotFound');
  });

  test('code missing from the code store is a 500 with a message', async () => {
    const fn = await fnWith('gone', { 'index.mjs': 'export const handler = async () => 1;\n' });
    await code.delete(Buffer.from(fn.codeSha256, 'base64').toString('hex'));
    const res = await call('POST', '/sandboxes', { body: JSON.stringify({ fn, options: {}, settings: {} }) });
    assert.equal(res.status, 500);
    assert.match((res.json as { message: string }).message, /not in the code store/);
  });

  test('DELETE kills or destroys a sandbox; an invoke of it then gets 404; the manager\'s ends are not reported back', async () => {
    agent.takeEnded();
    const killed = await create(echo);
    assert.equal((await call('DELETE', `/sandboxes/${killed.id}?how=kill`)).status, 204);
    assert.equal((await invoke(killed.id, {})).status, 404);

    const destroyed = await create(echo);
    assert.equal((await invoke(destroyed.id, {})).status, 200);
    assert.equal((await call('DELETE', `/sandboxes/${destroyed.id}?how=destroy`)).status, 204);
    assert.equal((await invoke(destroyed.id, {})).status, 404);
    assert.ok(!agent.liveSandboxes().includes(destroyed.id));

    // Unknown: nothing to do, still 204; a bad `how` is a 400.
    assert.equal((await call('DELETE', '/sandboxes/unknown?how=kill')).status, 204);
    assert.equal((await call('DELETE', `/sandboxes/${destroyed.id}?how=explode`)).status, 400);

    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!agent.liveSandboxes().includes(killed.id));
    assert.deepEqual(agent.takeEnded().filter((e) => e.id === killed.id || e.id === destroyed.id), []);
  });

  test('a sandbox that dies on its own is reported for the next heartbeat, with why', async () => {
    agent.takeEnded();
    const { id } = await create(echo);
    const res = await invoke(id, { exit: true });
    assert.equal(res.status, 200);
    assert.equal(res.result!.errorType, 'Runtime.ExitError');
    assert.equal(res.result!.reusable, false);
    let ended: { id: string; reason: string }[] = [];
    for (let i = 0; i < 50 && ended.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      ended = agent.takeEnded();
    }
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.id, id);
    assert.match(ended[0]!.reason, /^Runtime\.ExitError: .*exit status 3/);
    assert.ok(!agent.liveSandboxes().includes(id));
    assert.equal((await invoke(id, {})).status, 404);
    // Handed over once.
    assert.deepEqual(agent.takeEnded(), []);
  });
});

describe('InvokeFrameDecoder', () => {
  const result: SandboxResult = { payload: Buffer.from('{"ok":true}'), durationMs: 12.5, reusable: true, streamed: true, contentType: 'text/plain' };
  const frames: [FrameKind, Buffer][] = [
    [FrameKind.Start, Buffer.from('text/plain')],
    [FrameKind.Chunk, Buffer.from('first chunk;')],
    [FrameKind.Chunk, Buffer.alloc(0)],
    [FrameKind.Chunk, Buffer.from('ünïcödé ✓')],
  ];
  const wire = Buffer.concat([...frames.map(([k, b]) => encodeInvokeFrame(k, b)), encodeResultFrame(result)]);

  const decodeIn = (pieces: Buffer[]) => {
    const out: [FrameKind, Buffer][] = [];
    const d = new InvokeFrameDecoder((kind, bytes) => out.push([kind, Buffer.from(bytes)]));
    for (const p of pieces) d.push(p);
    return out;
  };

  const check = (out: [FrameKind, Buffer][], where: string) => {
    assert.equal(out.length, frames.length + 1, where);
    for (let i = 0; i < frames.length; i++) {
      assert.equal(out[i]![0], frames[i]![0], where);
      assert.ok(out[i]![1].equals(frames[i]![1]), where);
    }
    assert.equal(out[frames.length]![0], FrameKind.Result, where);
    assert.deepEqual(decodeResultFrame(out[frames.length]![1]), result, where);
  };

  test('decodes whole', () => check(decodeIn([wire]), 'whole'));

  test('decodes a body split at every byte boundary', () => {
    for (let i = 0; i <= wire.length; i++) check(decodeIn([wire.subarray(0, i), wire.subarray(i)]), `split at ${i}`);
  });

  test('decodes a body split at every pair of boundaries, and byte by byte', () => {
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) check(decodeIn([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)]), `split at ${i} and ${j}`);
    }
    check(decodeIn([...wire].map((b) => Buffer.from([b]))), 'byte by byte');
  });

  test('holds back a frame until it is whole', () => {
    const out = decodeIn([wire.subarray(0, wire.length - 1)]);
    assert.equal(out.length, frames.length, 'the RESULT frame is one byte short');
  });
});
