// State survives the server: SIGTERM, SIGKILL and SIGINT, then a new
// `kindling up` on the same data folder; and one server per folder.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type FunctionConfiguration,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import {
  describeRun,
  lambdaClient,
  makeZip,
  nodeZip,
  rejection,
  ROLE,
  runKindling,
  sha256Base64,
  startKindling,
  type KindlingServer,
} from '../helpers/kindling.js';

let server: KindlingServer;
let lambda: LambdaClient;
/** The zip each function's $LATEST (and version) was given, by "name:version". */
const zips = new Map<string, Buffer>();

const connect = () => {
  lambda?.destroy();
  lambda = lambdaClient(server.url);
};

before(async () => {
  server = await startKindling();
  connect();
});

after(async () => {
  lambda?.destroy();
  await server?.dispose();
});

async function createFn(name: string, zip: Buffer, extra: Record<string, unknown> = {}) {
  await lambda.send(
    new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Role: ROLE, Handler: 'index.handler', Code: { ZipFile: zip }, ...extra }),
  );
  zips.set(`${name}:$LATEST`, zip);
}

const strip = <T extends { $metadata?: unknown }>(out: T): Omit<T, '$metadata'> => {
  const { $metadata: _m, ...rest } = out;
  return rest;
};

/** Everything the API shows about the server's functions. */
async function snapshot() {
  const list = await lambda.send(new ListFunctionsCommand({ FunctionVersion: 'ALL' }));
  const versions = list.Functions ?? [];
  const configs: Record<string, FunctionConfiguration> = {};
  for (const v of versions) {
    configs[`${v.FunctionName}:${v.Version}`] = strip(
      await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: v.FunctionName!, Qualifier: v.Version! })),
    );
  }
  const account = strip(await lambda.send(new GetAccountSettingsCommand({})));
  return { versions, configs, account };
}

/** Downloads every version's package through GetFunction and compares it with what was uploaded. */
async function checkDownloads(): Promise<void> {
  assert.ok(zips.size > 0);
  for (const [key, zip] of zips) {
    const [name, version] = key.split(':') as [string, string];
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: name, Qualifier: version }));
    assert.equal(got.Configuration?.CodeSha256, sha256Base64(zip), key);
    const res = await fetch(got.Code!.Location!);
    assert.equal(res.status, 200, `${key}: ${got.Code!.Location}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(zip), `${key} downloads its own zip`);
  }
}

test('everything survives SIGTERM and a restart on the same data folder', async () => {
  const a = await nodeZip('export const handler = async () => "a";\n');
  const b1 = await nodeZip('export const handler = async () => "b1";\n');
  const b2 = await makeZip({ 'index.mjs': 'export const handler = async () => "b2";\n', 'extra.txt': 'more' });
  await createFn('keep-a', a, { MemorySize: 512, Timeout: 30, Description: 'kept', Environment: { Variables: { STAGE: 'prod' } } });
  await createFn('keep-b', b1, { Publish: true });
  zips.set('keep-b:1', b1);
  await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'keep-b', ZipFile: b2 }));
  zips.set('keep-b:$LATEST', b2);
  await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'keep-b', Handler: 'other.handler' }));
  await createFn('keep-c', await nodeZip('// c\n'));

  const before = await snapshot();
  assert.equal(before.versions.length, 4);
  const oldLink = new URL((await lambda.send(new GetFunctionCommand({ FunctionName: 'keep-a' }))).Code!.Location!);

  const exit = await server.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM ends kindling up cleanly\n${server.stderr}`);
  await server.restart();
  connect();

  const afterRestart = await snapshot();
  assert.deepEqual(afterRestart, before, 'the same functions, versions, RevisionIds, CodeSha256s and settings');
  assert.equal(afterRestart.configs['keep-a:$LATEST']?.MemorySize, 512);
  assert.deepEqual(afterRestart.configs['keep-a:$LATEST']?.Environment, { Variables: { STAGE: 'prod' } });
  assert.equal(afterRestart.configs['keep-b:$LATEST']?.Handler, 'other.handler');
  assert.equal(afterRestart.configs['keep-b:1']?.Handler, 'index.handler');
  await checkDownloads();

  // A link handed out before the restart still works (same server secret), on the new address.
  const relinked = new URL(oldLink.pathname + oldLink.search, server.url);
  const res = await fetch(relinked);
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(a));

  // And the restarted server keeps working on that state.
  const conflict = await rejection(createFn('keep-a', a));
  assert.equal(conflict.name, 'ResourceConflictException');
  const stale = await rejection(
    lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'keep-a', Description: 'x', RevisionId: '11111111-1111-1111-1111-111111111111' }),
    ),
  );
  assert.equal(stale.name, 'PreconditionFailedException');
  const updated = await lambda.send(
    new UpdateFunctionConfigurationCommand({ FunctionName: 'keep-a', Description: 'after restart', RevisionId: before.configs['keep-a:$LATEST']!.RevisionId }),
  );
  assert.equal(updated.Description, 'after restart');
  const v2 = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'keep-b', ZipFile: b2, Publish: true }));
  assert.equal(v2.Version, '2', 'version numbers continue where they were');
  zips.set('keep-b:2', b2);
});

test('a second kindling up on the same data folder refuses to start', async () => {
  assert.ok(server.running);
  const second = await runKindling(['up', '--port', '0', '--data', server.dataDir], { timeoutMs: 15_000 });
  assert.equal(second.timedOut, false, `the second server must not run\n${describeRun(second)}`);
  assert.notEqual(second.code, 0, describeRun(second));
  assert.match(second.stderr, /already using the data folder/, describeRun(second));
  assert.ok(second.stderr.includes(`(pid ${server.child.pid})`), `names the process that holds it\n${describeRun(second)}`);
  assert.ok(!second.stdout.includes('Kindling listening'), describeRun(second));

  // The first one is unaffected.
  const out = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'keep-a' }));
  assert.equal(out.Description, 'after restart');
});

test('everything survives SIGKILL', async () => {
  const d = await nodeZip('export const handler = async () => "d";\n');
  await createFn('crash-d', d, { Publish: true });
  zips.set('crash-d:1', d);
  const e = await nodeZip('export const handler = async () => "e";\n');
  await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'crash-d', ZipFile: e }));
  zips.set('crash-d:$LATEST', e);
  const before = await snapshot();

  const exit = await server.kill();
  assert.equal(exit.signal, 'SIGKILL');
  await server.restart();
  connect();

  assert.deepEqual(await snapshot(), before);
  assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'crash-d' }))).CodeSha256, sha256Base64(e));
  await checkDownloads();
});

test('SIGINT shuts down cleanly with exit code 0 and releases the folder', async () => {
  const before = await snapshot();
  const exit = await server.interrupt();
  assert.deepEqual(exit, { code: 0, signal: null }, `SIGINT ends kindling up cleanly\n${server.stderr}`);
  await server.restart();
  connect();
  assert.deepEqual(await snapshot(), before);
});
