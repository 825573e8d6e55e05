// The event invoke config API through @aws-sdk/client-lambda against a real
// `kindling up`: shapes and errors as Lambda answers them (LocalStack's
// snapshots recorded against AWS: test_lambda_api.py::TestLambdaEventInvokeConfig).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  DeleteFunctionEventInvokeConfigCommand,
  GetFunctionEventInvokeConfigCommand,
  ListFunctionEventInvokeConfigsCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionEventInvokeConfigCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { functionArn, lambdaClient, nodeZip, rejection, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;

const create = async (name: string, publish = false) =>
  client.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      Code: { ZipFile: await nodeZip() },
      // Publish makes version 1 (the PublishVersion route is not there yet).
      ...(publish ? { Publish: true } : {}),
    }),
  );

before(async () => {
  server = await startKindling();
  client = lambdaClient(server.url);
  await create('cfg', true);
  await create('cfg2');
  await create('errs');
});

after(async () => {
  await server?.dispose();
});

const strip = <T extends { $metadata?: unknown; LastModified?: unknown }>(out: T) => {
  const { $metadata: _m, LastModified: _l, ...rest } = out;
  return rest;
};
const none = { OnSuccess: {}, OnFailure: {} };
const noConfig = (name: string, q = '$LATEST') => `The function ${functionArn(name, q)} doesn't have an EventInvokeConfig`;

describe('lifecycle', () => {
  test('put replaces, update merges, get, list with paging, per qualifier, delete', async () => {
    const before = Date.now() / 1000;
    const put = await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'cfg', MaximumRetryAttempts: 0 }));
    assert.equal(put.$metadata.httpStatusCode, 200);
    assert.deepEqual(strip(put), { FunctionArn: functionArn('cfg', '$LATEST'), MaximumRetryAttempts: 0, DestinationConfig: none });
    assert.ok(put.LastModified instanceof Date);
    assert.ok(put.LastModified.getTime() / 1000 >= before - 1 && put.LastModified.getTime() / 1000 <= Date.now() / 1000 + 1);

    const put2 = await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'cfg', MaximumEventAgeInSeconds: 60 }));
    assert.deepEqual(strip(put2), { FunctionArn: functionArn('cfg', '$LATEST'), MaximumEventAgeInSeconds: 60, DestinationConfig: none });

    const upd = await client.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'cfg', MaximumRetryAttempts: 1 }));
    assert.deepEqual(strip(upd), {
      FunctionArn: functionArn('cfg', '$LATEST'),
      MaximumEventAgeInSeconds: 60,
      MaximumRetryAttempts: 1,
      DestinationConfig: none,
    });
    for (const q of [undefined, '$LATEST']) {
      const got = await client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'cfg', ...(q ? { Qualifier: q } : {}) }));
      assert.deepEqual(strip(got), strip(upd));
    }
    const list = await client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'cfg' }));
    assert.equal(list.FunctionEventInvokeConfigs?.length, 1);
    assert.equal(list.NextMarker, undefined);
    assert.equal(list.FunctionEventInvokeConfigs![0]!.FunctionArn, functionArn('cfg', '$LATEST'));

    const v = { Version: '1' };
    const e = await rejection(client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'cfg', Qualifier: v.Version })));
    assert.equal(e.name, 'ResourceNotFoundException');
    assert.equal(e.$metadata.httpStatusCode, 404);
    assert.equal(e.message, noConfig('cfg', v.Version));

    const pv = await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'cfg', Qualifier: v.Version, MaximumEventAgeInSeconds: 120 }));
    assert.equal(pv.FunctionArn, functionArn('cfg', v.Version));
    const byArn = await client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: functionArn('cfg', v.Version) }));
    assert.equal(byArn.MaximumEventAgeInSeconds, 120);

    const page1 = await client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'cfg', MaxItems: 1 }));
    assert.equal(page1.FunctionEventInvokeConfigs?.length, 1);
    assert.ok(page1.NextMarker);
    const page2 = await client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'cfg', MaxItems: 1, Marker: page1.NextMarker }));
    assert.equal(page2.FunctionEventInvokeConfigs?.length, 1);
    assert.equal(page2.NextMarker, undefined);
    assert.deepEqual(
      [page1, page2].map((p) => p.FunctionEventInvokeConfigs![0]!.FunctionArn).sort(),
      [functionArn('cfg', '$LATEST'), functionArn('cfg', v.Version)].sort(),
    );

    const del = await client.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'cfg' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    const rest = await client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'cfg' }));
    assert.deepEqual(rest.FunctionEventInvokeConfigs?.map((c) => c.FunctionArn), [functionArn('cfg', v.Version)]);
    const again = await rejection(client.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'cfg' })));
    assert.equal(again.message, noConfig('cfg'));
  });

  test('destinations: another function is accepted; update changes only the member sent', async () => {
    const dest = functionArn('cfg2');
    const put = await client.send(
      new PutFunctionEventInvokeConfigCommand({ FunctionName: 'cfg2-src', DestinationConfig: { OnSuccess: { Destination: dest } } }),
    ).catch((e: Error) => e);
    assert.ok(put instanceof Error, 'cfg2-src does not exist');
    await create('cfg2-src');
    const ok = await client.send(
      new PutFunctionEventInvokeConfigCommand({ FunctionName: 'cfg2-src', DestinationConfig: { OnSuccess: { Destination: dest } } }),
    );
    assert.deepEqual(ok.DestinationConfig, { OnSuccess: { Destination: dest }, OnFailure: {} });
    const upd = await client.send(
      new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'cfg2-src', DestinationConfig: { OnFailure: { Destination: functionArn('cfg2', '$LATEST') } } }),
    );
    assert.deepEqual(upd.DestinationConfig, { OnSuccess: { Destination: dest }, OnFailure: { Destination: functionArn('cfg2', '$LATEST') } });
    const empty = await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'cfg2-src', DestinationConfig: { OnSuccess: {} } }));
    assert.deepEqual(empty.DestinationConfig, none);
  });

  test('an alias has a config of its own, deleted with the alias', async () => {
    await client.send(new CreateAliasCommand({ FunctionName: 'cfg', Name: 'live', FunctionVersion: '1' }));
    const put = await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'cfg:live', MaximumRetryAttempts: 1 }));
    assert.equal(put.FunctionArn, functionArn('cfg', 'live'));
    const got = await client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'cfg', Qualifier: 'live' }));
    assert.equal(got.MaximumRetryAttempts, 1);
    await client.send(new DeleteAliasCommand({ FunctionName: 'cfg', Name: 'live' }));
    const e = await rejection(client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'cfg', Qualifier: 'live' })));
    assert.equal(e.message, noConfig('cfg', 'live'));
  });

  test('deleting the function deletes its configs', async () => {
    await create('gone');
    await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'gone', MaximumRetryAttempts: 1 }));
    await client.send(new DeleteFunctionCommand({ FunctionName: 'gone' }));
    await create('gone');
    const e = await rejection(client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'gone' })));
    assert.equal(e.message, noConfig('gone'));
  });

  test('configs survive a restart', async () => {
    await create('durable');
    await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'durable', MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 3600 }));
    await server.restart();
    client = lambdaClient(server.url);
    const got = await client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'durable' }));
    assert.equal(got.MaximumRetryAttempts, 1);
    assert.equal(got.MaximumEventAgeInSeconds, 3600);
  });
});

describe('errors', () => {
  const expectError = async (p: Promise<unknown>, name: string, status: number, message: string) => {
    const e = await rejection(p);
    assert.equal(e.name, name, e.message);
    assert.equal(e.$metadata.httpStatusCode, status);
    assert.equal(e.message, message);
  };
  const put = (input: Record<string, unknown>) =>
    client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'errs', ...input } as never));

  test('unknown functions and qualifiers', async () => {
    await expectError(
      client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'doesnotexist', MaximumRetryAttempts: 1 })),
      'ResourceNotFoundException',
      404,
      "The function doesn't exist.",
    );
    await expectError(
      client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: functionArn('doesnotexist'), MaximumRetryAttempts: 1 })),
      'ResourceNotFoundException',
      404,
      "The function doesn't exist.",
    );
    await expectError(put({ Qualifier: 'nosuchalias', MaximumRetryAttempts: 1 }), 'ResourceNotFoundException', 404, "The function doesn't exist.");
    await expectError(
      client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'doesnotexist' })),
      'ResourceNotFoundException',
      404,
      noConfig('doesnotexist'),
    );
    await expectError(
      client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'errs', Qualifier: 'doesnotexist' })),
      'ResourceNotFoundException',
      404,
      noConfig('errs', 'doesnotexist'),
    );
    await expectError(
      client.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'doesnotexist' })),
      'ResourceNotFoundException',
      404,
      noConfig('doesnotexist'),
    );
    await expectError(
      client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'doesnotexist' })),
      'ResourceNotFoundException',
      404,
      "The function doesn't exist.",
    );
    await expectError(
      client.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'doesnotexist', MaximumRetryAttempts: 1 })),
      'ResourceNotFoundException',
      404,
      "The function doesn't exist.",
    );
    await expectError(
      client.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'errs', MaximumRetryAttempts: 1 })),
      'ResourceNotFoundException',
      404,
      noConfig('errs'),
    );
  });

  test('a config needs at least one setting', async () => {
    await expectError(
      client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'doesnotexist' })),
      'InvalidParameterValueException',
      400,
      'You must specify at least one of error handling or destination setting.',
    );
  });

  test('ranges, in Lambda\'s validation format', async () => {
    await expectError(
      put({ MaximumRetryAttempts: 3 }),
      'ValidationException',
      400,
      "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2",
    );
    await expectError(
      put({ MaximumRetryAttempts: -1, MaximumEventAgeInSeconds: 59 }),
      'ValidationException',
      400,
      "2 validation errors detected: Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value greater than or equal to 0; " +
        "Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
    );
    await expectError(
      put({ MaximumEventAgeInSeconds: 21601 }),
      'ValidationException',
      400,
      "1 validation error detected: Value '21601' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value less than or equal to 21600",
    );
    const max = await put({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 21600 });
    assert.equal((max as { MaximumEventAgeInSeconds?: number }).MaximumEventAgeInSeconds, 21600);
  });

  test('destinations', async () => {
    const fake = functionArn('doesnotexist');
    await expectError(
      put({ DestinationConfig: { OnSuccess: { Destination: fake } } }),
      'InvalidParameterValueException',
      400,
      `The destination ARN ${fake} is invalid.`,
    );
    await expectError(
      put({ DestinationConfig: { OnSuccess: { Destination: functionArn('errs') } } }),
      'InvalidParameterValueException',
      400,
      "You can't specify the function as a destination for itself.",
    );
    const iam = functionArn('errs').replace(':lambda:', ':iam:');
    await expectError(
      put({ DestinationConfig: { OnSuccess: { Destination: iam } } }),
      'InvalidParameterValueException',
      400,
      `The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=${iam}), onFailure=null) is invalid.`,
    );
    const sqs = 'arn:aws:sqs:us-east-1:000000000000:my-queue';
    const e = await rejection(put({ DestinationConfig: { OnFailure: { Destination: sqs } } }));
    assert.equal(e.name, 'InvalidParameterValueException');
    assert.match(e.message, /Lambda functions only.*not a Lambda function ARN/);
    const bad = functionArn('errs').replace(':lambda:', ':_-/!lambda:');
    await expectError(
      put({ DestinationConfig: { OnFailure: { Destination: bad } } }),
      'ValidationException',
      400,
      `1 validation error detected: Value '${bad}' at 'destinationConfig.onFailure.destination' failed to satisfy constraint: ` +
        'Member must satisfy regular expression pattern: $|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)',
    );
    const other = await put({ DestinationConfig: { OnFailure: {} } });
    assert.deepEqual((other as { DestinationConfig?: unknown }).DestinationConfig, none);
  });

  test('qualifiers in the name and the Qualifier must agree', async () => {
    await expectError(
      client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'errs:1', Qualifier: '$LATEST', MaximumRetryAttempts: 1 })),
      'InvalidParameterValueException',
      400,
      'The derived qualifier from the function name does not match the specified qualifier.',
    );
    const ok = await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'errs:$LATEST', Qualifier: '$LATEST', MaximumRetryAttempts: 1 }));
    assert.equal(ok.FunctionArn, functionArn('errs', '$LATEST'));
  });
});
