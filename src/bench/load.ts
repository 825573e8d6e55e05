// A closed-loop HTTP load generator on undici's pooled keep-alive client:
// `concurrency` requests in flight for `durationMs`, latencies recorded per request.
import { Pool } from 'undici';

export interface LoadTarget {
  origin: string;
  path: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body: Buffer;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Called as the recorded window opens and closes (after the warm-up), e.g. to read CPU counters. */
export interface LoadWindow {
  opened?(): void;
  closed?(): void;
}

export async function runLoad(target: LoadTarget, concurrency: number, durationMs: number, warmupMs = 1000, window: LoadWindow = {}): Promise<LoadResult> {
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const latencies: number[] = [];
  let errors = 0;
  let recording = false;
  let stop = false;
  const one = async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        const res = await pool.request({ origin: target.origin, path: target.path, method: target.method, headers: target.headers, body: target.body });
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) errors++;
      } catch {
        errors++;
      }
      if (recording) latencies.push(performance.now() - t0);
    }
  };
  const workers = Array.from({ length: concurrency }, () => one());
  await new Promise((r) => setTimeout(r, warmupMs));
  window.opened?.();
  recording = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  recording = false;
  window.closed?.();
  const seconds = (performance.now() - start) / 1000;
  stop = true;
  await Promise.all(workers);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}
