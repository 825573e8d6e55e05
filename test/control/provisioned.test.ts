// Provisioned concurrency through the SDK against a real `kindling up`: the
// four calls with Lambda's errors, a pool that goes IN_PROGRESS then READY,
// warm invokes with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency,
// on-demand past the pool, the pool back after a restart, released on delete.
// (@aws-sdk/client-lambda has no waiter for provisioned concurrency: we poll.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  DeleteAliasCommand,
  DeleteFunctionConcurrencyCommand,
  DeleteFunctionCommand,
  DeleteProvisionedConcurrencyConfigCommand,
  GetAccountSettingsCommand,
  GetProvisionedConcurrencyConfigCommand,
  InvokeCommand,
  ListProvisionedConcurrencyConfigsCommand,
  PublishVersionCommand,
  PutFunctionConcurrencyCommand,
  PutProvisionedConcurrencyConfigCommand,
  UpdateFunctionConfigurationCommand,
  type GetProvisionedConcurrencyConfigCommandOutput,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { functionArn, lambdaClient, makeZip, rejection, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';

const LIMIT = 150;
let server: KindlingServer;
let client: LambdaClient;

const HANDLER = `export const handler = async (e) => {
  if (e.sleepMs) await new Promise((r) => setTimeout(r, e.sleepMs));
  if (e.exit) process.exit(3);
  return { initType: process.env.AWS_LAMBDA_INITIALIZATION_TYPE };
};
`;

before(async () => {
  server = await startKindling({ args: ['--concurrency', String(LIMIT)] });
  client = lambdaClient(server.url);
  const zip = await makeZip({ 'index.mjs': HANDLER });
  for (const name of ['p', 'e']) {
    await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip }, MemorySize: 128 }));
    await client.send(new PublishVersionCommand({ FunctionName: name }));
  }
  await client.send(new CreateAliasCommand({ FunctionName: 'p', Name: 'live', FunctionVersion: '1' }));
});
after(async () => {
  await server?.dispose();
});

const unreserved = async (): Promise<number> => (await client.send(new GetAccountSettingsCommand({}))).AccountLimit!.UnreservedConcurrentExecutions!;

/** Polls GetProvisionedConcurrencyConfig until READY (FAILED fails), with a deadline generous enough for any machine. */
async function waitReady(FunctionName: string, Qualifier: string, deadlineMs = 90_000): Promise<GetProvisionedConcurrencyConfigCommandOutput> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const got = await client.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName, Qualifier }));
    if (got.Status === 'READY') return got;
    assert.notEqual(got.Status, 'FAILED', `provisioned concurrency failed: ${got.StatusReason}`);
    assert.equal(got.Status, 'IN_PROGRESS');
    if (Date.now() > until) assert.fail(`still ${got.Status} after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Ran {
  initType: string;
  initDuration: boolean;
}

async function invoke(FunctionName: string, Qualifier: string | undefined, sleepMs = 0): Promise<Ran> {
  const out = await client.send(
    new InvokeCommand({ FunctionName, ...(Qualifier ? { Qualifier } : {}), LogType: 'Tail', Payload: Buffer.from(JSON.stringify({ sleepMs })) }),
  );
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  const log = Buffer.from(out.LogResult ?? '', 'base64').toString('utf8');
  assert.match(log, /REPORT RequestId:/);
  const body = JSON.parse(Buffer.from(out.Payload!).toString('utf8')) as { initType: string };
  return { initType: body.initType, initDuration: log.includes('Init Duration') };
}

const warm = (r: Ran) => r.initType === 'provisioned-concurrency' && !r.initDuration;
const cold = (r: Ran) => r.initType === 'on-demand' && r.initDuration;

describe('provisioned concurrency errors', () => {
  test('Get, List and Delete: unknown function, alias, version; $LATEST; no config', async () => {
    const none = await rejection(client.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'e', Qualifier: '1' })));
    assert.equal(none.name, 'ProvisionedConcurrencyConfigNotFoundException');
    assert.equal(none.$metadata.httpStatusCode, 404);
    assert.equal(none.message, 'No Provisioned Concurrency Config found for this function');

    const cases: [string, string, string, string][] = [
      ['doesnotexist', 'noalias', 'ResourceNotFoundException', `Cannot find alias arn: ${functionArn('doesnotexist', 'noalias')}`],
      ['e', 'noalias', 'ResourceNotFoundException', `Cannot find alias arn: ${functionArn('e', 'noalias')}`],
      ['e', '10', 'ResourceNotFoundException', `Function not found: ${functionArn('e', '10')}`],
      ['e', '$LATEST', 'InvalidParameterValueException', 'The function resource provided must be an alias or a published version.'],
    ];
    for (const [FunctionName, Qualifier, name, message] of cases) {
      const got = await rejection(client.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName, Qualifier })));
      assert.equal(got.name, name, `Get ${FunctionName}:${Qualifier}`);
      assert.equal(got.message, message);
    }
    for (const [FunctionName, Qualifier, name, message] of [
      ['doesnotexist', '1', 'ResourceNotFoundException', `Function not found: ${functionArn('doesnotexist', '1')}`],
      ...cases.slice(1),
    ] as [string, string, string, string][]) {
      const got = await rejection(client.send(new DeleteProvisionedConcurrencyConfigCommand({ FunctionName, Qualifier })));
      assert.equal(got.name, name, `Delete ${FunctionName}:${Qualifier}`);
      assert.equal(got.message, message);
    }
    const deleted = await client.send(new DeleteProvisionedConcurrencyConfigCommand({ FunctionName: 'e', Qualifier: '1' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204, 'deleting a config that is not there is fine');

    const list = await client.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'e' }));
    assert.deepEqual(list.ProvisionedConcurrencyConfigs, []);
    const listMissing = await rejection(client.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'doesnotexist' })));
    assert.equal(listMissing.name, 'ResourceNotFoundException');
    assert.equal(listMissing.message, `Function not found: ${functionArn('doesnotexist')}`);
  });

  test('Put: the value, unknown targets, $LATEST, the account and reserved limits', async () => {
    const put = (FunctionName: string, Qualifier: string, n: number) =>
      rejection(client.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName, Qualifier, ProvisionedConcurrentExecutions: n })));
    const zero = await put('e', '1', 0);
    assert.equal(zero.name, 'ValidationException');
    assert.equal(zero.message, "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1");
    for (const [FunctionName, Qualifier, message] of [
      ['doesnotexist', 'noalias', `Cannot find alias arn: ${functionArn('doesnotexist', 'noalias')}`],
      ['doesnotexist', '1', `Function not found: ${functionArn('doesnotexist', '1')}`],
      ['e', 'doesnotexist', `Cannot find alias arn: ${functionArn('e', 'doesnotexist')}`],
      ['e', '10', `Function not found: ${functionArn('e', '10')}`],
    ]) {
      const got = await put(FunctionName!, Qualifier!, 1);
      assert.equal(got.name, 'ResourceNotFoundException', `Put ${FunctionName}:${Qualifier}`);
      assert.equal(got.message, message);
    }
    const latest = await put('e', '$LATEST', 1);
    assert.equal(latest.name, 'InvalidParameterValueException');
    assert.equal(latest.message, 'Provisioned Concurrency Configs cannot be applied to unpublished function versions.');

    const free = await unreserved();
    const over = await put('e', '1', free + 1);
    assert.equal(over.name, 'InvalidParameterValueException');
    assert.equal(over.message, `Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [${free}].`);
    const belowMin = await put('e', '1', free);
    assert.equal(belowMin.name, 'InvalidParameterValueException');
    assert.equal(belowMin.message, "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].");

    await client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'e', ReservedConcurrentExecutions: 2 }));
    const overReserved = await put('e', '1', 3);
    assert.equal(overReserved.name, 'InvalidParameterValueException');
    assert.equal(overReserved.message, 'Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function');
    await client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'e' }));
  });

  test('one config per version: an alias and its version conflict; a deleted alias takes its config along', async () => {
    await client.send(new CreateAliasCommand({ FunctionName: 'e', Name: 'a', FunctionVersion: '1' }));
    const before = await unreserved();
    const onVersion = await client.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'e', Qualifier: '1', ProvisionedConcurrentExecutions: 1 }));
    assert.equal(onVersion.$metadata.httpStatusCode, 202);
    assert.equal(onVersion.Status, 'IN_PROGRESS');
    assert.equal(onVersion.RequestedProvisionedConcurrentExecutions, 1);
    assert.equal(await unreserved(), before - 1, 'provisioned concurrency comes out of the unreserved pool');
    const reservedTooLow = await rejection(client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'e', ReservedConcurrentExecutions: 0 })));
    assert.equal(reservedTooLow.name, 'InvalidParameterValueException');

    const aliasConflict = await rejection(client.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'e', Qualifier: 'a', ProvisionedConcurrentExecutions: 1 })));
    assert.equal(aliasConflict.name, 'ResourceConflictException');
    assert.equal(aliasConflict.message, "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version");
    await client.send(new DeleteProvisionedConcurrencyConfigCommand({ FunctionName: 'e', Qualifier: '1' }));
    assert.equal(await unreserved(), before);

    await client.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'e', Qualifier: 'a', ProvisionedConcurrentExecutions: 1 }));
    const versionConflict = await rejection(client.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'e', Qualifier: '1', ProvisionedConcurrentExecutions: 1 })));
    assert.equal(versionConflict.name, 'ResourceConflictException');
    assert.equal(versionConflict.message, 'Version is pointed by a Provisioned Concurrency alias');
    await client.send(new DeleteAliasCommand({ FunctionName: 'e', Name: 'a' }));
    const gone = await rejection(client.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'e', Qualifier: 'a' })));
    assert.equal(gone.message, `Cannot find alias arn: ${functionArn('e', 'a')}`);
    // The alias's config goes with it (the pool is released in the background).
    const until = Date.now() + 10_000;
    while ((await client.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'e' }))).ProvisionedConcurrencyConfigs!.length > 0) {
      if (Date.now() > until) assert.fail('the deleted alias kept its provisioned concurrency config');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await unreserved(), before);
  });
});

describe('provisioned concurrency pools', () => {
  test('an alias with 3: IN_PROGRESS, then READY; 3 concurrent invokes are warm, a 4th is cold', async () => {
    const before = await unreserved();
    const put = await client.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'p', Qualifier: 'live', ProvisionedConcurrentExecutions: 3 }));
    assert.equal(put.$metadata.httpStatusCode, 202);
    assert.equal(put.Status, 'IN_PROGRESS');
    assert.equal(put.RequestedProvisionedConcurrentExecutions, 3);
    assert.ok(put.LastModified);
    const ready = await waitReady('p', 'live');
    assert.equal(ready.AllocatedProvisionedConcurrentExecutions, 3);
    assert.equal(ready.AvailableProvisionedConcurrentExecutions, 3);
    assert.equal(ready.RequestedProvisionedConcurrentExecutions, 3);
    assert.equal(await unreserved(), before - 3);

    const list = await client.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'p' }));
    assert.equal(list.ProvisionedConcurrencyConfigs?.length, 1);
    assert.equal(list.ProvisionedConcurrencyConfigs![0]!.FunctionArn, functionArn('p', 'live'));
    assert.equal(list.ProvisionedConcurrencyConfigs![0]!.Status, 'READY');

    const three = await Promise.all([1, 2, 3].map(() => invoke('p', 'live', 300)));
    for (const r of three) assert.ok(warm(r), `expected a provisioned sandbox with no Init Duration: ${JSON.stringify(r)}`);

    // Four at once, each long enough that none is back before the last has a sandbox.
    const four = await Promise.all([1, 2, 3, 4].map(() => invoke('p', 'live', 2000)));
    assert.equal(four.filter(warm).length, 3, JSON.stringify(four));
    assert.equal(four.filter(cold).length, 1, JSON.stringify(four));
  });

  test('a provisioned sandbox that dies is replaced', async () => {
    const crashed = await client.send(new InvokeCommand({ FunctionName: 'p', Qualifier: 'live', Payload: Buffer.from('{"exit":true}') }));
    assert.equal(crashed.FunctionError, 'Unhandled');
    const until = Date.now() + 90_000;
    for (;;) {
      const got = await client.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'p', Qualifier: 'live' }));
      assert.equal(got.Status, 'READY', 'a replacement does not take the config back to IN_PROGRESS');
      if (got.AllocatedProvisionedConcurrentExecutions === 3) break;
      if (Date.now() > until) assert.fail('the pool was not refilled');
      await new Promise((r) => setTimeout(r, 100));
    }
    const three = await Promise.all([1, 2, 3].map(() => invoke('p', 'live', 300)));
    for (const r of three) assert.ok(warm(r), JSON.stringify(r));
  });

  test('the pool comes back READY after a restart; Delete releases it', async () => {
    await server.restart();
    client = lambdaClient(server.url);
    const ready = await waitReady('p', 'live');
    assert.equal(ready.AllocatedProvisionedConcurrentExecutions, 3);
    assert.ok(warm(await invoke('p', 'live')));
    assert.ok(warm(await invoke('p', '1')), 'the alias’s version is provisioned, however it is invoked');

    const deleted = await client.send(new DeleteProvisionedConcurrencyConfigCommand({ FunctionName: 'p', Qualifier: 'live' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    const none = await rejection(client.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'p', Qualifier: 'live' })));
    assert.equal(none.name, 'ProvisionedConcurrencyConfigNotFoundException');
    assert.deepEqual((await client.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'p' }))).ProvisionedConcurrencyConfigs, []);
    assert.ok(cold(await invoke('p', 'live')), 'with the pool released, an invoke starts an on-demand sandbox');
  });

  test("a weighted alias's provisioned concurrency is split over its two versions, so neither sees a cold start", async () => {
    const zip = await makeZip({ 'index.mjs': HANDLER });
    await client.send(new CreateFunctionCommand({ FunctionName: 'w', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip }, MemorySize: 128, Publish: true }));
    // Version 2: the same code with another environment.
    await client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'w', Environment: { Variables: { VERSION: '2' } } }));
    assert.equal((await client.send(new PublishVersionCommand({ FunctionName: 'w' }))).Version, '2');
    await client.send(new CreateAliasCommand({ FunctionName: 'w', Name: 'split', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } } }));
    await client.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'w', Qualifier: 'split', ProvisionedConcurrentExecutions: 2 }));
    const ready = await waitReady('w', 'split');
    assert.equal(ready.AllocatedProvisionedConcurrentExecutions, 2);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const out = await client.send(new InvokeCommand({ FunctionName: 'w', Qualifier: 'split', LogType: 'Tail', Payload: Buffer.from('{}') }));
      const log = Buffer.from(out.LogResult ?? '', 'base64').toString('utf8');
      const body = JSON.parse(Buffer.from(out.Payload!).toString('utf8')) as { initType: string };
      assert.ok(body.initType === 'provisioned-concurrency' && !log.includes('Init Duration'), `version ${out.ExecutedVersion} was cold: ${log}`);
      seen.add(out.ExecutedVersion!);
    }
    assert.deepEqual([...seen].sort(), ['1', '2']);
    await client.send(new DeleteProvisionedConcurrencyConfigCommand({ FunctionName: 'w', Qualifier: 'split' }));
  });

  test('deleting the function releases its pools', async () => {
    await client.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'p', Qualifier: '1', ProvisionedConcurrentExecutions: 1 }));
    await waitReady('p', '1');
    const before = await unreserved();
    await client.send(new DeleteFunctionCommand({ FunctionName: 'p' }));
    assert.equal(await unreserved(), before + 1);
  });
});
