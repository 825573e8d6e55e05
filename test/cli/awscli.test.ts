// Smoke test with the real AWS CLI (Debian's awscli, at /usr/bin/aws): it must
// work against Kindling unchanged, given only --endpoint-url.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  ACCESS_KEY_ID,
  describeRun,
  functionArn,
  makeZip,
  REGION,
  ROLE,
  run,
  SECRET_ACCESS_KEY,
  sha256Base64,
  startKindling,
  type KindlingServer,
  type RunResult,
} from '../helpers/kindling.js';

const AWS = '/usr/bin/aws';

let server: KindlingServer;
let work: string;
let env: NodeJS.ProcessEnv;
let zip: Buffer;
let zipPath: string;

before(async () => {
  server = await startKindling();
  work = await mkdtemp(join(tmpdir(), 'kindling-awscli-'));
  // Empty config and credentials files, and a HOME of our own: nothing of this machine's AWS setup applies.
  const config = join(work, 'config');
  const credentials = join(work, 'credentials');
  await writeFile(config, '');
  await writeFile(credentials, '');
  env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: work,
    LANG: 'C.UTF-8',
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    AWS_DEFAULT_REGION: REGION,
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_PAGER: '',
    AWS_MAX_ATTEMPTS: '1',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  zip = await makeZip({ 'index.mjs': 'export const handler = async (event) => ({ hello: event });\n' });
  zipPath = join(work, 'hello.zip');
  await writeFile(zipPath, zip);
});

after(async () => {
  await server?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
});

const aws = (...args: string[]): Promise<RunResult> =>
  run(AWS, ['lambda', ...args, '--endpoint-url', server.url, '--output', 'json'], { env, cwd: work, timeoutMs: 60_000 });

async function awsJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const r = await aws(...args);
  assert.equal(r.code, 0, `aws lambda ${args.join(' ')}\n${describeRun(r)}`);
  return JSON.parse(r.stdout) as T;
}

test('the AWS CLI is installed', () => {
  assert.ok(
    existsSync(AWS),
    `${AWS} does not exist: these tests need the AWS CLI from Debian (apt-get install awscli), as CI installs it.`,
  );
});

test('create-function, list-functions, get-function, delete-function', async () => {
  assert.ok(existsSync(AWS), `${AWS} does not exist: install the AWS CLI (apt-get install awscli).`);

  const created = await awsJson(
    'create-function',
    '--function-name', 'cli-hello',
    '--runtime', 'nodejs20.x',
    '--handler', 'index.handler',
    '--role', ROLE,
    '--memory-size', '256',
    '--environment', 'Variables={GREETING=hi}',
    '--zip-file', `fileb://${zipPath}`,
  );
  assert.equal(created.FunctionName, 'cli-hello');
  assert.equal(created.FunctionArn, functionArn('cli-hello'));
  assert.equal(created.Runtime, 'nodejs20.x');
  assert.equal(created.Handler, 'index.handler');
  assert.equal(created.MemorySize, 256);
  assert.equal(created.CodeSha256, sha256Base64(zip));
  assert.equal(created.CodeSize, zip.length);
  assert.deepEqual(created.Environment, { Variables: { GREETING: 'hi' } });
  assert.equal(created.State, 'Pending');

  const list = await awsJson<{ Functions: Record<string, unknown>[] }>('list-functions');
  const names = list.Functions.map((f) => f.FunctionName);
  assert.deepEqual(names, ['cli-hello']);
  assert.equal(list.Functions[0]!.RevisionId, created.RevisionId);

  const got = await awsJson<{ Configuration: Record<string, unknown>; Code: { RepositoryType: string; Location: string } }>(
    'get-function',
    '--function-name', 'cli-hello',
  );
  assert.equal(got.Configuration.FunctionName, 'cli-hello');
  assert.equal(got.Configuration.State, 'Active');
  assert.equal(got.Configuration.LastUpdateStatus, 'Successful');
  assert.equal(got.Configuration.CodeSha256, sha256Base64(zip));
  assert.equal(got.Code.RepositoryType, 'S3');
  const download = await fetch(got.Code.Location);
  assert.equal(download.status, 200);
  assert.ok(Buffer.from(await download.arrayBuffer()).equals(zip));

  const updated = await awsJson('update-function-configuration', '--function-name', 'cli-hello', '--timeout', '20');
  assert.equal(updated.Timeout, 20);
  assert.notEqual(updated.RevisionId, created.RevisionId);

  const deleted = await aws('delete-function', '--function-name', 'cli-hello');
  assert.equal(deleted.code, 0, describeRun(deleted));
  assert.equal(deleted.stdout.trim(), '');

  const missing = await aws('get-function', '--function-name', 'cli-hello');
  assert.notEqual(missing.code, 0, describeRun(missing));
  assert.match(missing.stderr, /ResourceNotFoundException/, describeRun(missing));
  assert.ok(missing.stderr.includes(`Function not found: ${functionArn('cli-hello')}`), describeRun(missing));

  const empty = await awsJson<{ Functions: unknown[] }>('list-functions');
  assert.deepEqual(empty.Functions, []);
});

test('the AWS CLI shows Lambda\'s validation errors', async () => {
  assert.ok(existsSync(AWS), `${AWS} does not exist: install the AWS CLI (apt-get install awscli).`);
  const r = await aws(
    'create-function',
    '--function-name', 'cli-bad',
    '--runtime', 'nodejs20.x',
    '--handler', 'index.handler',
    '--role', ROLE,
    '--memory-size', '10241',
    '--zip-file', `fileb://${zipPath}`,
  );
  assert.notEqual(r.code, 0, describeRun(r));
  assert.match(r.stderr, /ValidationException/, describeRun(r));
  assert.match(r.stderr, /Member must have value less than or equal to 10240/, describeRun(r));
});
