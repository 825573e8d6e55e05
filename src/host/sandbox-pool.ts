// A worker host's pool of generic sandboxes (Lambda's pre-initialized
// sandboxes): per key (driver, runtime family, memory, /tmp size, network),
// sandboxes launched ahead with their namespaces, cgroup and network made and
// the agent started, waiting for a function. A cold start takes one and hands
// it the code; the pool refills in the background, sized by PoolDemand, within
// its own memory cap and the host's free memory, and lets keys nobody asked
// for in a while go.
import { randomBytes } from 'node:crypto';
import { nodeFlagsFor, type GenericSandbox, type SandboxDriver } from '../sandbox/driver.js';
import { extendableEnvironment } from './environment.js';
import { PoolDemand } from './pool-demand.js';

/** Everything a sandbox is made with before its function is known: what cannot change after launch. */
export interface PoolKey {
  driver: SandboxDriver;
  family: string;
  memoryMb: number;
  ephemeralStorageMb: number;
  /** The function's kindling:network, as the driver's launch takes it (undefined: the driver's default). */
  network: 'default' | 'none' | undefined;
}

export interface SandboxPoolOptions {
  /** Pooled sandboxes of one key at most (default 4). */
  maxPerKey?: number;
  /** Held for a key with a recent cold start, whatever its rate (default 1). */
  floor?: number;
  /** Memory all pooled sandboxes may hold, MB, counted as their MemorySize (default 1/8 of the host's, at least 512). */
  maxMb?: number;
  /** A key with no cold start for this long is let go, its sandboxes ended (default 5 min). */
  idleMs?: number;
  /** Generic sandboxes starting at once (default 2: they compete with the host's own work). */
  concurrency?: number;
}

interface Entry {
  sandbox: GenericSandbox;
  ready: boolean;
}

interface KeyState {
  name: string;
  key: PoolKey;
  demand: PoolDemand;
  entries: Entry[];
  /** launchGeneric() calls not yet returned. */
  launching: number;
  /** Generic sandboxes in a row that died before Standby: the key rests after a few. */
  failures: number;
  /** Cold starts of this key that took a pooled sandbox, and those that found none (since the key was made). */
  pooled: number;
  unpooled: number;
  restUntil: number;
}

const SWEEP_MS = 1000;
/** How soon a refill put off for a cold start looks again. */
const DEFER_MS = 2;
const FAILURES_TO_REST = 3;
const REST_MS = 30_000;

const keyName = (k: PoolKey): string => `${k.driver.name}/${k.family}/${k.memoryMb}/${k.ephemeralStorageMb}/${k.network ?? ''}`;

export interface PoolStats {
  key: string;
  ready: number;
  starting: number;
  target: number;
  coldStartsPerSecond: number;
  /** The pooled sandboxes' processes (ready and starting), for operators and tests. */
  pids: number[];
  /** Cold starts that took a pooled sandbox, and those that found none (counters). */
  pooledColdStarts: number;
  unpooledColdStarts: number;
}

export class SandboxPool {
  private readonly keys = new Map<string, KeyState>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly maxPerKey: number;
  private readonly floor: number;
  private readonly maxMb: number;
  private readonly idleMs: number;
  private readonly concurrency: number;
  private closed = false;
  private deferred: NodeJS.Timeout | undefined;
  private quietWait: NodeJS.Timeout | undefined;

  constructor(
    opts: SandboxPoolOptions,
    hostMemoryMb: number,
    /** Whether the host has `mb` free beyond its sandboxes and this pool (pooled memory counts against the host). */
    private readonly hostHasRoom: (mb: number) => boolean,
    /**
     * False while a cold start is under way on the host. Starting a sandbox blocks the
     * host's event loop for a few ms (fork and exec), so refills wait for a quiet moment,
     * unless the key has nothing ready (the next cold start would launch anyway).
     */
    private readonly hostQuiet: () => boolean = () => true,
  ) {
    this.maxPerKey = opts.maxPerKey ?? 4;
    this.floor = Math.min(opts.floor ?? 1, this.maxPerKey);
    this.maxMb = opts.maxMb ?? Math.max(512, Math.floor(hostMemoryMb / 8));
    this.idleMs = opts.idleMs ?? 5 * 60_000;
    this.concurrency = opts.concurrency ?? 2;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Memory the pooled sandboxes hold, MB (their MemorySize each, as placement counts a sandbox). */
  get pooledMb(): number {
    let mb = 0;
    for (const s of this.keys.values()) mb += (s.entries.length + s.launching) * s.key.memoryMb;
    return mb;
  }

  /**
   * A cold start of `key` now: counts it toward the key's demand and hands out a
   * live generic sandbox (one at Standby first, else one still starting), or
   * undefined. Refills in the background either way; with refill false, at the
   * caller's refill() (a launch blocks the event loop a few ms: the caller picks when).
   */
  take(key: PoolKey, refill = true): GenericSandbox | undefined {
    if (this.closed || key.driver.launchGeneric === undefined) return undefined;
    const state = this.state(key);
    state.demand.coldStart(Date.now());
    let taken: GenericSandbox | undefined;
    for (const want of [true, false]) {
      const i = state.entries.findIndex((e) => e.ready === want && e.sandbox.alive());
      if (i !== -1) {
        taken = state.entries.splice(i, 1)[0]!.sandbox;
        break;
      }
    }
    if (taken) state.pooled++;
    else state.unpooled++;
    if (refill) this.fill(state);
    return taken;
  }

  /** Tops a key up (after take(key, false)). */
  refill(key: PoolKey): void {
    const s = this.keys.get(keyName(key));
    if (s) this.fill(s);
  }

  /**
   * A cold start of `key` is likely soon (its function was just created): the
   * key is held at its floor from now, as after a cold start, and filled now
   * when it has nothing ready or starting (a refill waits for a quiet moment otherwise).
   */
  expect(key: PoolKey): void {
    if (this.closed || key.driver.launchGeneric === undefined) return;
    const state = this.state(key);
    state.demand.expected(Date.now());
    this.fill(state);
  }

  /** Ends pooled sandboxes (those still starting first, then the least wanted keys') until `mb` is freed; returns MB freed. */
  evict(mb: number): number {
    let freed = 0;
    const now = Date.now();
    const order = [...this.keys.values()].sort((a, b) => a.demand.ratePerSecond(now) - b.demand.ratePerSecond(now));
    for (const ready of [false, true]) {
      for (const s of order) {
        for (let i = s.entries.length - 1; i >= 0 && freed < mb; i--) {
          if (s.entries[i]!.ready !== ready) continue;
          s.entries.splice(i, 1)[0]!.sandbox.kill();
          freed += s.key.memoryMb;
        }
      }
    }
    return freed;
  }

  stats(): PoolStats[] {
    const now = Date.now();
    return [...this.keys.values()].map((s) => ({
      key: s.name,
      ready: s.entries.filter((e) => e.ready).length,
      starting: s.entries.filter((e) => !e.ready).length + s.launching,
      target: s.demand.target(now),
      coldStartsPerSecond: s.demand.ratePerSecond(now),
      pids: s.entries.map((e) => e.sandbox.pid),
      pooledColdStarts: s.pooled,
      unpooledColdStarts: s.unpooled,
    }));
  }

  /** Resolves once this key holds its target, every sandbox at Standby, or after `maxMs` (tests, the bench). */
  async settled(key: PoolKey, maxMs = 30_000): Promise<void> {
    const until = Date.now() + maxMs;
    for (;;) {
      const s = this.keys.get(keyName(key));
      if (!s || Date.now() >= until) return;
      const starting = s.entries.filter((e) => !e.ready);
      if (s.launching === 0 && starting.length === 0 && (s.entries.length >= s.demand.target(Date.now()) || Date.now() < s.restUntil)) return;
      await Promise.race([...starting.map((e) => e.sandbox.standby), new Promise((r) => setTimeout(r, 20))]);
    }
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    clearTimeout(this.deferred);
    clearTimeout(this.quietWait);
    const all = [...this.keys.values()].flatMap((s) => s.entries.splice(0));
    this.keys.clear();
    for (const e of all) e.sandbox.kill();
    await Promise.all(all.map((e) => e.sandbox.exited));
  }

  private state(key: PoolKey): KeyState {
    const name = keyName(key);
    let s = this.keys.get(name);
    if (!s) {
      s = {
        name,
        key: { ...key },
        demand: new PoolDemand({ floor: this.floor, cap: this.maxPerKey, idleMs: this.idleMs }),
        entries: [],
        launching: 0,
        failures: 0,
        pooled: 0,
        unpooled: 0,
        restUntil: 0,
      };
      this.keys.set(name, s);
    }
    return s;
  }

  /** Launches generic sandboxes until the key holds its target, within the caps. */
  private fill(s: KeyState): void {
    const now = Date.now();
    if (this.closed || now < s.restUntil || this.keys.get(s.name) !== s) return;
    const target = s.demand.target(now);
    if (s.entries.length + s.launching < target && s.entries.some((e) => e.ready) && !this.hostQuiet()) {
      this.deferFill();
      return;
    }
    while (s.entries.length + s.launching < target) {
      const starting = [...this.keys.values()].reduce((n, k) => n + k.launching + k.entries.filter((e) => !e.ready).length, 0);
      if (starting >= this.concurrency) return;
      const mb = s.key.memoryMb;
      if (this.pooledMb + mb > this.maxMb || !this.hostHasRoom(mb)) return;
      void this.launch(s);
    }
  }

  private async launch(s: KeyState): Promise<void> {
    const { key } = s;
    s.launching++;
    const t0 = performance.now();
    let sandbox: GenericSandbox;
    try {
      sandbox = await key.driver.launchGeneric!({
        id: randomBytes(16).toString('hex'),
        memoryMb: key.memoryMb,
        ephemeralStorageMb: key.ephemeralStorageMb,
        nodeFlags: nodeFlagsFor(key.memoryMb),
        family: key.family,
        ...(key.network !== undefined ? { network: key.network } : {}),
        // A python agent starts its interpreter ahead: with the environment its function will most likely have.
        ...(key.family === 'python' && key.driver.genericPaths ? { runtimeEnv: extendableEnvironment(key.family, key.driver.genericPaths) } : {}),
      });
    } catch {
      s.launching--;
      this.failed(s);
      return;
    }
    s.launching--;
    if (this.closed || this.keys.get(s.name) !== s) {
      sandbox.kill();
      return;
    }
    const entry: Entry = { sandbox, ready: false };
    s.entries.push(entry);
    void sandbox.standby.then(() => {
      if (!sandbox.alive()) return;
      entry.ready = true;
      s.failures = 0;
      s.demand.launched(performance.now() - t0);
      this.fillAll();
    });
    void sandbox.exited.then(() => {
      const i = s.entries.indexOf(entry);
      if (i === -1) return; // taken, evicted or dropped: not the pool's any more
      s.entries.splice(i, 1);
      if (!entry.ready) this.failed(s);
      else this.fill(s);
    });
  }

  private failed(s: KeyState): void {
    if (++s.failures >= FAILURES_TO_REST) {
      s.failures = 0;
      s.restUntil = Date.now() + REST_MS;
    }
    this.fillAll();
  }

  private deferFill(): void {
    if (this.deferred || this.closed) return;
    this.deferred = setTimeout(() => {
      this.deferred = undefined;
      this.fillAll();
    }, DEFER_MS);
    this.deferred.unref();
  }

  private fillAll(): void {
    for (const s of this.keys.values()) this.fill(s);
  }

  /** Lets idle keys go, trims keys over their target, tops the rest up. */
  private sweep(): void {
    const now = Date.now();
    for (const s of [...this.keys.values()]) {
      if (s.demand.idle(now)) {
        this.keys.delete(s.name);
        for (const e of s.entries.splice(0)) e.sandbox.kill();
        continue;
      }
      const target = s.demand.target(now);
      while (s.entries.length > target) s.entries.shift()!.sandbox.kill();
    }
    this.fillWhenQuiet();
  }

  /** The sweep's top-up: never during a cold start (a launch would hold up its Init and first invoke). */
  private fillWhenQuiet(): void {
    if (this.closed) return;
    if (this.hostQuiet()) {
      this.fillAll();
      return;
    }
    clearTimeout(this.quietWait);
    this.quietWait = setTimeout(() => this.fillWhenQuiet(), DEFER_MS);
    this.quietWait.unref();
  }
}
