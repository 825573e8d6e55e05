// Backpressure of streamed responses, end to end: a function that streams 8 MiB to a client
// that stops reading for a while is held back (its writes stall) instead of the server
// buffering the whole response, and every byte still arrives intact. The function records,
// with timestamps, how far its writes had got; the response ends with that record.
// Runs through one `kindling up` (nodejs and provided runtimes, InvokeWithResponseStream and a
// RESPONSE_STREAM function URL) and through a manager with a worker host (remote sandboxes).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  CreateFunctionCommand,
  CreateFunctionUrlConfigCommand,
  InvokeWithResponseStreamCommand,
  PutFunctionConcurrencyCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, ROLE, startKindling, startWorker, zipWithModes, type KindlingServer } from '../helpers/kindling.js';
import { processSandboxArgs, until } from '../async/fakes.js';

const TOTAL = 16 * 1024 * 1024;
const BLOCK = 64 * 1024;
/** How long the client reads nothing: ample for 8 MiB to be written when nothing holds the function back. */
const PAUSE_MS = 3000;
/**
 * The stall is looked for in the pause's last STALL_MS. The kernel's loopback buffers fill
 * in steps of ~100 ms (seen: for 1-1.3 s on this 2-core VM, one more TCP hop on the provided
 * runtime's path) before the writes stop, so the first 2 s of the pause are left to them.
 */
const STALL_MS = 1000;

// Block i: 64 KiB of the byte i % 256, its first 4 bytes i (u32 BE). After the last block:
// "\n" and the JSON of [epoch ms, bytes written so far] after every write.
const NODE_STREAMER = `export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const samples = [];
  let written = 0;
  for (let i = 0; written < ${TOTAL}; i++) {
    const block = Buffer.alloc(${BLOCK}, i % 256);
    block.writeUInt32BE(i, 0);
    const ok = responseStream.write(block);
    written += block.length;
    samples.push([Date.now(), written]);
    if (!ok) await new Promise((r) => responseStream.once('drain', r));
  }
  responseStream.end('\\n' + JSON.stringify(samples));
});
`;

/** The same response from a provided runtime, through the Runtime API's streaming mode (Node's http client). */
const BOOTSTRAP_STREAMER = `#!/usr/bin/env node
const http = require('http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const next = () => new Promise((resolve, reject) => {
  http.get({ host, port, path: '/2018-06-01/runtime/invocation/next' }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.headers['lambda-runtime-aws-request-id']));
  }).on('error', reject);
});
(async () => {
  for (;;) {
    const id = await next();
    await new Promise((resolve, reject) => {
      const req = http.request({
        host, port, method: 'POST', path: '/2018-06-01/runtime/invocation/' + id + '/response',
        headers: { 'Lambda-Runtime-Function-Response-Mode': 'streaming', 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
      }, (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', reject);
      (async () => {
        const samples = [];
        let written = 0;
        for (let i = 0; written < ${TOTAL}; i++) {
          const block = Buffer.alloc(${BLOCK}, i % 256);
          block.writeUInt32BE(i, 0);
          const ok = req.write(block);
          written += block.length;
          samples.push([Date.now(), written]);
          if (!ok) await new Promise((r) => req.once('drain', r));
        }
        req.end('\\n' + JSON.stringify(samples));
      })();
    });
  }
})();
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Checks the body and returns how many bytes the function had written by `at` (epoch ms), and by STALL_MS before. */
function writtenBy(body: Buffer, at: number): { by: number; halfway: number } {
  assert.equal(body.length > TOTAL, true, `body of ${body.length} bytes`);
  for (let i = 0; i < TOTAL / BLOCK; i++) {
    const block = body.subarray(i * BLOCK, (i + 1) * BLOCK);
    assert.equal(block.readUInt32BE(0), i, `block ${i} in place`);
    const fill = i % 256;
    assert.ok(
      block.subarray(4).every((b) => b === fill),
      `block ${i} intact`,
    );
  }
  assert.equal(body[TOTAL], 0x0a);
  const samples = JSON.parse(body.subarray(TOTAL + 1).toString('utf8')) as [number, number][];
  assert.equal(samples.at(-1)![1], TOTAL);
  let by = 0;
  let halfway = 0;
  for (const [t, n] of samples) {
    if (t <= at) by = Math.max(by, n);
    if (t <= at - STALL_MS) halfway = Math.max(halfway, n);
  }
  return { by, halfway };
}

/**
 * Held back: while the client read nothing, the function's writes stalled (no progress in the
 * pause's last STALL_MS) well short of the end. What it did write sits in the window and in
 * the kernel's TCP buffers of each hop (a few MiB each on loopback), which nothing in user space
 * can shrink; without backpressure the whole response is written during the pause.
 */
function assertHeldBack({ by, halfway }: { by: number; halfway: number }, atMost = (TOTAL * 3) / 4): void {
  assert.ok(by <= atMost, `the function had written ${by} of ${TOTAL} bytes when the client resumed reading`);
  assert.equal(by, halfway, 'the writes stalled while the client read nothing');
}

/**
 * InvokeWithResponseStream: reads the first event, reads nothing for PAUSE_MS, then the rest.
 * On a connection of its own: a kept-alive one that carried megabytes fast before has kernel
 * buffers grown large enough to hide the whole response.
 */
async function pausedStreamInvoke(url: string, name: string): Promise<{ body: Buffer; resumedAt: number; complete: unknown }> {
  const client = lambdaClient(url);
  try {
    return await pausedRead(client, name);
  } finally {
    client.destroy();
  }
}

async function pausedRead(client: LambdaClient, name: string): Promise<{ body: Buffer; resumedAt: number; complete: unknown }> {
  const out = await client.send(new InvokeWithResponseStreamCommand({ FunctionName: name, Payload: Buffer.from('{}') }));
  const chunks: Buffer[] = [];
  let complete: unknown;
  let resumedAt = 0;
  for await (const ev of out.EventStream!) {
    if (ev.PayloadChunk?.Payload) chunks.push(Buffer.from(ev.PayloadChunk.Payload));
    if (ev.InvokeComplete) complete = ev.InvokeComplete;
    if (resumedAt === 0) {
      await sleep(PAUSE_MS);
      resumedAt = Date.now();
    }
  }
  return { body: Buffer.concat(chunks), resumedAt, complete };
}

/** A plain HTTP GET whose response is paused after its first bytes for PAUSE_MS. */
function pausedGet(url: string): Promise<{ status: number; body: Buffer; resumedAt: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let resumedAt = 0;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          if (resumedAt !== 0 || res.isPaused()) return;
          res.pause();
          setTimeout(() => {
            resumedAt = Date.now();
            res.resume();
          }, PAUSE_MS);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), resumedAt }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function createStreamers(client: LambdaClient): Promise<void> {
  await client.send(
    new CreateFunctionCommand({
      FunctionName: 'node-streamer',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      Timeout: 60,
      Code: { ZipFile: await makeZip({ 'index.mjs': NODE_STREAMER }) },
    }),
  );
  await client.send(
    new CreateFunctionCommand({
      FunctionName: 'provided-streamer',
      Runtime: 'provided.al2023',
      Handler: 'unused',
      Role: ROLE,
      Timeout: 60,
      Code: { ZipFile: await zipWithModes({ bootstrap: { data: BOOTSTRAP_STREAMER, mode: 0o755 } }) },
    }),
  );
}

describe('one kindling up', () => {
  let server: KindlingServer;
  let client: LambdaClient;

  before(async () => {
    server = await startKindling();
    client = lambdaClient(server.url);
    await createStreamers(client);
  });
  after(async () => {
    await server?.dispose();
  });

  test('nodejs streamifyResponse: a paused InvokeWithResponseStream client holds the writes back; all bytes arrive', async () => {
    const r = await pausedStreamInvoke(server.url, 'node-streamer');
    assert.deepEqual(r.complete, {});
    assertHeldBack(writtenBy(r.body, r.resumedAt));
  });

  test('provided runtime (Runtime API streaming): a paused client holds the runtime’s writes back; all bytes arrive', async () => {
    const r = await pausedStreamInvoke(server.url, 'provided-streamer');
    assert.deepEqual(r.complete, {});
    // One TCP hop more (the bootstrap's POST to the Runtime API), whose loopback buffers
    // held up to 11.6 of 16 MiB here: the stall short of the end is the test, as for a remote sandbox.
    assertHeldBack(writtenBy(r.body, r.resumedAt), TOTAL - 1);
  });

  test('a RESPONSE_STREAM function URL: a paused HTTP client holds the writes back; all bytes arrive', async () => {
    const created = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'node-streamer', AuthType: 'NONE', InvokeMode: 'RESPONSE_STREAM' }));
    const id = /^http:\/\/([a-z0-9]+)\.lambda-url\./.exec(created.FunctionUrl!)![1]!;
    const r = await pausedGet(`${server.url}/kindling/urls/${id}/`);
    assert.equal(r.status, 200);
    assertHeldBack(writtenBy(r.body, r.resumedAt));
  });

  test('a client that goes away while the function is held back does not leave the invoke waiting', async () => {
    // One sandbox at most: the next invoke is throttled for as long as the first one runs.
    await client.send(
      new CreateFunctionCommand({
        FunctionName: 'node-streamer-one',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: ROLE,
        Timeout: 120,
        Code: { ZipFile: await makeZip({ 'index.mjs': NODE_STREAMER }) },
      }),
    );
    await client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'node-streamer-one', ReservedConcurrentExecutions: 1 }));
    const created = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'node-streamer-one', AuthType: 'NONE', InvokeMode: 'RESPONSE_STREAM' }));
    const id = /^http:\/\/([a-z0-9]+)\.lambda-url\./.exec(created.FunctionUrl!)![1]!;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${server.url}/kindling/urls/${id}/`, (res) => {
        res.once('data', () => {
          // Read no more (the function is held back), then hang up.
          res.pause();
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 500);
        });
      });
      req.on('error', () => undefined);
      setTimeout(() => reject(new Error('no first bytes')), 30_000).unref();
    });
    // Held back forever, the first invoke would run into its 120 s timeout; released, it ends
    // and its sandbox takes this one.
    const r = await until(
      async () => {
        try {
          return await pausedStreamInvoke(server.url, 'node-streamer-one');
        } catch (err) {
          if ((err as Error).name === 'TooManyRequestsException') return undefined;
          throw err;
        }
      },
      60_000,
      'the first invoke to end',
    );
    assert.deepEqual(r.complete, {});
    assertHeldBack(writtenBy(r.body, r.resumedAt));
  });
});

describe('a manager and a worker host', () => {
  let manager: KindlingServer;
  let worker: KindlingServer;
  let client: LambdaClient;

  before(async () => {
    manager = await startKindling({ args: ['--role', 'manager', ...processSandboxArgs()] });
    worker = await startWorker(manager.url, processSandboxArgs());
    client = lambdaClient(manager.url);
    await createStreamers(client);
  });
  after(async () => {
    await worker?.dispose();
    await manager?.dispose();
  });

  test('through a remote sandbox, a paused client holds the writes back; all bytes arrive', async () => {
    const r = await pausedStreamInvoke(manager.url, 'node-streamer');
    assert.deepEqual(r.complete, {});
    // Two TCP hops more (worker host to manager, manager to client), whose loopback buffers
    // grow to several MiB each on a busy machine (12.7 MiB of 16 was seen stalled in CI): the
    // stall is the test here, short of the end.
    assertHeldBack(writtenBy(r.body, r.resumedAt), TOTAL - 1);
  });
});
