// GET /metrics (Prometheus text, public) after some invokes, the console's
// JSON series and hosts endpoints, and log retention.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ACCESS_KEY_ID, kindlingForSuite, lambdaClient, nodeZip, rawRequest, REGION, ROLE, SECRET_ACCESS_KEY, startKindling, type KindlingServer } from '../helpers/kindling.js';

async function filterLogs(url: string, functionName: string, filterPattern?: string): Promise<{ message?: string }[]> {
  const logs = new CloudWatchLogsClient({ endpoint: url, region: REGION, credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY }, maxAttempts: 1 });
  try {
    const out = await logs.send(new FilterLogEventsCommand({ logGroupName: `/aws/lambda/${functionName}`, ...(filterPattern ? { filterPattern } : {}) }));
    return out.events ?? [];
  } finally {
    logs.destroy();
  }
}

const HANDLER = "export const handler = async (event) => { console.log('multi\\nline'); if (event.fail) throw new Error('no'); return 'ok'; };\n";

async function create(client: LambdaClient, name: string): Promise<void> {
  await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await nodeZip(HANDLER) } }));
}

const invoke = (client: LambdaClient, name: string, event: unknown) =>
  client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }));

/** The value of one sample line of the exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const kv of (m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)) have[kv[1]!] = kv[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

describe('metrics', () => {
  let server: KindlingServer;
  let client: LambdaClient;

  before(async () => {
    server = await startKindling();
    client = lambdaClient(server.url);
    await create(client, 'metered');
    for (const e of [{}, {}, { fail: true }]) await invoke(client, 'metered', e);
  });

  after(async () => {
    client?.destroy();
    await server?.dispose();
  });

  test('GET /metrics is Prometheus text, unsigned, counting invokes by function and version', async () => {
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const fn = { function: 'metered', version: '$LATEST' };
    assert.equal(sample(text, 'kindling_invocations_total', fn), 3);
    assert.equal(sample(text, 'kindling_errors_total', fn), 1);
    assert.equal(sample(text, 'kindling_cold_starts_total', fn), 1);
    assert.equal(sample(text, 'kindling_warm_starts_total', fn), 2);
    assert.equal(sample(text, 'kindling_duration_seconds_count', fn), 3);
    assert.ok(sample(text, 'kindling_duration_seconds_sum', fn)! > 0);
    assert.equal(sample(text, 'kindling_duration_seconds_bucket', { ...fn, le: '+Inf' }), 3);
    assert.equal(sample(text, 'kindling_concurrent_executions', fn), 0);
    assert.equal(sample(text, 'kindling_sandboxes', { state: 'idle' }), 1);
    assert.equal(sample(text, 'kindling_sandboxes', { state: 'busy' }), 0);
    assert.equal(sample(text, 'kindling_placement_failures_total'), 0);
    assert.equal(sample(text, 'kindling_host_memory_reserved_bytes', { host: 'local' }), 128 * 1048576);
    assert.ok(sample(text, 'kindling_host_memory_free_bytes', { host: 'local' })! > 0);
    assert.equal(sample(text, 'kindling_async_queue_depth', { state: 'visible' }), 0);
    assert.match(text, /# TYPE kindling_duration_seconds histogram/);
  });

  test('the console series: per minute, with errors, cold starts and percentiles', async () => {
    const r = await rawRequest(server.url, 'GET', '/kindling/2024-01-01/metrics/functions/metered?minutes=5');
    assert.equal(r.status, 200, r.text);
    const { Points } = r.json as { Points: { t: number; invocations: number; errors: number; cold: number; warm: number; p50: number | null; p99: number | null }[] };
    assert.equal(Points.length, 5);
    const sum = (k: 'invocations' | 'errors' | 'cold' | 'warm') => Points.reduce((n, p) => n + p[k], 0);
    assert.deepEqual([sum('invocations'), sum('errors'), sum('cold'), sum('warm')], [3, 1, 1, 2]);
    assert.ok(Points.some((p) => p.p50 !== null && p.p99 !== null && p.p99 >= p.p50));
    const totals = await rawRequest(server.url, 'GET', '/kindling/2024-01-01/metrics/functions?minutes=60');
    assert.deepEqual((totals.json as { Functions: Record<string, unknown> }).Functions.metered, { invocations: 3, errors: 1, throttles: 0, cold: 1, warm: 2 });
    const missing = await rawRequest(server.url, 'GET', '/kindling/2024-01-01/metrics/functions/nope');
    assert.equal(missing.status, 404);
  });

  test('the hosts endpoint: memory and sandboxes per host', async () => {
    const r = await rawRequest(server.url, 'GET', '/kindling/2024-01-01/hosts');
    assert.equal(r.status, 200, r.text);
    const { Hosts } = r.json as { Hosts: { HostId: string; MemoryMb: number; ReservedMb: number; FreeMb: number; Sandboxes: { FunctionName: string; State: string; MemoryMb: number }[] }[] };
    assert.equal(Hosts.length, 1);
    const h = Hosts[0]!;
    assert.equal(h.HostId, 'local');
    assert.equal(h.ReservedMb, 128);
    assert.equal(h.FreeMb, h.MemoryMb - 128);
    assert.deepEqual(h.Sandboxes.map((s) => [s.FunctionName, s.State, s.MemoryMb]), [['metered', 'idle', 128]]);
  });

  test('a multi-line record is one log event, its inner newlines kept as \\r', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const events = await filterLogs(server.url, 'metered', 'multi');
    assert.equal(events.length, 3);
    assert.match(events[0]!.message ?? '', /\tINFO\tmulti\rline\n$/);
  });
});

describe('log retention', () => {
  test('kindling up --log-retention-days expires old events', { timeout: 60_000 }, async () => {
    // 0.00003 days is 2.6 s; expiry runs every second for a retention that short.
    const server = await startKindling({ args: ['--log-retention-days', '0.00003'] });
    const client = lambdaClient(server.url);
    try {
      await create(client, 'short-lived');
      await invoke(client, 'short-lived', {});
      const count = async () => (await filterLogs(server.url, 'short-lived')).length;
      await new Promise((r) => setTimeout(r, 300));
      assert.ok((await count()) >= 3);
      const deadline = Date.now() + 15_000;
      while ((await count()) > 0) {
        assert.ok(Date.now() < deadline, 'log events were not expired');
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      client.destroy();
      await server.dispose();
    }
  });

  test('kindling up refuses a bad --log-retention-days', async () => {
    await assert.rejects(startKindling({ args: ['--log-retention-days', '0'] }), /--log-retention-days takes a number of days above 0/);
  });
});

describe('metrics of the pool of generic sandboxes', () => {
  const suite = kindlingForSuite();
  let server: KindlingServer;
  let client: LambdaClient;
  before(() => {
    server = suite.server();
    client = suite.client();
  });

  test("the pool's sandboxes and whether each cold start took one, per pool key", async () => {
    // Samples of a pool metric for the 128 MB Node.js key, by the value of one label.
    const poolSamples = async (name: string, label: string): Promise<Record<string, number>> => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const out: Record<string, number> = {};
      for (const m of text.matchAll(new RegExp(`^${name}\\{key="[a-z]+/nodejs/128/[^"]*",${label}="(\\w+)"\\} (\\d+)$`, 'gm'))) out[m[1]!] = Number(m[2]);
      return out;
    };
    // The key's first cold start found no pooled sandbox: it made the key known.
    await create(client, 'first');
    await invoke(client, 'first', {});
    assert.deepEqual(await poolSamples('kindling_sandbox_pool_cold_starts_total', 'served'), { pool: 0, launch: 1 });
    const until = Date.now() + 30_000;
    while ((await poolSamples('kindling_sandbox_pool_sandboxes', 'state')).ready !== 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await poolSamples('kindling_sandbox_pool_sandboxes', 'state')).ready, 1);
    await create(client, 'pooled');
    await invoke(client, 'pooled', {});
    assert.deepEqual(await poolSamples('kindling_sandbox_pool_cold_starts_total', 'served'), { pool: 1, launch: 1 });
  });
});
