// The Worker Manager: per function version, the warm idle sandboxes and the
// busy ones. One invoke per sandbox at a time; a warm sandbox is reused
// without Init; new ones come from placement; idle ones are reaped.
import type { FunctionVersion } from '../control/model.js';
import { tooManyRequests } from '../errors.js';
import type { Sandbox } from '../host/sandbox.js';
import type { Logger } from '../log.js';
import type { PlacementService, Reservation } from '../placement/placement.js';

export interface Lease {
  readonly sandbox: Sandbox;
  /** True when this invoke paid for Init. */
  readonly cold: boolean;
}

interface Pool {
  key: string;
  functionName: string;
  version: string;
  /** Most recently used last: taken from the end, so warm caches stay warm. */
  idle: Sandbox[];
  busy: Set<Sandbox>;
  retired: boolean;
}

export interface WorkerManagerOptions {
  idleMs: number;
  /** How often idle sandboxes are looked at, ms. */
  reapEveryMs?: number;
}

// A new RevisionId alone (tags, publishing) does not change what runs: keep the pool.
const poolKey = (fn: FunctionVersion): string => `${fn.functionName}\0${fn.version}\0${fn.lastModified}\0${fn.codeSha256}`;

export class WorkerManager {
  private readonly pools = new Map<string, Pool>();
  private readonly reservations = new WeakMap<Sandbox, Reservation>();
  private readonly poolOf = new WeakMap<Sandbox, Pool>();
  private readonly reaper: NodeJS.Timeout;
  private closed = false;
  /** New sandboxes refused for want of room on every host (a counter, for metrics). */
  placementFailures = 0;

  constructor(
    private readonly placement: PlacementService,
    private readonly log: Logger,
    private readonly opts: WorkerManagerOptions,
  ) {
    this.reaper = setInterval(() => this.reap(), opts.reapEveryMs ?? Math.min(10_000, Math.max(100, opts.idleMs / 4)));
    this.reaper.unref();
  }

  /** A sandbox for one invoke of fn: warm when one is idle, otherwise a new one (Init). */
  async acquire(fn: FunctionVersion): Promise<Lease> {
    const pool = this.pool(fn);
    while (pool.idle.length > 0) {
      const sandbox = pool.idle.pop()!;
      if (sandbox.state !== 'ready') continue;
      pool.busy.add(sandbox);
      return { sandbox, cold: false };
    }
    const reservation = this.reserve(fn);
    let sandbox: Sandbox;
    try {
      sandbox = await reservation.host.createSandbox(fn);
    } catch (err) {
      reservation.release();
      throw err;
    }
    this.reservations.set(sandbox, reservation);
    this.poolOf.set(sandbox, pool);
    sandbox.onDead(() => this.forget(pool, sandbox));
    pool.busy.add(sandbox);
    return { sandbox, cold: true };
  }

  /** Returns a sandbox after its invoke; it goes back to the warm pool when it may run again. */
  release(lease: Lease, reusable: boolean): void {
    const { sandbox } = lease;
    const pool = this.poolOf.get(sandbox);
    pool?.busy.delete(sandbox);
    if (!reusable || !pool || pool.retired || this.closed || sandbox.state !== 'ready') {
      sandbox.kill();
      return;
    }
    pool.idle.push(sandbox);
  }

  /** Retires every sandbox of a function version (or of every version): code or configuration changed. */
  retire(functionName: string, version?: string): void {
    for (const pool of this.pools.values()) {
      if (pool.functionName !== functionName || (version !== undefined && pool.version !== version)) continue;
      pool.retired = true;
      for (const s of pool.idle.splice(0)) s.kill();
      this.pools.delete(pool.key);
    }
  }

  /** Ends sandboxes idle for longer than the idle timeout. */
  reap(now = Date.now()): number {
    let reaped = 0;
    for (const pool of this.pools.values()) {
      const keep: Sandbox[] = [];
      for (const s of pool.idle) {
        if (now - s.lastUsed >= this.opts.idleMs) {
          s.kill();
          reaped++;
        } else keep.push(s);
      }
      pool.idle = keep;
      if (pool.idle.length === 0 && pool.busy.size === 0) this.pools.delete(pool.key);
    }
    if (reaped > 0) this.log.debug({ reaped }, 'reaped idle sandboxes');
    return reaped;
  }

  /** Counts for tests, metrics and the console. */
  stats(): { functionName: string; version: string; idle: number; busy: number }[] {
    return [...this.pools.values()].map((p) => ({ functionName: p.functionName, version: p.version, idle: p.idle.length, busy: p.busy.size }));
  }

  /** Every sandbox with its host, for the console's hosts view. */
  sandboxes(): { id: string; functionName: string; version: string; state: string; hostId: string | undefined; memoryMb: number; lastUsed: number }[] {
    const out = [];
    for (const p of this.pools.values()) {
      for (const s of [...p.idle, ...p.busy]) {
        out.push({
          id: s.identity.id,
          functionName: p.functionName,
          version: p.version,
          state: p.busy.has(s) ? 'busy' : 'idle',
          hostId: this.reservations.get(s)?.host.id,
          memoryMb: s.identity.memoryMb,
          lastUsed: s.lastUsed,
        });
      }
    }
    return out;
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    const all: Sandbox[] = [];
    for (const pool of this.pools.values()) all.push(...pool.idle, ...pool.busy);
    this.pools.clear();
    await Promise.all(all.map((s) => s.destroy()));
  }

  private pool(fn: FunctionVersion): Pool {
    const key = poolKey(fn);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = { key, functionName: fn.functionName, version: fn.version, idle: [], busy: new Set(), retired: false };
      this.pools.set(key, pool);
    }
    return pool;
  }

  private forget(pool: Pool, sandbox: Sandbox): void {
    this.reservations.get(sandbox)?.release();
    this.reservations.delete(sandbox);
    pool.busy.delete(sandbox);
    const i = pool.idle.indexOf(sandbox);
    if (i !== -1) pool.idle.splice(i, 1);
  }

  /** Room for a new sandbox: placement first, then evicting idle sandboxes least recently used first. */
  private reserve(fn: FunctionVersion): Reservation {
    const first = this.placement.place(fn);
    if (first) return first;
    const idle = [...this.pools.values()].flatMap((p) => p.idle.map((s) => ({ p, s }))).sort((a, b) => a.s.lastUsed - b.s.lastUsed);
    for (const { p, s } of idle) {
      p.idle.splice(p.idle.indexOf(s), 1);
      // Release its memory now; the process is gone a moment later.
      this.reservations.get(s)?.release();
      s.kill();
      const placed = this.placement.place(fn);
      if (placed) return placed;
    }
    this.placementFailures++;
    throw tooManyRequests('ConcurrentInvocationLimitExceeded', 1);
  }
}
