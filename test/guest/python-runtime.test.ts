// The python runtime: src/guest/python/bootstrap.py behind the agent's Runtime API.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FrameType } from '../../src/guest/protocol.js';
import { Agent, fixture, json, lambdaEnv, removeFixture } from './harness.js';

const hasPython = spawnSync('python3', ['-c', 'pass']).status === 0;
const dirs: string[] = [];
after(() => dirs.forEach(removeFixture));

function code(files: Record<string, string>): string {
  const d = fixture(files);
  dirs.push(d);
  return d;
}

function startPython(taskRoot: string, handler: string, env: Record<string, string> = {}): Agent {
  const agent = new Agent();
  agent.init({ family: 'python', handler, taskRoot, env: lambdaEnv(taskRoot, env) });
  return agent;
}

const APP = `
import json
import logging
import sys
from decimal import Decimal

logger = logging.getLogger()
print("module loaded")


def handler(event, context):
    print("event", json.dumps(event))
    logger.warning("careful %s", "now")
    logger.info("not shown: the root logger is at WARNING")
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "custom": cc.custom if cc else None,
        "installation_id": cc.client.installation_id if cc else None,
        "identity_id": context.identity.cognito_identity_id,
        "pool_id": context.identity.cognito_identity_pool_id,
        "trace": __import__("os").environ.get("_X_AMZN_TRACE_ID"),
        "event": event,
        "path0": sys.path[0],
    }


def fail(event, context):
    raise ValueError("boom")


def decimal(event, context):
    return {"price": Decimal("12.340"), "n": 1}


def unserializable(event, context):
    return {1, 2}
`;

const RAISE_LINE = APP.split('\n').findIndex((l) => l.includes('raise ValueError')) + 1;

describe('python runtime', { skip: !hasPython && 'python3 is not installed' }, () => {
  it('runs a handler with Lambda\'s context object and log format', async () => {
    const taskRoot = code({ 'app.py': APP });
    const agent = startPython(taskRoot, 'app.handler');
    const ready = await agent.ready();
    assert.equal(ready.logs, 'module loaded\n');
    const deadlineMs = Date.now() + 5000;
    const { result, logs } = await agent.invoke(
      { a: [1, 2] },
      {
        requestId: 'py-1',
        deadlineMs,
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn:1',
        traceId: 'Root=1-py',
        clientContext: '{"custom":{"k":"v"},"client":{"installation_id":"inst"},"env":{}}',
        cognitoIdentity: '{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"cpool"}',
      },
    );
    assert.equal(result.type, FrameType.Response, result.payload.toString());
    const r = json(result);
    assert.deepEqual(
      { ...r, remaining: undefined },
      {
        aws_request_id: 'py-1',
        function_name: 'fn',
        function_version: '$LATEST',
        invoked_function_arn: 'arn:aws:lambda:us-east-1:000000000000:function:fn:1',
        // as AWS's runtime interface client gives it: the environment variable's text
        memory_limit_in_mb: '256',
        log_group_name: '/aws/lambda/fn',
        log_stream_name: '2024/01/01/[$LATEST]abc',
        remaining: undefined,
        custom: { k: 'v' },
        installation_id: 'inst',
        identity_id: 'cid',
        pool_id: 'cpool',
        trace: 'Root=1-py',
        event: { a: [1, 2] },
        path0: taskRoot,
      },
    );
    assert.ok((r.remaining as number) > 3000 && (r.remaining as number) <= 5000);
    const ls = logs.split('\n');
    assert.equal(ls[0], 'event {"a": [1, 2]}');
    assert.match(ls[1]!, /^\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\tpy-1\tcareful now$/);
    assert.equal(ls.length, 3, logs);

    const second = await agent.invoke('"plain"');
    assert.equal(json(second.result).event, 'plain');
    assert.equal(json(second.result).custom, null);
    await agent.close();
  });

  it('reports a handler exception with Lambda\'s error body and log record', async () => {
    const taskRoot = code({ 'app.py': APP });
    const agent = startPython(taskRoot, 'app.fail');
    await agent.ready();
    const { result, logs } = await agent.invoke({}, { requestId: 'py-err' });
    assert.equal(result.type, FrameType.Error);
    assert.deepEqual(result.meta, { requestId: 'py-err', errorType: 'ValueError' });
    const raw = result.payload.toString();
    assert.deepEqual(JSON.parse(raw), {
      errorMessage: 'boom',
      errorType: 'ValueError',
      requestId: 'py-err',
      stackTrace: [`  File "${path.join(taskRoot, 'app.py')}", line ${RAISE_LINE}, in fail\n    raise ValueError("boom")\n`],
    });
    assert.ok(raw.startsWith('{"errorMessage": "boom", "errorType": "ValueError", "requestId": "py-err", "stackTrace": ['));
    assert.equal(
      logs,
      `[ERROR] ValueError: boom\rTraceback (most recent call last):\r\u00a0\u00a0File "${path.join(taskRoot, 'app.py')}", line ${RAISE_LINE}, in fail\r\u00a0\u00a0\u00a0\u00a0raise ValueError("boom")\n`,
    );
    // still serving
    assert.equal((await agent.invoke({})).result.type, FrameType.Error);
    await agent.close();
  });

  it('serializes Decimal like Lambda and reports unserializable results as Runtime.MarshalError', async () => {
    const taskRoot = code({ 'app.py': APP });
    const dec = startPython(taskRoot, 'app.decimal');
    await dec.ready();
    assert.equal((await dec.invoke({})).result.payload.toString(), '{"price": 12.340, "n": 1}');
    await dec.close();

    const bad = startPython(taskRoot, 'app.unserializable');
    await bad.ready();
    const { result } = await bad.invoke({}, { requestId: 'py-m' });
    assert.equal(result.meta.errorType, 'Runtime.MarshalError');
    assert.deepEqual(json(result), {
      errorMessage: 'Unable to marshal response: Object of type set is not JSON serializable',
      errorType: 'Runtime.MarshalError',
      requestId: 'py-m',
      stackTrace: [],
    });
    await bad.close();
  });

  it('resolves dir/module.function and pkg.module.function handlers', async () => {
    const taskRoot = code({
      'src/handlers.py': 'def main(event, context):\n    return "from dir"\n',
      'pkg/__init__.py': '',
      'pkg/mod.py': 'def main(event, context):\n    return "from pkg"\n',
    });
    for (const [handler, expected] of [
      ['src/handlers.main', '"from dir"'],
      ['pkg.mod.main', '"from pkg"'],
    ]) {
      const agent = startPython(taskRoot, handler!);
      await agent.ready();
      assert.equal((await agent.invoke({})).result.payload.toString(), expected);
      await agent.close();
    }
  });

  it('reports import, missing handler and syntax errors as InitError, then exits 1', async () => {
    const taskRoot = code({
      'ok.py': 'x = 1\n',
      'broken.py': 'def handler(event, context)\n    return 1\n',
      'raises.py': 'raise RuntimeError("at import")\n',
    });
    const cases: [string, string, string | RegExp][] = [
      ['nope.handler', 'Runtime.ImportModuleError', "Unable to import module 'nope': No module named 'nope'"],
      ['ok.handler', 'Runtime.HandlerNotFound', "Handler 'handler' missing on module 'ok'"],
      ['broken.handler', 'Runtime.UserCodeSyntaxError', /^Syntax error in module 'broken': /],
      ['nodot', 'Runtime.MalformedHandlerName', "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"],
      ['raises.handler', 'RuntimeError', 'at import'],
    ];
    await Promise.all(
      cases.map(async ([handler, errorType, message]) => {
        const agent = startPython(taskRoot, handler);
        const { frame, logs } = await agent.until([FrameType.InitError, FrameType.Ready]);
        assert.equal(frame.type, FrameType.InitError, handler);
        assert.deepEqual(frame.meta, { errorType });
        const body = json(frame);
        assert.deepEqual(Object.keys(body), ['errorMessage', 'errorType', 'requestId', 'stackTrace']);
        assert.equal(body.errorType, errorType);
        assert.equal(body.requestId, '');
        if (typeof message === 'string') assert.equal(body.errorMessage, message);
        else assert.match(body.errorMessage as string, message);
        assert.match(logs, /^\[WARNING\]\t\S+\t\tLAMBDA_WARNING: Unhandled exception\./);
        assert.ok(logs.includes(`[ERROR] ${errorType}: `), logs);
        const exit = await agent.until([FrameType.Exit]);
        assert.deepEqual(exit.frame.meta, { code: 1, signal: null });
        await agent.exited;
      }),
    );
  });
});
