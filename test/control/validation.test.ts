// Bad input, end to end: every validation rule of the control plane answers
// with Lambda's error type, HTTP status and message; plus the raw HTTP edge
// (unknown routes, wrong methods, malformed and oversized bodies).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type CreateFunctionCommandInput,
  type LambdaClient,
  type UpdateFunctionConfigurationCommandInput,
} from '@aws-sdk/client-lambda';
import {
  functionArn,
  invalidZip,
  lambdaClient,
  makeZeroZip,
  makeZip,
  nodeZip,
  rawRequest,
  rejection,
  ROLE,
  startKindling,
  UUID,
  type ApiError,
  type KindlingServer,
  type RawResponse,
} from '../helpers/kindling.js';

let server: KindlingServer;
let lambda: LambdaClient;
let zip: Buffer;

before(async () => {
  server = await startKindling();
  lambda = lambdaClient(server.url);
  zip = await nodeZip();
  await createFn('existing');
  await createFn('versioned', { Publish: true });
});

after(async () => {
  lambda?.destroy();
  await server?.dispose();
});

// Lambda's member patterns as its validator prints them.
const NAME_PATTERN = String.raw`(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`;
const NAMESPACED_PATTERN = String.raw`(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?`;
const UNQUALIFIED_PATTERN = String.raw`(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)`;
const ROLE_PATTERN = String.raw`arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`;
const RUNTIMES =
  '[nodejs18.x, nodejs20.x, nodejs22.x, python3.9, python3.10, python3.11, python3.12, python3.13, provided, provided.al2, provided.al2023]';
const ENV_PREFIX =
  'Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ';
const STALE_REVISION =
  'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id';

const one = (problem: string): string => `1 validation error detected: ${problem}`;

function createFn(name: string, extra: Partial<CreateFunctionCommandInput> = {}) {
  return lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Role: ROLE,
      Handler: 'index.handler',
      Code: { ZipFile: zip },
      ...extra,
    } as CreateFunctionCommandInput),
  );
}

const updateConf = (extra: Partial<UpdateFunctionConfigurationCommandInput>, name = 'existing') =>
  lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, ...extra }));

/** Asserts the call fails with exactly this error type, HTTP status and message. */
async function expectError(call: Promise<unknown>, name: string, status: number, message: string | RegExp): Promise<ApiError> {
  const err = await rejection(call);
  assert.equal(err.name, name, `error type (message: ${err.message})`);
  assert.equal(err.$metadata?.httpStatusCode, status, 'HTTP status');
  if (typeof message === 'string') assert.equal(err.message, message);
  else assert.match(err.message, message);
  assert.match(err.$metadata.requestId ?? '', UUID, 'error responses carry x-amzn-RequestId');
  return err;
}

const validation = (call: Promise<unknown>, message: string) => expectError(call, 'ValidationException', 400, message);
const invalidParam = (call: Promise<unknown>, message: string) => expectError(call, 'InvalidParameterValueException', 400, message);

/** The named function does not exist afterwards (a refused create leaves nothing behind). */
async function absent(name: string): Promise<void> {
  await expectError(lambda.send(new GetFunctionCommand({ FunctionName: name })), 'ResourceNotFoundException', 404, `Function not found: ${functionArn(name)}`);
}

describe('function names', () => {
  test('a name outside the pattern is a ValidationException', async () => {
    await validation(
      createFn('bad name!'),
      one(`Value 'bad name!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${NAME_PATTERN}`),
    );
    await validation(
      createFn('dots.are.not.allowed'),
      one(`Value 'dots.are.not.allowed' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${NAME_PATTERN}`),
    );
  });

  test('a bare name of 65 characters is an InvalidParameterValueException; 64 is fine', async () => {
    const long = 'a'.repeat(65);
    await invalidParam(
      createFn(long),
      one(`Value '${long}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64`),
    );
    await absent('a'.repeat(64));
    const ok = await createFn('b'.repeat(64));
    assert.equal(ok.FunctionName, 'b'.repeat(64));
  });

  test('more than 140 characters in all is a ValidationException', async () => {
    const long = 'c'.repeat(141);
    await validation(
      createFn(long),
      one(`Value '${long}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140`),
    );
  });

  test('an ARN names the function on create; a qualifier or a foreign region does not', async () => {
    const created = await createFn(functionArn('created-by-arn'));
    assert.equal(created.FunctionName, 'created-by-arn');
    assert.equal(created.FunctionArn, functionArn('created-by-arn'));
    await invalidParam(createFn('with-qualifier:1'), 'Unsupported function name: a function name cannot carry a qualifier when it is created.');
    await expectError(
      createFn('arn:aws:lambda:eu-west-1:000000000000:function:elsewhere'),
      'ResourceNotFoundException',
      404,
      "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
    );
  });

  test('Get with a bad name, a foreign region or account, or mismatched qualifiers', async () => {
    await validation(
      lambda.send(new GetFunctionCommand({ FunctionName: 'bad name' })),
      one(`Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${NAMESPACED_PATTERN}`),
    );
    await expectError(
      lambda.send(new GetFunctionCommand({ FunctionName: 'arn:aws:lambda:eu-west-1:000000000000:function:existing' })),
      'ResourceNotFoundException',
      404,
      "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
    );
    await expectError(
      lambda.send(new GetFunctionCommand({ FunctionName: '111111111111:function:existing' })),
      'ResourceNotFoundException',
      404,
      'Function not found: arn:aws:lambda:us-east-1:111111111111:function:existing',
    );
    await invalidParam(
      lambda.send(new GetFunctionCommand({ FunctionName: 'versioned:1', Qualifier: '2' })),
      'The derived qualifier from the function name does not match the specified qualifier.',
    );
    await validation(
      lambda.send(new GetFunctionCommand({ FunctionName: 'existing', Qualifier: 'bad qualifier' })),
      one("Value 'bad qualifier' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"),
    );
  });

  test('updates take unqualified names only', async () => {
    await validation(
      updateConf({ Description: 'x' }, 'versioned:1'),
      one(`Value 'versioned:1' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${UNQUALIFIED_PATTERN}`),
    );
    await validation(
      lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'versioned:$LATEST', ZipFile: zip })),
      one(`Value 'versioned:$LATEST' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${UNQUALIFIED_PATTERN}`),
    );
  });
});

describe('memory, timeout and other numbers', () => {
  test('MemorySize below 128 or above 10240', async () => {
    await validation(
      createFn('mem-low', { MemorySize: 127 }),
      one("Value '127' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"),
    );
    await validation(
      createFn('mem-high', { MemorySize: 10241 }),
      one("Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"),
    );
    await validation(
      updateConf({ MemorySize: 127 }),
      one("Value '127' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"),
    );
    await absent('mem-low');
    await absent('mem-high');
    assert.equal((await createFn('mem-edges', { MemorySize: 128 })).MemorySize, 128);
    assert.equal((await updateConf({ MemorySize: 10240 }, 'mem-edges')).MemorySize, 10240);
  });

  test('Timeout below 1 or above 900', async () => {
    await validation(
      createFn('timeout-low', { Timeout: 0 }),
      one("Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"),
    );
    await validation(
      createFn('timeout-high', { Timeout: 901 }),
      one("Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"),
    );
    await validation(
      updateConf({ Timeout: 901 }),
      one("Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"),
    );
    assert.equal((await createFn('timeout-edges', { Timeout: 1 })).Timeout, 1);
    assert.equal((await updateConf({ Timeout: 900 }, 'timeout-edges')).Timeout, 900);
  });

  test('several problems are reported together', async () => {
    await validation(
      createFn('many-problems', { Timeout: 0, MemorySize: 127 }),
      "2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
        "Value '127' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128",
    );
  });

  test('EphemeralStorage below 512 or above 10240', async () => {
    await validation(
      createFn('eph-low', { EphemeralStorage: { Size: 511 } }),
      one("Value '511' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value greater than or equal to 512"),
    );
    await validation(
      updateConf({ EphemeralStorage: { Size: 10241 } }),
      one("Value '10241' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value less than or equal to 10240"),
    );
  });

  test('Description longer than 256 characters', async () => {
    const long = 'd'.repeat(257);
    await validation(
      createFn('desc-long', { Description: long }),
      one(`Value '${long}' at 'description' failed to satisfy constraint: Member must have length less than or equal to 256`),
    );
    assert.equal((await updateConf({ Description: 'd'.repeat(256) })).Description, 'd'.repeat(256));
  });

  test('Architectures, TracingConfig, LoggingConfig outside their enums', async () => {
    await validation(
      createFn('arch-bad', { Architectures: ['sparc' as never] }),
      one("Value '[sparc]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]"),
    );
    await validation(
      createFn('arch-two', { Architectures: ['x86_64', 'arm64'] }),
      one("Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1"),
    );
    await validation(
      createFn('tracing-bad', { TracingConfig: { Mode: 'Sometimes' as never } }),
      one("Value 'Sometimes' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]"),
    );
    await validation(
      createFn('logfmt-bad', { LoggingConfig: { LogFormat: 'XML' as never } }),
      one("Value 'XML' at 'loggingConfig.logFormat' failed to satisfy constraint: Member must satisfy enum value set: [JSON, Text]"),
    );
  });

  test('Layers: too many, or not layer version ARNs', async () => {
    const layer = (i: number) => `arn:aws:lambda:us-east-1:000000000000:layer:l${i}:1`;
    await invalidParam(createFn('layers-many', { Layers: [1, 2, 3, 4, 5, 6].map(layer) }), 'Cannot reference more than 5 layers.');
    await validation(
      createFn('layers-bad', { Layers: ['not-a-layer'] }),
      one(
        "Value '[not-a-layer]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), Member must not be null]",
      ),
    );
  });
});

describe('environment variables', () => {
  test('more than 4 KB in all is refused, with the string measured', async () => {
    const vars = { BIG: 'x'.repeat(4087) };
    const measured = JSON.stringify(vars);
    assert.equal(Buffer.byteLength(measured), 4097);
    await invalidParam(createFn('env-big', { Environment: { Variables: vars } }), ENV_PREFIX + measured);
    await invalidParam(updateConf({ Environment: { Variables: vars } }), ENV_PREFIX + measured);
    await absent('env-big');
    // Exactly 4 KB is fine.
    const fits = { BIG: 'x'.repeat(4086) };
    assert.equal(Buffer.byteLength(JSON.stringify(fits)), 4096);
    const ok = await createFn('env-fits', { Environment: { Variables: fits } });
    assert.deepEqual(ok.Environment?.Variables, fits);
  });

  test('reserved keys are refused', async () => {
    const msg = (keys: string) =>
      'Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. ' +
      `Reserved keys used in this request: ${keys}`;
    await invalidParam(createFn('env-reserved', { Environment: { Variables: { AWS_REGION: 'eu-west-1' } } }), msg('AWS_REGION'));
    await invalidParam(
      updateConf({ Environment: { Variables: { OK_KEY: '1', AWS_LAMBDA_FUNCTION_NAME: 'x', AWS_EXECUTION_ENV: 'y' } } }),
      msg('AWS_LAMBDA_FUNCTION_NAME, AWS_EXECUTION_ENV'),
    );
    // Reserved names that start with "_" fail the key pattern first.
    await validation(
      createFn('env-reserved', { Environment: { Variables: { _HANDLER: 'x' } } }),
      one(
        "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
      ),
    );
    await absent('env-reserved');
  });

  test('keys outside the key pattern are refused without echoing the variables', async () => {
    const message = one(
      "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
    );
    await validation(createFn('env-key', { Environment: { Variables: { '1BAD': 'secret' } } }), message);
    await validation(updateConf({ Environment: { Variables: { 'HAS-DASH': 'secret' } } }), message);
    // The pattern needs two characters at least, as Lambda's does.
    await validation(updateConf({ Environment: { Variables: { A: '1' } } }), message);
  });
});

describe('runtime, handler and role', () => {
  test('an unsupported runtime lists the supported ones', async () => {
    for (const runtime of ['foo', 'java21']) {
      await invalidParam(
        createFn(`rt-${runtime}`, { Runtime: runtime as never }),
        `Value ${runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ${RUNTIMES} or be a valid ARN`,
      );
      await absent(`rt-${runtime}`);
    }
    await invalidParam(
      updateConf({ Runtime: 'ruby3.3' }),
      `Value ruby3.3 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ${RUNTIMES} or be a valid ARN`,
    );
  });

  test('a deprecated runtime is refused on create and update', async () => {
    const msg =
      'The runtime parameter of nodejs16.x is no longer supported for creating or updating AWS Lambda functions. ' +
      'We recommend you use a supported runtime while creating or updating functions.';
    await invalidParam(createFn('rt-node16', { Runtime: 'nodejs16.x' }), msg);
    await invalidParam(updateConf({ Runtime: 'nodejs16.x' }), msg);
    assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'existing' }))).Runtime, 'nodejs20.x');
  });

  test('Runtime and Handler are required for zip packages', async () => {
    const msg = 'Runtime and Handler are mandatory parameters for functions created with deployment packages.';
    await invalidParam(createFn('no-handler', { Handler: undefined }), msg);
    await invalidParam(createFn('no-runtime', { Runtime: undefined }), msg);
    await absent('no-handler');
  });

  test('a handler with whitespace or over 128 characters', async () => {
    await validation(
      createFn('handler-space', { Handler: 'index handler' }),
      one("Value 'index handler' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+"),
    );
    const long = 'h'.repeat(129);
    await validation(
      updateConf({ Handler: long }),
      one(`Value '${long}' at 'handler' failed to satisfy constraint: Member must have length less than or equal to 128`),
    );
  });

  test('a missing or malformed role', async () => {
    await validation(
      createFn('bad-role', { Role: 'not-a-role' }),
      one(`Value 'not-a-role' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: ${ROLE_PATTERN}`),
    );
    await validation(
      updateConf({ Role: 'arn:aws:iam::123:role/short-account' }),
      one(
        `Value 'arn:aws:iam::123:role/short-account' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: ${ROLE_PATTERN}`,
      ),
    );
    await validation(createFn('no-role', { Role: undefined }), one("Value null at 'role' failed to satisfy constraint: Member must not be null"));
    await absent('bad-role');
  });

  test('PackageType Image is not supported', async () => {
    await invalidParam(
      createFn('image-fn', { PackageType: 'Image', Code: { ImageUri: 'example.com/image:1' } }),
      'Kindling runs Zip packages only: PackageType Image is not supported.',
    );
    await validation(
      createFn('pkg-bad', { PackageType: 'Tarball' as never }),
      one("Value 'Tarball' at 'packageType' failed to satisfy constraint: Member must satisfy enum value set: [Zip, Image]"),
    );
  });
});

describe('deployment packages', () => {
  test('no code at all, or an empty one', async () => {
    await validation(createFn('no-code', { Code: undefined }), one("Value null at 'code' failed to satisfy constraint: Member must not be null"));
    await invalidParam(createFn('empty-code', { Code: {} }), 'Please provide a source for function code.');
    await invalidParam(createFn('empty-zip', { Code: { ZipFile: new Uint8Array(0) } }), 'Please provide a source for function code.');
    await invalidParam(
      createFn('s3-code', { Code: { S3Bucket: 'bucket', S3Key: 'key.zip' } }),
      'Kindling takes the deployment package inline: send it as Code.ZipFile.',
    );
  });

  test('a file that is not a zip', async () => {
    const msg = 'Could not unzip uploaded file. Please check your file, then try to upload again.';
    await invalidParam(createFn('not-a-zip', { Code: { ZipFile: invalidZip() } }), msg);
    await invalidParam(createFn('text-zip', { Code: { ZipFile: Buffer.from('hello world') } }), msg);
    const good = await makeZip({ 'index.mjs': 'export const handler = async () => 1;\n' });
    await invalidParam(createFn('truncated-zip', { Code: { ZipFile: good.subarray(0, good.length - 10) } }), msg);
    await invalidParam(lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'existing', ZipFile: invalidZip() })), msg);
    await absent('not-a-zip');
  });

  test('more than 50 MB zipped is RequestEntityTooLargeException', async () => {
    // Random bytes, stored: the zip is as large as its content.
    const big = await makeZip({ 'blob.bin': randomBytes(52_428_800 + 1024) }, { compress: false });
    assert.ok(big.length > 52_428_800 && big.length < 52_500_000, `zip is ${big.length} bytes`);
    await expectError(createFn('too-big', { Code: { ZipFile: big } }), 'RequestEntityTooLargeException', 413, 'Zipped size must be smaller than 52428800 bytes');
    await absent('too-big');
    // The server is fine afterwards.
    const out = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'existing' }));
    assert.equal(out.FunctionName, 'existing');
  });

  test('more than 250 MB unzipped is refused', async () => {
    const bomb = await makeZeroZip('zeros.bin', 251 * 1024 * 1024);
    assert.ok(bomb.length < 2 * 1024 * 1024, `251 MB of zeros compress to ${bomb.length} bytes`);
    const msg = 'Unzipped size must be smaller than 262144000 bytes';
    await invalidParam(createFn('unzipped-big', { Code: { ZipFile: bomb } }), msg);
    await invalidParam(lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'existing', ZipFile: bomb })), msg);
    await absent('unzipped-big');
  });
});

describe('conflicts, missing functions and preconditions', () => {
  test('a second CreateFunction with the same name is a conflict', async () => {
    await expectError(createFn('existing'), 'ResourceConflictException', 409, 'Function already exist: existing');
  });

  test('every operation on a function that does not exist is a 404', async () => {
    const notFound = `Function not found: ${functionArn('nope')}`;
    const calls: [string, () => Promise<unknown>][] = [
      ['GetFunction', () => lambda.send(new GetFunctionCommand({ FunctionName: 'nope' }))],
      ['GetFunctionConfiguration', () => lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'nope' }))],
      ['UpdateFunctionCode', () => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'nope', ZipFile: zip }))],
      ['UpdateFunctionConfiguration', () => updateConf({ Description: 'x' }, 'nope')],
      ['DeleteFunction', () => lambda.send(new DeleteFunctionCommand({ FunctionName: 'nope' }))],
    ];
    for (const [operation, call] of calls) {
      const err = await rejection(call());
      assert.equal(err.name, 'ResourceNotFoundException', operation);
      assert.equal(err.$metadata.httpStatusCode, 404, operation);
      assert.equal(err.message, notFound, operation);
    }
    await expectError(
      lambda.send(new GetFunctionCommand({ FunctionName: 'existing', Qualifier: '7' })),
      'ResourceNotFoundException',
      404,
      `Function not found: ${functionArn('existing', '7')}`,
    );
    await expectError(
      lambda.send(new DeleteFunctionCommand({ FunctionName: 'versioned', Qualifier: '9' })),
      'ResourceNotFoundException',
      404,
      `Function not found: ${functionArn('versioned', '9')}`,
    );
  });

  test('a stale RevisionId is a 412 on both updates', async () => {
    const before = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'existing' }));
    await updateConf({ Description: 'moves the revision' });
    await expectError(updateConf({ Description: 'stale', RevisionId: before.RevisionId }), 'PreconditionFailedException', 412, STALE_REVISION);
    await expectError(
      lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'existing', ZipFile: zip, RevisionId: before.RevisionId })),
      'PreconditionFailedException',
      412,
      STALE_REVISION,
    );
    await expectError(
      updateConf({ Description: 'made up', RevisionId: '00000000-0000-0000-0000-000000000000' }),
      'PreconditionFailedException',
      412,
      STALE_REVISION,
    );
  });

  test('ListFunctions with a bad MaxItems, Marker or FunctionVersion', async () => {
    await validation(
      lambda.send(new ListFunctionsCommand({ MaxItems: 0 })),
      one("Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"),
    );
    await validation(
      lambda.send(new ListFunctionsCommand({ MaxItems: 10001 })),
      one("Value '10001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 10000"),
    );
    await invalidParam(lambda.send(new ListFunctionsCommand({ Marker: 'not-a-marker' })), 'Invalid marker: not-a-marker');
    await validation(
      lambda.send(new ListFunctionsCommand({ FunctionVersion: 'SOME' as never })),
      one("Value 'SOME' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"),
    );
  });
});

describe('the raw HTTP edge', () => {
  const assertErrorResponse = (res: RawResponse, status: number, type: string): Record<string, unknown> => {
    assert.equal(res.status, status, `status (body ${res.text.slice(0, 300)})`);
    assert.equal(res.headers.get('x-amzn-errortype'), type);
    assert.match(res.headers.get('x-amzn-requestid') ?? '', UUID);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.ok(res.json !== null && typeof res.json === 'object', `JSON body: ${res.text.slice(0, 300)}`);
    return res.json as Record<string, unknown>;
  };

  test('an unknown route is UnknownOperationException 404', async () => {
    for (const path of ['/2015-03-31/nothing-here', '/2099-01-01/functions', '/2015-03-31/functions/existing/nothing']) {
      const res = await rawRequest(server.url, 'GET', path);
      const body = assertErrorResponse(res, 404, 'UnknownOperationException');
      assert.equal(body.message, 'Unknown operation.');
    }
  });

  test('a known path with the wrong method is a 4xx', async () => {
    for (const [method, path] of [
      ['PATCH', '/2015-03-31/functions'],
      ['DELETE', '/2015-03-31/functions'],
      ['POST', '/2015-03-31/functions/existing'],
    ] as const) {
      const res = await rawRequest(server.url, method, path, method === 'POST' ? { body: '{}' } : {});
      assert.ok(res.status >= 400 && res.status < 500, `${method} ${path} → ${res.status}`);
      const body = assertErrorResponse(res, 405, 'UnknownOperationException');
      assert.equal(body.message, `Method ${method} is not allowed on ${path}.`);
    }
  });

  test('a malformed body on CreateFunction is SerializationException 400', async () => {
    const res = await rawRequest(server.url, 'POST', '/2015-03-31/functions', { body: '{"FunctionName": "broken",' });
    const body = assertErrorResponse(res, 400, 'SerializationException');
    assert.match(String(body.message), /^Could not parse the request body as JSON: /);

    const array = await rawRequest(server.url, 'POST', '/2015-03-31/functions', { body: '[1, 2]' });
    assert.equal(assertErrorResponse(array, 400, 'SerializationException').message, 'The request body must be a JSON object.');

    const wrongType = await rawRequest(server.url, 'POST', '/2015-03-31/functions', {
      body: JSON.stringify({ FunctionName: 'typed', Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', MemorySize: 'big', Code: { ZipFile: zip.toString('base64') } }),
    });
    assert.equal(
      assertErrorResponse(wrongType, 400, 'SerializationException').message,
      'Unexpected value for memorySize: expected an integer, got string.',
    );
    await absent('broken');
    await absent('typed');
  });

  test('a well-formed raw CreateFunction works, and the rendering matches the SDK view', async () => {
    const res = await rawRequest(server.url, 'POST', '/2015-03-31/functions', {
      body: JSON.stringify({ FunctionName: 'raw-created', Role: ROLE, Runtime: 'nodejs22.x', Handler: 'index.handler', Code: { ZipFile: zip.toString('base64') } }),
    });
    assert.equal(res.status, 201, res.text);
    assert.match(res.headers.get('x-amzn-requestid') ?? '', UUID);
    assert.equal(res.headers.get('x-amzn-errortype'), null);
    const body = res.json as Record<string, unknown>;
    assert.equal(body.FunctionName, 'raw-created');
    assert.equal(body.Runtime, 'nodejs22.x');
    assert.equal(body.State, 'Pending');
  });

  test('error bodies carry Lambda\'s Type and message members', async () => {
    const notFound = await rawRequest(server.url, 'GET', '/2015-03-31/functions/nope');
    assert.deepEqual(assertErrorResponse(notFound, 404, 'ResourceNotFoundException'), {
      Type: 'User',
      Message: `Function not found: ${functionArn('nope')}`,
    });
    const conflict = await rawRequest(server.url, 'POST', '/2015-03-31/functions', {
      body: JSON.stringify({ FunctionName: 'existing', Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: zip.toString('base64') } }),
    });
    assert.deepEqual(assertErrorResponse(conflict, 409, 'ResourceConflictException'), {
      Type: 'User',
      message: 'Function already exist: existing',
    });
    const invalid = await rawRequest(server.url, 'GET', '/2015-03-31/functions?MaxItems=0');
    assert.deepEqual(assertErrorResponse(invalid, 400, 'ValidationException'), {
      message: one("Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"),
    });
    const badMax = await rawRequest(server.url, 'GET', '/2015-03-31/functions?MaxItems=lots');
    assert.deepEqual(assertErrorResponse(badMax, 400, 'InvalidParameterValueException'), {
      Type: 'User',
      message: 'Invalid value for MaxItems: lots',
    });
  });

  test('an oversized body is 413, and the server still answers afterwards', async () => {
    const size = 71 * 1024 * 1024;
    const head = Buffer.from('{"FunctionName":"huge","Role":"' + ROLE + '","Code":{"ZipFile":"');
    const tail = Buffer.from('"}}');
    const body = Buffer.alloc(size, 'A');
    head.copy(body, 0);
    tail.copy(body, size - tail.length);
    const res = await rawRequest(server.url, 'POST', '/2015-03-31/functions', { body });
    const err = assertErrorResponse(res, 413, 'RequestEntityTooLargeException');
    assert.equal(err.Message, 'Request must be smaller than 70167211 bytes for the CreateFunction operation');

    const next = await rawRequest(server.url, 'GET', '/2015-03-31/functions/existing');
    assert.equal(next.status, 200, next.text);
    assert.equal((next.json as { Configuration: { FunctionName: string } }).Configuration.FunctionName, 'existing');
    await absent('huge');
  });
});
