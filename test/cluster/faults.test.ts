// Cluster faults with every Kindling process in its own network namespace and
// nginx in front, as a cluster runs on several machines: two frontends (FA,
// FB, `--role frontend`) and their Worker Manager (M, `--role manager`) on one
// private PostgreSQL and one S3 bucket, worker hosts W1, W2 and W3 joined to M,
// clients on the AWS SDK talking to nginx (in front of FA and FB) only.
//
// The tests run in order, each leaving what the next needs: a worker cut off
// the network (and back), a worker killed, FA killed, then PostgreSQL
// restarted under FB and M.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, ListFunctionsCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, rawRequest, rejection, ROLE, startKindling, type ApiError, type KindlingServer } from '../helpers/kindling.js';
import { createNetwork, startNginx, type Netns, type Nginx, type TestNetwork } from '../helpers/netns.js';
import { privatePostgres, type PrivatePostgres } from '../helpers/postgres.js';
import { S3_CREDENTIALS, startS3, type RunningS3 } from '../helpers/s3.js';
import { FRONTENDS_PATH } from '../../src/workers/remote/lease-protocol.js';
import { DEAD_AFTER_MS, HOSTS_PATH, type HostInfo } from '../../src/workers/remote/protocol.js';

/** Issue #8: invokes started this long after a host is lost must all succeed. */
const RECOVERY_MS = 5000;
/** Invokes that may fail around one fault: those running on what was lost. */
const MAX_FAILURES = 8;
const FRONTEND_PORT = 9000;
/**
 * Async retry delays and the maximum event age, scaled: 0.01 makes the 6-hour age 216 s, past
 * the 40-60 s an event leased by a killed frontend waits for its lease to lapse (0.001 would
 * drop it as EventAgeExceeded first; leases are not scaled).
 */
const ASYNC_TIME_SCALE = '0.01';

let net: TestNetwork;
let pg: PrivatePostgres;
let s3: RunningS3;
let nginx: Nginx;
let out: string;
let nsM: Netns;
let nsA: Netns;
let nsB: Netns;
let ns1: Netns;
let ns2: Netns;
let ns3: Netns;
let manager: KindlingServer;
let fa: KindlingServer;
let fb: KindlingServer;
let w1: KindlingServer;
let w2: KindlingServer;
let w3: KindlingServer;
/** Through nginx. */
let lambda: LambdaClient;

/** `kindling up` in a namespace, on the cluster's stores: the manager, or a frontend of it. */
const startUp = (ns: Netns, role: string[]): Promise<KindlingServer> =>
  startKindling({
    netns: ns.name,
    args: [...role, '--host', ns.ip, '--port', String(FRONTEND_PORT), '--state', pg.url, '--code', s3.codeUrl('code'), '--sandbox', 'process', '--async-time-scale', ASYNC_TIME_SCALE],
    env: { AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey },
  });
const startFrontend = (ns: Netns): Promise<KindlingServer> => startUp(ns, ['--role', 'frontend', '--manager', manager.url]);

const startWorkerIn = (ns: Netns): Promise<KindlingServer> =>
  startKindling({ command: 'worker', netns: ns.name, args: ['--join', manager.url, '--listen', `${ns.ip}:0`, '--memory', '2048', '--sandbox', 'process'] });

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'kindling-faults-out-'));
  net = await createNetwork();
  [nsM, nsA, nsB, ns1, ns2, ns3] = [await net.add('m'), await net.add('fa'), await net.add('fb'), await net.add('w1'), await net.add('w2'), await net.add('w3')];
  // First of the processes, so a machine without nginx fails at once; it connects per request.
  nginx = await startNginx([`${nsA.ip}:${FRONTEND_PORT}`, `${nsB.ip}:${FRONTEND_PORT}`]);
  lambda = lambdaClient(nginx.url);
  pg = await privatePostgres();
  // On the network's root address, so every namespace reaches it.
  s3 = await startS3('kindling-code', net.gateway);
  manager = await startUp(nsM, ['--role', 'manager']);
  [fa, fb, w1, w2, w3] = await Promise.all([startFrontend(nsA), startFrontend(nsB), startWorkerIn(ns1), startWorkerIn(ns2), startWorkerIn(ns3)]);
});

after(async () => {
  lambda?.destroy();
  await Promise.all([w1, w2, w3].map((w) => w?.dispose()));
  await Promise.all([fa, fb].map((f) => f?.dispose()));
  await manager?.dispose();
  await nginx?.stop();
  await s3?.close();
  await pg?.destroy();
  await net?.destroy();
  await rm(out, { recursive: true, force: true });
});

// The handler answers with the address of the namespace it runs in: which worker host ran it.
// It notes every try of an event in tries.log and every event done in seen.log.
const HANDLER = `import { appendFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
const ip = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const handler = async (event) => {
  if (event.record) appendFileSync(process.env.OUT_DIR + '/tries.log', event.record + ' ' + ip + '\\n');
  if (event.sleepMs) await sleep(event.sleepMs);
  if (event.record) appendFileSync(process.env.OUT_DIR + '/seen.log', event.record + '\\n');
  return { ip };
};
`;

const createFunction = async (FunctionName: string): Promise<void> => {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      MemorySize: 128,
      // Short, so an event leased by a killed frontend is visible again soon (the lease's floor is 60 s).
      Timeout: 5,
      Environment: { Variables: { OUT_DIR: out } },
      Code: { ZipFile: await makeZip({ 'index.mjs': HANDLER }) },
    }),
  );
};

/** A sync invoke through nginx; the address of the worker host that ran it. */
const invoke = async (payload: unknown = {}, FunctionName = 'faulty'): Promise<string> => {
  const res = await lambda.send(new InvokeCommand({ FunctionName, Payload: Buffer.from(JSON.stringify(payload)) }));
  const body = Buffer.from(res.Payload ?? []).toString();
  assert.equal(res.FunctionError, undefined, body);
  return (JSON.parse(body) as { ip: string }).ip;
};

const sendEvents = (client: LambdaClient, records: string[], extra: { sleepMs?: number } = { sleepMs: 200 }, FunctionName = 'faulty') =>
  Promise.all(records.map((record) => client.send(new InvokeCommand({ FunctionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ record, ...extra })) }))));

const lines = async (file: string): Promise<string[]> => (await readFile(join(out, file), 'utf8').catch(() => '')).split('\n').filter(Boolean);
const seen = async (): Promise<Set<string>> => new Set(await lines('seen.log'));
/** Every try of an event so far: its record and the address of the host it ran on. */
const tries = async (): Promise<{ record: string; ip: string }[]> =>
  (await lines('tries.log')).map((l) => {
    const [record = '', ip = ''] = l.split(' ');
    return { record, ip };
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sleepUntil = (at: number) => sleep(Math.max(0, at - Date.now()));

/** Checks every 50 ms for up to `timeoutMs`; whether `check` came true. */
async function poll(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** Every record has run at least once, within `timeoutMs`. */
async function assertAllRun(records: string[], timeoutMs: number): Promise<void> {
  const ran = await poll(async () => {
    const done = await seen();
    return records.every((r) => done.has(r));
  }, timeoutMs);
  const done = await seen();
  assert.ok(ran, `accepted events never ran within ${timeoutMs / 1000} s: ${records.filter((r) => !done.has(r)).join(', ')}`);
}

const hosts = async (): Promise<HostInfo[]> => {
  const res = await rawRequest(manager.url, 'GET', HOSTS_PATH);
  assert.equal(res.status, 200, res.text);
  return (res.json as { hosts: HostInfo[] }).hosts;
};
const stateOf = async (worker: KindlingServer): Promise<HostInfo['state'] | undefined> => (await hosts()).find((h) => h.hostId === worker.hostId)?.state;

/** The worker gets `state` on the manager within `timeoutMs`. */
async function assertBecomes(worker: KindlingServer, state: HostInfo['state'], timeoutMs: number, what: string): Promise<void> {
  const became = await poll(async () => (await stateOf(worker)) === state, timeoutMs);
  assert.ok(became, `${what} within ${timeoutMs / 1000} s: it is ${await stateOf(worker)}`);
}

/** The frontends the manager knows, with the invokes it has admitted for each and not seen end. */
const frontends = async (): Promise<{ url: string; invocations: number }[]> => {
  const res = await rawRequest(manager.url, 'GET', FRONTENDS_PATH);
  assert.equal(res.status, 200, res.text);
  return (res.json as { frontends: { url: string; invocations: number }[] }).frontends;
};

interface InvokeRecord {
  startedAt: number;
  /** The worker host that ran it, when it succeeded. */
  ip?: string;
  error?: { name: string; status: number | undefined; message: string };
}

/** `loops` clients invoking through nginx back to back until stopped. */
function startLoad(loops: number): { stop(): Promise<InvokeRecord[]> } {
  const records: InvokeRecord[] = [];
  let stopping = false;
  const loop = async () => {
    while (!stopping) {
      const startedAt = Date.now();
      try {
        records.push({ startedAt, ip: await invoke({ sleepMs: 100 }) });
      } catch (err) {
        const e = err as ApiError;
        records.push({ startedAt, error: { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message } });
        // A fault that fails fast must not make the loop spin.
        await sleep(100);
      }
    }
  };
  const running = Array.from({ length: loops }, loop);
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(running);
      return records;
    },
  };
}

/** Invokes started RECOVERY_MS after the fault all succeeded (and there were some); few failed at all. Returns the late ones. */
function assertRecovered(records: InvokeRecord[], faultAt: number, fault: string): InvokeRecord[] {
  const failures = records.filter((r) => r.error);
  const late = records.filter((r) => r.startedAt > faultAt + RECOVERY_MS);
  assert.ok(late.length > 0, `no invoke started more than ${RECOVERY_MS / 1000} s after ${fault}`);
  assert.deepEqual(
    late.filter((r) => r.error).map((r) => r.error),
    [],
    `invokes started more than ${RECOVERY_MS / 1000} s after ${fault} failed`,
  );
  assert.ok(failures.length <= MAX_FAILURES, `too many failed invokes after ${fault}: ${JSON.stringify(failures)}`);
  return late;
}

const summary = (records: InvokeRecord[]): string => {
  const failed = records.filter((r) => r.error).map((r) => r.error);
  return `${records.length} invokes, ${failed.length} failed${failed.length ? `: ${JSON.stringify(failed)}` : ''}`;
};

/** Lambda's answer when a sandbox's host fails under an invoke: ServiceException, a 5xx. */
function assertServiceExceptions(records: InvokeRecord[]): void {
  for (const r of records.filter((x) => x.error)) {
    assert.equal(r.error!.name, 'ServiceException', JSON.stringify(r.error));
    assert.ok(r.error!.status !== undefined && r.error!.status >= 500, JSON.stringify(r.error));
  }
}

test("a function created through the load balancer runs on the manager's worker hosts, through either frontend (one PostgreSQL, one bucket)", async () => {
  await createFunction('faulty');
  assert.deepEqual((await frontends()).map((f) => f.url).sort(), [`http://${nsA.ip}:${FRONTEND_PORT}`, `http://${nsB.ip}:${FRONTEND_PORT}`].sort());
  for (const frontend of [fa, fb]) {
    const direct = lambdaClient(frontend.url);
    try {
      const res = await direct.send(new InvokeCommand({ FunctionName: 'faulty', Payload: Buffer.from('{}') }));
      assert.equal(res.FunctionError, undefined);
      const { ip } = JSON.parse(Buffer.from(res.Payload!).toString()) as { ip: string };
      assert.ok([ns1.ip, ns2.ip, ns3.ip].includes(ip), `ran at an unknown address ${ip}`);
    } finally {
      direct.destroy();
    }
  }
  // Concurrent invokes spread the function's sandboxes over the worker hosts.
  const ran = new Set(await Promise.all(Array.from({ length: 6 }, () => invoke({ sleepMs: 300 }))));
  assert.ok(ran.size >= 2, `one worker host ran every concurrent invoke: ${[...ran].join(', ')}`);
});

test('a worker cut off the network is declared dead within 5 s, invokes run on the other host, and it comes back when the link does', async (t) => {
  assert.equal(await stateOf(w1), 'live');
  const load = startLoad(4);
  // Warm sandboxes on the hosts first.
  await sleep(1000);
  const cutAt = Date.now();
  await net.cut(ns1);
  let records: InvokeRecord[];
  try {
    await assertBecomes(w1, 'dead', RECOVERY_MS, 'the manager declares the cut-off worker dead');
    await sleepUntil(cutAt + RECOVERY_MS + 3000);
  } finally {
    records = await load.stop();
    await net.restore(ns1);
  }
  t.diagnostic(summary(records));
  const late = assertRecovered(records, cutAt, 'the cut');
  assertServiceExceptions(records);
  assert.ok(!late.some((r) => r.ip === ns1.ip), 'an invoke ran on the cut-off worker');
  assert.ok(late.some((r) => r.ip === ns2.ip || r.ip === ns3.ip), 'the other workers ran none of the invokes after the cut');
  // Its heartbeat gets 404 from the manager, so it registers again, as the same host.
  await assertBecomes(w1, 'live', 10_000, 'the worker is live again once its link is back');
  assert.ok(w1.running);
});

test('a worker host killed under sync and async load: new invokes run elsewhere within 5 s, failures are ServiceExceptions, every accepted event runs', async (t) => {
  const records = Array.from({ length: 30 }, (_, i) => `kill-worker-${i}`);
  const load = startLoad(4);
  await sendEvents(lambda, records.slice(0, 15));
  await sleep(1000);
  const killedAt = Date.now();
  await w2.kill();
  await sendEvents(lambda, records.slice(15));
  await assertBecomes(w2, 'dead', DEAD_AFTER_MS + 5000, 'the manager declares the killed worker dead');
  await sleepUntil(killedAt + RECOVERY_MS + 3000);
  const done = await load.stop();
  t.diagnostic(summary(done));
  const late = assertRecovered(done, killedAt, 'the kill');
  assertServiceExceptions(done);
  assert.ok(!late.some((r) => r.ip === ns2.ip), 'an invoke ran on the killed worker');
  await assertAllRun(records, 60_000);
});

test('a frontend killed: nginx sends everything to the other, which serves, and the events the dead one was running run again elsewhere', async (t) => {
  // Events sent to FA, each running 4 s; the manager, FA and FB all poll the queue. Batches of
  // them until FA runs one (the manager has admitted an invoke of FA's and not seen it end): no
  // sync invoke goes to FA yet, so that one is an event.
  const records: string[] = [];
  const faRuns = async () => ((await frontends()).find((f) => f.url === fa.url)?.invocations ?? 0) > 0;
  const direct = lambdaClient(fa.url);
  try {
    for (let round = 0; round < 10 && !(await faRuns()); round++) {
      const batch = Array.from({ length: 5 }, (_, i) => `kill-frontend-${round}-${i}`);
      records.push(...batch);
      await sendEvents(direct, batch, { sleepMs: 4000 });
      await poll(faRuns, 2000);
    }
  } finally {
    direct.destroy();
  }
  assert.ok(await faRuns(), "FA's pollers ran none of the events sent to it");
  const load = startLoad(4);
  await sleep(200);
  const killedAt = Date.now();
  await fa.kill();
  await sleepUntil(killedAt + RECOVERY_MS + 3000);
  const done = await load.stop();
  t.diagnostic(summary(done));
  assertRecovered(done, killedAt, "FA's death");
  // Requests in flight at FA when it died: nginx's 502 or Kindling's 500, a 5xx either way.
  for (const r of done.filter((x) => x.error)) assert.ok(r.error!.status !== undefined && r.error!.status >= 500, JSON.stringify(r.error));
  // The manager declared FA dead: its admitted invokes no longer count.
  assert.deepEqual((await frontends()).map((f) => f.url), [fb.url]);
  // FA's queue leases lapse (function timeout + margins, at least 60 s) and the others run those events again.
  await assertAllRun(records, 150_000);
  const again = await poll(async () => {
    const all = await tries();
    return records.some((r) => all.filter((x) => x.record === r).length >= 2);
  }, 150_000);
  assert.ok(again, 'no event FA was running was tried again after its death');
});

test('PostgreSQL restarting under the surviving frontend and the manager: they reconnect and carry on', async () => {
  pg.stop();
  try {
    const err = await rejection(lambda.send(new ListFunctionsCommand({})));
    assert.equal(err.name, 'ServiceException');
    assert.equal(err.$metadata.httpStatusCode, 500);
  } finally {
    pg.start();
  }
  const back = await poll(() => lambda.send(new ListFunctionsCommand({})).then(() => true, () => false), 30_000);
  assert.ok(back, 'FB did not reach PostgreSQL again within 30 s');
  await createFunction('after-restart');
  assert.ok([ns1.ip, ns3.ip].includes(await invoke({}, 'after-restart')));
  await sendEvents(lambda, ['after-restart-event'], {}, 'after-restart');
  await assertAllRun(['after-restart-event'], 60_000);
});
