// Cluster frontends sharing one Worker Manager: `kindling up --role frontend
// --manager URL` processes (two, on one PostgreSQL and one bucket) in front of
// a `kindling up --role manager` with two worker hosts. Every frontend sees
// the same warm sandboxes and the same concurrency counts: a sandbox made for
// one frontend's invoke serves the other's next one, reserved concurrency holds
// across frontends, provisioned concurrency put through one is READY through
// the other, and a frontend killed mid-invoke gives its concurrency back.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  CreateFunctionCommand,
  GetProvisionedConcurrencyConfigCommand,
  InvokeCommand,
  LambdaClient,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  PutFunctionConcurrencyCommand,
  PutProvisionedConcurrencyConfigCommand,
} from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, rawRequest, rejection, ROLE, runKindling, startKindling, startWorker, type KindlingServer } from '../helpers/kindling.js';
import { freePort } from '../helpers/ports.js';
import { freshDatabase } from '../helpers/postgres.js';
import { S3_CREDENTIALS, startS3, type RunningS3 } from '../helpers/s3.js';
import { processSandboxArgs, until } from '../async/fakes.js';
import { FRONTENDS_PATH } from '../../src/workers/remote/lease-protocol.js';

let s3: RunningS3;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let manager: KindlingServer;
let workers: KindlingServer[] = [];
let fa: KindlingServer;
let fb: KindlingServer;
let la: LambdaClient;
let lb: LambdaClient;
let out: string;

const stores = () => ['--state', db.url, '--code', s3.codeUrl('code')];
const env = () => ({ AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey });
const startFrontend = () => startKindling({ args: ['--role', 'frontend', '--manager', manager.url, ...stores(), ...processSandboxArgs()], env: env() });

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'kindling-frontends-out-'));
  s3 = await startS3();
  db = await freshDatabase();
  // A fixed port: the manager is restarted below, and its workers and frontends find it again there.
  manager = await startKindling({ args: ['--role', 'manager', '--port', String(await freePort()), ...stores(), ...processSandboxArgs()], env: env() });
  workers = await Promise.all([0, 1].map(() => startWorker(manager.url, ['--memory', '2048', ...processSandboxArgs()])));
  [fa, fb] = await Promise.all([startFrontend(), startFrontend()]);
  la = lambdaClient(fa.url);
  lb = lambdaClient(fb.url);
  // Each sandbox names itself (a random id made at Init) and can mark when an invoke starts.
  await la.send(
    new CreateFunctionCommand({
      FunctionName: 'shared',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      MemorySize: 128,
      Timeout: 30,
      Environment: { Variables: { OUT_DIR: out } },
      Code: {
        ZipFile: await makeZip({
          'index.mjs': `import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
const sandbox = randomUUID();
export const handler = async (event) => {
  if (event.mark) writeFileSync(process.env.OUT_DIR + '/' + event.mark, sandbox);
  if (event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  return { sandbox, init: process.env.AWS_LAMBDA_INITIALIZATION_TYPE };
};
`,
        }),
      },
    }),
  );
});

after(async () => {
  await Promise.all([fa?.dispose(), fb?.dispose()]);
  await Promise.all(workers.map((w) => w.dispose()));
  await manager?.dispose();
  await db?.drop();
  await s3?.close();
  await rm(out, { recursive: true, force: true });
});

const invoke = async (client: LambdaClient, payload: unknown, qualifier?: string) => {
  const res = await client.send(
    new InvokeCommand({ FunctionName: 'shared', ...(qualifier ? { Qualifier: qualifier } : {}), LogType: 'Tail', Payload: Buffer.from(JSON.stringify(payload)) }),
  );
  assert.equal(res.FunctionError, undefined, Buffer.from(res.Payload ?? []).toString());
  return { body: JSON.parse(Buffer.from(res.Payload!).toString()) as { sandbox: string; init: string }, log: Buffer.from(res.LogResult ?? '', 'base64').toString() };
};
const exists = (path: string) => stat(path).then(
  () => true,
  () => false,
);
const frontendsOfManager = async (): Promise<{ frontendId: string; invocations: number; leases: number }[]> => {
  const res = await rawRequest(manager.url, 'GET', FRONTENDS_PATH);
  assert.equal(res.status, 200, res.text);
  return (res.json as { frontends: { frontendId: string; invocations: number; leases: number }[] }).frontends;
};

test('both frontends registered with the manager', async () => {
  assert.equal((await frontendsOfManager()).length, 2);
});

test('a sandbox made for one frontend is the warm sandbox of the other', async () => {
  const first = await invoke(la, {});
  assert.match(first.log, /Init Duration/);
  const second = await invoke(lb, {});
  assert.equal(second.body.sandbox, first.body.sandbox);
  assert.doesNotMatch(second.log, /Init Duration/);
  // The sandbox runs on a worker host: the manager knows it, the frontends have none.
  const managerSandboxes = await rawRequest(manager.url, 'GET', '/kindling/2024-01-01/hosts');
  assert.equal(managerSandboxes.status, 200, managerSandboxes.text);
  const sandboxes = (managerSandboxes.json as { Hosts: { Sandboxes: unknown[] }[] }).Hosts.flatMap((h) => h.Sandboxes);
  assert.ok(sandboxes.length >= 1, managerSandboxes.text);
  // Both leases went back: nothing is held once the invokes have answered.
  await until(async () => (await frontendsOfManager()).every((f) => f.invocations === 0 && f.leases === 0), 30_000);
});

test('reserved concurrency holds across frontends', async () => {
  await la.send(new PutFunctionConcurrencyCommand({ FunctionName: 'shared', ReservedConcurrentExecutions: 1 }));
  const mark = 'reserved-running';
  const running = invoke(la, { mark, sleepMs: 4000 });
  await until(() => exists(join(out, mark)), 30_000);
  // The one execution the function may have runs through A: B is refused, as Lambda refuses it.
  const refused = await rejection(lb.send(new InvokeCommand({ FunctionName: 'shared', Payload: Buffer.from('{}') })));
  assert.equal(refused.name, 'TooManyRequestsException');
  assert.equal((refused as unknown as { Reason?: string }).Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
  assert.equal(refused.$metadata.httpStatusCode, 429);
  await running;
  // Counted out when A's invoke ended: B runs now.
  await until(async () => {
    try {
      await invoke(lb, {});
      return true;
    } catch {
      return false;
    }
  }, 30_000);
});

test('a frontend killed mid-invoke gives its concurrency back', async () => {
  const mark = 'killed-running';
  const doomed = invoke(la, { mark, sleepMs: 20_000 }).catch((err: Error) => err);
  await until(() => exists(join(out, mark)), 30_000);
  assert.equal((await rejection(lb.send(new InvokeCommand({ FunctionName: 'shared', Payload: Buffer.from('{}') })))).name, 'TooManyRequestsException');
  await fa.kill();
  assert.ok((await doomed) instanceof Error);
  // Declared dead after its missed heartbeats: its admitted invoke no longer counts.
  await until(async () => (await frontendsOfManager()).length === 1, 30_000);
  const after = await invoke(lb, {});
  assert.ok(after.body.sandbox);
  await fa.restart();
  la = lambdaClient(fa.url);
  await lb.send(new PutFunctionConcurrencyCommand({ FunctionName: 'shared', ReservedConcurrentExecutions: 10 }));
});

test('provisioned concurrency put through one frontend is READY through the other and serves without Init', async () => {
  const { Version } = await la.send(new PublishVersionCommand({ FunctionName: 'shared' }));
  await la.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'shared', Qualifier: Version, ProvisionedConcurrentExecutions: 1 }));
  await until(async () => (await lb.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'shared', Qualifier: Version }))).Status === 'READY', 30_000);
  const got = await lb.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'shared', Qualifier: Version }));
  assert.equal(got.AllocatedProvisionedConcurrentExecutions, 1);
  const served = await invoke(lb, {}, Version);
  assert.equal(served.body.init, 'provisioned-concurrency');
  assert.doesNotMatch(served.log, /Init Duration/);
});

test('a restarted manager is found again by its workers and frontends; provisioned pools come back', async () => {
  const { Versions } = await lb.send(new ListVersionsByFunctionCommand({ FunctionName: 'shared' }));
  const version = Versions!.map((v) => v.Version!).find((v) => v !== '$LATEST')!;
  await manager.restart();
  // Its state is soft: workers and frontends register again when it answers them 404.
  await until(async () => (await frontendsOfManager()).length === 2, 30_000, 'both frontends registered again');
  await until(
    async () => {
      try {
        return (await invoke(lb, {})).body.sandbox;
      } catch {
        return undefined;
      }
    },
    30_000,
    'an invoke through a frontend',
  );
  // The new manager made the pool again from the stored config: the version is served by a provisioned sandbox.
  await until(
    async () => {
      const r = await invoke(la, {}, version);
      return r.body.init === 'provisioned-concurrency' && !/Init Duration/.test(r.log);
    },
    30_000,
    'a provisioned sandbox of the version',
  );
  // The frontend reports what the manager's heartbeats last said of the pool.
  await until(async () => (await la.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'shared', Qualifier: version }))).Status === 'READY', 30_000, 'READY reported');
});

test('kindling up --role frontend refuses to start without a manager or the cluster stores', async () => {
  const noManager = await runKindling(['up', '--role', 'frontend', ...stores()], { env: env() });
  assert.equal(noManager.code, 2);
  assert.match(noManager.stderr, /--role frontend needs --manager URL/);
  const noStores = await runKindling(['up', '--role', 'frontend', '--manager', manager.url]);
  assert.equal(noStores.code, 2);
  assert.match(noStores.stderr, /needs the cluster's stores/);
});
