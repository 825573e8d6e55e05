// Cluster mode's stores end to end: two `kindling up` processes (two
// frontends, each with its own data folder and worker host) on one PostgreSQL
// database and one S3 bucket (s3rver). What one frontend creates, changes or
// queues, the other serves, through the AWS SDK unchanged.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  ListFunctionsCommand,
  PublishVersionCommand,
  UpdateFunctionCodeCommand,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, rawRequest, REGION, rejection, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';
import { freshDatabase } from '../helpers/postgres.js';
import { S3_CREDENTIALS, startS3, type RunningS3 } from '../helpers/s3.js';
import { processSandboxArgs, until } from '../async/fakes.js';

let s3: RunningS3;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let a: KindlingServer;
let b: KindlingServer;
let la: LambdaClient;
let lb: LambdaClient;
let out: string;

const clusterArgs = () => ['--state', db.url, '--code', s3.codeUrl('code'), '--async-time-scale', '0.001', ...processSandboxArgs()];
const clusterEnv = () => ({ AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey });

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'kindling-cluster-out-'));
  s3 = await startS3();
  db = await freshDatabase();
  // Started one after the other would hide a migration race; together they must both come up.
  [a, b] = await Promise.all([startKindling({ args: clusterArgs(), env: clusterEnv() }), startKindling({ args: clusterArgs(), env: clusterEnv() })]);
  la = lambdaClient(a.url);
  lb = lambdaClient(b.url);
});

after(async () => {
  await Promise.all([a?.dispose(), b?.dispose()]);
  await db?.drop();
  await s3?.close();
  await rm(out, { recursive: true, force: true });
});

const handler = (answer: string) =>
  `import { appendFileSync } from 'node:fs';
export const handler = async (event, context) => {
  if (event && event.record) appendFileSync(process.env.OUT_DIR + '/seen.log', context.awsRequestId + '\\t' + event.record + '\\n');
  return ${JSON.stringify(answer)};
};
`;

const invoke = async (client: LambdaClient, FunctionName: string, payload: unknown = {}, Qualifier?: string) => {
  const res = await client.send(new InvokeCommand({ FunctionName, Payload: Buffer.from(JSON.stringify(payload)), ...(Qualifier ? { Qualifier } : {}) }));
  assert.equal(res.FunctionError, undefined, Buffer.from(res.Payload ?? []).toString());
  return { answer: JSON.parse(Buffer.from(res.Payload!).toString()) as unknown, version: res.ExecutedVersion };
};

test('a function created through one frontend is listed, fetched and invoked through the other', async () => {
  await la.send(
    new CreateFunctionCommand({
      FunctionName: 'shared',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      Environment: { Variables: { OUT_DIR: out } },
      Code: { ZipFile: await makeZip({ 'index.mjs': handler('v1') }) },
    }),
  );
  const names = (await lb.send(new ListFunctionsCommand({}))).Functions?.map((f) => f.FunctionName);
  assert.deepEqual(names, ['shared']);
  assert.deepEqual(await invoke(lb, 'shared'), { answer: 'v1', version: '$LATEST' });
  // The code download link one frontend signs is good at the other (one cluster secret), and serves the zip from S3.
  const location = (await la.send(new GetFunctionCommand({ FunctionName: 'shared' }))).Code?.Location;
  assert.ok(location);
  const viaB = location.replace(new URL(a.url).host, new URL(b.url).host);
  const zip = await fetch(viaB);
  assert.equal(zip.status, 200);
  assert.equal(Buffer.from(await zip.arrayBuffer()).subarray(0, 2).toString(), 'PK');
});

test('a code update through one frontend is what the other runs next (its cached sandbox is retired)', async () => {
  assert.equal((await invoke(lb, 'shared')).answer, 'v1');
  await la.send(new UpdateFunctionCodeCommand({ FunctionName: 'shared', ZipFile: await makeZip({ 'index.mjs': handler('v2') }) }));
  // The change reaches B by NOTIFY: allow it a moment, but B must never keep serving v1.
  await until(async () => (await invoke(lb, 'shared')).answer === 'v2', 10_000, 'B to run the updated code');
  await lb.send(new PublishVersionCommand({ FunctionName: 'shared' }));
  await lb.send(new CreateAliasCommand({ FunctionName: 'shared', Name: 'live', FunctionVersion: '1' }));
  assert.deepEqual(await invoke(la, 'shared', {}, 'live'), { answer: 'v2', version: '1' });
});

test('an event queued through one frontend is run once, by the pollers of either', async () => {
  const records = Array.from({ length: 20 }, (_, i) => `event-${i}`);
  await Promise.all(
    records.map((record, i) =>
      (i % 2 ? la : lb).send(new InvokeCommand({ FunctionName: 'shared', InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ record })) })),
    ),
  );
  const seen = await until(
    async () => {
      const lines = (await readFile(join(out, 'seen.log'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
      return lines.length >= records.length ? lines : undefined;
    },
    30_000,
    'every queued event to run',
  );
  // Give a duplicate delivery the chance to show before counting.
  await new Promise((r) => setTimeout(r, 500));
  const final = (await readFile(join(out, 'seen.log'), 'utf8')).trim().split('\n');
  assert.equal(final.length, seen.length);
  assert.deepEqual(final.map((l) => l.split('\t')[1]).sort(), [...records].sort());
});

test('a delete through one frontend is a ResourceNotFoundException at the other', async () => {
  await lb.send(new DeleteFunctionCommand({ FunctionName: 'shared' }));
  await until(() => invoke(la, 'shared').then(() => false, (err: Error) => err.name === 'ResourceNotFoundException'), 10_000, 'A to see the delete');
  assert.equal((await rejection(invoke(la, 'shared'))).name, 'ResourceNotFoundException');
});

test('an access key made through one frontend signs requests to the other, until it is deleted through either', async () => {
  const made = await rawRequest(a.url, 'POST', '/kindling/2024-01-01/keys', { body: '{"Name":"shared"}' });
  assert.equal(made.status, 201, made.text);
  const key = made.json as { AccessKeyId: string; SecretAccessKey: string };
  const withKey = new LambdaClient({
    endpoint: b.url,
    region: REGION,
    credentials: { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey },
    maxAttempts: 1,
  });
  try {
    await until(() => withKey.send(new ListFunctionsCommand({})).then(() => true, () => false), 5000, 'B to accept the key made on A');
    const deleted = await rawRequest(b.url, 'DELETE', `/kindling/2024-01-01/keys/${key.AccessKeyId}`);
    assert.equal(deleted.status, 204, deleted.text);
    const atA = new LambdaClient({ endpoint: a.url, region: REGION, credentials: { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey }, maxAttempts: 1 });
    try {
      await until(() => atA.send(new ListFunctionsCommand({})).then(() => false, (err: Error) => err.name === 'UnrecognizedClientException'), 5000, 'A to refuse the key deleted on B');
    } finally {
      atA.destroy();
    }
  } finally {
    withKey.destroy();
  }
});
