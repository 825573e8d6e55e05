// Crash safety: 10,000 Event invokes against a real `kindling up`, SIGKILL at
// a random moment while they are being accepted and run, a restart on the
// same data folder, and then every event that was answered 202 must have run
// at least once. Duplicates (at-least-once allows them) are counted and
// reported. Also: a data folder that cannot take writes (read-only, full)
// makes Event invokes fail with a 5xx instead of a 202.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateFunctionCommand } from '@aws-sdk/client-lambda';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { Pool } from 'undici';
import { ACCESS_KEY_ID, lambdaClient, makeZip, rawRequest, REGION, ROLE, SECRET_ACCESS_KEY, startKindling, type KindlingServer } from '../helpers/kindling.js';
import { processSandboxArgs } from './fakes.js';

const TOTAL = Number(process.env.KINDLING_CRASH_EVENTS ?? 10_000);
const CONCURRENCY = 50;

// Appends each request id to OUT_DIR/ids-<pid>: one file per sandbox, so no two writers share a file.
const RECORDER = `import { appendFileSync } from 'node:fs';
const file = process.env.OUT_DIR + '/ids-' + process.pid;
export const handler = async (event, context) => {
  appendFileSync(file, context.awsRequestId + '\\n');
  return null;
};
`;

async function createRecorder(server: KindlingServer, name: string, outDir: string): Promise<void> {
  await lambdaClient(server.url).send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      Environment: { Variables: { OUT_DIR: outDir } },
      Code: { ZipFile: await makeZip({ 'index.mjs': RECORDER }) },
    }),
  );
}

const eventInvoke = (url: string, name: string, body: string | Buffer) =>
  rawRequest(url, 'POST', `/2015-03-31/functions/${name}/invocations`, { body, headers: { 'x-amz-invocation-type': 'Event' } });

/**
 * A keep-alive pool sending one signed Event invoke over and over (the same
 * payload each time: the events are told apart by their request ids).
 */
async function eventSender(url: string, name: string): Promise<{ send: () => Promise<{ status: number; requestId: string }>; close: () => Promise<void> }> {
  const u = new URL(url);
  const path = `/2015-03-31/functions/${name}/invocations`;
  const body = Buffer.from('{"crash":true}');
  const signer = new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    region: REGION,
    service: 'lambda',
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: u.hostname,
    port: Number(u.port),
    path,
    headers: { host: u.host, 'content-type': 'application/json', 'content-length': String(body.length), 'x-amz-invocation-type': 'Event' },
    body,
  });
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
  return {
    async send() {
      const res = await pool.request({ path, method: 'POST', headers: signed.headers as Record<string, string>, body });
      await res.body.arrayBuffer();
      return { status: res.statusCode, requestId: String(res.headers['x-amzn-requestid'] ?? '') };
    },
    close: () => pool.destroy(),
  };
}

/** How many times each request id ran. */
async function processed(outDir: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const f of await readdir(outDir)) {
    if (!f.startsWith('ids-')) continue;
    for (const id of (await readFile(join(outDir, f), 'utf8')).split('\n')) {
      if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

test(`every accepted event runs at least once across a SIGKILL (${TOTAL} events)`, { timeout: 120_000 }, async (t) => {
  const outDir = await mkdtemp(join(tmpdir(), 'kindling-crash-out-'));
  // 0.01: backoffs of 10 ms and up, and a maximum event age (216 s) no backlog here comes near.
  const server = await startKindling({ env: { KINDLING_ASYNC_TIME_SCALE: '0.01' }, args: processSandboxArgs() });
  try {
    await createRecorder(server, 'crash', outDir);
    const killAt = Math.floor(TOTAL * (0.1 + Math.random() * 0.8));
    t.diagnostic(`SIGKILL after ${killAt} of ${TOTAL} accepts`);

    const accepted = new Set<string>();
    let unanswered = 0; // requests in flight when the server died: maybe queued, never acknowledged
    let toSend = TOTAL;
    let killed = false;
    const t0 = performance.now();

    const worker = async (sender: Awaited<ReturnType<typeof eventSender>>, beforeKill: boolean) => {
      while (toSend > 0 && !(beforeKill && killed)) {
        toSend--;
        try {
          const res = await sender.send();
          if (res.status !== 202) throw new Error(`Event invoke answered ${res.status}`);
          accepted.add(res.requestId);
          if (beforeKill && !killed && accepted.size >= killAt) {
            killed = true;
            void server.kill();
          }
        } catch (err) {
          toSend++; // sent again after the restart, as a client would
          if (!beforeKill || !killed) throw err;
          unanswered++;
        }
      }
    };

    const first = await eventSender(server.url, 'crash');
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(first, true)));
    await first.close();
    await server.exit;
    const beforeKill = accepted.size;
    const ranBeforeKill = (await processed(outDir)).size;
    await server.restart();
    const second = await eventSender(server.url, 'crash');
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(second, false)));
    await second.close();
    const acceptSeconds = (performance.now() - t0) / 1000;
    assert.equal(accepted.size, TOTAL);

    let counts = new Map<string, number>();
    let missing: string[] = [...accepted];
    const deadline = Date.now() + 90_000;
    while (missing.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      counts = await processed(outDir);
      missing = missing.filter((id) => !counts.has(id));
    }
    const totalSeconds = (performance.now() - t0) / 1000;
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    const extraRuns = [...counts.values()].reduce((a, n) => a + n - 1, 0);
    const unacknowledged = [...counts.keys()].filter((id) => !accepted.has(id)).length;
    t.diagnostic(
      `accepted ${accepted.size} (${beforeKill} before the kill, of which ${ranBeforeKill} had run), ${unanswered} requests cut off by the kill; ` +
        `all accepted in ${acceptSeconds.toFixed(1)} s, all run by ${totalSeconds.toFixed(1)} s`,
    );
    t.diagnostic(
      `duplicates: ${duplicates} events ran more than once (${extraRuns} extra runs); ${unacknowledged} cut-off requests ran although never answered 202`,
    );
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} accepted events never ran`);
  } finally {
    await server.dispose();
    await rm(outDir, { recursive: true, force: true });
  }
});

const isRoot = process.getuid?.() === 0;
const tryRun = (cmd: string, args: string[]): boolean => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

test('a data folder that cannot be written: Event invokes get a 5xx, not a 202', { skip: !isRoot && 'needs root (chattr)' }, async (t) => {
  const outDir = await mkdtemp(join(tmpdir(), 'kindling-ro-out-'));
  const server = await startKindling({ args: processSandboxArgs() });
  const queueFiles = ['queue.sqlite', 'queue.sqlite-wal'].map((f) => join(server.dataDir, f));
  let locked = false;
  try {
    await createRecorder(server, 'ro', outDir);
    assert.equal((await eventInvoke(server.url, 'ro', '{"before":true}')).status, 202);
    // Immutable files refuse writes even through descriptors already open (and even to root).
    locked = tryRun('chattr', ['+i', ...queueFiles]);
    if (!locked) {
      t.skip('chattr +i is not supported on this file system');
      return;
    }
    const res = await eventInvoke(server.url, 'ro', '{"during":true}');
    assert.ok(res.status >= 500, `status ${res.status}: ${res.text}`);
    assert.equal(res.headers.get('x-amzn-errortype'), 'ServiceException');
    assert.match(String((res.json as { Message?: string }).Message), /could not store the event/);
    tryRun('chattr', ['-i', ...queueFiles]);
    locked = false;
    assert.equal((await eventInvoke(server.url, 'ro', '{"after":true}')).status, 202, 'accepting again once the folder is writable');
  } finally {
    if (locked) tryRun('chattr', ['-i', ...queueFiles]);
    await server.dispose();
    await rm(outDir, { recursive: true, force: true });
  }
});

test('a full data folder: Event invokes get a 5xx, not a 202', { skip: !isRoot && 'needs root (mount)' }, async (t) => {
  const mnt = await mkdtemp(join(tmpdir(), 'kindling-full-'));
  if (!tryRun('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mnt])) {
    await rm(mnt, { recursive: true, force: true });
    t.skip('cannot mount a tmpfs here');
    return;
  }
  const dataDir = join(mnt, 'data');
  const outDir = join(mnt, 'out');
  await mkdir(outDir);
  let server: KindlingServer | undefined;
  try {
    server = await startKindling({ dataDir, args: processSandboxArgs() });
    await createRecorder(server, 'full', outDir);
    assert.equal((await eventInvoke(server.url, 'full', '{"before":true}')).status, 202);
    // Fill the file system to the last byte.
    const filler = join(mnt, 'filler');
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(1024 * 1024);
    try {
      for (;;) writeSync(fd, chunk);
    } catch {
      // ENOSPC: full
    }
    try {
      for (;;) writeSync(fd, chunk.subarray(0, 4096));
    } catch {
      // the last pages too
    }
    closeSync(fd);
    const big = JSON.stringify({ pad: 'x'.repeat(512 * 1024) });
    const res = await eventInvoke(server.url, 'full', big);
    assert.ok(res.status >= 500, `status ${res.status}: ${res.text}`);
    assert.equal(res.headers.get('x-amzn-errortype'), 'ServiceException');
    assert.match(String((res.json as { Message?: string }).Message), /could not store the event/);
    await rm(filler);
    assert.equal((await eventInvoke(server.url, 'full', big)).status, 202, 'accepting again once there is room');
  } finally {
    await server?.dispose();
    tryRun('umount', ['-l', mnt]);
    await rm(mnt, { recursive: true, force: true });
  }
});
