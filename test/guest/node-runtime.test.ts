// The Node.js runtime inside the guest agent, driven over the host-guest stream.
import assert from 'node:assert/strict';
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

async function started(files: Record<string, string>, handler = 'index.handler', env: Record<string, string> = {}): Promise<Agent> {
  const taskRoot = code(files);
  const agent = new Agent();
  agent.init({ family: 'nodejs', handler, taskRoot, env: lambdaEnv(taskRoot, env) });
  await agent.ready();
  return agent;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t([^\t]+)\t([A-Z]+)\t(.*)$/s;

function lines(text: string): string[] {
  assert.ok(text === '' || text.endsWith('\n'), `log text ends in a newline: ${JSON.stringify(text)}`);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

describe('nodejs runtime: loading handlers', () => {
  it('runs a CommonJS async handler and reports Ready with the init duration', async () => {
    const taskRoot = code({ 'index.js': 'exports.handler = async (event) => ({ got: event });' });
    const agent = new Agent();
    agent.init({ family: 'nodejs', handler: 'index.handler', taskRoot, env: lambdaEnv(taskRoot) });
    const ready = await agent.ready();
    assert.equal(typeof ready.meta.initDurationMs, 'number');
    assert.ok((ready.meta.initDurationMs as number) >= 0);
    const { result } = await agent.invoke({ a: 1 });
    assert.equal(FrameName[result.type], 'Response');
    assert.equal(result.payload.toString(), '{"got":{"a":1}}');
    // and again, the same sandbox
    const second = await agent.invoke([1, 'two']);
    assert.equal(second.result.payload.toString(), '{"got":[1,"two"]}');
    assert.equal(second.result.meta.requestId, (second.result.meta as { requestId: string }).requestId);
    await agent.close();
  });

  it('loads .mjs ES modules, with top-level await', async () => {
    const agent = await started({
      'index.mjs': 'const v = await new Promise((r) => setTimeout(() => r(42), 20));\nexport const handler = async () => ({ v, esm: typeof require === "undefined" });',
    });
    const { result } = await agent.invoke({});
    assert.equal(result.payload.toString(), '{"v":42,"esm":true}');
    await agent.close();
  });

  it('loads .js as an ES module when package.json says "type": "module"', async () => {
    const agent = await started(
      {
        'package.json': '{"type":"module"}',
        'src/app.js': 'export const handlers = { main: async (e) => ({ esm: import.meta.url.startsWith("file:"), e }) };',
      },
      'src/app.handlers.main',
    );
    const { result } = await agent.invoke('"x"');
    assert.equal(result.payload.toString(), '{"esm":true,"e":"x"}');
    await agent.close();
  });

  it('loads .cjs and resolves nested exports', async () => {
    const agent = await started({ 'lib/h.cjs': 'module.exports = { a: { b: async () => "nested" } };' }, 'lib/h.a.b');
    const { result } = await agent.invoke({});
    assert.equal(result.payload.toString(), '"nested"');
    await agent.close();
  });

  it('reports a missing module as Runtime.ImportModuleError (InitError, then Exit 129)', async () => {
    const taskRoot = code({ 'other.js': '' });
    const agent = new Agent();
    agent.init({ family: 'nodejs', handler: 'index.handler', taskRoot, env: lambdaEnv(taskRoot) });
    const { frame, logs } = await agent.until([FrameType.InitError]);
    assert.equal(frame.meta.errorType, 'Runtime.ImportModuleError');
    const body = json(frame);
    assert.deepEqual(Object.keys(body), ['errorType', 'errorMessage', 'trace']);
    assert.equal(body.errorType, 'Runtime.ImportModuleError');
    assert.match(body.errorMessage as string, /^Error: Cannot find module 'index'\nRequire stack:\n- \//);
    const trace = body.trace as string[];
    assert.equal(trace[0], "Runtime.ImportModuleError: Error: Cannot find module 'index'");
    assert.equal(trace[1], 'Require stack:');
    // Lambda logs it as an uncaught exception, request id undefined during init
    const [line] = lines(logs);
    const m = LINE.exec(line!);
    assert.ok(m, line);
    assert.equal(m[2], 'undefined');
    assert.equal(m[3], 'ERROR');
    assert.match(m[4]!, /^Uncaught Exception \t\{"errorType":"Runtime.ImportModuleError","errorMessage":"Error: Cannot find module 'index'/);
    const exit = await agent.nextFrame();
    assert.equal(exit.type, FrameType.Exit);
    assert.deepEqual(exit.meta, { code: 129, signal: null });
    assert.deepEqual(await agent.exited, { code: 129, signal: null });
  });

  it('reports a missing export as Runtime.HandlerNotFound', async () => {
    const taskRoot = code({ 'index.js': 'exports.other = () => 1; exports.notFn = 3;' });
    for (const [handler, message] of [
      ['index.handler', 'index.handler is undefined or not exported'],
      ['index.notFn', 'index.notFn is not a function'],
    ] as const) {
      const agent = new Agent();
      agent.init({ family: 'nodejs', handler, taskRoot, env: lambdaEnv(taskRoot) });
      const { frame } = await agent.until([FrameType.InitError]);
      assert.equal(frame.meta.errorType, 'Runtime.HandlerNotFound');
      assert.equal(json(frame).errorMessage, message);
      assert.equal((await agent.exited).code, 129);
    }
  });

  it('reports syntax errors as Runtime.UserCodeSyntaxError, bad handler names as Runtime.MalformedHandlerName', async () => {
    const taskRoot = code({ 'index.js': 'exports.handler = async () => {;\n', 'esm.mjs': 'export const handler = ;' });
    const cases: [string, string, RegExp][] = [
      ['index.handler', 'Runtime.UserCodeSyntaxError', /^SyntaxError: /],
      ['esm.handler', 'Runtime.UserCodeSyntaxError', /^SyntaxError: /],
      ['index', 'Runtime.MalformedHandlerName', /^Bad handler$/],
      ['../x.handler', 'Runtime.MalformedHandlerName', /^'..\/x.handler' is not a valid handler name\. Use absolute paths/],
    ];
    await Promise.all(
      cases.map(async ([handler, errorType, message]) => {
        const agent = new Agent();
        agent.init({ family: 'nodejs', handler, taskRoot, env: lambdaEnv(taskRoot) });
        const { frame } = await agent.until([FrameType.InitError]);
        assert.equal(frame.meta.errorType, errorType, handler);
        const body = json(frame);
        assert.equal(body.errorType, errorType);
        assert.match(body.errorMessage as string, message);
        assert.equal((body.trace as string[])[0]!.startsWith(`${errorType}: `), true);
        await agent.exited;
      }),
    );
  });

  it('reports an exception thrown at module top level as the InitError', async () => {
    const taskRoot = code({ 'index.js': 'console.log("loading");\nthrow new TypeError("bad config");' });
    const agent = new Agent();
    agent.init({ family: 'nodejs', handler: 'index.handler', taskRoot, env: lambdaEnv(taskRoot) });
    const { frame, logs } = await agent.until([FrameType.InitError]);
    assert.equal(frame.meta.errorType, 'TypeError');
    const body = json(frame);
    assert.equal(body.errorMessage, 'bad config');
    assert.equal((body.trace as string[])[0], 'TypeError: bad config');
    const ls = lines(logs);
    assert.match(ls[0]!, /\tundefined\tINFO\tloading$/);
    assert.match(ls[1]!, /\tERROR\tUncaught Exception \t\{"errorType":"TypeError","errorMessage":"bad config","stack":\["TypeError: bad config",/);
    assert.equal((await agent.exited).code, 129);
  });
});

describe('nodejs runtime: handlers and results', () => {
  it('serializes undefined as null and answers sync handlers with null', async () => {
    const agent = await started({
      'index.js': 'exports.handler = async () => undefined; exports.sync = () => 42; exports.str = async () => "s";',
    });
    assert.equal((await agent.invoke({})).result.payload.toString(), 'null');
    await agent.close();
    const agent2 = await started({ 'index.js': 'exports.sync = () => 42;' }, 'index.sync');
    // A non-async handler's return value is ignored: it must use the callback.
    assert.equal((await agent2.invoke({})).result.payload.toString(), 'null');
    await agent2.close();
  });

  it('supports callback handlers, waiting for the empty event loop by default', async () => {
    const agent = await started({
      'index.js': `
        exports.handler = (event, context, callback) => {
          setTimeout(() => console.log('timer done'), 50);
          callback(null, { waited: context.callbackWaitsForEmptyEventLoop });
        };`,
    });
    const { logs, result } = await agent.invoke({});
    assert.equal(result.payload.toString(), '{"waited":true}');
    assert.match(logs, /\tINFO\ttimer done\n$/, 'the pending timer ran before the response');
    await agent.close();
  });

  it('answers at once when callbackWaitsForEmptyEventLoop is false', async () => {
    const agent = await started({
      'index.js': `
        exports.handler = (event, context, callback) => {
          context.callbackWaitsForEmptyEventLoop = false;
          setTimeout(() => console.log('late'), 300);
          callback(null, 'fast');
        };`,
    });
    const { logs, result } = await agent.invoke({});
    assert.equal(result.payload.toString(), '"fast"');
    assert.doesNotMatch(logs, /late/);
    // The timer's line comes after the response, with the same request id.
    const { frame } = await agent.until([FrameType.Log]);
    assert.match(frame.payload.toString(), new RegExp(`\\t${result.meta.requestId}\\tINFO\\tlate\\n$`));
    await agent.close();
  });

  it('supports context.succeed / fail / done and callback errors', async () => {
    const agent = await started({
      'index.js': `
        exports.handler = (event, context, callback) => {
          switch (event.how) {
            case 'succeed': return context.succeed({ ok: 1 });
            case 'done': return context.done(null, 'd');
            case 'fail': return context.fail(new Error('failed'));
            case 'failEmpty': return context.fail();
            case 'cbErr': return callback(new RangeError('range'));
            case 'twice': callback(null, 'first'); return callback(null, 'second');
          }
        };`,
    });
    assert.equal((await agent.invoke({ how: 'succeed' })).result.payload.toString(), '{"ok":1}');
    assert.equal((await agent.invoke({ how: 'done' })).result.payload.toString(), '"d"');
    const fail = await agent.invoke({ how: 'fail' });
    assert.equal(fail.result.type, FrameType.Error);
    assert.equal(json(fail.result).errorMessage, 'failed');
    const failEmpty = await agent.invoke({ how: 'failEmpty' });
    assert.deepEqual(json(failEmpty.result), { errorType: 'string', errorMessage: 'handled', trace: [] });
    const cbErr = await agent.invoke({ how: 'cbErr' });
    assert.equal(cbErr.result.meta.errorType, 'RangeError');
    assert.equal((await agent.invoke({ how: 'twice' })).result.payload.toString(), '"first"');
    await agent.close();
  });

  it('reports thrown errors and rejections the way the RIC formats them', async () => {
    const agent = await started({
      'index.js': `
        class CustomError extends Error { constructor(m) { super(m); this.name = 'CustomError'; this.code = 'E42'; } }
        exports.handler = async (event) => {
          if (event.kind === 'error') throw new Error('boom');
          if (event.kind === 'custom') throw new CustomError('mine');
          if (event.kind === 'string') throw 'just a string';
          if (event.kind === 'object') throw { some: 'object' };
          if (event.kind === 'sync') return null;
        };
        exports.syncThrow = () => { throw new Error('sync boom'); };`,
    });
    const err = await agent.invoke({ kind: 'error' });
    assert.equal(err.result.type, FrameType.Error);
    assert.equal(err.result.meta.errorType, 'Error');
    assert.equal(err.result.meta.requestId, JSON.parse(JSON.stringify(err.result.meta)).requestId);
    const body = json(err.result);
    assert.deepEqual(Object.keys(body), ['errorType', 'errorMessage', 'trace']);
    assert.equal(body.errorType, 'Error');
    assert.equal(body.errorMessage, 'boom');
    const trace = body.trace as string[];
    assert.equal(trace[0], 'Error: boom');
    assert.match(trace[1]!, /^ {4}at .*index\.js:\d+:\d+/);
    // Lambda logs the error too, before the result
    const [line] = lines(err.logs);
    assert.match(line!, /\tERROR\tInvoke Error \t\{"errorType":"Error","errorMessage":"boom","stack":\["Error: boom",/);

    const custom = await agent.invoke({ kind: 'custom' });
    assert.equal(custom.result.meta.errorType, 'CustomError');
    assert.equal(json(custom.result).errorType, 'CustomError');
    assert.match(custom.logs, /"errorType":"CustomError","errorMessage":"mine","code":"E42"/);

    const str = await agent.invoke({ kind: 'string' });
    assert.equal(str.result.meta.errorType, 'string');
    assert.deepEqual(json(str.result), { errorType: 'string', errorMessage: 'just a string', trace: [] });

    const obj = await agent.invoke({ kind: 'object' });
    assert.deepEqual(json(obj.result), { errorType: 'object', errorMessage: '[object Object]', trace: [] });
    await agent.close();

    const sync = await started({ 'index.js': 'exports.h = () => { throw new Error("sync boom"); };' }, 'index.h');
    const s = await sync.invoke({});
    assert.equal(json(s.result).errorMessage, 'sync boom');
    await sync.close();
  });

  it('reports a result that cannot be serialized', async () => {
    const agent = await started({ 'index.js': 'exports.handler = async () => { const a = {}; a.a = a; return a; };' });
    const { result } = await agent.invoke({});
    assert.equal(result.type, FrameType.Error);
    const body = json(result);
    assert.equal(body.errorType, 'Error');
    assert.equal(body.errorMessage, 'Unable to stringify response body');
    // still usable
    assert.equal((await agent.invoke({})).result.type, FrameType.Error);
    await agent.close();
  });

  it('ends an async handler whose promise never settles with Runtime.NodeJsExit', async () => {
    const agent = await started({ 'index.js': 'exports.handler = async () => new Promise(() => {});' });
    const { result } = await agent.invoke({});
    assert.equal(result.type, FrameType.Error);
    assert.equal(result.meta.errorType, 'Runtime.NodeJsExit');
    assert.match(json(result).errorMessage as string, /^The Lambda runtime client detected an unexpected Node.js exit code/);
    // the sandbox goes on
    assert.equal((await agent.invoke({})).result.meta.errorType, 'Runtime.NodeJsExit');
    await agent.close();
  });

  it('reports an unhandled rejection as Runtime.UnhandledPromiseRejection, then exits 128', async () => {
    const agent = await started({
      'index.js': `exports.handler = async () => { Promise.reject(new Error('later')); await new Promise((r) => setTimeout(r, 1000)); return 'never'; };`,
    });
    const { result, logs } = await agent.invoke({});
    assert.equal(result.type, FrameType.Error);
    assert.equal(result.meta.errorType, 'Runtime.UnhandledPromiseRejection');
    const body = json(result);
    assert.equal(body.errorType, 'Runtime.UnhandledPromiseRejection');
    assert.equal(body.errorMessage, 'Error: later');
    assert.equal((body.trace as string[])[0], 'Runtime.UnhandledPromiseRejection: Error: later');
    assert.match(logs, /\tERROR\tUnhandled Promise Rejection \t\{"errorType":"Runtime.UnhandledPromiseRejection","errorMessage":"Error: later","reason":\{"errorType":"Error","errorMessage":"later","stack":\[/);
    const exit = await agent.nextFrame();
    assert.equal(exit.type, FrameType.Exit);
    assert.deepEqual(exit.meta, { code: 128, signal: null });
    assert.equal((await agent.exited).code, 128);
  });

  it('reports an uncaught exception during an invoke, then exits 129', async () => {
    const agent = await started({
      'index.js': `exports.handler = (e, c, cb) => { setTimeout(() => { throw new Error('in timer'); }, 10); };`,
    });
    const { result, logs } = await agent.invoke({});
    assert.equal(result.meta.errorType, 'Error');
    assert.equal(json(result).errorMessage, 'in timer');
    assert.match(logs, /\tERROR\tUncaught Exception \t\{"errorType":"Error","errorMessage":"in timer"/);
    assert.deepEqual((await agent.nextFrame()).meta, { code: 129, signal: null });
    assert.equal((await agent.exited).code, 129);
  });

  it('sends Exit with the code when the function calls process.exit', async () => {
    const agent = await started({ 'index.js': 'exports.handler = async () => { console.log("bye"); process.exit(3); };' });
    const { result, logs } = await agent.invoke({});
    assert.equal(result.type, FrameType.Exit);
    assert.deepEqual(result.meta, { code: 3, signal: null });
    assert.match(logs, /\tINFO\tbye\n$/);
    assert.equal((await agent.exited).code, 3);
  });

  it('exits at once when the host closes the stream', async () => {
    const agent = await started({ 'index.js': 'setInterval(() => {}, 1000); exports.handler = async () => 1;' });
    agent.stream.destroy();
    assert.equal((await agent.exited).code, 0);
  });
});

describe('nodejs runtime: context and logs', () => {
  it('gives the handler Lambda\'s context object', async () => {
    const agent = await started({
      'index.js': `exports.handler = async (event, context) => ({
        keys: Object.keys(context),
        awsRequestId: context.awsRequestId,
        functionName: context.functionName,
        functionVersion: context.functionVersion,
        invokedFunctionArn: context.invokedFunctionArn,
        memoryLimitInMB: context.memoryLimitInMB,
        logGroupName: context.logGroupName,
        logStreamName: context.logStreamName,
        remaining: context.getRemainingTimeInMillis(),
        clientContext: context.clientContext,
        identity: context.identity,
        wait: context.callbackWaitsForEmptyEventLoop,
        trace: process.env._X_AMZN_TRACE_ID,
        env: process.env.ONLY_THIS,
        home: process.env.HOME ?? null,
        cwd: process.cwd(),
      });`,
    }, 'index.handler', { ONLY_THIS: 'yes' });
    const clientContext = { client: { installation_id: 'i' }, custom: { k: 'v' }, env: { locale: 'en' } };
    const identity = { cognitoIdentityId: 'id-1', cognitoIdentityPoolId: 'pool-1' };
    const { result } = await agent.invoke(
      {},
      {
        requestId: 'req-ctx',
        deadlineMs: Date.now() + 5000,
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn:live',
        traceId: 'Root=1-abc',
        clientContext: JSON.stringify(clientContext),
        cognitoIdentity: JSON.stringify(identity),
      },
    );
    const c = json(result);
    assert.deepEqual(c.keys, [
      'callbackWaitsForEmptyEventLoop',
      'succeed',
      'fail',
      'done',
      'functionVersion',
      'functionName',
      'memoryLimitInMB',
      'logGroupName',
      'logStreamName',
      'clientContext',
      'identity',
      'invokedFunctionArn',
      'awsRequestId',
      'getRemainingTimeInMillis',
    ]);
    assert.equal(c.awsRequestId, 'req-ctx');
    assert.equal(c.functionName, 'fn');
    assert.equal(c.functionVersion, '$LATEST');
    assert.equal(c.invokedFunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:fn:live');
    assert.equal(c.memoryLimitInMB, '256');
    assert.equal(c.logGroupName, '/aws/lambda/fn');
    assert.equal(c.logStreamName, '2024/01/01/[$LATEST]abc');
    assert.ok((c.remaining as number) > 3000 && (c.remaining as number) <= 5000, String(c.remaining));
    assert.deepEqual(c.clientContext, clientContext);
    assert.deepEqual(c.identity, identity);
    assert.equal(c.wait, true);
    assert.equal(c.trace, 'Root=1-abc');
    assert.equal(c.env, 'yes');
    assert.equal(c.home, null, 'the environment is exactly the function\'s');
    assert.equal(typeof c.cwd, 'string');

    const plain = json((await agent.invoke({})).result);
    assert.equal(plain.clientContext, undefined);
    assert.equal(plain.identity, undefined);
    await agent.close();
  });

  it("keeps each invoke's trace id in process.env, for its child processes too, without leaking the guest's memory", async () => {
    const agent = await started({
      'index.js': `const { execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
// The malloc heap (brk), where setenv's strings would pile up; V8's own heap is mmapped.
const heapKb = () => Number(/\\[heap\\]\\n(?:.*\\n)*?Rss:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/smaps', 'utf8'))?.[1] ?? 0);
exports.handler = async (event) => {
  if (event.heap) return heapKb();
  if (event.quick) return process.env._X_AMZN_TRACE_ID;
  const child = execFileSync('/usr/bin/env').toString().split('\\n').find((l) => l.startsWith('_X_AMZN_TRACE_ID=')) ?? null;
  return { trace: process.env._X_AMZN_TRACE_ID ?? null, has: '_X_AMZN_TRACE_ID' in process.env, listed: Object.keys(process.env).includes('_X_AMZN_TRACE_ID'), child, other: process.env.AWS_REGION };
};`,
    });
    try {
      const a = json((await agent.invoke({}, { traceId: 'Root=1-aaaaaaaa-000000000000000000000001;Sampled=1' })).result);
      assert.deepEqual(a, { trace: 'Root=1-aaaaaaaa-000000000000000000000001;Sampled=1', has: true, listed: true, child: '_X_AMZN_TRACE_ID=Root=1-aaaaaaaa-000000000000000000000001;Sampled=1', other: 'us-east-1' });
      const none = json((await agent.invoke({}, { traceId: '' })).result);
      assert.deepEqual(none, { trace: null, has: false, listed: false, child: null, other: 'us-east-1' });
      // A new trace id per invoke, as Lambda's: setenv() would keep every one (about 220 bytes each).
      const n = 40_000;
      for (let i = 0; i < 500; i++) await agent.invoke({ quick: true }, { traceId: `Root=1-bbbbbbbb-${String(i).padStart(24, '0')};Sampled=0` });
      const before = Number((await agent.invoke({ heap: true })).result.payload.toString());
      for (let i = 0; i < n; i++) {
        const traceId = `Root=1-cccccccc-${String(i).padStart(24, '0')};Parent=${String(i).padStart(16, '0')};Sampled=0`;
        const r = await agent.invoke({ quick: true }, { traceId });
        if (i % 5000 === 0) assert.equal(JSON.parse(r.result.payload.toString()), traceId);
      }
      const after = Number((await agent.invoke({ heap: true })).result.payload.toString());
      assert.ok(before > 0, 'the guest has a malloc heap');
      // Node's own heaps grow to a plateau of about 1.7 MB here over the first tens of thousands; the leak would add 8 MB.
      assert.ok(after - before < 4096, `the malloc heap grew by ${after - before} kB over ${n} invokes`);
    } finally {
      await agent.close();
    }
  });

  it('formats console output as Lambda\'s text log lines, all before the result', async () => {
    const agent = await started({
      'index.js': `
        console.log('init line');
        exports.handler = async (event) => {
          console.log('hello %s', 'world', { n: 1 });
          console.info('info');
          console.warn('warn');
          console.error('error', new Error('shown'));
          console.debug('debug');
          console.trace('trace');
          console.log('multi\\nline');
          process.stdout.write('raw out\\n');
          process.stderr.write('raw err, ');
          process.stderr.write('continued\\n');
          process.stdout.write('no newline');
          for (let i = 0; i < 500; i++) console.log('burst', i);
          return 'done';
        };`,
    });
    const { logs, result, frames } = await agent.invoke({}, { requestId: 'req-logs' });
    assert.equal(result.payload.toString(), '"done"');
    assert.equal(frames.at(-1), result);
    const ls = lines(logs);
    const parsed = ls.slice(0, 7).map((l) => LINE.exec(l));
    for (const m of parsed) {
      assert.ok(m);
      assert.equal(m[2], 'req-logs');
      assert.ok(Math.abs(Date.parse(m[1]!) - Date.now()) < 60_000);
    }
    assert.deepEqual(
      parsed.map((m) => [m![3], m![4]!.split('\r')[0]]),
      [
        ['INFO', 'hello world { n: 1 }'],
        ['INFO', 'info'],
        ['WARN', 'warn'],
        ['ERROR', 'error Error: shown'],
        ['DEBUG', 'debug'],
        ['TRACE', 'trace'],
        ['INFO', 'multi'],
      ],
    );
    assert.ok(parsed[3]![4]!.includes('\r    at '), 'the stack stays in the same record');
    assert.equal(parsed[6]![4], 'multi\rline');
    assert.equal(ls[7], 'raw out');
    assert.equal(ls[8], 'raw err, continued');
    assert.equal(ls.filter((l) => /\tburst \d+$/.test(l)).length, 500);
    assert.equal(ls.at(-1), 'no newline', 'an unfinished line is flushed before the result');
    assert.ok(frames.filter((f) => f.type === FrameType.Log).length < 20, 'log writes are batched');
    await agent.close();
  });

  it('logs init output with an undefined request id and honours AWS_LAMBDA_LOG_FORMAT=JSON', async () => {
    const taskRoot = code({ 'index.js': 'console.log("at init");\nexports.handler = async () => { console.info("x", 1); console.debug("hidden"); return 1; };' });
    const agent = new Agent();
    agent.init({
      family: 'nodejs',
      handler: 'index.handler',
      taskRoot,
      env: lambdaEnv(taskRoot, { AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: 'INFO' }),
    });
    const ready = await agent.ready();
    const initRecord = JSON.parse(ready.logs) as Record<string, unknown>;
    assert.equal(initRecord.level, 'INFO');
    assert.equal(initRecord.message, 'at init');
    assert.equal(initRecord.requestId, undefined);
    const { logs } = await agent.invoke({}, { requestId: 'req-json' });
    const records = lines(logs).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(records.length, 1);
    assert.deepEqual(
      { level: records[0]!.level, requestId: records[0]!.requestId, message: records[0]!.message },
      { level: 'INFO', requestId: 'req-json', message: 'x 1' },
    );
    await agent.close();
  });
});

describe('nodejs runtime: a pooled agent (started at Standby, before its function is known)', () => {
  it("says Standby, then becomes the function: its environment exactly the function's, its handler loaded, Ready with the guest's timings", async () => {
    // Boot variables the function does not have, one it has with another value, and TZ as the function has it.
    const agent = new Agent({ KINDLING_STANDBY: 'nodejs', BOOT_ONLY: 'boot', LANG: 'C.UTF-8' });
    try {
      assert.equal((await agent.until([FrameType.Standby])).frame.type, FrameType.Standby);
      const taskRoot = fixture({ 'index.mjs': 'export const handler = async () => ({ env: { ...process.env }, cwd: process.cwd() });\n' });
      dirs.push(taskRoot);
      const env = lambdaEnv(taskRoot, { _HANDLER: 'index.handler', ONLY_THIS: 'yes' });
      agent.init({ family: 'nodejs', handler: 'index.handler', taskRoot, env });
      const ready = (await agent.until([FrameType.Ready, FrameType.InitError])).frame;
      assert.equal(FrameName[ready.type], 'Ready', ready.payload.toString());
      const at = ready.meta.at as { received: number; become: number; handler: number; ready: number };
      assert.ok(at.received <= at.become && at.become <= at.handler && at.handler <= at.ready, JSON.stringify(at));
      const out = json((await agent.invoke({})).result) as { env: Record<string, string>; cwd: string };
      // The invoke's own trace id aside (set per invoke).
      const { _X_AMZN_TRACE_ID: trace, ...rest } = out.env;
      assert.equal(typeof trace, 'string');
      assert.deepEqual(rest, env);
      assert.equal(out.cwd, taskRoot);
    } finally {
      await agent.close();
    }
  });

  it("takes the host's Warmup at Standby, and its rehearsed invoke leaves nothing behind: no request id or trace id at Init, the first invoke's own after", async () => {
    const agent = new Agent({ KINDLING_STANDBY: 'nodejs' });
    try {
      await agent.until([FrameType.Standby]);
      agent.send(FrameType.Warmup, {});
      const taskRoot = fixture({
        'index.mjs': `const rid = Symbol.for('aws.lambda.runtime.requestId');
const atInit = { requestId: globalThis[rid] ?? null, has: rid in globalThis, trace: process.env._X_AMZN_TRACE_ID ?? null };
console.log('loading');
export const handler = async (event, context) => ({ atInit, now: { requestId: globalThis[rid], awsRequestId: context.awsRequestId, trace: process.env._X_AMZN_TRACE_ID } });
`,
      });
      dirs.push(taskRoot);
      agent.init({ family: 'nodejs', handler: 'index.handler', taskRoot, env: lambdaEnv(taskRoot) });
      const ready = await agent.ready();
      assert.match(ready.logs, /\tundefined\tINFO\tloading\n$/, 'an init log line has no request id');
      const { result, logs } = await agent.invoke({}, { requestId: 'req-first', traceId: 'Root=1-11111111-000000000000000000000001;Sampled=1' });
      assert.equal(FrameName[result.type], 'Response', result.payload.toString());
      assert.deepEqual(json(result), {
        atInit: { requestId: null, has: false, trace: null },
        now: { requestId: 'req-first', awsRequestId: 'req-first', trace: 'Root=1-11111111-000000000000000000000001;Sampled=1' },
      });
      assert.equal(logs, '');
    } finally {
      await agent.close();
    }
  });
});
