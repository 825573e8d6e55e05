// Response streaming end to end: a real `kindling up`, InvokeWithResponseStream through
// @aws-sdk/client-lambda, the Runtime API's streaming mode, and RESPONSE_STREAM function URLs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateFunctionCommand,
  CreateFunctionUrlConfigCommand,
  InvokeCommand,
  InvokeWithResponseStreamCommand,
  type InvokeWithResponseStreamCommandOutput,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, ROLE, startKindling, type KindlingServer, zipWithModes } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;

const CHUNKS = `export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType('application/x-ndjson');
  for (let i = 0; i < 5; i++) {
    responseStream.write(JSON.stringify({ i, writtenAt: Date.now() }) + '\\n');
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log('all written');
  responseStream.end();
});
`;

const FAILS = `export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('first part;');
  await new Promise((r) => setTimeout(r, 20));
  throw new TypeError('broke mid-stream');
});
`;

const PIPELINE = `import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  await pipeline(Readable.from(['a', 'b', 'c']), responseStream);
});
`;

const HTTP = `export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201,
    headers: { 'Content-Type': 'text/plain', 'X-Custom': 'yes' },
    cookies: ['a=1', 'b=2'],
  });
  for (let i = 0; i < 3; i++) {
    responseStream.write('part' + i + ';');
    await new Promise((r) => setTimeout(r, 100));
  }
  responseStream.end();
});
`;

/** A provided bootstrap (a node script) using the Runtime API's streaming response mode. */
const BOOTSTRAP = `#!/usr/bin/env node
const http = require('http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
function next() {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: '/2018-06-01/runtime/invocation/next' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ id: res.headers['lambda-runtime-aws-request-id'], event: JSON.parse(Buffer.concat(chunks).toString()) }));
    }).on('error', reject);
  });
}
(async () => {
  for (;;) {
    const { id, event } = await next();
    await new Promise((resolve, reject) => {
      const req = http.request({
        host, port, method: 'POST', path: '/2018-06-01/runtime/invocation/' + id + '/response',
        headers: { 'Lambda-Runtime-Function-Response-Mode': 'streaming', 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked', Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body' },
      }, (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', reject);
      let i = 0;
      const tick = () => {
        if (i < 3) { req.write('chunk' + i++ + ';'); setTimeout(tick, 50); return; }
        if (event.fail) {
          req.addTrailers({
            'Lambda-Runtime-Function-Error-Type': 'Custom.Failure',
            'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify({ errorType: 'Custom.Failure', errorMessage: 'bootstrap failed' })).toString('base64'),
          });
        }
        req.end();
      };
      tick();
    });
  }
})();
`;

interface Received {
  chunks: { bytes: Buffer; at: number }[];
  complete: { ErrorCode?: string; ErrorDetails?: string; LogResult?: string } | undefined;
  out: InvokeWithResponseStreamCommandOutput;
}

async function streamInvoke(name: string, payload: unknown = {}, extra: Record<string, unknown> = {}): Promise<Received> {
  const out = await client.send(new InvokeWithResponseStreamCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)), ...extra }));
  const chunks: Received['chunks'] = [];
  let complete: Received['complete'];
  for await (const ev of out.EventStream!) {
    if (ev.PayloadChunk) chunks.push({ bytes: Buffer.from(ev.PayloadChunk.Payload ?? new Uint8Array()), at: Date.now() });
    if (ev.InvokeComplete) {
      assert.equal(complete, undefined, 'one InvokeComplete');
      complete = ev.InvokeComplete;
    }
  }
  return { chunks, complete, out };
}

async function create(name: string, files: Record<string, string>, extra: Record<string, unknown> = {}): Promise<void> {
  await client.send(
    new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await makeZip(files) }, Timeout: 10, ...extra }),
  );
}

before(async () => {
  server = await startKindling();
  client = lambdaClient(server.url);
  await create('chunks', { 'index.mjs': CHUNKS });
  await create('fails', { 'index.mjs': FAILS });
  await create('pipeline', { 'index.mjs': PIPELINE });
  await create('http', { 'index.mjs': HTTP });
  await create('buffered', { 'index.mjs': 'export const handler = async (event) => ({ echoed: event });\n' });
  await create('slow', { 'index.mjs': `export const handler = awslambda.streamifyResponse(async (e, s) => { s.write('before'); await new Promise(() => setInterval(() => {}, 1000)); });\n` }, { Timeout: 1 });
  await client.send(
    new CreateFunctionCommand({
      FunctionName: 'custom',
      Runtime: 'provided.al2023',
      Handler: 'unused',
      Role: ROLE,
      Code: { ZipFile: await zipWithModes({ bootstrap: { data: BOOTSTRAP, mode: 0o755 } }) },
    }),
  );
});

after(async () => {
  await server?.dispose();
});

describe('InvokeWithResponseStream', () => {
  test('chunks arrive as separate PayloadChunk events, in order, while the handler still runs', async () => {
    const r = await streamInvoke('chunks');
    assert.equal(r.out.StatusCode, 200);
    assert.equal(r.out.ExecutedVersion, '$LATEST');
    // The SDK's ResponseStreamContentType is the HTTP Content-Type: the event stream's.
    assert.equal(r.out.ResponseStreamContentType, 'application/vnd.amazon.eventstream');
    assert.deepEqual(r.complete, {});
    const lines = r.chunks.map((c) => JSON.parse(c.bytes.toString('utf8')) as { i: number; writtenAt: number });
    assert.deepEqual(
      lines.map((l) => l.i),
      [0, 1, 2, 3, 4],
    );
    // The first chunk was received before the last one was written: it was streamed, not buffered.
    assert.ok(r.chunks[0]!.at <= lines[4]!.writtenAt, `first received at ${r.chunks[0]!.at}, last written at ${lines[4]!.writtenAt}`);
  });

  test('an error thrown mid-stream ends it with InvokeComplete ErrorCode / ErrorDetails', async () => {
    const r = await streamInvoke('fails');
    assert.equal(r.out.StatusCode, 200);
    assert.equal(Buffer.concat(r.chunks.map((c) => c.bytes)).toString(), 'first part;');
    assert.equal(r.complete?.ErrorCode, 'TypeError');
    assert.equal(r.complete?.ErrorDetails, 'broke mid-stream');
  });

  test('pipeline() into the responseStream works', async () => {
    const r = await streamInvoke('pipeline');
    assert.equal(Buffer.concat(r.chunks.map((c) => c.bytes)).toString(), 'abc');
    assert.deepEqual(r.complete, {});
  });

  test('a buffered handler streams its whole response as one chunk', async () => {
    const r = await streamInvoke('buffered', { hello: 'world' });
    assert.equal(r.chunks.length, 1);
    assert.deepEqual(JSON.parse(r.chunks[0]!.bytes.toString()), { echoed: { hello: 'world' } });
    assert.deepEqual(r.complete, {});
  });

  test('a streaming handler through the ordinary Invoke is buffered', async () => {
    const out = await client.send(new InvokeCommand({ FunctionName: 'pipeline', Payload: Buffer.from('{}') }));
    assert.equal(out.FunctionError, undefined);
    assert.equal(Buffer.from(out.Payload!).toString(), 'abc');
  });

  test('X-Amz-Log-Type Tail puts the log tail in InvokeComplete.LogResult', async () => {
    const r = await streamInvoke('chunks', {}, { LogType: 'Tail' });
    const log = Buffer.from(r.complete?.LogResult ?? '', 'base64').toString();
    assert.match(log, /all written/);
    assert.match(log, /REPORT RequestId:/);
  });

  test('a timeout ends the stream with Sandbox.Timedout', async () => {
    const r = await streamInvoke('slow');
    assert.equal(Buffer.concat(r.chunks.map((c) => c.bytes)).toString(), 'before');
    assert.equal(r.complete?.ErrorCode, 'Sandbox.Timedout');
    assert.match(r.complete?.ErrorDetails ?? '', /Task timed out after 1\.00 seconds/);
  });

  test('DryRun answers 204 with the version', async () => {
    const out = await client.send(new InvokeWithResponseStreamCommand({ FunctionName: 'chunks', InvocationType: 'DryRun' }));
    assert.equal(out.StatusCode, 204);
  });

  test("a provided bootstrap streams through the Runtime API's streaming mode", async () => {
    const r = await streamInvoke('custom');
    assert.equal(Buffer.concat(r.chunks.map((c) => c.bytes)).toString(), 'chunk0;chunk1;chunk2;');
    assert.deepEqual(r.complete, {});
  });

  test('error trailers end a Runtime API stream with the error', async () => {
    const r = await streamInvoke('custom', { fail: true });
    assert.equal(Buffer.concat(r.chunks.map((c) => c.bytes)).toString(), 'chunk0;chunk1;chunk2;');
    assert.equal(r.complete?.ErrorCode, 'Custom.Failure');
    assert.equal(r.complete?.ErrorDetails, 'bootstrap failed');
  });
});

describe('function URLs in RESPONSE_STREAM mode', () => {
  test("HttpResponseStream.from's prelude sets status, headers and cookies; the body streams chunk by chunk", async () => {
    const created = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'http', AuthType: 'NONE', InvokeMode: 'RESPONSE_STREAM' }));
    const id = /^http:\/\/([a-z0-9]+)\.lambda-url\./.exec(created.FunctionUrl!)![1]!;
    const res = await fetch(`${server.url}/kindling/urls/${id}/`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(res.headers.get('content-length'), null);
    const reader = res.body!.getReader();
    const pieces: string[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pieces.push(Buffer.from(value).toString());
    }
    assert.equal(pieces.join(''), 'part0;part1;part2;');
    // 100 ms between writes: the body came in more than one read.
    assert.ok(pieces.length > 1, `pieces: ${JSON.stringify(pieces)}`);
  });

  test('a buffered function behind a RESPONSE_STREAM URL answers as usual', async () => {
    const created = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'buffered', AuthType: 'NONE', InvokeMode: 'RESPONSE_STREAM' }));
    const id = /^http:\/\/([a-z0-9]+)\.lambda-url\./.exec(created.FunctionUrl!)![1]!;
    const res = await fetch(`${server.url}/kindling/urls/${id}/x`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { echoed: { rawPath: string } };
    assert.equal(body.echoed.rawPath, '/x');
  });
});
