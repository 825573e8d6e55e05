// The Worker Manager: per function version, the warm idle sandboxes and the
// busy ones. One invoke per sandbox at a time; a warm sandbox is reused
// without Init; new ones come from placement; idle ones are reaped.
import { availableParallelism } from 'node:os';
import type { FunctionVersion } from '../control/model.js';
import { serviceException, tooManyRequests } from '../errors.js';
import { InitFailure, type SandboxHandle } from '../host/sandbox.js';
import type { Logger } from '../log.js';
import { HostCannotRun, type PlacementService, type Reservation } from '../placement/placement.js';
import { SandboxUnreachable } from './remote/remote-host.js';

export interface Lease {
  readonly sandbox: SandboxHandle;
  /** True when this invoke paid for Init. */
  readonly cold: boolean;
}

interface Pool {
  key: string;
  functionName: string;
  version: string;
  /** Most recently used last: taken from the end, so warm caches stay warm. */
  idle: SandboxHandle[];
  busy: Set<SandboxHandle>;
  /** Sandboxes being created (Init under way): the reaper keeps the pool for them. */
  starting: number;
  retired: boolean;
}

/** A provisioned-concurrency pool as GetProvisionedConcurrencyConfig reports it. */
export interface ProvisionedStatus {
  requested: number;
  allocated: number;
  available: number;
  status: 'IN_PROGRESS' | 'READY' | 'FAILED';
  statusReason?: string;
}

/**
 * Provisioned concurrency: `target` sandboxes of one version initialized ahead
 * of demand, never reaped or evicted, refilled when one dies or is retired.
 */
interface ProvisionedPool {
  id: string;
  fn: FunctionVersion;
  key: string;
  target: number;
  idle: SandboxHandle[];
  busy: Set<SandboxHandle>;
  /** Inits under way. */
  starting: number;
  /** Reached `target` since the target was last set. */
  ready: boolean;
  /** Init failures in a row; at INIT_FAILURES_TO_FAIL the pool is FAILED. */
  initFailures: number;
  failedReason: string | undefined;
  released: boolean;
  retry: NodeJS.Timeout | undefined;
}

const INIT_FAILURES_TO_FAIL = 3;
/**
 * Inits one host runs at once; more cold starts wait for a turn. A host handed
 * hundreds at once runs none of them within Init's 10 s (each runtime start
 * gets a sliver of the cores), so a burst is served a few at a time instead.
 */
export const INITS_PER_HOST = Math.max(4, availableParallelism() * 2);
/** Wait before trying again when no host has room, or after a sandbox died. */
const PROVISION_RETRY_MS = 500;

export interface AcquireOptions {
  /** A host whose sandboxes this lease must not use (a frontend cannot reach the manager's own host). */
  excludeHost?: string;
}

/** What metrics and the console read of the Worker Manager (a cluster frontend has none of its own). */
export type WorkerView = Pick<WorkerManager, 'stats' | 'sandboxes' | 'placementFailures'>;

export const NO_WORKERS: WorkerView = { stats: () => [], sandboxes: () => [], placementFailures: 0 };

export interface WorkerManagerOptions {
  idleMs: number;
  /** Inits a host runs at once (INITS_PER_HOST by default). */
  initsPerHost?: number;
  /** How often idle sandboxes are looked at, ms. */
  reapEveryMs?: number;
}

// A new RevisionId alone (tags, publishing) does not change what runs: keep the pool.
const poolKey = (fn: FunctionVersion): string => `${fn.functionName}\0${fn.version}\0${fn.lastModified}\0${fn.codeSha256}`;

export class WorkerManager {
  private readonly pools = new Map<string, Pool>();
  private readonly reservations = new WeakMap<SandboxHandle, Reservation>();
  private readonly poolOf = new WeakMap<SandboxHandle, Pool>();
  private readonly provisioned = new Map<string, ProvisionedPool>();
  private readonly provisionedOf = new WeakMap<SandboxHandle, ProvisionedPool>();
  /** Per host: Inits running, and the cold starts waiting for a turn (oldest first). */
  private readonly initTurns = new Map<string, { running: number; waiting: (() => void)[] }>();
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
  async acquire(fn: FunctionVersion, opts: AcquireOptions = {}): Promise<Lease> {
    const warm = this.acquireProvisioned(fn, opts.excludeHost);
    if (warm) return warm;
    const pool = this.pool(fn);
    const sandboxWarm = this.takeIdle(pool.idle, opts.excludeHost);
    if (sandboxWarm) {
      pool.busy.add(sandboxWarm);
      return { sandbox: sandboxWarm, cold: false };
    }
    // Hosts that cannot run this function at all (its kindling:sandbox driver): it goes to another.
    const cannot: HostCannotRun[] = [];
    let reservation: Reservation;
    let sandbox: SandboxHandle;
    for (;;) {
      reservation = this.reserve(fn, cannot, opts.excludeHost);
      pool.starting++;
      try {
        const host = reservation.host;
        sandbox = await this.inTurn(host.id, () => host.createSandbox(fn));
        break;
      } catch (err) {
        reservation.release();
        if (err instanceof HostCannotRun) {
          cannot.push(err);
          continue;
        }
        throw err;
      } finally {
        pool.starting--;
      }
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
    const provisioned = this.provisionedOf.get(sandbox);
    if (provisioned) {
      provisioned.busy.delete(sandbox);
      const live = provisioned.idle.length + provisioned.busy.size;
      if (!reusable || provisioned.released || this.closed || sandbox.state !== 'ready' || live >= provisioned.target || this.onDrainingHost(sandbox)) {
        sandbox.kill(); // refilled when its process is gone
        return;
      }
      provisioned.idle.push(sandbox);
      return;
    }
    const pool = this.poolOf.get(sandbox);
    pool?.busy.delete(sandbox);
    if (!reusable || !pool || pool.retired || this.closed || sandbox.state !== 'ready' || this.onDrainingHost(sandbox)) {
      sandbox.kill();
      return;
    }
    pool.idle.push(sandbox);
  }

  /**
   * A host is draining: its idle sandboxes end now (busy ones when their invoke
   * returns, see release); provisioned pools refill elsewhere. Returns how many ended.
   */
  retireHost(hostId: string): number {
    let retired = 0;
    const onHost = (s: SandboxHandle) => this.reservations.get(s)?.host.id === hostId;
    for (const p of [...this.pools.values(), ...this.provisioned.values()]) {
      for (const s of p.idle.filter(onHost)) {
        p.idle.splice(p.idle.indexOf(s), 1);
        s.kill();
        retired++;
      }
    }
    if (retired > 0) this.log.info({ hostId, retired }, 'retired the idle sandboxes of a draining host');
    return retired;
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
      const keep: SandboxHandle[] = [];
      for (const s of pool.idle) {
        if (now - s.lastUsed >= this.opts.idleMs) {
          s.kill();
          reaped++;
        } else keep.push(s);
      }
      pool.idle = keep;
      // A pool with a cold start under way stays: the new sandbox joins it when its Init is done.
      if (pool.idle.length === 0 && pool.busy.size === 0 && pool.starting === 0) this.pools.delete(pool.key);
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
    for (const p of this.provisioned.values()) {
      for (const s of [...p.idle, ...p.busy]) {
        out.push({
          id: s.identity.id,
          functionName: p.fn.functionName,
          version: p.fn.version,
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
    const all: SandboxHandle[] = [];
    for (const pool of this.pools.values()) all.push(...pool.idle, ...pool.busy);
    for (const pp of this.provisioned.values()) {
      pp.released = true;
      clearTimeout(pp.retry);
      all.push(...pp.idle, ...pp.busy);
    }
    this.provisioned.clear();
    this.pools.clear();
    await Promise.all(all.map((s) => s.destroy()));
  }

  // --- provisioned concurrency ---

  /**
   * Keeps `n` sandboxes of fn initialized for the config `id` (function and
   * qualifier). Calling it again updates the count, or moves the pool when
   * the qualifier (an alias) now names another version.
   */
  provision(id: string, fn: FunctionVersion, n: number): void {
    if (this.closed) return;
    let pp = this.provisioned.get(id);
    if (pp && pp.key !== poolKey(fn)) {
      this.unprovision(id);
      pp = undefined;
    }
    if (!pp) {
      pp = { id, fn, key: poolKey(fn), target: n, idle: [], busy: new Set(), starting: 0, ready: false, initFailures: 0, failedReason: undefined, released: false, retry: undefined };
      this.provisioned.set(id, pp);
    } else {
      pp.target = n;
      pp.initFailures = 0;
      pp.failedReason = undefined;
      while (pp.idle.length + pp.busy.size > n && pp.idle.length > 0) pp.idle.shift()!.kill();
      pp.ready = pp.idle.length + pp.busy.size >= n;
    }
    this.fill(pp);
  }

  /** Releases a provisioned pool: idle sandboxes end now, busy ones when their invoke returns. */
  unprovision(id: string): void {
    const pp = this.provisioned.get(id);
    if (!pp) return;
    pp.released = true;
    clearTimeout(pp.retry);
    this.provisioned.delete(id);
    for (const s of pp.idle.splice(0)) s.kill();
  }

  provisionedStatus(id: string): ProvisionedStatus | undefined {
    const pp = this.provisioned.get(id);
    if (!pp) return undefined;
    const allocated = Math.min(pp.target, pp.idle.length + pp.busy.size);
    const status = pp.failedReason !== undefined ? 'FAILED' : pp.ready ? 'READY' : 'IN_PROGRESS';
    return {
      requested: pp.target,
      allocated,
      available: allocated,
      status,
      ...(pp.failedReason !== undefined ? { statusReason: pp.failedReason } : {}),
    };
  }

  /** Provisioned pools, for metrics and the console. */
  provisionedStats(): { id: string; functionName: string; version: string; target: number; idle: number; busy: number; starting: number }[] {
    return [...this.provisioned.values()].map((p) => ({
      id: p.id,
      functionName: p.fn.functionName,
      version: p.fn.version,
      target: p.target,
      idle: p.idle.length,
      busy: p.busy.size,
      starting: p.starting,
    }));
  }

  private acquireProvisioned(fn: FunctionVersion, excludeHost: string | undefined): Lease | undefined {
    if (this.provisioned.size === 0) return undefined;
    const key = poolKey(fn);
    for (const pp of this.provisioned.values()) {
      if (pp.key !== key) continue;
      const sandbox = this.takeIdle(pp.idle, excludeHost);
      if (sandbox) {
        pp.busy.add(sandbox);
        return { sandbox, cold: false };
      }
    }
    return undefined;
  }

  /** The most recently used usable idle sandbox not on excludeHost, taken out of idle. */
  private takeIdle(idle: SandboxHandle[], excludeHost: string | undefined): SandboxHandle | undefined {
    for (let i = idle.length - 1; i >= 0; i--) {
      const sandbox = idle[i]!;
      if (excludeHost !== undefined && this.reservations.get(sandbox)?.host.id === excludeHost) continue;
      idle.splice(i, 1);
      if (this.usable(sandbox)) return sandbox;
    }
    return undefined;
  }

  /** Provisioned pools of a function, by config id (its pools outlive the configs a frontend made). */
  provisionedIdsOf(functionName: string): string[] {
    return [...this.provisioned.values()].filter((p) => p.fn.functionName === functionName).map((p) => p.id);
  }

  /** Starts Inits until the pool holds its target (counting those under way). */
  private fill(pp: ProvisionedPool): void {
    clearTimeout(pp.retry);
    pp.retry = undefined;
    while (!pp.released && !this.closed && pp.failedReason === undefined && pp.idle.length + pp.busy.size + pp.starting < pp.target) {
      let reservation: Reservation;
      try {
        reservation = this.reserve(pp.fn);
      } catch {
        this.placementFailures--; // not an invoke refused; try again soon
        this.retryFill(pp);
        return;
      }
      pp.starting++;
      void this.startProvisioned(pp, reservation);
    }
  }

  private retryFill(pp: ProvisionedPool): void {
    if (pp.released || this.closed || pp.retry) return;
    pp.retry = setTimeout(() => {
      pp.retry = undefined;
      this.fill(pp);
    }, PROVISION_RETRY_MS);
    pp.retry.unref();
  }

  private async startProvisioned(pp: ProvisionedPool, reservation: Reservation): Promise<void> {
    let sandbox: SandboxHandle;
    try {
      const host = reservation.host;
      sandbox = await this.inTurn(host.id, () => host.createSandbox(pp.fn, { initializationType: 'provisioned-concurrency' }));
    } catch (err) {
      pp.starting--;
      reservation.release();
      if (err instanceof SandboxUnreachable) {
        // The worker host went away, not the function's Init: try again (elsewhere) without counting it.
        this.retryFill(pp);
        return;
      }
      pp.initFailures++;
      this.log.warn({ err, functionName: pp.fn.functionName, version: pp.fn.version }, 'provisioned concurrency: Init failed');
      if (pp.initFailures >= INIT_FAILURES_TO_FAIL) {
        pp.failedReason = err instanceof InitFailure ? `FUNCTION_ERROR_INIT_FAILURE: ${err.errorType}` : 'Provisioned concurrency could not be allocated.';
      } else this.retryFill(pp);
      return;
    }
    pp.starting--;
    this.reservations.set(sandbox, reservation);
    this.provisionedOf.set(sandbox, pp);
    sandbox.onDead(() => {
      this.reservations.get(sandbox)?.release();
      this.reservations.delete(sandbox);
      pp.busy.delete(sandbox);
      const i = pp.idle.indexOf(sandbox);
      if (i !== -1) pp.idle.splice(i, 1);
      // Refill after a short pause, so a sandbox that keeps dying cannot spin.
      if (!pp.released && !this.closed) this.retryFill(pp);
    });
    if (pp.released || this.closed || pp.idle.length + pp.busy.size >= pp.target) {
      sandbox.kill();
      return;
    }
    pp.initFailures = 0;
    pp.idle.push(sandbox);
    if (pp.idle.length + pp.busy.size >= pp.target) pp.ready = true;
  }

  /** Runs a sandbox's creation (its Init) when the host has a free turn. */
  private async inTurn<T>(hostId: string, create: () => Promise<T>): Promise<T> {
    const limit = this.opts.initsPerHost ?? INITS_PER_HOST;
    let turns = this.initTurns.get(hostId);
    if (!turns) this.initTurns.set(hostId, (turns = { running: 0, waiting: [] }));
    const t = turns;
    if (t.running >= limit) await new Promise<void>((resolve) => t.waiting.push(resolve));
    else t.running++;
    try {
      return await create();
    } finally {
      // The turn passes straight to the next waiter (running stays as it is), or frees up.
      const next = t.waiting.shift();
      if (next) next();
      else if (--t.running === 0) this.initTurns.delete(hostId);
    }
  }

  private pool(fn: FunctionVersion): Pool {
    const key = poolKey(fn);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = { key, functionName: fn.functionName, version: fn.version, idle: [], busy: new Set(), starting: 0, retired: false };
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * An idle sandbox can take an invoke: ready, and on a host that can be reached
   * (one that just refused a connection is likely gone: its sandbox ends instead).
   */
  private usable(sandbox: SandboxHandle): boolean {
    if (sandbox.state !== 'ready') return false;
    if (this.reservations.get(sandbox)?.host.available?.() === false) {
      sandbox.kill();
      return false;
    }
    return true;
  }

  private onDrainingHost(sandbox: SandboxHandle): boolean {
    const host = this.reservations.get(sandbox)?.host;
    return host !== undefined && this.placement.isDraining(host.id);
  }

  private forget(pool: Pool, sandbox: SandboxHandle): void {
    this.reservations.get(sandbox)?.release();
    this.reservations.delete(sandbox);
    pool.busy.delete(sandbox);
    const i = pool.idle.indexOf(sandbox);
    if (i !== -1) pool.idle.splice(i, 1);
  }

  /** Room for a new sandbox: placement first, then evicting idle sandboxes least recently used first. */
  private reserve(fn: FunctionVersion, cannot: readonly HostCannotRun[] = [], excludeHost?: string): Reservation {
    const exclude = new Set(cannot.map((c) => c.hostId));
    if (excludeHost !== undefined) exclude.add(excludeHost);
    const first = this.placement.place(fn, exclude);
    if (first) return first;
    const idle = [...this.pools.values()]
      .flatMap((p) => p.idle.map((s) => ({ p, s })))
      .filter(({ s }) => !exclude.has(this.reservations.get(s)?.host.id ?? ''))
      .sort((a, b) => a.s.lastUsed - b.s.lastUsed);
    for (const { p, s } of idle) {
      p.idle.splice(p.idle.indexOf(s), 1);
      // Release its memory now; the process is gone a moment later.
      this.reservations.get(s)?.release();
      s.kill();
      const placed = this.placement.place(fn, exclude);
      if (placed) return placed;
    }
    if (cannot.length > 0) {
      throw serviceException(`No worker host with room can run this function's sandbox: ${cannot.map((c) => c.message).join('; ')}.`);
    }
    this.placementFailures++;
    throw tooManyRequests('ConcurrentInvocationLimitExceeded', 1);
  }
}
