// Crashes lose nothing: under mixed sync and async load, `kindling up` (its
// default sandbox driver: namespace when root) is SIGKILLed 20 times at random
// moments and restarted on the same data folder each time. Afterwards:
// - every function and setting (configuration, tags, aliases, reserved
//   concurrency, event invoke config), and every setting change answered 2xx
//   between kills, is there;
// - every Event invoke answered 202 was processed at least once: the async
//   function always fails with no retries, so each event ends in the durable
//   failed-events store under its request id;
// - after the final stop no sandbox is left: no cgroup, veth or jailer of any
//   of the killed servers;
// - state.sqlite, queue.sqlite, logs.sqlite and keys.sqlite pass
//   PRAGMA integrity_check (opened read-only).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionEventInvokeConfigCommand,
  ListTagsCommand,
  PublishVersionCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  TagResourceCommand,
} from '@aws-sdk/client-lambda';
import { Pool } from 'undici';
import { functionArn, lambdaClient, makeZip, rawRequest, ROLE, startKindling } from '../helpers/kindling.js';
import { signedHeaders } from './signing.js';

const KILLS = Number(process.env.KINDLING_CRASH_KILLS ?? 20);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every failed event's request id of a function, all pages. */
async function failedRequestIds(url: string, name: string): Promise<string[]> {
  const ids: string[] = [];
  let marker = '';
  for (;;) {
    const res = await rawRequest(url, 'GET', `/kindling/2024-01-01/functions/${name}/failed-events?MaxItems=50${marker ? `&Marker=${marker}` : ''}`);
    assert.equal(res.status, 200, res.text);
    const page = res.json as { FailedEvents: { RequestId: string }[]; NextMarker?: string };
    ids.push(...page.FailedEvents.map((f) => f.RequestId));
    if (!page.NextMarker) return ids;
    marker = page.NextMarker;
  }
}

/** What the killed servers may have left: cgroups named after them, veths whose slot they held, jailers. */
function leftovers(pids: Set<number>): string[] {
  const found: string[] = [];
  const owned = (name: string) => pids.has(Number(name.split('-')[0]));
  for (const parent of ['/sys/fs/cgroup/kindling', ...(existsSync('/sys/fs/cgroup/memory') ? readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}/kindling`) : [])]) {
    try {
      for (const n of readdirSync(parent)) if (owned(n)) found.push(`cgroup ${parent}/${n}`);
    } catch {
      // no such hierarchy
    }
  }
  try {
    for (const link of readdirSync('/sys/class/net').filter((n) => /^kx\d+$/.test(n))) {
      let owner = NaN;
      try {
        owner = Number(readFileSync(`/run/kindling/net/${link.slice(2)}`, 'utf8'));
      } catch {
        // no lock: some other Kindling's half-made link, or already freed
      }
      if (pids.has(owner)) found.push(`veth ${link} (of pid ${owner})`);
    }
  } catch {
    // no sysfs
  }
  const ps = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  for (const line of ps.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (m && m[3]!.includes('kindling-jailer') && (pids.has(Number(m[2])) || m[2] === '1')) found.push(`jailer ${m[1]} (parent ${m[2]})`);
  }
  return found;
}

test(`SIGKILL ${KILLS} times under load: nothing accepted is lost, nothing is left behind`, { timeout: 240_000 }, async (t) => {
  const server = await startKindling({ env: { KINDLING_ASYNC_TIME_SCALE: '0.01' } });
  const pids = new Set<number>();
  try {
    let lambda = lambdaClient(server.url);
    const zip = await makeZip({ 'index.mjs': 'export const handler = async (e) => { if (e.fail) throw new Error("always"); return { ok: true }; };\n' });
    await lambda.send(new CreateFunctionCommand({ FunctionName: 'sync', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, MemorySize: 256, Timeout: 7, Environment: { Variables: { AB: '1' } }, Code: { ZipFile: zip } }));
    await lambda.send(new PublishVersionCommand({ FunctionName: 'sync' }));
    await lambda.send(new CreateAliasCommand({ FunctionName: 'sync', Name: 'live', FunctionVersion: '1' }));
    await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'sync', ReservedConcurrentExecutions: 50 }));
    await lambda.send(new CreateFunctionCommand({ FunctionName: 'async', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip } }));
    await lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'async', MaximumRetryAttempts: 0 }));

    const accepted = new Set<string>();
    const tagsAnswered = new Map<string, string>();
    /** Values in the order sent: one sent after the last answered may have landed, unanswered, before the kill. */
    const tagsSent = new Map<string, string[]>();
    let syncOk = 0;
    let cutOff = 0;

    for (let round = 0; round < KILLS; round++) {
      pids.add(server.child.pid!);
      const pool = new Pool(server.url, { connections: 16 });
      const asyncPath = '/2015-03-31/functions/async/invocations';
      const asyncBody = Buffer.from('{"fail":true}');
      const asyncHeaders = signedHeaders(server.url, 'POST', asyncPath, asyncBody, { headers: { 'x-amz-invocation-type': 'Event' } });
      const syncPath = '/2015-03-31/functions/sync/invocations';
      const syncBody = Buffer.from('{}');
      const syncHeaders = signedHeaders(server.url, 'POST', syncPath, syncBody, { query: [['Qualifier', 'live']] });
      let dead = false;
      const worker = async (i: number) => {
        while (!dead) {
          try {
            if (i % 2 === 0) {
              const res = await pool.request({ method: 'POST', path: asyncPath, headers: asyncHeaders, body: asyncBody });
              await res.body.arrayBuffer();
              if (res.statusCode === 202) accepted.add(String(res.headers['x-amzn-requestid']));
              else assert.fail(`Event invoke answered ${res.statusCode}`);
            } else if (i === 1) {
              // A setting change now and then: once answered, it must survive the kills.
              const key = `round${round}`;
              const value = String(syncOk);
              const sent = tagsSent.get(key) ?? [];
              tagsSent.set(key, [...sent, value]);
              await lambda.send(new TagResourceCommand({ Resource: functionArn('sync'), Tags: { [key]: value } }));
              tagsAnswered.set(key, value);
              await sleep(50);
            } else {
              const res = await pool.request({ method: 'POST', path: `${syncPath}?Qualifier=live`, headers: syncHeaders, body: syncBody });
              const text = Buffer.from(await res.body.arrayBuffer()).toString();
              if (res.statusCode === 200) syncOk++;
              else if (res.statusCode !== 429) assert.fail(`sync invoke answered ${res.statusCode}: ${text}`);
            }
          } catch (err) {
            if (!dead) throw err;
            cutOff++;
          }
        }
      };
      const load = Promise.all(Array.from({ length: 12 }, (_, i) => worker(i)));
      await sleep(300 + Math.random() * 900);
      dead = true;
      await server.kill();
      await load;
      await pool.destroy();
      await server.restart();
      lambda = lambdaClient(server.url);
    }
    pids.add(server.child.pid!);
    t.diagnostic(`${KILLS} kills: ${accepted.size} events accepted, ${syncOk} sync invokes answered 200, ${tagsAnswered.size} tag changes answered, ${cutOff} requests cut off by the kills`);

    // Every accepted event ran (and failed into the store) at least once.
    let missing = [...accepted];
    let stored: string[] = [];
    const deadline = Date.now() + 60_000;
    while (missing.length > 0 && Date.now() < deadline) {
      stored = await failedRequestIds(server.url, 'async');
      const have = new Set(stored);
      missing = missing.filter((id) => !have.has(id));
      if (missing.length > 0) await sleep(500);
    }
    t.diagnostic(`failed-events store: ${stored.length} records (${stored.length - new Set(stored).size} duplicates) for ${accepted.size} accepted events`);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} accepted events were never processed`);

    // Every function and setting is as it was left.
    const fn = await lambda.send(new GetFunctionCommand({ FunctionName: 'sync' }));
    assert.equal(fn.Configuration?.MemorySize, 256);
    assert.equal(fn.Configuration?.Timeout, 7);
    assert.deepEqual(fn.Configuration?.Environment?.Variables, { AB: '1' });
    assert.equal((await lambda.send(new GetAliasCommand({ FunctionName: 'sync', Name: 'live' }))).FunctionVersion, '1');
    assert.equal((await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: 'sync' }))).ReservedConcurrentExecutions, 50);
    assert.equal((await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'async' }))).MaximumRetryAttempts, 0);
    const tags = (await lambda.send(new ListTagsCommand({ Resource: functionArn('sync') }))).Tags ?? {};
    for (const [k, v] of tagsAnswered) {
      const sent = tagsSent.get(k)!;
      const later = sent.slice(sent.lastIndexOf(v));
      assert.ok(tags[k] !== undefined && later.includes(tags[k]), `tag ${k}: ${v} answered 200 before a kill, ${tags[k]} now`);
    }

    await server.stop();
    // Jailers tear their sandboxes down as their Kindling goes (PR_SET_PDEATHSIG): allow them a moment.
    let left = leftovers(pids);
    const settle = Date.now() + 15_000;
    while (left.length > 0 && Date.now() < settle) {
      await sleep(250);
      left = leftovers(pids);
    }
    assert.deepEqual(left, [], `left behind: ${left.join(', ')}`);
    for (const file of ['state.sqlite', 'queue.sqlite', 'logs.sqlite', 'keys.sqlite']) {
      const db = new Database(join(server.dataDir, file), { readonly: true, fileMustExist: true });
      try {
        assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }], file);
      } finally {
        db.close();
      }
    }
  } finally {
    await server.dispose();
  }
});
