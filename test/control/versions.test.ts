// Versions and aliases: PublishVersion, ListVersionsByFunction, immutability,
// aliases with weighted routing, invoke by version and alias.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  GetAliasCommand,
  GetFunctionCommand,
  InvokeCommand,
  ListAliasesCommand,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { functionArn, lambdaClient, makeZip, rejection, ROLE, startKindling, type KindlingServer, UUID } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;

const code = (tag: string) => makeZip({ 'index.mjs': `export const handler = async () => '${tag}';\n` });

async function invoke(name: string, qualifier?: string) {
  const out = await client.send(new InvokeCommand({ FunctionName: name, ...(qualifier ? { Qualifier: qualifier } : {}) }));
  return { body: JSON.parse(Buffer.from(out.Payload!).toString()) as string, version: out.ExecutedVersion };
}

before(async () => {
  server = await startKindling();
  client = lambdaClient(server.url);
  await client.send(new CreateFunctionCommand({ FunctionName: 'v', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await code('one') } }));
});
after(async () => {
  await server?.dispose();
});

describe('versions', () => {
  test('PublishVersion makes an immutable numbered version; nothing new when unchanged', async () => {
    const v1 = await client.send(new PublishVersionCommand({ FunctionName: 'v', Description: 'first' }));
    assert.equal(v1.$metadata.httpStatusCode, 201);
    assert.equal(v1.Version, '1');
    assert.equal(v1.FunctionArn, functionArn('v', '1'));
    assert.equal(v1.Description, 'first');
    assert.match(v1.RevisionId!, UUID);
    const again = await client.send(new PublishVersionCommand({ FunctionName: 'v' }));
    assert.equal(again.Version, '1');
    assert.equal(again.RevisionId, v1.RevisionId);
    await client.send(new UpdateFunctionCodeCommand({ FunctionName: 'v', ZipFile: await code('two') }));
    const v2 = await client.send(new PublishVersionCommand({ FunctionName: 'v' }));
    assert.equal(v2.Version, '2');
    await client.send(new UpdateFunctionCodeCommand({ FunctionName: 'v', ZipFile: await code('three') }));
    assert.deepEqual(await invoke('v', '1'), { body: 'one', version: '1' });
    assert.deepEqual(await invoke('v', '2'), { body: 'two', version: '2' });
    assert.deepEqual(await invoke('v'), { body: 'three', version: '$LATEST' });
    assert.deepEqual(await invoke('v:1'), { body: 'one', version: '1' });
    const got = await client.send(new GetFunctionCommand({ FunctionName: 'v', Qualifier: '1' }));
    assert.equal(got.Configuration?.Version, '1');
  });

  test('PublishVersion preconditions', async () => {
    const wrongSha = await rejection(client.send(new PublishVersionCommand({ FunctionName: 'v', CodeSha256: 'AAAA' })));
    assert.equal(wrongSha.name, 'InvalidParameterValueException');
    assert.match(wrongSha.message, /^CodeSHA256 \(AAAA\) is different from current CodeSHA256 in \$LATEST \(.+\)\. Please try again with the CodeSHA256 in \$LATEST\.$/);
    const stale = await rejection(client.send(new PublishVersionCommand({ FunctionName: 'v', RevisionId: '00000000-0000-0000-0000-000000000000' })));
    assert.equal(stale.name, 'PreconditionFailedException');
    assert.equal(stale.$metadata.httpStatusCode, 412);
    const missing = await rejection(client.send(new PublishVersionCommand({ FunctionName: 'nope' })));
    assert.equal(missing.name, 'ResourceNotFoundException');
  });

  test('ListVersionsByFunction pages through $LATEST and every version', async () => {
    const first = await client.send(new ListVersionsByFunctionCommand({ FunctionName: 'v', MaxItems: 2 }));
    assert.deepEqual(first.Versions?.map((v) => v.Version), ['$LATEST', '1']);
    assert.equal(first.Versions?.[0]?.FunctionArn, functionArn('v', '$LATEST'));
    assert.ok(first.NextMarker);
    const rest = await client.send(new ListVersionsByFunctionCommand({ FunctionName: 'v', Marker: first.NextMarker }));
    assert.deepEqual(rest.Versions?.map((v) => v.Version), ['2']);
    assert.equal(rest.NextMarker, undefined);
  });
});

describe('aliases', () => {
  test('CreateAlias, GetAlias, UpdateAlias, ListAliases, DeleteAlias', async () => {
    const created = await client.send(new CreateAliasCommand({ FunctionName: 'v', Name: 'live', FunctionVersion: '1', Description: 'prod' }));
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.AliasArn, functionArn('v', 'live'));
    assert.equal(created.FunctionVersion, '1');
    assert.match(created.RevisionId!, UUID);
    const got = await client.send(new GetAliasCommand({ FunctionName: 'v', Name: 'live' }));
    assert.equal(got.Description, 'prod');
    assert.deepEqual(await invoke('v', 'live'), { body: 'one', version: '1' });
    assert.deepEqual(await invoke(functionArn('v', 'live')), { body: 'one', version: '1' });
    // Read through an alias: the version's configuration under the alias ARN.
    const viaAlias = await client.send(new GetFunctionCommand({ FunctionName: 'v', Qualifier: 'live' }));
    assert.equal(viaAlias.Configuration?.FunctionArn, functionArn('v', 'live'));
    assert.equal(viaAlias.Configuration?.Version, '1');
    const updated = await client.send(new UpdateAliasCommand({ FunctionName: 'v', Name: 'live', FunctionVersion: '2', RevisionId: got.RevisionId }));
    assert.notEqual(updated.RevisionId, got.RevisionId);
    assert.deepEqual(await invoke('v', 'live'), { body: 'two', version: '2' });
    const stale = await rejection(client.send(new UpdateAliasCommand({ FunctionName: 'v', Name: 'live', Description: 'x', RevisionId: got.RevisionId })));
    assert.equal(stale.name, 'PreconditionFailedException');
    await client.send(new CreateAliasCommand({ FunctionName: 'v', Name: 'beta', FunctionVersion: '$LATEST' }));
    const list = await client.send(new ListAliasesCommand({ FunctionName: 'v' }));
    assert.deepEqual(list.Aliases?.map((a) => a.Name), ['beta', 'live']);
    const only2 = await client.send(new ListAliasesCommand({ FunctionName: 'v', FunctionVersion: '2' }));
    assert.deepEqual(only2.Aliases?.map((a) => a.Name), ['live']);
    const del = await client.send(new DeleteAliasCommand({ FunctionName: 'v', Name: 'beta' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    const gone = await rejection(client.send(new GetAliasCommand({ FunctionName: 'v', Name: 'beta' })));
    assert.equal(gone.name, 'ResourceNotFoundException');
    assert.equal(gone.message, `Cannot find alias arn: ${functionArn('v', 'beta')}`);
    const invokeGone = await rejection(invoke('v', 'beta'));
    assert.equal(invokeGone.name, 'ResourceNotFoundException');
  });

  test('alias errors', async () => {
    const dup = await rejection(client.send(new CreateAliasCommand({ FunctionName: 'v', Name: 'live', FunctionVersion: '1' })));
    assert.equal(dup.name, 'ResourceConflictException');
    assert.equal(dup.$metadata.httpStatusCode, 409);
    assert.equal(dup.message, `Alias already exists: ${functionArn('v', 'live')}`);
    const noVersion = await rejection(client.send(new CreateAliasCommand({ FunctionName: 'v', Name: 'x', FunctionVersion: '99' })));
    assert.equal(noVersion.name, 'ResourceNotFoundException');
    const digits = await rejection(client.send(new CreateAliasCommand({ FunctionName: 'v', Name: '123', FunctionVersion: '1' })));
    assert.equal(digits.name, 'ValidationException');
    const latestWeighted = await rejection(
      client.send(new CreateAliasCommand({ FunctionName: 'v', Name: 'w', FunctionVersion: '$LATEST', RoutingConfig: { AdditionalVersionWeights: { '1': 0.5 } } })),
    );
    assert.equal(latestWeighted.name, 'InvalidParameterValueException');
    const badWeight = await rejection(
      client.send(new CreateAliasCommand({ FunctionName: 'v', Name: 'w', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 1.5 } } })),
    );
    assert.equal(badWeight.name, 'ValidationException');
    const referenced = await rejection(client.send(new DeleteFunctionCommand({ FunctionName: 'v', Qualifier: '2' })));
    assert.equal(referenced.name, 'ResourceConflictException');
    const aliasDelete = await rejection(client.send(new DeleteFunctionCommand({ FunctionName: 'v', Qualifier: 'live' })));
    assert.equal(aliasDelete.name, 'InvalidParameterValueException');
  });

  test('weighted routing splits traffic as configured', async () => {
    await client.send(new CreateAliasCommand({ FunctionName: 'v', Name: 'canary', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 0.3 } } }));
    const n = 400;
    let two = 0;
    for (let i = 0; i < n; i++) {
      const r = await invoke('v', 'canary');
      assert.equal(r.body, r.version === '2' ? 'two' : 'one');
      if (r.version === '2') two++;
    }
    // Binomial(400, 0.3): mean 120, sd 9.2; ±5 sd keeps this from flaking.
    assert.ok(two > 74 && two < 166, `version 2 got ${two} of ${n} invokes, expected about 120`);
    const alias = await client.send(new GetAliasCommand({ FunctionName: 'v', Name: 'canary' }));
    assert.deepEqual(alias.RoutingConfig?.AdditionalVersionWeights, { '2': 0.3 });
    await client.send(new UpdateAliasCommand({ FunctionName: 'v', Name: 'canary', RoutingConfig: { AdditionalVersionWeights: {} } }));
    for (let i = 0; i < 20; i++) assert.equal((await invoke('v', 'canary')).version, '1');
  });
});
