// Tags and reserved concurrency through the SDK, and reserved concurrency enforced on invoke.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  InvokeCommand,
  ListTagsCommand,
  PutFunctionConcurrencyCommand,
  TagResourceCommand,
  UntagResourceCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { functionArn, lambdaClient, makeZip, rejection, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;

before(async () => {
  server = await startKindling({ args: ['--concurrency', '150'] });
  client = lambdaClient(server.url);
  const zip = await makeZip({ 'index.mjs': 'export const handler = async (e) => { if (e.sleepMs) await new Promise((r) => setTimeout(r, e.sleepMs)); return 1; };\n' });
  for (const name of ['t', 'c']) {
    await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip }, ...(name === 't' ? { Tags: { team: 'core' } } : {}) }));
  }
});
after(async () => {
  await server?.dispose();
});

describe('tags', () => {
  test('TagResource, ListTags, UntagResource, and GetFunction shows them', async () => {
    const arn = functionArn('t');
    assert.deepEqual((await client.send(new ListTagsCommand({ Resource: arn }))).Tags, { team: 'core' });
    const before = (await client.send(new GetFunctionCommand({ FunctionName: 't' }))).Configuration?.RevisionId;
    const tagged = await client.send(new TagResourceCommand({ Resource: arn, Tags: { env: 'prod', tier: '1' } }));
    assert.equal(tagged.$metadata.httpStatusCode, 204);
    assert.deepEqual((await client.send(new ListTagsCommand({ Resource: arn }))).Tags, { team: 'core', env: 'prod', tier: '1' });
    await client.send(new UntagResourceCommand({ Resource: arn, TagKeys: ['team', 'tier'] }));
    const got = await client.send(new GetFunctionCommand({ FunctionName: 't' }));
    assert.deepEqual(got.Tags, { env: 'prod' });
    assert.notEqual(got.Configuration?.RevisionId, before, 'tagging gives the function a new RevisionId, as Lambda does');
  });

  test('tag errors', async () => {
    const missing = await rejection(client.send(new ListTagsCommand({ Resource: functionArn('nope') })));
    assert.equal(missing.name, 'ResourceNotFoundException');
    const qualified = await rejection(client.send(new TagResourceCommand({ Resource: functionArn('t', '1'), Tags: { a: 'b' } })));
    assert.equal(qualified.name, 'InvalidParameterValueException');
    const bad = await rejection(client.send(new ListTagsCommand({ Resource: 'not-an-arn' })));
    assert.equal(bad.name, 'ValidationException');
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
    const tooMany = await rejection(client.send(new TagResourceCommand({ Resource: functionArn('t'), Tags: many })));
    assert.equal(tooMany.name, 'InvalidParameterValueException');
  });
});

describe('kindling:* sandbox tags', () => {
  test('are checked when written, and a driver that takes isolation away is refused', async () => {
    for (const Tags of [{ 'kindling:sandbox': 'vm' }, { 'kindling:sandbox': 'process' }, { 'kindling:network': 'off' }] as Record<string, string>[]) {
      const e = await rejection(client.send(new TagResourceCommand({ Resource: functionArn('t'), Tags })));
      assert.equal(e.name, 'InvalidParameterValueException');
      assert.match(e.message, /^Tag kindling:(sandbox|network) must be one of/);
    }
    const zip = await makeZip({ 'index.mjs': 'export const handler = async () => 1;\n' });
    const e = await rejection(client.send(new CreateFunctionCommand({ FunctionName: 'bad-tag', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip }, Tags: { 'kindling:network': 'nope' } })));
    assert.equal(e.name, 'InvalidParameterValueException');
  });

  test("kindling:network = none leaves a function's sandbox only loopback", async () => {
    // Only namespace sandboxes have a network to take away (CI runs them: root on Linux).
    const namespace = /Sandboxes: namespace/.test(server.stdout);
    const zip = await makeZip({ 'index.mjs': "import os from 'node:os';\nexport const handler = async () => Object.keys(os.networkInterfaces()).sort();\n" });
    for (const [name, tags] of [['net-default', {}], ['net-none', { 'kindling:network': 'none' }]] as const) {
      await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip }, Tags: tags }));
    }
    const ifaces = async (name: string) => JSON.parse(Buffer.from((await client.send(new InvokeCommand({ FunctionName: name }))).Payload!).toString());
    if (namespace) {
      assert.deepEqual(await ifaces('net-none'), ['lo']);
      if (!/nft/.test(server.stderr)) assert.ok((await ifaces('net-default')).includes('eth0'));
    } else {
      assert.ok((await ifaces('net-none')).includes('lo'));
    }
  });
});

describe('reserved concurrency', () => {
  test('Put, Get, Delete, and the account’s unreserved pool', async () => {
    assert.equal((await client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'c' }))).ReservedConcurrentExecutions, undefined);
    const put = await client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'c', ReservedConcurrentExecutions: 2 }));
    assert.equal(put.ReservedConcurrentExecutions, 2);
    assert.equal((await client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'c' }))).ReservedConcurrentExecutions, 2);
    const acct = await client.send(new GetAccountSettingsCommand({}));
    assert.equal(acct.AccountLimit?.ConcurrentExecutions, 150);
    assert.equal(acct.AccountLimit?.UnreservedConcurrentExecutions, 148);
    assert.deepEqual((await client.send(new GetFunctionCommand({ FunctionName: 'c' }))).Concurrency, { ReservedConcurrentExecutions: 2 });
    const over = await rejection(client.send(new PutFunctionConcurrencyCommand({ FunctionName: 't', ReservedConcurrentExecutions: 49 })));
    assert.equal(over.name, 'InvalidParameterValueException');
    assert.equal(
      over.message,
      "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
    );
  });

  test('invokes past the reservation are throttled; 0 throttles every invoke', async () => {
    const running = [1, 2].map(() => client.send(new InvokeCommand({ FunctionName: 'c', Payload: Buffer.from('{"sleepMs":1200}') })));
    await new Promise((r) => setTimeout(r, 400));
    const third = await rejection(client.send(new InvokeCommand({ FunctionName: 'c', Payload: Buffer.from('{}') })));
    assert.equal(third.name, 'TooManyRequestsException');
    assert.equal(third.message, 'Rate Exceeded.');
    assert.equal((third as unknown as { Reason: string }).Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    for (const out of await Promise.all(running)) assert.equal(out.FunctionError, undefined);
    await client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'c', ReservedConcurrentExecutions: 0 }));
    const zero = await rejection(client.send(new InvokeCommand({ FunctionName: 'c', Payload: Buffer.from('{}') })));
    assert.equal(zero.$metadata.httpStatusCode, 429);
    await client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'c' }));
    const ok = await client.send(new InvokeCommand({ FunctionName: 'c', Payload: Buffer.from('{}') }));
    assert.equal(ok.StatusCode, 200);
  });
});

describe('resource policies', () => {
  test('AddPermission, GetPolicy, RemovePermission with Lambda’s statement shapes', async () => {
    const { AddPermissionCommand, GetPolicyCommand, RemovePermissionCommand } = await import('@aws-sdk/client-lambda');
    const added = await client.send(
      new AddPermissionCommand({ FunctionName: 't', StatementId: 's3', Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com', SourceArn: 'arn:aws:s3:::bucket', SourceAccount: '111111111111' }),
    );
    assert.equal(added.$metadata.httpStatusCode, 201);
    assert.equal(
      added.Statement,
      JSON.stringify({
        Sid: 's3',
        Effect: 'Allow',
        Principal: { Service: 's3.amazonaws.com' },
        Action: 'lambda:InvokeFunction',
        Resource: functionArn('t'),
        Condition: { StringEquals: { 'AWS:SourceAccount': '111111111111' }, ArnLike: { 'AWS:SourceArn': 'arn:aws:s3:::bucket' } },
      }),
    );
    await client.send(new AddPermissionCommand({ FunctionName: 't', StatementId: 'acct', Action: 'lambda:InvokeFunction', Principal: '123456789012' }));
    const policy = await client.send(new GetPolicyCommand({ FunctionName: 't' }));
    const doc = JSON.parse(policy.Policy!) as { Version: string; Id: string; Statement: { Sid: string; Principal: unknown }[] };
    assert.equal(doc.Version, '2012-10-17');
    assert.equal(doc.Id, 'default');
    assert.deepEqual(doc.Statement.map((s) => s.Sid), ['s3', 'acct']);
    assert.deepEqual(doc.Statement[1]!.Principal, { AWS: 'arn:aws:iam::123456789012:root' });
    const dup = await rejection(client.send(new AddPermissionCommand({ FunctionName: 't', StatementId: 's3', Action: 'lambda:InvokeFunction', Principal: '*' })));
    assert.equal(dup.name, 'ResourceConflictException');
    assert.equal(dup.message, 'The statement id (s3) provided already exists. Please provide a new statement id, or remove the existing statement.');
    const stale = await rejection(
      client.send(new AddPermissionCommand({ FunctionName: 't', StatementId: 'x', Action: 'lambda:InvokeFunction', Principal: '*', RevisionId: 'stale' })),
    );
    assert.equal(stale.name, 'PreconditionFailedException');
    const bad = await rejection(client.send(new AddPermissionCommand({ FunctionName: 't', StatementId: 'y', Action: 'lambda:InvokeFunction', Principal: 'not a principal!' })));
    assert.equal(bad.$metadata.httpStatusCode, 400);
    await client.send(new RemovePermissionCommand({ FunctionName: 't', StatementId: 's3' }));
    const unknownSid = await rejection(client.send(new RemovePermissionCommand({ FunctionName: 't', StatementId: 's3' })));
    assert.equal(unknownSid.message, 'Statement s3 is not found in resource policy.');
    await client.send(new RemovePermissionCommand({ FunctionName: 't', StatementId: 'acct' }));
    const none = await rejection(client.send(new GetPolicyCommand({ FunctionName: 't' })));
    assert.equal(none.name, 'ResourceNotFoundException');
    assert.equal(none.message, 'The resource you requested does not exist.');
  });
});
