// Response streaming inside the sandbox: the ResponseStart / ResponseChunk / ResponseEnd frames
// from the Node.js runtime (awslambda.streamifyResponse) and the Runtime API's streaming mode.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FrameType, STREAM_WINDOW_BYTES, type Frame } from '../../src/guest/protocol.js';
import { until } from '../async/fakes.js';
import { Agent, fixture, FrameName, lambdaEnv, newRequestId, removeFixture } from './harness.js';

const dirs: string[] = [];
const agents: Agent[] = [];
after(async () => {
  for (const a of agents) await a.close();
  dirs.forEach(removeFixture);
});

async function start(family: 'nodejs' | 'provided', files: Record<string, string>, handler = 'index.handler'): Promise<Agent> {
  const taskRoot = fixture(files);
  dirs.push(taskRoot);
  const agent = new Agent();
  agents.push(agent);
  agent.init({ family, handler, taskRoot, env: lambdaEnv(taskRoot) });
  await agent.ready();
  return agent;
}

/** Sends an Invoke; returns the frames up to its end (ResponseEnd, Response, Error or Exit). */
async function invoke(agent: Agent, event: unknown = {}): Promise<{ id: string; frames: Frame[]; end: Frame }> {
  const id = newRequestId();
  agent.send(
    FrameType.Invoke,
    { requestId: id, deadlineMs: Date.now() + 30_000, invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn', traceId: '' },
    JSON.stringify(event),
  );
  const { frame, frames } = await agent.until([FrameType.ResponseEnd, FrameType.Response, FrameType.Error, FrameType.Exit]);
  return { id, frames, end: frame };
}

const kinds = (frames: Frame[]): string[] => frames.filter((f) => f.type !== FrameType.Log).map((f) => FrameName[f.type]!);
const body = (frames: Frame[]): string =>
  Buffer.concat(frames.filter((f) => f.type === FrameType.ResponseChunk).map((f) => f.payload)).toString('utf8');

describe('nodejs: awslambda.streamifyResponse', () => {
  it('sends ResponseStart with the content type, a chunk per write, then ResponseEnd', async () => {
    const agent = await start('nodejs', {
      'index.mjs': `export const handler = awslambda.streamifyResponse(async (event, stream, context) => {
  stream.setContentType('text/plain');
  stream.write('one;');
  await new Promise((r) => setTimeout(r, 30));
  console.log('between');
  stream.write('two;');
  stream.end('three;');
});
`,
    });
    const { id, frames, end } = await invoke(agent);
    assert.deepEqual(kinds(frames), ['ResponseStart', 'ResponseChunk', 'ResponseChunk', 'ResponseChunk', 'ResponseEnd']);
    assert.deepEqual(frames.find((f) => f.type === FrameType.ResponseStart)!.meta, { requestId: id, contentType: 'text/plain' });
    assert.equal(body(frames), 'one;two;three;');
    assert.deepEqual(end.meta, { requestId: id });
    // The log line written between the chunks comes between them.
    const logAt = frames.findIndex((f) => f.type === FrameType.Log && f.payload.toString().includes('between'));
    const chunkAt = frames.findIndex((f) => f.type === FrameType.ResponseChunk);
    assert.ok(logAt > chunkAt, 'log after the first chunk');
    // The sandbox takes the next invoke.
    const again = await invoke(agent);
    assert.equal(body(again.frames), 'one;two;three;');
  });

  it('an error after the stream started is ResponseEnd with errorType and the error body', async () => {
    const agent = await start('nodejs', {
      'index.mjs': `export const handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.write('partial');
  await new Promise((r) => setTimeout(r, 10));
  throw new RangeError('nope');
});
`,
    });
    const { id, frames, end } = await invoke(agent);
    assert.equal(body(frames), 'partial');
    assert.equal(end.type, FrameType.ResponseEnd);
    assert.deepEqual(end.meta, { requestId: id, errorType: 'RangeError' });
    const err = JSON.parse(end.payload.toString()) as { errorType: string; errorMessage: string };
    assert.equal(err.errorType, 'RangeError');
    assert.equal(err.errorMessage, 'nope');
  });

  it('an error before anything was written is an ordinary Error frame', async () => {
    const agent = await start('nodejs', {
      'index.mjs': `export const handler = awslambda.streamifyResponse(async () => { throw new Error('early'); });\n`,
    });
    const { end } = await invoke(agent);
    assert.equal(end.type, FrameType.Error);
    assert.equal(end.meta.errorType, 'Error');
  });

  it('HttpResponseStream.from writes the prelude and 8 NUL bytes before the body', async () => {
    const agent = await start('nodejs', {
      'index.mjs': `export const handler = awslambda.streamifyResponse(async (event, stream) => {
  stream = awslambda.HttpResponseStream.from(stream, { statusCode: 404, headers: { a: 'b' } });
  stream.end('gone');
});
`,
    });
    const { frames } = await invoke(agent);
    assert.equal(frames.find((f) => f.type === FrameType.ResponseStart)!.meta.contentType, 'application/vnd.awslambda.http-integration-response');
    assert.equal(body(frames), '{"statusCode":404,"headers":{"a":"b"}}' + '\0'.repeat(8) + 'gone');
  });

  it('an ordinary handler still answers with one Response frame', async () => {
    const agent = await start('nodejs', { 'index.mjs': 'export const handler = async (e) => ({ got: e });\n' });
    const { end, frames } = await invoke(agent, { x: 1 });
    assert.deepEqual(kinds(frames), ['Response']);
    assert.equal(end.payload.toString(), '{"got":{"x":1}}');
  });
});

const STREAMING_BOOTSTRAP = `#!/usr/bin/env node
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
    await new Promise((resolve) => {
      const req = http.request({ host, port, method: 'POST', path: '/2018-06-01/runtime/invocation/' + id + '/response',
        headers: { 'Lambda-Runtime-Function-Response-Mode': 'streaming', 'Content-Type': 'text/event-stream', 'Transfer-Encoding': 'chunked' } },
        (res) => { let t = ''; res.on('data', (c) => (t += c)); res.on('end', () => { console.log('status ' + res.statusCode); resolve(); }); });
      req.on('error', () => resolve());
      if (event.big) {
        const block = Buffer.alloc(1024 * 1024, 120);
        for (let i = 0; i < 21; i++) req.write(block);
        req.end();
        return;
      }
      req.write('a;');
      setTimeout(() => {
        req.write('b;');
        if (event.fail) req.addTrailers({ 'Lambda-Runtime-Function-Error-Type': 'My.Error', 'Lambda-Runtime-Function-Error-Body': Buffer.from('{"errorType":"My.Error","errorMessage":"bad"}').toString('base64') });
        req.end();
      }, 30);
    });
  }
})();
`;

describe("provided: the Runtime API's streaming response mode", () => {
  it('forwards each chunk as it arrives, then ResponseEnd', async () => {
    const agent = await start('provided', { bootstrap: STREAMING_BOOTSTRAP }, 'x');
    const { id, frames, end } = await invoke(agent);
    assert.deepEqual(frames.find((f) => f.type === FrameType.ResponseStart)!.meta, { requestId: id, contentType: 'text/event-stream' });
    assert.ok(frames.filter((f) => f.type === FrameType.ResponseChunk).length >= 2);
    assert.equal(body(frames), 'a;b;');
    assert.deepEqual(end.meta, { requestId: id });
  });

  it('error trailers end the stream with their type and the decoded body', async () => {
    const agent = await start('provided', { bootstrap: STREAMING_BOOTSTRAP }, 'x');
    const { id, frames, end } = await invoke(agent, { fail: true });
    assert.equal(body(frames), 'a;b;');
    assert.deepEqual(end.meta, { requestId: id, errorType: 'My.Error' });
    assert.equal(end.payload.toString(), '{"errorType":"My.Error","errorMessage":"bad"}');
  });

  it('more than 20 MiB ends the stream with Function.ResponseSizeTooLarge', async () => {
    const agent = await start('provided', { bootstrap: STREAMING_BOOTSTRAP }, 'x');
    const { frames, end } = await invoke(agent, { big: true });
    assert.equal(end.type, FrameType.ResponseEnd);
    assert.equal(end.meta.errorType, 'Function.ResponseSizeTooLarge');
    assert.ok(body(frames).length <= 20 * 1024 * 1024);
  });
});

describe('backpressure: the host grants credit for streamed bytes', () => {
  const TOTAL = 16 * 1024 * 1024;
  const BLOCK = 64 * 1024;
  // Each writes TOTAL bytes in 64 KiB writes, waiting for 'drain' when write() says so, and
  // logs how far it got after every write.
  const NODE_WRITER = `export const handler = awslambda.streamifyResponse(async (event, stream) => {
  let written = 0;
  while (written < ${TOTAL}) {
    const ok = stream.write(Buffer.alloc(${BLOCK}, 97));
    written += ${BLOCK};
    console.log('written ' + written);
    if (!ok) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
});
`;
  const BOOTSTRAP_WRITER = `#!/usr/bin/env node
const http = require('http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
http.get({ host, port, path: '/2018-06-01/runtime/invocation/next' }, (res) => {
  res.resume();
  res.on('end', async () => {
    const id = res.headers['lambda-runtime-aws-request-id'];
    const req = http.request({ host, port, method: 'POST', path: '/2018-06-01/runtime/invocation/' + id + '/response',
      headers: { 'Lambda-Runtime-Function-Response-Mode': 'streaming', 'Transfer-Encoding': 'chunked' } }, (r) => r.resume());
    let written = 0;
    while (written < ${TOTAL}) {
      const ok = req.write(Buffer.alloc(${BLOCK}, 97));
      written += ${BLOCK};
      console.log('written ' + written);
      if (!ok) await new Promise((r) => req.once('drain', r));
    }
    req.end();
  });
});
`;
  const sent = (agent: Agent): number => body(agent.frames).length;
  const lastWritten = (agent: Agent): number => {
    const text = agent.frames.filter((f) => f.type === FrameType.Log).map((f) => f.payload.toString()).join('');
    const all = [...text.matchAll(/written (\d+)/g)];
    return Number(all.at(-1)?.[1] ?? 0);
  };

  for (const [family, files] of [
    ['nodejs', { 'index.mjs': NODE_WRITER }],
    ['provided', { bootstrap: BOOTSTRAP_WRITER }],
  ] as const) {
    it(`${family}: no more than the window goes out without credit; the writes stall; credit lets them finish`, async () => {
      const agent = await start(family, files, family === 'nodejs' ? 'index.handler' : 'x');
      agent.autoCredit = false;
      const id = newRequestId();
      agent.send(FrameType.Invoke, { requestId: id, deadlineMs: Date.now() + 60_000, invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn', traceId: '' }, '{}');
      await until(() => sent(agent) >= STREAM_WINDOW_BYTES, 10_000, 'the window to be sent');
      // Nothing more comes while no credit does.
      await new Promise((r) => setTimeout(r, 500));
      const first = sent(agent);
      const written = lastWritten(agent);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(sent(agent), first, 'no chunk past the window');
      assert.ok(first < STREAM_WINDOW_BYTES + BLOCK, `${first} bytes sent on a ${STREAM_WINDOW_BYTES}-byte window`);
      // The function itself is held back: its writes stopped (what it did write past the window
      // waits in its stream and, for provided, in the kernel's TCP buffers).
      assert.equal(lastWritten(agent), written, 'the writes stalled');
      assert.ok(written < TOTAL / 2, `the function wrote ${written} of ${TOTAL} bytes`);
      // Credit for what arrived, and from now on as it arrives: the stream finishes.
      agent.autoCredit = true;
      agent.credit(first);
      const { frame: end, frames } = await agent.until([FrameType.ResponseEnd, FrameType.Error, FrameType.Exit], 30_000);
      assert.deepEqual(end.meta, { requestId: id });
      // (The frames since Ready: the chunks before the credit too.)
      assert.equal(body(frames).length, TOTAL);
    });
  }
});
