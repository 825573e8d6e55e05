// Worker hosts joining a Worker Manager: `kindling up --role manager` places
// every sandbox on `kindling worker --join` processes. Sandboxes of one
// function spread over the hosts; a host killed with SIGKILL is declared dead
// and new invokes run elsewhere within 5 s, invokes it was running get
// Lambda's 5xx error and no accepted async event is lost; a drained host gets
// no new sandboxes; a restarted worker comes back as the same host.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, rawRequest, ROLE, startKindling, startWorker, type KindlingServer } from '../helpers/kindling.js';
import { processSandboxArgs, until } from '../async/fakes.js';
import { DEAD_AFTER_MS, HOSTS_PATH, type HostInfo } from '../../src/workers/remote/protocol.js';

let manager: KindlingServer;
let workers: KindlingServer[] = [];
let lambda: LambdaClient;
let out: string;

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'kindling-workers-out-'));
  manager = await startKindling({ args: ['--role', 'manager', '--async-time-scale', '0.001', ...processSandboxArgs()] });
  // Four hosts: one is drained and one killed below, and two must still hold the load.
  workers = await Promise.all([0, 1, 2, 3].map(() => startWorker(manager.url, ['--memory', '2048', ...processSandboxArgs()])));
  lambda = lambdaClient(manager.url);
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'spread',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      MemorySize: 128,
      Timeout: 30,
      Environment: { Variables: { OUT_DIR: out } },
      Code: {
        ZipFile: await makeZip({
          'index.mjs': `import { appendFileSync } from 'node:fs';
export const handler = async (event) => {
  if (event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  if (event.record) appendFileSync(process.env.OUT_DIR + '/seen.log', event.record + '\\n');
  return { ok: true };
};
`,
        }),
      },
    }),
  );
});

after(async () => {
  await Promise.all(workers.map((w) => w.dispose()));
  await manager?.dispose();
  await rm(out, { recursive: true, force: true });
});

const hosts = async (): Promise<HostInfo[]> => {
  const res = await rawRequest(manager.url, 'GET', HOSTS_PATH);
  assert.equal(res.status, 200, res.text);
  return (res.json as { hosts: HostInfo[] }).hosts;
};
const hostOf = async (id: string): Promise<HostInfo | undefined> => (await hosts()).find((h) => h.hostId === id);

const invoke = (payload: unknown) => lambda.send(new InvokeCommand({ FunctionName: 'spread', Payload: Buffer.from(JSON.stringify(payload)) }));

test('the workers register with the manager, which has no host of its own', async () => {
  const listed = await hosts();
  assert.deepEqual(listed.map((h) => h.hostId).sort(), workers.map((w) => w.hostId).sort());
  for (const h of listed) {
    assert.equal(h.state, 'live');
    assert.equal(h.memoryMb, 2048);
    assert.equal(h.local, false);
  }
});

test('concurrent invokes of one function spread its sandboxes over every host', async () => {
  const results = await Promise.all(Array.from({ length: 8 }, () => invoke({ sleepMs: 500 })));
  for (const r of results) assert.equal(r.FunctionError, undefined, Buffer.from(r.Payload ?? []).toString());
  const listed = await hosts();
  for (const h of listed) assert.ok(h.sandboxes >= 1, `host ${h.hostId} got no sandbox: ${JSON.stringify(listed)}`);
});

test('a drained host gets no new sandboxes; the others take the load', async () => {
  const drained = workers[0]!;
  const res = await rawRequest(manager.url, 'POST', `${HOSTS_PATH}/${drained.hostId}/drain`);
  assert.equal(res.status, 200, res.text);
  assert.equal((await hostOf(drained.hostId))?.state, 'draining');
  // Its idle sandboxes are retired; busy ones would finish.
  await until(async () => (await hostOf(drained.hostId))?.sandboxes === 0, 10_000, 'the drained host to retire its idle sandboxes');
  const results = await Promise.all(Array.from({ length: 6 }, () => invoke({ sleepMs: 300 })));
  for (const r of results) assert.equal(r.FunctionError, undefined);
  assert.equal((await hostOf(drained.hostId))?.sandboxes, 0);
});

test('a worker killed under sync and async load: in-flight invokes get a 5xx, new ones run elsewhere within 5 s, no event is lost', async () => {
  const victim = workers[1]!;
  const records = Array.from({ length: 30 }, (_, i) => `event-${i}`);
  const failures: { name: string; status: number | undefined }[] = [];
  let okAfterDeadline = 0;
  let failedAfterDeadline = 0;
  let killedAt = 0;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const startedAt = Date.now();
      try {
        const r = await invoke({ sleepMs: 100 });
        assert.equal(r.FunctionError, undefined);
        if (killedAt && startedAt > killedAt + 5000) okAfterDeadline++;
      } catch (err) {
        const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
        failures.push({ name: e.name, status: e.$metadata?.httpStatusCode });
        if (killedAt && startedAt > killedAt + 5000) failedAfterDeadline++;
      }
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  // Events accepted before and after the kill: every one must run.
  const sendEvents = (list: string[]) =>
    Promise.all(list.map((record) => lambda.send(new InvokeCommand({ FunctionName: 'spread', InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ record, sleepMs: 200 })) }))));
  await sendEvents(records.slice(0, 15));
  await new Promise((r) => setTimeout(r, 1000));
  killedAt = Date.now();
  await victim.kill();
  await sendEvents(records.slice(15));
  await until(async () => (await hostOf(victim.hostId))?.state === 'dead', DEAD_AFTER_MS + 5000, 'the manager to declare the killed host dead');
  await new Promise((r) => setTimeout(r, 7000));
  stop = true;
  await Promise.all(loops);
  // Only invokes running on the victim when it died may fail, and with Lambda's server error.
  assert.ok(failures.length <= 8, `too many failed invokes: ${JSON.stringify(failures)}`);
  for (const f of failures) {
    assert.equal(f.name, 'ServiceException', JSON.stringify(failures));
    assert.ok(f.status !== undefined && f.status >= 500, JSON.stringify(failures));
  }
  assert.equal(failedAfterDeadline, 0, `invokes failed more than 5 s after the kill: ${JSON.stringify(failures)}`);
  assert.ok(okAfterDeadline > 0);
  const seen = await until(
    async () => {
      const lines = new Set((await readFile(join(out, 'seen.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean));
      return records.every((r) => lines.has(r)) ? lines : undefined;
    },
    60_000,
    'every accepted event to run',
  );
  assert.equal(seen.size, records.length);
});

test('a restarted worker comes back as the same host', async () => {
  const victim = workers[1]!;
  await victim.restart();
  assert.equal((await hostOf(victim.hostId))?.state, 'live');
  const r = await invoke({});
  assert.equal(r.FunctionError, undefined);
});
