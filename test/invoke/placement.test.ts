// Placement on a host with little memory: sandboxes reserve MemorySize, idle
// ones are evicted least recently used first, and past that invokes get 429.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, rawRequest, rejection, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;

const SLOW = `import { randomUUID } from 'node:crypto';
const sandbox = randomUUID();
export const handler = async (event) => {
  if (event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  return sandbox;
};
`;

before(async () => {
  // Room for exactly two 128 MB sandboxes.
  server = await startKindling({ args: ['--memory', '256'] });
  client = lambdaClient(server.url);
  for (const name of ['a', 'b']) {
    await client.send(
      new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, MemorySize: 128, Code: { ZipFile: await makeZip({ 'index.mjs': SLOW }) } }),
    );
  }
});
after(async () => {
  await server?.dispose();
});

const invoke = (name: string, payload: unknown) =>
  client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }));
const pid = async (name: string, payload: unknown = {}) => Buffer.from((await invoke(name, payload)).Payload!).toString();

test('a host that is full of busy sandboxes throttles with Lambda’s 429', async () => {
  const busy = [invoke('a', { sleepMs: 1500 }), invoke('a', { sleepMs: 1500 })];
  await new Promise((r) => setTimeout(r, 500));
  const err = await rejection(invoke('b', {}));
  assert.equal(err.name, 'TooManyRequestsException');
  assert.equal(err.$metadata.httpStatusCode, 429);
  assert.equal(err.message, 'Rate Exceeded.');
  assert.equal((err as unknown as { Reason: string }).Reason, 'ConcurrentInvocationLimitExceeded');
  const raw = await rawRequest(server.url, 'POST', '/2015-03-31/functions/b/invocations', { body: '{}' });
  assert.equal(raw.status, 429);
  assert.equal(raw.headers.get('retry-after'), '1');
  assert.equal(raw.headers.get('x-amzn-errortype'), 'TooManyRequestsException');
  for (const out of await Promise.all(busy)) assert.equal(out.FunctionError, undefined);
});

test('idle sandboxes are evicted least recently used first to make room', async () => {
  // Two idle sandboxes of `a` are left from the test above; touch one so the other is the oldest.
  const kept = await pid('a');
  const b = await pid('b');
  assert.notEqual(b, kept);
  // `a`'s most recently used sandbox survived the eviction and is still warm.
  assert.equal(await pid('a'), kept);
});
