// Layers: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers,
// ListLayerVersions, DeleteLayerVersion with Lambda's recorded errors;
// functions with Layers (validation, the combined 250 MB limit) and the
// layers at run time, merged in order under /opt (namespace sandboxes).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteLayerVersionCommand,
  GetFunctionConfigurationCommand,
  GetLayerVersionByArnCommand,
  GetLayerVersionCommand,
  InvokeCommand,
  ListLayersCommand,
  ListLayerVersionsCommand,
  PublishLayerVersionCommand,
  UpdateFunctionConfigurationCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { ACCOUNT_ID, lambdaClient, makeZeroZip, makeZip, rejection, REGION, ROLE, sha256Base64, startKindling, type KindlingServer, zipWithModes } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;

const layerArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:layer:${name}`;
const LAYER_ARN_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)';


const publish = async (name: string, files: Record<string, string>, extra: Record<string, unknown> = {}) =>
  client.send(new PublishLayerVersionCommand({ LayerName: name, Content: { ZipFile: await makeZip(files) }, ...extra }));

async function invoke(name: string, payload: unknown = {}): Promise<unknown> {
  const out = await client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }));
  const text = Buffer.from(out.Payload!).toString();
  assert.equal(out.FunctionError, undefined, text);
  return JSON.parse(text);
}

before(async () => {
  server = await startKindling();
  client = lambdaClient(server.url);
});
after(async () => {
  await server?.dispose();
});

describe('layer API', () => {
  test('lifecycle: publish, get, get by ARN, list versions, list layers, delete; numbers never reused', async () => {
    const zip = await makeZip({ 'python/mod.py': 'x = 1\n' });
    const v1 = await client.send(
      new PublishLayerVersionCommand({
        LayerName: 'life',
        Description: 'first',
        LicenseInfo: 'MIT',
        CompatibleRuntimes: ['python3.12'],
        CompatibleArchitectures: ['x86_64'],
        Content: { ZipFile: zip },
      }),
    );
    assert.equal(v1.$metadata.httpStatusCode, 201);
    assert.equal(v1.LayerArn, layerArn('life'));
    assert.equal(v1.LayerVersionArn, `${layerArn('life')}:1`);
    assert.equal(v1.Version, 1);
    assert.equal(v1.Description, 'first');
    assert.equal(v1.LicenseInfo, 'MIT');
    assert.deepEqual(v1.CompatibleRuntimes, ['python3.12']);
    assert.deepEqual(v1.CompatibleArchitectures, ['x86_64']);
    assert.equal(v1.Content?.CodeSha256, sha256Base64(zip));
    assert.equal(v1.Content?.CodeSize, zip.length);
    assert.match(v1.CreatedDate!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    // Content.Location downloads the exact zip.
    const download = Buffer.from(await (await fetch(v1.Content!.Location!)).arrayBuffer());
    assert.deepEqual(download, zip);

    const v2 = await client.send(new PublishLayerVersionCommand({ LayerName: 'life', Content: { ZipFile: zip }, CompatibleRuntimes: ['nodejs20.x'] }));
    assert.equal(v2.Version, 2);
    assert.deepEqual(v2.CompatibleArchitectures, []);

    const got = await client.send(new GetLayerVersionCommand({ LayerName: 'life', VersionNumber: 1 }));
    assert.equal(got.LayerVersionArn, v1.LayerVersionArn);
    assert.equal(got.Content?.CodeSha256, v1.Content?.CodeSha256);
    const byArn = await client.send(new GetLayerVersionByArnCommand({ Arn: v2.LayerVersionArn }));
    assert.equal(byArn.Version, 2);
    const byLayerArn = await client.send(new GetLayerVersionCommand({ LayerName: layerArn('life'), VersionNumber: 2 }));
    assert.equal(byLayerArn.Version, 2);

    const versions = await client.send(new ListLayerVersionsCommand({ LayerName: 'life' }));
    assert.deepEqual(versions.LayerVersions!.map((v) => v.Version), [2, 1]);
    assert.equal(versions.LayerVersions![0]!.LayerVersionArn, v2.LayerVersionArn);
    assert.equal((versions.LayerVersions![0] as { Content?: unknown }).Content, undefined);
    const py = await client.send(new ListLayerVersionsCommand({ LayerName: 'life', CompatibleRuntime: 'python3.12' }));
    assert.deepEqual(py.LayerVersions!.map((v) => v.Version), [1]);

    const layers = await client.send(new ListLayersCommand({}));
    const life = layers.Layers!.find((l) => l.LayerName === 'life')!;
    assert.equal(life.LayerArn, layerArn('life'));
    assert.equal(life.LatestMatchingVersion?.Version, 2);
    const filtered = await client.send(new ListLayersCommand({ CompatibleRuntime: 'python3.12' }));
    assert.equal(filtered.Layers!.find((l) => l.LayerName === 'life')?.LatestMatchingVersion?.Version, 1);

    assert.equal((await client.send(new DeleteLayerVersionCommand({ LayerName: 'life', VersionNumber: 1 }))).$metadata.httpStatusCode, 204);
    assert.equal((await client.send(new DeleteLayerVersionCommand({ LayerName: 'life', VersionNumber: 1 }))).$metadata.httpStatusCode, 204);
    await client.send(new DeleteLayerVersionCommand({ LayerName: 'life', VersionNumber: 2 }));
    assert.deepEqual((await client.send(new ListLayerVersionsCommand({ LayerName: 'life' }))).LayerVersions, []);
    const v3 = await client.send(new PublishLayerVersionCommand({ LayerName: 'life', Content: { ZipFile: zip } }));
    assert.equal(v3.Version, 3);
  });

  test('errors, as Lambda words them', async () => {
    const v1 = await publish('errs', { 'x.txt': 'x' }, { CompatibleRuntimes: ['python3.12'], CompatibleArchitectures: ['x86_64'] });
    const runtime = await rejection(client.send(new ListLayersCommand({ CompatibleRuntime: 'runtimedoesnotexist' as never })));
    assert.equal(runtime.name, 'ValidationException');
    assert.match(runtime.message, /^1 validation error detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' failed to satisfy constraint: Member must satisfy enum value set: \[ruby3\.5, ruby2\.6, /);
    const arch = await rejection(client.send(new ListLayersCommand({ CompatibleArchitecture: 'archdoesnotexist' as never })));
    assert.equal(arch.message, "1 validation error detected: Value 'archdoesnotexist' at 'compatibleArchitecture' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]");
    assert.deepEqual((await client.send(new ListLayerVersionsCommand({ LayerName: 'layerdoesnotexist' }))).LayerVersions, []);

    const nf = await rejection(client.send(new GetLayerVersionCommand({ LayerName: 'layerdoesnotexist', VersionNumber: 1 })));
    assert.equal(nf.name, 'ResourceNotFoundException');
    assert.equal(nf.message, 'The resource you requested does not exist.');
    for (const n of [-1, 0]) {
      const low = await rejection(client.send(new GetLayerVersionCommand({ LayerName: 'errs', VersionNumber: n })));
      assert.equal(low.name, 'InvalidParameterValueException');
      assert.equal(low.message, 'Layer Version Cannot be less than 1');
    }
    const v2 = await rejection(client.send(new GetLayerVersionCommand({ LayerName: 'errs', VersionNumber: 2 })));
    assert.equal(v2.name, 'ResourceNotFoundException');
    const noVersion = await rejection(client.send(new GetLayerVersionByArnCommand({ Arn: v1.LayerArn })));
    assert.equal(noVersion.name, 'ValidationException');
    assert.equal(
      noVersion.message,
      `1 validation error detected: Value '${v1.LayerArn}' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: ${LAYER_ARN_PATTERN}`,
    );
    const missing = await rejection(client.send(new GetLayerVersionByArnCommand({ Arn: `${v1.LayerArn}:2` })));
    assert.equal(missing.name, 'ResourceNotFoundException');

    assert.equal((await client.send(new DeleteLayerVersionCommand({ LayerName: 'layerdoesnotexist', VersionNumber: 1 }))).$metadata.httpStatusCode, 204);
    const delLow = await rejection(client.send(new DeleteLayerVersionCommand({ LayerName: 'errs', VersionNumber: -1 })));
    assert.equal(delLow.message, 'Layer Version Cannot be less than 1');

    const bad = await rejection(
      client.send(
        new PublishLayerVersionCommand({
          LayerName: 'errs2',
          Content: { ZipFile: await makeZip({ a: 'a' }) },
          CompatibleRuntimes: ['invalidruntime', 'nodejs20.x'] as never,
          CompatibleArchitectures: ['invalidarch', 'x86_64'] as never,
        }),
      ),
    );
    assert.equal(
      bad.message,
      "2 validation errors detected: Value '[invalidruntime, nodejs20.x]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2]; Value '[invalidarch, x86_64]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
    );
    const notZip = await rejection(client.send(new PublishLayerVersionCommand({ LayerName: 'errs3', Content: { ZipFile: Buffer.from('not a zip') } })));
    assert.equal(notZip.name, 'InvalidParameterValueException');
    const huge = await rejection(client.send(new PublishLayerVersionCommand({ LayerName: 'errs4', Content: { ZipFile: await makeZeroZip('big.bin', 262_144_001) } })));
    assert.equal(huge.message, 'Unzipped size must be smaller than 262144000 bytes');
  });
});

describe('functions with layers', () => {
  test('Layers are validated: existence, one version per layer, region, form, at most 5', async () => {
    const a1 = await publish('fa', { 'a.txt': '1' });
    const a2 = await publish('fa', { 'a.txt': '2' });
    await client.send(new CreateFunctionCommand({ FunctionName: 'lv', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await makeZip({ 'index.mjs': 'export const handler = async () => 1;' }) } }));
    const update = (Layers: string[]) => rejection(client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'lv', Layers })));
    const two = await update([a1.LayerVersionArn!, a2.LayerVersionArn!]);
    assert.equal(two.name, 'InvalidParameterValueException');
    assert.equal(
      two.message,
      `Two different versions of the same layer are not allowed to be referenced in the same function. ${a1.LayerVersionArn} and ${a2.LayerVersionArn} are versions of the same layer.`,
    );
    assert.match((await update([a1.LayerVersionArn!, a1.LayerVersionArn!])).message, /^Two different versions of the same layer/);
    assert.equal((await update([`${layerArn('doesnotexist')}:1`])).message, `Layer version ${layerArn('doesnotexist')}:1 does not exist.`);
    assert.equal((await update([`${a1.LayerArn}:9`])).message, `Layer version ${a1.LayerArn}:9 does not exist.`);
    const noVersion = await update([a1.LayerArn!]);
    assert.equal(noVersion.name, 'ValidationException');
    assert.equal(
      noVersion.message,
      `1 validation error detected: Value '[${a1.LayerArn}]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: ${LAYER_ARN_PATTERN}, Member must not be null]`,
    );
    assert.equal(
      (await update([`arn:aws:lambda:eu-west-1:${ACCOUNT_ID}:layer:fa:1`])).message,
      `Layers are not in the same region as the function. Layers are expected to be in region ${REGION}.`,
    );
    assert.equal((await update([1, 2, 3, 4, 5, 6].map((i) => `${layerArn(`q${i}`)}:1`))).message, 'Cannot reference more than 5 layers.');

    const ok = await client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'lv', Layers: [a2.LayerVersionArn!] }));
    assert.deepEqual(ok.Layers, [{ Arn: a2.LayerVersionArn, CodeSize: a2.Content!.CodeSize }]);
    // A deleted layer version stays with the functions that use it.
    await client.send(new DeleteLayerVersionCommand({ LayerName: 'fa', VersionNumber: 2 }));
    const after = await client.send(new GetFunctionConfigurationCommand({ FunctionName: 'lv' }));
    assert.deepEqual(after.Layers, [{ Arn: a2.LayerVersionArn, CodeSize: a2.Content!.CodeSize }]);
    const cleared = await client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'lv', Layers: [] }));
    assert.equal(cleared.Layers, undefined);
  });

  test('function code and layers together stay under 250 MB unzipped', async () => {
    const big = await client.send(new PublishLayerVersionCommand({ LayerName: 'big', Content: { ZipFile: await makeZeroZip('opt.bin', 150 * 1024 * 1024) } }));
    const err = await rejection(
      client.send(
        new CreateFunctionCommand({
          FunctionName: 'too-big',
          Runtime: 'nodejs20.x',
          Handler: 'index.handler',
          Role: ROLE,
          Code: { ZipFile: await makeZeroZip('code.bin', 150 * 1024 * 1024) },
          Layers: [big.LayerVersionArn!],
        }),
      ),
    );
    assert.equal(err.name, 'InvalidParameterValueException');
    assert.equal(err.message, `Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is ${300 * 1024 * 1024} bytes.`);
    // The same through UpdateFunctionConfiguration.
    await client.send(
      new CreateFunctionCommand({ FunctionName: 'big-code', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await makeZeroZip('code.bin', 150 * 1024 * 1024) } }),
    );
    const upd = await rejection(client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'big-code', Layers: [big.LayerVersionArn!] })));
    assert.match(upd.message, /^Function code combined with layers exceeds the maximum allowed size of 262144000 bytes/);
  });

  test('a Node.js function requires a module from /opt/nodejs/node_modules', async () => {
    const lib = await publish('nodelib', {
      'nodejs/node_modules/greeter/index.js': "exports.greet = (n) => `hello ${n} from a layer`;\n",
      'nodejs/node_modules/greeter/package.json': '{"name":"greeter","main":"index.js"}',
    });
    await client.send(
      new CreateFunctionCommand({
        FunctionName: 'uses-node-layer',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: ROLE,
        Code: { ZipFile: await makeZip({ 'index.js': "const { greet } = require('greeter');\nexports.handler = async (e) => ({ said: greet(e.name), resolved: require.resolve('greeter') });\n" }) },
        Layers: [lib.LayerVersionArn!],
      }),
    );
    assert.deepEqual(await invoke('uses-node-layer', { name: 'kindling' }), { said: 'hello kindling from a layer', resolved: '/opt/nodejs/node_modules/greeter/index.js' });
  });

  test('a Python function imports from /opt/python', async () => {
    const lib = await publish('pylib', { 'python/layered.py': "GREETING = 'hi from python layer'\n" });
    await client.send(
      new CreateFunctionCommand({
        FunctionName: 'uses-py-layer',
        Runtime: 'python3.12',
        Handler: 'app.handler',
        Role: ROLE,
        Code: { ZipFile: await makeZip({ 'app.py': 'import layered\n\ndef handler(event, context):\n    return {"greeting": layered.GREETING, "file": layered.__file__}\n' }) },
        Layers: [lib.LayerVersionArn!],
      }),
    );
    assert.deepEqual(await invoke('uses-py-layer'), { greeting: 'hi from python layer', file: '/opt/python/layered.py' });
  });

  test('a provided function runs the bootstrap its layer brings (/opt/bootstrap)', async () => {
    const bootstrap = `#!/bin/bash
set -euo pipefail
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -o /dev/null "http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response" -d "{\\"from\\":\\"$0\\",\\"handler\\":\\"$_HANDLER\\",\\"echo\\":$EVENT}"
done
`;
    const runtime = await client.send(
      new PublishLayerVersionCommand({ LayerName: 'shell-runtime', Content: { ZipFile: await zipWithModes({ bootstrap: { data: bootstrap, mode: 0o755 } }) }, CompatibleRuntimes: ['provided.al2023'] }),
    );
    await client.send(
      new CreateFunctionCommand({
        FunctionName: 'uses-runtime-layer',
        Runtime: 'provided.al2023',
        Handler: 'my.handler',
        Role: ROLE,
        Code: { ZipFile: await makeZip({ 'README.txt': 'no bootstrap here' }) },
        Layers: [runtime.LayerVersionArn!],
        Timeout: 10,
      }),
    );
    assert.deepEqual(await invoke('uses-runtime-layer', { n: 1 }), { from: '/opt/bootstrap', handler: 'my.handler', echo: { n: 1 } });
  });

  test('layers merge in order: a later layer overrides an earlier one’s files', async () => {
    const first = await publish('first', {
      'nodejs/node_modules/shared/index.js': "module.exports = 'first';\n",
      'first-only.txt': 'from first',
    });
    const second = await publish('second', { 'nodejs/node_modules/shared/index.js': "module.exports = 'second';\n" });
    const code = await makeZip({
      'index.js':
        "const fs = require('fs');\nexports.handler = async () => ({ shared: require('shared'), firstOnly: fs.readFileSync('/opt/first-only.txt', 'utf8'), writable: (() => { try { fs.writeFileSync('/opt/x', 'x'); return true; } catch { return false; } })() });\n",
    });
    for (const [name, order, winner] of [
      ['order-ab', [first, second], 'second'],
      ['order-ba', [second, first], 'first'],
    ] as const) {
      await client.send(
        new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: code }, Layers: order.map((l) => l.LayerVersionArn!) }),
      );
      assert.deepEqual(await invoke(name), { shared: winner, firstOnly: 'from first', writable: false }, name);
    }
  });
});
