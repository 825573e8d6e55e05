// Kindling's Prometheus metrics (GET /metrics) and the console's per-minute
// series, fed from the one invoke path (InvokeService's observer) and read
// from placement, the Worker Manager and the async queue when scraped.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FunctionVersion } from '../control/model.js';
import { isLambdaError } from '../errors.js';
import type { InvokeObserver, InvokeOutput } from '../invoke/invoke.js';
import type { PoolStats } from '../host/sandbox-pool.js';
import type { PlacementService } from '../placement/placement.js';
import type { WorkerView } from '../workers/manager.js';
import { FunctionSeries } from './series.js';

/** Duration buckets, seconds: 1 ms to 15 min. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

interface Children {
  invocations: Counter.Internal;
  errors: Counter.Internal;
  throttles: Counter.Internal;
  cold: Counter.Internal;
  warm: Counter.Internal;
  duration: Histogram.Internal<string>;
  concurrent: Gauge.Internal<string>;
}

export interface MetricsSources {
  placement: PlacementService;
  workers: WorkerView;
  /** This process's worker host's pool of generic sandboxes, per key; absent without a local host. */
  pools?: () => PoolStats[];
  /** Events waiting in the async queue (all functions); absent when there is no async module. */
  asyncQueueDepth?: () => Promise<{ visible: number; inFlight: number; delayed: number; failed: number }>;
}

export const isThrottle = (err: unknown): boolean => isLambdaError(err) && err.type === 'TooManyRequestsException';

export class KindlingMetrics implements InvokeObserver {
  readonly registry = new Registry();
  readonly series = new FunctionSeries();
  private readonly children = new Map<string, Children>();
  /** Executions running now, per function (all versions), for the series' peaks. */
  private readonly running = new Map<string, number>();

  private readonly invocations;
  private readonly errors;
  private readonly throttles;
  private readonly coldStarts;
  private readonly warmStarts;
  private readonly duration;
  private readonly concurrent;
  /** Set by whoever owns the async queue when no `asyncQueueDepth` source is given. */
  readonly asyncQueueDepth;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const labelNames = ['function', 'version'] as const;
    this.invocations = new Counter({ name: 'kindling_invocations_total', help: 'Invocations run (sync and async), by function and executed version.', labelNames, registers });
    this.errors = new Counter({ name: 'kindling_errors_total', help: 'Invocations that ended in a function error (X-Amz-Function-Error) or a platform failure.', labelNames, registers });
    this.throttles = new Counter({ name: 'kindling_throttles_total', help: 'Invocations refused with TooManyRequestsException (concurrency or capacity).', labelNames, registers });
    this.coldStarts = new Counter({ name: 'kindling_cold_starts_total', help: 'Invocations that paid for Init in a new sandbox.', labelNames, registers });
    this.warmStarts = new Counter({ name: 'kindling_warm_starts_total', help: 'Invocations served by a warm sandbox.', labelNames, registers });
    this.duration = new Histogram({ name: 'kindling_duration_seconds', help: "Function duration, as REPORT's Duration.", labelNames, buckets: DURATION_BUCKETS, registers });
    this.concurrent = new Gauge({ name: 'kindling_concurrent_executions', help: 'Executions running now.', labelNames, registers });

    const { placement, workers } = sources;
    new Gauge({
      name: 'kindling_sandboxes',
      help: 'Sandboxes by state (idle: warm and waiting; busy: running an invoke).',
      labelNames: ['state'],
      registers,
      collect() {
        let idle = 0;
        let busy = 0;
        for (const s of workers.stats()) {
          idle += s.idle;
          busy += s.busy;
        }
        this.set({ state: 'idle' }, idle);
        this.set({ state: 'busy' }, busy);
      },
    });
    const pools = sources.pools;
    if (pools) {
      new Gauge({
        name: 'kindling_sandbox_pool_sandboxes',
        help: 'Generic sandboxes held ahead for cold starts, by pool key (driver/family/memory/tmp/network) and state (ready: at Standby; starting).',
        labelNames: ['key', 'state'],
        registers,
        collect() {
          this.reset();
          for (const p of pools()) {
            this.set({ key: p.key, state: 'ready' }, p.ready);
            this.set({ key: p.key, state: 'starting' }, p.starting);
          }
        },
      });
      new Gauge({
        name: 'kindling_sandbox_pool_cold_starts_total',
        help: 'Cold starts by pool key and whether a pooled sandbox took them (served: pool) or none was there (served: launch) (a counter).',
        labelNames: ['key', 'served'],
        registers,
        collect() {
          for (const p of pools()) {
            this.set({ key: p.key, served: 'pool' }, p.pooledColdStarts);
            this.set({ key: p.key, served: 'launch' }, p.unpooledColdStarts);
          }
        },
      });
    }
    new Gauge({
      name: 'kindling_placement_failures_total',
      help: 'New sandboxes refused because no host had room, even after evicting idle ones (a counter).',
      registers,
      collect() {
        this.set(workers.placementFailures);
      },
    });
    new Gauge({
      name: 'kindling_host_memory_reserved_bytes',
      help: "Memory reserved by sandboxes (their functions' MemorySize), per worker host.",
      labelNames: ['host'],
      registers,
      collect() {
        for (const h of placement.capacity()) this.set({ host: h.hostId }, h.reservedMb * 1048576);
      },
    });
    new Gauge({
      name: 'kindling_host_memory_free_bytes',
      help: 'Memory a worker host still offers to new sandboxes.',
      labelNames: ['host'],
      registers,
      collect() {
        for (const h of placement.capacity()) this.set({ host: h.hostId }, (h.memoryMb - h.reservedMb) * 1048576);
      },
    });
    const depth = sources.asyncQueueDepth;
    this.asyncQueueDepth = new Gauge({
      name: 'kindling_async_queue_depth',
      help: 'Asynchronous events by state: visible (ready), in_flight (being run), delayed (waiting for a retry), failed.',
      labelNames: ['state'],
      registers,
      ...(depth
        ? {
            async collect() {
              const s = await depth();
              this.set({ state: 'visible' }, s.visible);
              this.set({ state: 'in_flight' }, s.inFlight);
              this.set({ state: 'delayed' }, s.delayed);
              this.set({ state: 'failed' }, s.failed);
            },
          }
        : {}),
    });
  }

  private of(fn: FunctionVersion): Children {
    const key = `${fn.functionName}\0${fn.version}`;
    let c = this.children.get(key);
    if (!c) {
      const labels = [fn.functionName, fn.version];
      c = {
        invocations: this.invocations.labels(...labels),
        errors: this.errors.labels(...labels),
        throttles: this.throttles.labels(...labels),
        cold: this.coldStarts.labels(...labels),
        warm: this.warmStarts.labels(...labels),
        duration: this.duration.labels(...labels),
        concurrent: this.concurrent.labels(...labels),
      };
      this.children.set(key, c);
    }
    return c;
  }

  // --- InvokeObserver: called on the invoke path, so each is a few map lookups ---

  started(fn: FunctionVersion): void {
    this.of(fn).concurrent.inc();
    const n = (this.running.get(fn.functionName) ?? 0) + 1;
    this.running.set(fn.functionName, n);
    this.series.concurrency(fn.functionName, n);
  }

  finished(fn: FunctionVersion, out: InvokeOutput): void {
    const c = this.of(fn);
    const error = out.functionError !== undefined;
    c.invocations.inc();
    if (error) c.errors.inc();
    (out.cold ? c.cold : c.warm).inc();
    c.duration.observe(out.durationMs / 1000);
    this.series.invoked(fn.functionName, out.durationMs, error, out.cold);
  }

  failed(fn: FunctionVersion, err: unknown): void {
    const c = this.of(fn);
    if (isThrottle(err)) {
      c.throttles.inc();
      this.series.throttled(fn.functionName);
      return;
    }
    c.invocations.inc();
    c.errors.inc();
    this.series.invoked(fn.functionName, 0, true, false);
  }

  ended(fn: FunctionVersion): void {
    this.of(fn).concurrent.dec();
    const n = (this.running.get(fn.functionName) ?? 1) - 1;
    if (n <= 0) this.running.delete(fn.functionName);
    else this.running.set(fn.functionName, n);
  }

  /** A deleted function version: its labels and (with $LATEST, the function's) series go. */
  forget(functionName: string, version: string): void {
    const key = `${functionName}\0${version}`;
    if (!this.children.delete(key)) return;
    for (const m of [this.invocations, this.errors, this.throttles, this.coldStarts, this.warmStarts]) m.remove(functionName, version);
    this.duration.remove(functionName, version);
    this.concurrent.remove(functionName, version);
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
