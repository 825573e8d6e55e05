// `X-Amz-Invocation-Type: Event` end to end against a real `kindling up`
// (time scale 0.001): 202 and its request id, Lambda's checks and errors,
// destinations, and the failed events behind `kindling events failed/redrive`.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import {
  describeRun,
  functionArn,
  lambdaClient,
  makeZip,
  rawRequest,
  rejection,
  ROLE,
  runKindling,
  startKindling,
  type KindlingServer,
  UUID,
} from '../helpers/kindling.js';
import { processSandboxArgs, until } from './fakes.js';

let server: KindlingServer;
let client: LambdaClient;
let out: string;

// Each invoke appends "requestId<TAB>event JSON" to OUT_DIR/<function name>.log.
const RECORDER = `import { appendFileSync } from 'node:fs';
export const handler = async (event, context) => {
  appendFileSync(process.env.OUT_DIR + '/' + context.functionName + '.log', context.awsRequestId + '\\t' + JSON.stringify(event) + '\\n');
  if (event && event.fail) throw new Error('failing on purpose: ' + event.fail);
  return { seen: event };
};
`;

async function create(name: string): Promise<void> {
  await client.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      Environment: { Variables: { OUT_DIR: out } },
      Code: { ZipFile: await makeZip({ 'index.mjs': RECORDER }) },
    }),
  );
}

/** The invokes a function has seen so far: [requestId, event]. */
async function seen(name: string): Promise<[string, unknown][]> {
  let text: string;
  try {
    text = await readFile(join(out, `${name}.log`), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, json] = line.split('\t');
      return [id!, JSON.parse(json!)];
    });
}

const eventInvoke = (name: string, body: string | Buffer, extra: Record<string, string> = {}, query = '') =>
  rawRequest(server.url, 'POST', `/2015-03-31/functions/${name}/invocations${query}`, {
    body,
    headers: { 'x-amz-invocation-type': 'Event', ...extra },
  });

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'kindling-async-out-'));
  server = await startKindling({ env: { KINDLING_ASYNC_TIME_SCALE: '0.001' }, args: processSandboxArgs() });
  client = lambdaClient(server.url);
  for (const name of ['rec', 'src', 'sink', 'flop', 'off']) await create(name);
});

after(async () => {
  await server?.dispose();
  await rm(out, { recursive: true, force: true });
});

describe('accepting', () => {
  test('202, no body, and the request id the handler sees', async () => {
    const res = await eventInvoke('rec', '{"hello":"async"}');
    assert.equal(res.status, 202);
    assert.equal(res.text, '');
    const id = res.headers.get('x-amzn-requestid')!;
    assert.match(id, UUID);
    assert.equal(res.headers.get('x-amz-executed-version'), null);
    const got = await until(async () => (await seen('rec')).find(([rid]) => rid === id), 10_000, 'the handler to run');
    assert.deepEqual(got[1], { hello: 'async' });
  });

  test('through the SDK: StatusCode 202, an empty event becomes {}', async () => {
    const res = await client.send(new InvokeCommand({ FunctionName: 'rec', InvocationType: 'Event' }));
    assert.equal(res.StatusCode, 202);
    assert.equal(res.ExecutedVersion, undefined);
    const id = res.$metadata.requestId!;
    const got = await until(async () => (await seen('rec')).find(([rid]) => rid === id), 10_000);
    assert.deepEqual(got[1], {});
  });

  test('payloads up to 1 MB; beyond, RequestEntityTooLargeException', async () => {
    const exactly = Buffer.from(JSON.stringify({ pad: 'x'.repeat(1024 * 1024 - 10) }));
    assert.equal(exactly.length, 1024 * 1024);
    assert.equal((await eventInvoke('rec', exactly)).status, 202);
    const over = Buffer.from(JSON.stringify({ pad: 'x'.repeat(1024 * 1024 - 9) }));
    const res = await eventInvoke('rec', over);
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('x-amzn-errortype'), 'RequestEntityTooLargeException');
    assert.deepEqual(res.json, {
      Type: 'User',
      Message: `${over.length} byte payload is too large for the Event invocation type (limit 1048576 bytes)`,
    });
  });

  test('unknown functions and qualifiers are refused before anything is queued', async () => {
    const e = await rejection(client.send(new InvokeCommand({ FunctionName: 'nope', InvocationType: 'Event', Payload: Buffer.from('{}') })));
    assert.equal(e.name, 'ResourceNotFoundException');
    assert.equal(e.$metadata.httpStatusCode, 404);
    assert.equal(e.message, `Function not found: ${functionArn('nope', '$LATEST')}`);
    const q = await eventInvoke('rec', '{}', {}, '?Qualifier=42');
    assert.equal(q.status, 404);
    assert.equal(q.headers.get('x-amzn-errortype'), 'ResourceNotFoundException');
  });

  test('the same payload checks as a synchronous invoke', async () => {
    const res = await eventInvoke('rec', '{"unterminated": ');
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-amzn-errortype'), 'InvalidRequestContentException');
  });
});

describe('where finished events go', () => {
  test('on-success and on-failure destinations receive Lambda\'s invocation record', async () => {
    await client.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'src',
        MaximumRetryAttempts: 1,
        DestinationConfig: { OnSuccess: { Destination: functionArn('sink') }, OnFailure: { Destination: functionArn('sink') } },
      }),
    );
    const ok = await eventInvoke('src', '{"n":1}');
    const bad = await eventInvoke('src', '{"fail":"yes"}');
    const okId = ok.headers.get('x-amzn-requestid')!;
    const badId = bad.headers.get('x-amzn-requestid')!;
    const records = await until(async () => {
      const s = await seen('sink');
      return s.length >= 2 ? s : undefined;
    }, 15_000, 'two records at the destination');
    const byId = new Map(records.map(([rid, r]) => [(r as { requestContext: { requestId: string } }).requestContext.requestId, { rid, r }]));
    const success = byId.get(okId)!;
    const failure = byId.get(badId)!;
    assert.ok(success && failure);
    assert.notEqual(success.rid, okId, 'the destination runs as a request of its own');
    const s = success.r as Record<string, unknown>;
    assert.deepEqual(Object.keys(s), ['version', 'timestamp', 'requestContext', 'requestPayload', 'responseContext', 'responsePayload']);
    assert.deepEqual(
      { ...s, timestamp: 'T' },
      {
        version: '1.0',
        timestamp: 'T',
        requestContext: { requestId: okId, functionArn: functionArn('src', '$LATEST'), condition: 'Success', approximateInvokeCount: 1 },
        requestPayload: { n: 1 },
        responseContext: { statusCode: 200, executedVersion: '$LATEST' },
        responsePayload: { seen: { n: 1 } },
      },
    );
    const f = failure.r as {
      requestContext: Record<string, unknown>;
      responseContext: Record<string, unknown>;
      responsePayload: { errorType: string; errorMessage: string };
      requestPayload: unknown;
    };
    assert.deepEqual(f.requestContext, {
      requestId: badId,
      functionArn: functionArn('src', '$LATEST'),
      condition: 'RetriesExhausted',
      approximateInvokeCount: 2,
    });
    assert.deepEqual(f.requestPayload, { fail: 'yes' });
    assert.deepEqual(f.responseContext, { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' });
    assert.equal(f.responsePayload.errorType, 'Error');
    assert.equal(f.responsePayload.errorMessage, 'failing on purpose: yes');
    // Two attempts at the failing event, each with the request id of the accept.
    assert.equal((await seen('src')).filter(([rid]) => rid === badId).length, 2);
  });

  test('a failure with no destination is kept: `kindling events failed` lists it, `redrive` replays it', async () => {
    await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'flop', MaximumRetryAttempts: 0 }));
    const res = await eventInvoke('flop', '{"fail":"always"}');
    const id = res.headers.get('x-amzn-requestid')!;
    const endpoint = ['--endpoint', server.url];
    const listed = await until(async () => {
      const r = await runKindling(['events', 'failed', 'flop', '--json', ...endpoint]);
      assert.equal(r.code, 0, describeRun(r));
      const events = JSON.parse(r.stdout) as { Id: string; RequestId: string; Condition: string; ErrorMessage: string; Record: unknown }[];
      return events.length > 0 ? events : undefined;
    }, 15_000, 'the failed event');
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.RequestId, id);
    assert.equal(listed[0]!.Condition, 'RetriesExhausted');
    assert.equal(listed[0]!.ErrorMessage, 'failing on purpose: always');
    assert.equal((listed[0]!.Record as { requestContext: { requestId: string } }).requestContext.requestId, id);

    const table = await runKindling(['events', 'failed', 'flop', ...endpoint]);
    assert.equal(table.code, 0, describeRun(table));
    assert.match(table.stdout, /ID\s+REQUEST ID\s+CONDITION/);
    assert.ok(table.stdout.includes(id));
    assert.match(table.stdout, /RetriesExhausted/);

    const redrive = await runKindling(['events', 'redrive', 'flop', ...endpoint]);
    assert.equal(redrive.code, 0, describeRun(redrive));
    assert.match(redrive.stdout, /Redrove 1 event of flop/);
    // It runs again, with the same request id, fails again, and is kept again.
    await until(async () => (await seen('flop')).filter(([rid]) => rid === id).length === 2, 15_000, 'the redriven run');
    await until(async () => {
      const r = await runKindling(['events', 'failed', 'flop', '--json', ...endpoint]);
      return (JSON.parse(r.stdout) as unknown[]).length === 1;
    }, 15_000);
  });

  test('reserved concurrency 0: events are turned away at once, as ZeroReservedConcurrency', async () => {
    await client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'off', ReservedConcurrentExecutions: 0 }));
    const res = await eventInvoke('off', '{"k":1}');
    assert.equal(res.status, 202, 'accepting does not look at concurrency');
    const id = res.headers.get('x-amzn-requestid')!;
    const failed = await until(async () => {
      const r = await rawRequest(server.url, 'GET', '/kindling/2024-01-01/functions/off/failed-events');
      return (r.json as { FailedEvents: { RequestId: string; Condition: string; Record: unknown }[] }).FailedEvents.find((f) => f.RequestId === id);
    }, 15_000);
    assert.equal(failed.Condition, 'ZeroReservedConcurrency');
    assert.deepEqual((failed.Record as { requestContext: unknown }).requestContext, {
      requestId: id,
      functionArn: functionArn('off', '$LATEST'),
      condition: 'ZeroReservedConcurrency',
      approximateInvokeCount: 0,
    });
    assert.deepEqual(await seen('off'), [], 'never ran');
    const q = await rawRequest(server.url, 'GET', '/kindling/2024-01-01/functions/off/queue');
    assert.deepEqual(q.json, { Visible: 0, InFlight: 0, Delayed: 0, Failed: 1 });
  });

  test('`kindling events` errors: unknown function to redrive, nothing failed', async () => {
    const none = await runKindling(['events', 'failed', 'rec', '--endpoint', server.url]);
    assert.equal(none.code, 0, describeRun(none));
    assert.match(none.stdout, /No failed events for rec/);
    const r = await runKindling(['events', 'redrive', 'nosuchfn', '--endpoint', server.url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ResourceNotFoundException: Function not found/);
  });
});
