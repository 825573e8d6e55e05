// provided runtimes: the agent serves the Runtime API and runs a custom bootstrap.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FrameType } from '../../src/guest/protocol.js';
import { Agent, fixture, json, lambdaEnv, removeFixture, FrameName } from './harness.js';

const dirs: string[] = [];
after(() => dirs.forEach(removeFixture));

function code(files: Record<string, string>): string {
  const d = fixture(files);
  dirs.push(d);
  return d;
}

/** A custom runtime in Node.js: the Runtime API loop over one keep-alive connection. */
const NODE_BOOTSTRAP = `#!/usr/bin/env node
const http = require('http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host, port, path, method, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    r.on('error', reject);
    r.end(body);
  });
}
(async () => {
  console.log('bootstrap up for ' + process.env._HANDLER);
  for (;;) {
    const next = await call('GET', '/2018-06-01/runtime/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const event = JSON.parse(next.body);
    console.error('got ' + id);
    if (event.partial) process.stdout.write('no newline yet');
    if (event.fail) {
      const r = await call('POST', '/2018-06-01/runtime/invocation/' + id + '/error', '{"errorMessage":"it failed","errorType":"MyError"}', { 'Lambda-Runtime-Function-Error-Type': 'Function.MyError' });
      if (r.status !== 202) throw new Error('error post: ' + r.status);
      continue;
    }
    if (event.exit) process.exit(event.exit);
    const r = await call('POST', '/2018-06-01/runtime/invocation/' + id + '/response', JSON.stringify({
      event, headers: next.headers, api: process.env.AWS_LAMBDA_RUNTIME_API, cwd: process.cwd(),
    }));
    if (r.status !== 202 || r.body.trim() !== '{"status":"OK"}') throw new Error('response post: ' + r.status + r.body);
  }
})();
`;

async function startProvided(files: Record<string, string>, env: Record<string, string> = {}): Promise<{ agent: Agent; taskRoot: string }> {
  const taskRoot = code(files);
  const agent = new Agent();
  agent.init({ family: 'provided', handler: 'my.handler', taskRoot, env: lambdaEnv(taskRoot, env) });
  return { agent, taskRoot };
}

async function waitForFile(file: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8').trim();
      if (text) return text;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${file} never appeared`);
}

describe('provided runtime: a bootstrap speaking the Runtime API', () => {
  it('runs invokes through next/response with Lambda\'s headers, logs before results', async () => {
    const { agent, taskRoot } = await startProvided({ bootstrap: NODE_BOOTSTRAP });
    const ready = await agent.ready();
    assert.equal(ready.logs, 'bootstrap up for my.handler\n');
    assert.ok((ready.meta.initDurationMs as number) > 0);

    const deadlineMs = Date.now() + 12_345;
    const clientContext = '{"custom":{"k":"ü"},"env":{},"client":{}}';
    const cognitoIdentity = '{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}';
    const { result, logs } = await agent.invoke(
      { hello: 'world' },
      { requestId: 'req-1', deadlineMs, traceId: 'Root=1-trace', clientContext, cognitoIdentity },
    );
    assert.equal(FrameName[result.type], 'Response');
    assert.deepEqual(result.meta, { requestId: 'req-1' });
    assert.equal(logs, 'got req-1\n');
    const body = json(result) as { event: unknown; headers: Record<string, string>; api: string; cwd: string };
    assert.deepEqual(body.event, { hello: 'world' });
    assert.match(body.api, /^127\.0\.0\.1:\d+$/);
    assert.equal(body.cwd, taskRoot);
    const h = body.headers;
    assert.equal(h['lambda-runtime-aws-request-id'], 'req-1');
    assert.equal(h['lambda-runtime-deadline-ms'], String(deadlineMs));
    assert.equal(h['lambda-runtime-invoked-function-arn'], 'arn:aws:lambda:us-east-1:000000000000:function:fn');
    assert.equal(h['lambda-runtime-trace-id'], 'Root=1-trace');
    assert.equal(Buffer.from(h['lambda-runtime-client-context']!, 'latin1').toString('utf8'), clientContext);
    assert.equal(h['lambda-runtime-cognito-identity'], cognitoIdentity);
    assert.equal(h['content-type'], 'application/json');

    const plain = json((await agent.invoke({})).result) as { headers: Record<string, string> };
    assert.equal(plain.headers['lambda-runtime-client-context'], undefined);
    assert.equal(plain.headers['lambda-runtime-cognito-identity'], undefined);

    // An unfinished line is flushed (as a line) before the result.
    const partial = await agent.invoke({ partial: true });
    assert.equal(partial.result.type, FrameType.Response);
    assert.match(partial.logs, /no newline yet\n/);

    const failed = await agent.invoke({ fail: true }, { requestId: 'req-err' });
    assert.equal(failed.result.type, FrameType.Error);
    assert.deepEqual(failed.result.meta, { requestId: 'req-err', errorType: 'Function.MyError' });
    assert.equal(failed.result.payload.toString(), '{"errorMessage":"it failed","errorType":"MyError"}');

    // The child exits mid-invoke: Exit, then the agent is gone.
    const exit = await agent.invoke({ exit: 7 });
    assert.equal(exit.result.type, FrameType.Exit);
    assert.deepEqual(exit.result.meta, { code: 7, signal: null });
    assert.equal((await agent.exited).code, 0);
  });

  it('answers the Runtime API exactly as Lambda does (states, 400/403/404/413)', async () => {
    const { agent, taskRoot } = await startProvided({
      bootstrap: '#!/bin/sh\necho "$AWS_LAMBDA_RUNTIME_API" > "$LAMBDA_TASK_ROOT/api.txt"\nexec sleep 600\n',
    });
    const api = `http://${await waitForFile(path.join(taskRoot, 'api.txt'))}/2018-06-01`;
    const post = (p: string, body: string | Buffer, headers: Record<string, string> = {}) =>
      fetch(api + p, { method: 'POST', body, headers }).then(async (r) => ({ status: r.status, body: await r.text() }));

    // Nothing is invoked yet: any id is invalid.
    assert.deepEqual(await post('/runtime/invocation/nope/response', '{}'), {
      status: 400,
      body: '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n',
    });

    // The first next means init is done: Ready.
    const next1 = fetch(api + '/runtime/invocation/next');
    const ready = await agent.ready();
    assert.equal(typeof ready.meta.initDurationMs, 'number');
    agent.send(FrameType.Invoke, { requestId: 'id-1', deadlineMs: 1700000000000, invokedFunctionArn: 'arn:fn', traceId: 'T' }, '{"n":1}');
    const r1 = await next1;
    assert.equal(r1.status, 200);
    assert.equal(r1.headers.get('lambda-runtime-aws-request-id'), 'id-1');
    assert.equal(r1.headers.get('lambda-runtime-deadline-ms'), '1700000000000');
    assert.equal(r1.headers.get('lambda-runtime-invoked-function-arn'), 'arn:fn');
    assert.equal(r1.headers.get('lambda-runtime-trace-id'), 'T');
    assert.equal(r1.headers.get('content-type'), 'application/json');
    assert.equal(await r1.text(), '{"n":1}');

    // init/error after init is a wrong state.
    assert.deepEqual(await post('/runtime/init/error', '{}'), {
      status: 403,
      body: '{"errorMessage":"State transition from Running to InitError failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}\n',
    });
    assert.equal((await post('/runtime/invocation/other/response', '{}')).status, 400);

    assert.deepEqual(await post('/runtime/invocation/id-1/response', '{"ok":true}'), { status: 202, body: '{"status":"OK"}\n' });
    const resp = await agent.nextFrame();
    assert.equal(resp.type, FrameType.Response);
    assert.deepEqual(resp.meta, { requestId: 'id-1' });
    assert.equal(resp.payload.toString(), '{"ok":true}');

    // A second answer for the same invoke.
    assert.deepEqual(await post('/runtime/invocation/id-1/response', '{}'), {
      status: 403,
      body: '{"errorMessage":"State transition from RuntimeResponseSentState to InvocationResponse failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}\n',
    });
    assert.deepEqual(await post('/runtime/invocation/id-1/error', '{}'), {
      status: 403,
      body: '{"errorMessage":"State transition from RuntimeResponseSentState to InvocationErrorResponse failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}\n',
    });

    // Next invoke: an error with a type header, body passed through.
    const next2 = fetch(api + '/runtime/invocation/next');
    await new Promise((r) => setTimeout(r, 20));
    // the old id is no longer the current invoke
    assert.equal((await post('/runtime/invocation/id-1/response', '{}')).status, 400);
    agent.send(FrameType.Invoke, { requestId: 'id/2', deadlineMs: 1, invokedFunctionArn: 'arn:fn', traceId: 'T', clientContext: '{"a":1}' }, '[]');
    const r2 = await next2;
    assert.equal(r2.headers.get('lambda-runtime-client-context'), '{"a":1}');
    await r2.text();
    assert.deepEqual(
      await post('/runtime/invocation/' + encodeURIComponent('id/2') + '/error', 'not even json', { 'Lambda-Runtime-Function-Error-Type': 'Runtime.Custom' }),
      { status: 202, body: '{"status":"OK"}\n' },
    );
    const err = await agent.nextFrame();
    assert.equal(err.type, FrameType.Error);
    assert.deepEqual(err.meta, { requestId: 'id/2', errorType: 'Runtime.Custom' });
    assert.equal(err.payload.toString(), 'not even json');

    // Without the header: Runtime.Unknown, as the RIE says.
    const next3 = fetch(api + '/runtime/invocation/next');
    agent.send(FrameType.Invoke, { requestId: 'id-3', deadlineMs: 1, invokedFunctionArn: 'arn:fn', traceId: '' }, '{}');
    await (await next3).text();
    assert.equal((await post('/runtime/invocation/id-3/error', '{"errorMessage":"x"}')).status, 202);
    assert.deepEqual((await agent.nextFrame()).meta, { requestId: 'id-3', errorType: 'Runtime.Unknown' });

    // A response over 6 MiB + 100 bytes.
    const next4 = fetch(api + '/runtime/invocation/next');
    agent.send(FrameType.Invoke, { requestId: 'id-4', deadlineMs: 1, invokedFunctionArn: 'arn:fn', traceId: '' }, '{}');
    await (await next4).text();
    assert.deepEqual(await post('/runtime/invocation/id-4/response', Buffer.alloc(6 * 1024 * 1024 + 101, 0x61)), {
      status: 413,
      body: '{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}\n',
    });
    const tooLarge = await agent.nextFrame();
    assert.equal(tooLarge.type, FrameType.Error);
    assert.deepEqual(tooLarge.meta, { requestId: 'id-4', errorType: 'Function.ResponseSizeTooLarge' });
    assert.deepEqual(json(tooLarge), {
      errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
      errorType: 'Function.ResponseSizeTooLarge',
    });
    assert.equal((await post('/runtime/invocation/id-4/response', '{}')).status, 403);

    // Exactly the limit is fine.
    const next5 = fetch(api + '/runtime/invocation/next');
    agent.send(FrameType.Invoke, { requestId: 'id-5', deadlineMs: 1, invokedFunctionArn: 'arn:fn', traceId: '' }, '{}');
    await (await next5).text();
    assert.equal((await post('/runtime/invocation/id-5/response', Buffer.alloc(6291556, 0x62))).status, 202);
    const big = await agent.nextFrame();
    assert.equal(big.type, FrameType.Response);
    assert.equal(big.payload.length, 6291556);

    // Unknown paths.
    const unknown = await fetch(api + '/runtime/nothing');
    assert.equal(unknown.status, 404);
    await unknown.text();
    assert.equal((await fetch(api.replace('/2018-06-01', '') + '/2020-01-01/extension/register', { method: 'POST' })).status, 404);

    await agent.close();
  });

  it('passes POST /runtime/init/error on as InitError, then Exit when the bootstrap exits', async () => {
    const { agent } = await startProvided({
      bootstrap: `#!/usr/bin/env node
const http = require('http');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
console.log('about to fail');
const r = http.request({ host, port, method: 'POST', path: '/2018-06-01/runtime/init/error', headers: { 'Lambda-Runtime-Function-Error-Type': 'Runtime.ConfigError' } }, (res) => {
  let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => {
    const again = http.request({ host, port, method: 'POST', path: '/2018-06-01/runtime/init/error' }, (res2) => {
      let b2 = ''; res2.on('data', (c) => (b2 += c)); res2.on('end', () => { console.log(res.statusCode, b.trim(), res2.statusCode, b2.trim()); process.exit(2); });
    });
    again.end('{}');
  });
});
r.end('{"errorMessage":"no config","errorType":"Runtime.ConfigError"}');
`,
    });
    const { frame, logs } = await agent.until([FrameType.InitError, FrameType.Ready]);
    assert.equal(frame.type, FrameType.InitError);
    assert.deepEqual(frame.meta, { errorType: 'Runtime.ConfigError' });
    assert.equal(frame.payload.toString(), '{"errorMessage":"no config","errorType":"Runtime.ConfigError"}');
    assert.equal(logs, 'about to fail\n');
    const exit = await agent.until([FrameType.Exit]);
    assert.deepEqual(exit.frame.meta, { code: 2, signal: null });
    assert.equal(
      exit.logs,
      '202 {"status":"OK"} 403 {"errorMessage":"State transition from InitError to InitError failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}\n',
    );
    await agent.exited;
  });

  it('reports a missing or unrunnable bootstrap as Runtime.InvalidEntrypoint', async () => {
    const { agent, taskRoot } = await startProvided({ 'not-bootstrap': '' });
    const { frame } = await agent.until([FrameType.InitError]);
    assert.deepEqual(frame.meta, { errorType: 'Runtime.InvalidEntrypoint' });
    assert.deepEqual(json(frame), {
      errorType: 'Runtime.InvalidEntrypoint',
      errorMessage: `Couldn't find valid bootstrap(s): [${path.join(taskRoot, 'bootstrap')} /opt/bootstrap]`,
    });
    assert.equal((await agent.nextFrame()).type, FrameType.Exit);
    await agent.exited;

    // a bootstrap without the exec bit
    const root = code({ bootstrap: 'echo hi\n' });
    chmodSync(path.join(root, 'bootstrap'), 0o644);
    const third = new Agent();
    third.init({ family: 'provided', handler: 'h', taskRoot: root, env: lambdaEnv(root) });
    const bad = await third.until([FrameType.InitError]);
    assert.deepEqual(json(bad.frame), {
      errorType: 'Runtime.InvalidEntrypoint',
      errorMessage: `fork/exec ${path.join(root, 'bootstrap')}: permission denied`,
    });
    assert.deepEqual((await third.nextFrame()).meta, { code: 126, signal: null });
    await third.exited;
  });

  it('sends Exit when the bootstrap dies during init (code or signal)', async () => {
    const a = await startProvided({ bootstrap: '#!/bin/sh\necho starting\necho oops >&2\nexit 3\n' });
    const exit = await a.agent.until([FrameType.Exit, FrameType.Ready, FrameType.InitError]);
    assert.equal(exit.frame.type, FrameType.Exit);
    assert.deepEqual(exit.frame.meta, { code: 3, signal: null });
    assert.ok(exit.logs.includes('starting\n') && exit.logs.includes('oops\n'), exit.logs);
    assert.equal((await a.agent.exited).code, 0);

    const b = await startProvided({ bootstrap: '#!/bin/sh\nkill -9 $$\n' });
    const killed = await b.agent.until([FrameType.Exit]);
    assert.deepEqual(killed.frame.meta, { code: null, signal: 'SIGKILL' });
    await b.agent.exited;
  });

  it('kills the bootstrap and exits when the host closes the stream', async () => {
    const { agent, taskRoot } = await startProvided({
      bootstrap: '#!/bin/sh\necho $$ > "$LAMBDA_TASK_ROOT/pid.txt"\nexec sleep 600\n',
    });
    const pid = Number(await waitForFile(path.join(taskRoot, 'pid.txt')));
    agent.stream.destroy();
    await agent.exited;
    const deadline = Date.now() + 2000;
    let alive = true;
    while (alive && Date.now() < deadline) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        alive = false;
      }
    }
    assert.equal(alive, false, 'the bootstrap is gone');
  });
});

describe('provided runtime: a pooled agent listens on the Runtime API ahead', () => {
  /** A free loopback port (listened on and let go). */
  async function freePort(): Promise<number> {
    const { createServer } = await import('node:net');
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    return port;
  }
  async function listening(port: number): Promise<boolean> {
    const { connect } = await import('node:net');
    return new Promise((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
  }

  it('at the address it was told, before Init; the Init asking for it gets that server, and its invokes run', async () => {
    const port = await freePort();
    const agent = new Agent({ KINDLING_STANDBY: 'provided', KINDLING_STANDBY_RUNTIME_API: `127.0.0.1:${port}` });
    try {
      await agent.until([FrameType.Standby]);
      assert.equal(await listening(port), true, 'the Runtime API listens before Init');
      // A ping before Init is answered, and changes nothing for the runtime that comes.
      const ping = await fetch(`http://127.0.0.1:${port}/2018-06-01/ping`);
      assert.equal(ping.status, 200);
      // The warm-up's rehearsed invoke answered on a stand-in: the host heard nothing of it.
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(agent.frames.map((f) => FrameName[f.type]), ['Standby']);
      const taskRoot = code({ bootstrap: NODE_BOOTSTRAP });
      agent.init({ family: 'provided', handler: 'my.handler', taskRoot, env: lambdaEnv(taskRoot), runtimeApiListen: `127.0.0.1:${port}` });
      const ready = await agent.ready();
      assert.ok((ready.meta.initDurationMs as number) > 0);
      const out = json((await agent.invoke({ n: 1 })).result) as { event: unknown; api: string };
      assert.deepEqual(out.event, { n: 1 });
      assert.equal(out.api, `127.0.0.1:${port}`);
    } finally {
      await agent.close();
    }
  });

  it('lets that address go when the Init asks for another one', async () => {
    const [ahead, other] = [await freePort(), await freePort()];
    const agent = new Agent({ KINDLING_STANDBY: 'provided', KINDLING_STANDBY_RUNTIME_API: `127.0.0.1:${ahead}` });
    try {
      await agent.until([FrameType.Standby]);
      const taskRoot = code({ bootstrap: NODE_BOOTSTRAP });
      agent.init({ family: 'provided', handler: 'my.handler', taskRoot, env: lambdaEnv(taskRoot), runtimeApiListen: `127.0.0.1:${other}` });
      await agent.ready();
      const out = json((await agent.invoke({})).result) as { api: string };
      assert.equal(out.api, `127.0.0.1:${other}`);
      assert.equal(await listening(ahead), false, 'the server listening ahead is closed');
    } finally {
      await agent.close();
    }
  });
});
