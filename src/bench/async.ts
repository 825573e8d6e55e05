// Asynchronous invocation's figures, against a running Kindling on this machine:
// - end-to-end latency on an idle server: the client's send (and its receipt of
//   the 202) to the moment the handler starts. The handler reports its start
//   time by failing with it (MaximumRetryAttempts 0, no destination), so it is
//   read back from the failed-events store whatever sandbox the function runs in;
//   both clocks are this machine's;
// - durable accepts per second (202s, each one fsync'd) at concurrency 50;
// - how fast the pollers then drain that backlog through the sync invoke path
//   (the function's queue counts, from Kindling's API).
import { CreateFunctionCommand, LambdaClient, PutFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { Pool } from 'undici';
import { signInvoke, zipOf } from './fixtures.js';
import { percentile } from './load.js';

export interface AsyncBenchOptions {
  url: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  /** Seconds of accept load. */
  seconds: number;
  concurrency?: number;
  /** Events timed one at a time for the end-to-end latency. */
  latencySamples?: number;
  /** Give up waiting for the backlog to drain after this long, s. */
  drainTimeoutSeconds?: number;
  log?: (line: string) => void;
}

export interface AsyncBenchResult {
  accept: { concurrency: number; seconds: number; accepted: number; errors: number; perSecond: number; p50Ms: number; p99Ms: number };
  drain: { events: number; seconds: number; perSecond: number; complete: boolean };
  e2e: { samples: number; fromSendP50Ms: number; fromSendP99Ms: number; from202P50Ms: number; from202P99Ms: number };
}

// Fails with its start time (epoch ms) as the error message: the failed event keeps it.
const LATENCY = `export const handler = async () => {
  throw new Error(String(performance.timeOrigin + performance.now()));
};
`;
const NOOP = 'export const handler = async () => null;\n';

const epochNow = (): number => performance.timeOrigin + performance.now();


export async function benchAsync(opts: AsyncBenchOptions): Promise<AsyncBenchResult> {
  const log = opts.log ?? (() => undefined);
  const concurrency = opts.concurrency ?? 50;
  const samples = opts.latencySamples ?? 200;
  const client = new LambdaClient({ endpoint: opts.url, region: opts.region, credentials: opts.credentials, maxAttempts: 1 });
  for (const [name, code] of [
    ['async-latency', LATENCY],
    ['async-sink', NOOP],
  ] as const) {
    await client.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/bench',
        Code: { ZipFile: await zipOf({ 'index.mjs': code }) },
      }),
    );
  }
  await client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'async-latency', MaximumRetryAttempts: 0 }));
  const u = new URL(opts.url);
  const signer = new SignatureV4({ credentials: opts.credentials, region: opts.region, service: 'lambda', sha256: Hash.bind(null, 'sha256') });
  const target = (name: string, body: Buffer) =>
    signInvoke(opts.url, opts.credentials, opts.region, name, body, { 'x-amz-invocation-type': 'Event' });
  /** A signed GET of Kindling's own API, parsed. */
  const api = async (path: string, query: Record<string, string> = {}): Promise<unknown> => {
    const signed = await signer.sign({ method: 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path, query, headers: { host: u.host } });
    const qs = new URLSearchParams(query).toString();
    const res = await pool.request({ path: qs ? `${path}?${qs}` : path, method: 'GET', headers: signed.headers as Record<string, string> });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${path} answered ${res.statusCode}: ${text}`);
    return JSON.parse(text) as unknown;
  };
  /** Handler start times reported through the failed events, by request id. */
  const starts = async (): Promise<Map<string, number>> => {
    const m = new Map<string, number>();
    let marker: string | undefined;
    do {
      const page = (await api('/kindling/2024-01-01/functions/async-latency/failed-events', marker ? { Marker: marker } : {})) as {
        FailedEvents: { RequestId: string; ErrorMessage?: string }[];
        NextMarker?: string;
      };
      for (const f of page.FailedEvents) m.set(f.RequestId, Number(f.ErrorMessage));
      marker = page.NextMarker;
    } while (marker);
    return m;
  };
  const pending = async (name: string): Promise<number> => {
    const q = (await api(`/kindling/2024-01-01/functions/${name}/queue`)) as { Visible: number; InFlight: number; Delayed: number };
    return q.Visible + q.InFlight + q.Delayed;
  };
  const pool = new Pool(opts.url, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const send = async (t: { path: string; headers: Record<string, string>; body: Buffer }): Promise<{ status: number; id: string }> => {
    const res = await pool.request({ path: t.path, method: 'POST', headers: t.headers, body: t.body });
    await res.body.arrayBuffer();
    return { status: res.statusCode, id: String(res.headers['x-amzn-requestid'] ?? '') };
  };

  try {
    // --- end-to-end latency, one event at a time on an idle server ---
    log(`async: end-to-end latency over ${samples} events, one at a time ...`);
    const latency = await target('async-latency', Buffer.from('{}'));
    // Warm up: one event at a time, each waited for, so one warm sandbox serves the samples.
    for (let i = 0; i < 3; i++) {
      const r = await send(latency);
      if (r.status !== 202) throw new Error(`Event invoke answered ${r.status}`);
      const until = Date.now() + 30_000;
      while ((await pending('async-latency')) > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    }
    const sent = new Map<string, { send: number; accepted: number }>();
    for (let i = 0; i < samples; i++) {
      const t0 = epochNow();
      const r = await send(latency);
      const t1 = epochNow();
      if (r.status !== 202) throw new Error(`Event invoke answered ${r.status}`);
      sent.set(r.id, { send: t0, accepted: t1 });
      await new Promise((res) => setTimeout(res, 10));
    }
    const deadline = Date.now() + 30_000;
    while ((await pending('async-latency')) > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    const seen = await starts();
    const fromSend: number[] = [];
    const from202: number[] = [];
    for (const [id, t] of sent) {
      const start = seen.get(id);
      if (start === undefined) continue;
      fromSend.push(start - t.send);
      from202.push(Math.max(0, start - t.accepted));
    }
    fromSend.sort((a, b) => a - b);
    from202.sort((a, b) => a - b);

    // --- durable accepts at concurrency N, then the drain ---
    log(`async: durable accepts, concurrency ${concurrency}, ${opts.seconds} s ...`);
    const sink = await target('async-sink', Buffer.from('{"bench":true}'));
    const acceptLatencies: number[] = [];
    let accepted = 0;
    let errors = 0;
    let stop = false;
    const t0 = performance.now();
    const worker = async () => {
      while (!stop) {
        const s = performance.now();
        try {
          const r = await send(sink);
          if (r.status === 202) {
            accepted++;
            acceptLatencies.push(performance.now() - s);
          } else errors++;
        } catch {
          errors++;
        }
      }
    };
    const workers = Array.from({ length: concurrency }, () => worker());
    await new Promise((res) => setTimeout(res, opts.seconds * 1000));
    stop = true;
    await Promise.all(workers);
    const acceptSeconds = (performance.now() - t0) / 1000;
    acceptLatencies.sort((a, b) => a - b);

    log(`async: waiting for the pollers to run all ${accepted} events ...`);
    const drainDeadline = Date.now() + (opts.drainTimeoutSeconds ?? 120) * 1000;
    let left = 0;
    for (;;) {
      left = await pending('async-sink');
      if (left === 0 || Date.now() > drainDeadline) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const ran = accepted - left;
    const drainSeconds = (performance.now() - t0) / 1000;

    return {
      accept: {
        concurrency,
        seconds: acceptSeconds,
        accepted,
        errors,
        perSecond: accepted / acceptSeconds,
        p50Ms: percentile(acceptLatencies, 50),
        p99Ms: percentile(acceptLatencies, 99),
      },
      drain: { events: ran, seconds: drainSeconds, perSecond: ran / drainSeconds, complete: ran >= accepted },
      e2e: {
        samples: fromSend.length,
        fromSendP50Ms: percentile(fromSend, 50),
        fromSendP99Ms: percentile(fromSend, 99),
        from202P50Ms: percentile(from202, 50),
        from202P99Ms: percentile(from202, 99),
      },
    };
  } finally {
    await pool.close();
    client.destroy();
  }
}

/** The figures as rows of the bench's table: [figure, kindling, target]. */
export function asyncRows(r: AsyncBenchResult): string[][] {
  const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  return [
    [`async durable accepts/s, c=${r.accept.concurrency}`, f(r.accept.perSecond, 0), '>= 3000'],
    [`async accept p50 ms, c=${r.accept.concurrency}`, f(r.accept.p50Ms, 3), ''],
    [`async accept p99 ms, c=${r.accept.concurrency}`, f(r.accept.p99Ms, 3), ''],
    ...(r.accept.errors > 0 ? [[`async accept errors`, String(r.accept.errors), '']] : []),
    [`async drain events/s (${r.drain.events}${r.drain.complete ? '' : ', incomplete'})`, f(r.drain.perSecond, 0), ''],
    [`async e2e 202->handler p50 ms`, f(r.e2e.from202P50Ms, 3), '< 20'],
    [`async e2e 202->handler p99 ms`, f(r.e2e.from202P99Ms, 3), ''],
    [`async e2e send->handler p50 ms`, f(r.e2e.fromSendP50Ms, 3), ''],
    [`async e2e send->handler p99 ms`, f(r.e2e.fromSendP99Ms, 3), ''],
  ];
}
