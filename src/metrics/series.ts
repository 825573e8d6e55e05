// Per-function time series for the console's charts: per-minute buckets over
// the last 24 hours (count, errors, throttles, cold and warm starts, duration
// samples for p50/p99, peak concurrency). In memory: a restart starts afresh.

export const SERIES_MINUTES = 24 * 60;
/** Duration samples kept per bucket (reservoir sampling past that). */
const SAMPLES_PER_BUCKET = 512;

interface Bucket {
  minute: number;
  invocations: number;
  errors: number;
  throttles: number;
  cold: number;
  warm: number;
  durations: number[];
  seen: number;
  concurrent: number;
}

export interface SeriesPoint {
  /** Start of the minute, epoch ms. */
  t: number;
  invocations: number;
  errors: number;
  throttles: number;
  cold: number;
  warm: number;
  p50: number | null;
  p99: number | null;
  /** Most executions running at once during the minute. */
  concurrent: number;
}

export interface SeriesTotals {
  invocations: number;
  errors: number;
  throttles: number;
  cold: number;
  warm: number;
}

const minuteOf = (ms: number): number => Math.floor(ms / 60_000);

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** One function's ring of minute buckets. */
class Ring {
  private readonly buckets: (Bucket | undefined)[] = new Array(SERIES_MINUTES);

  at(minute: number): Bucket {
    const i = minute % SERIES_MINUTES;
    let b = this.buckets[i];
    if (!b || b.minute !== minute) {
      b = { minute, invocations: 0, errors: 0, throttles: 0, cold: 0, warm: 0, durations: [], seen: 0, concurrent: 0 };
      this.buckets[i] = b;
    }
    return b;
  }

  peek(minute: number): Bucket | undefined {
    const b = this.buckets[minute % SERIES_MINUTES];
    return b && b.minute === minute ? b : undefined;
  }
}

export class FunctionSeries {
  private readonly rings = new Map<string, Ring>();

  constructor(private readonly now: () => number = Date.now) {}

  private bucket(functionName: string): Bucket {
    let ring = this.rings.get(functionName);
    if (!ring) {
      ring = new Ring();
      this.rings.set(functionName, ring);
    }
    return ring.at(minuteOf(this.now()));
  }

  invoked(functionName: string, durationMs: number, error: boolean, cold: boolean): void {
    const b = this.bucket(functionName);
    b.invocations++;
    if (error) b.errors++;
    if (cold) b.cold++;
    else b.warm++;
    b.seen++;
    if (b.durations.length < SAMPLES_PER_BUCKET) b.durations.push(durationMs);
    else {
      const j = Math.floor(Math.random() * b.seen);
      if (j < SAMPLES_PER_BUCKET) b.durations[j] = durationMs;
    }
  }

  throttled(functionName: string): void {
    this.bucket(functionName).throttles++;
  }

  /** Records the concurrency reached now (the minute keeps its peak). */
  concurrency(functionName: string, running: number): void {
    const b = this.bucket(functionName);
    if (running > b.concurrent) b.concurrent = running;
  }

  forget(functionName: string): void {
    this.rings.delete(functionName);
  }

  /** The last `minutes` minutes, oldest first, one point per minute (empty minutes included). */
  points(functionName: string, minutes: number): SeriesPoint[] {
    const n = Math.max(1, Math.min(SERIES_MINUTES, Math.floor(minutes)));
    const ring = this.rings.get(functionName);
    const last = minuteOf(this.now());
    const out: SeriesPoint[] = [];
    for (let m = last - n + 1; m <= last; m++) {
      const b = ring?.peek(m);
      const sorted = b ? [...b.durations].sort((x, y) => x - y) : [];
      out.push({
        t: m * 60_000,
        invocations: b?.invocations ?? 0,
        errors: b?.errors ?? 0,
        throttles: b?.throttles ?? 0,
        cold: b?.cold ?? 0,
        warm: b?.warm ?? 0,
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        concurrent: b?.concurrent ?? 0,
      });
    }
    return out;
  }

  /** Sums over the last `minutes` minutes, per function that has any. */
  totals(minutes: number): Record<string, SeriesTotals> {
    const n = Math.max(1, Math.min(SERIES_MINUTES, Math.floor(minutes)));
    const last = minuteOf(this.now());
    const out: Record<string, SeriesTotals> = {};
    for (const [name, ring] of this.rings) {
      const t: SeriesTotals = { invocations: 0, errors: 0, throttles: 0, cold: 0, warm: 0 };
      for (let m = last - n + 1; m <= last; m++) {
        const b = ring.peek(m);
        if (!b) continue;
        t.invocations += b.invocations;
        t.errors += b.errors;
        t.throttles += b.throttles;
        t.cold += b.cold;
        t.warm += b.warm;
      }
      out[name] = t;
    }
    return out;
  }
}
