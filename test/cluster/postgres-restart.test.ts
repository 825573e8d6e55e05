// Cluster mode when PostgreSQL restarts under two frontends: requests that
// need the database fail with Lambda's ServiceException while it is down (an
// async event is refused, never half-stored), warm invokes of cached functions
// carry on, and once it is back both frontends reconnect by themselves: pools,
// the change feed and the queue's wake-ups.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, ListFunctionsCommand, UpdateFunctionCodeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, rejection, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';
import { privatePostgres, type PrivatePostgres } from '../helpers/postgres.js';
import { S3_CREDENTIALS, startS3, type RunningS3 } from '../helpers/s3.js';
import { processSandboxArgs, until } from '../async/fakes.js';

let pg: PrivatePostgres;
let s3: RunningS3;
let a: KindlingServer;
let b: KindlingServer;
let la: LambdaClient;
let lb: LambdaClient;
let out: string;

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'kindling-pg-restart-out-'));
  pg = await privatePostgres();
  s3 = await startS3();
  const args = ['--state', pg.url, '--code', s3.codeUrl('code'), '--async-time-scale', '0.001', ...processSandboxArgs()];
  const env = { AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey };
  a = await startKindling({ args, env });
  b = await startKindling({ args, env });
  la = lambdaClient(a.url);
  lb = lambdaClient(b.url);
});

after(async () => {
  await Promise.all([a?.dispose(), b?.dispose()]);
  await s3?.close();
  await pg?.destroy();
  await rm(out, { recursive: true, force: true });
});

const handler = (answer: string) =>
  `import { appendFileSync } from 'node:fs';
export const handler = async (event) => {
  if (event && event.record) appendFileSync(process.env.OUT_DIR + '/seen.log', event.record + '\\n');
  return ${JSON.stringify(answer)};
};
`;

const answer = async (client: LambdaClient, FunctionName: string): Promise<unknown> => {
  const res = await client.send(new InvokeCommand({ FunctionName, Payload: Buffer.from('{}') }));
  assert.equal(res.FunctionError, undefined, Buffer.from(res.Payload ?? []).toString());
  return JSON.parse(Buffer.from(res.Payload!).toString());
};

const seen = async (): Promise<string[]> => (await readFile(join(out, 'seen.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

test('PostgreSQL restarting under two frontends: clear errors while it is down, everything back after', async () => {
  await la.send(
    new CreateFunctionCommand({
      FunctionName: 'steady',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      Environment: { Variables: { OUT_DIR: out } },
      Code: { ZipFile: await makeZip({ 'index.mjs': handler('v1') }) },
    }),
  );
  assert.equal(await answer(lb, 'steady'), 'v1');

  pg.stop();
  try {
    // A warm invoke of a function B has cached needs no database.
    assert.equal(await answer(lb, 'steady'), 'v1');
    // The control plane cannot answer without its state: Lambda's 500, not a hang or a crash.
    const listErr = await rejection(la.send(new ListFunctionsCommand({})));
    assert.equal(listErr.name, 'ServiceException');
    assert.equal(listErr.$metadata.httpStatusCode, 500);
    // An async event that cannot be stored is refused, so the client knows to send it again.
    const asyncErr = await rejection(la.send(new InvokeCommand({ FunctionName: 'steady', InvocationType: 'Event', Payload: Buffer.from('{"record":"refused"}') })));
    assert.equal(asyncErr.name, 'ServiceException');
    assert.equal(asyncErr.$metadata.httpStatusCode, 500);
  } finally {
    pg.start();
  }

  // Both frontends come back without a restart of their own.
  await until(() => la.send(new ListFunctionsCommand({})).then(() => true, () => false), 30_000, 'A to reach PostgreSQL again');
  await until(() => lb.send(new ListFunctionsCommand({})).then(() => true, () => false), 30_000, 'B to reach PostgreSQL again');
  // The change feed is back (or B dropped its caches when it reconnected): an update on A is what B runs.
  await la.send(new UpdateFunctionCodeCommand({ FunctionName: 'steady', ZipFile: await makeZip({ 'index.mjs': handler('v2') }) }));
  await until(async () => (await answer(lb, 'steady')) === 'v2', 15_000, 'B to run the code updated through A');
  // The queue works again, and the refused event was never stored.
  await la.send(new InvokeCommand({ FunctionName: 'steady', InvocationType: 'Event', Payload: Buffer.from('{"record":"after"}') }));
  await until(async () => (await seen()).includes('after'), 30_000, 'the event queued after the restart to run');
  assert.deepEqual(await seen(), ['after']);
});
