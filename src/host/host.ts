// A worker host (Lambda's EC2 worker): makes sandboxes through its driver,
// runs Init (package from the code store into the local cache, runtime start)
// and hands the ready sandbox to the Worker Manager. A cold start takes a
// generic sandbox from the host's pool when it has one (sandbox-pool.ts) and
// only hands it the code; otherwise it launches one.
import { randomBytes } from 'node:crypto';
import type { Account } from '../control/arn.js';
import type { FunctionVersion } from '../control/model.js';
import { runtimeInfo } from '../control/runtimes.js';
import { INIT_TIMEOUT_SECONDS } from '../limits.js';
import { HostCannotRun, type CreateSandboxOptions } from '../placement/placement.js';
import { nodeFlagsFor, type DriverName, type FunctionCode, type SandboxDriver, type SandboxProcess } from '../sandbox/driver.js';
import type { SandboxDrivers } from '../sandbox/drivers.js';
import { SANDBOX_TAG, type SandboxSettings } from '../sandbox/function-tags.js';
import type { CodeStore } from '../store/code.js';
import { base64ToHex } from '../store/code.js';
import { CodeCache } from './code-cache.js';
import { lambdaEnvironment, logStreamName } from './environment.js';
import { OptCache } from './opt-cache.js';
import { SandboxPool, type PoolKey, type PoolStats, type SandboxPoolOptions } from './sandbox-pool.js';
import { Sandbox, type FunctionLogSink, type GuestInitPhases } from './sandbox.js';
import type { InitMeta, ReadyMeta } from '../guest/protocol.js';

export interface WorkerHostOptions {
  id: string;
  /** Memory this host offers to sandboxes, MB. */
  memoryMb: number;
  /** Host-local folder for the package cache. */
  dir: string;
  driver: SandboxDriver;
  /** Other drivers, for functions whose kindling:sandbox tag asks for one. */
  drivers?: SandboxDrivers;
  /** A function's own sandbox settings (its kindling:* tags), read at each cold start. */
  sandboxSettings?: (fn: FunctionVersion) => Promise<SandboxSettings>;
  code: CodeStore;
  logs: FunctionLogSink;
  account: Account;
  /** The pool of generic sandboxes; false: every cold start launches its own (default: a pool). */
  pool?: SandboxPoolOptions | false;
}

export type { ColdStartPhases } from './sandbox.js';

/** After a cold start, refills wait this long, so its first invoke is not held up by them. */
const QUIET_AFTER_COLD_START_MS = 5;
/** A cold start's refill waits for its first invoke's answer, at most this long. */
const REFILL_LATEST_MS = 50;

export class WorkerHost {
  readonly id: string;
  readonly memoryMb: number;
  readonly driver: SandboxDriver;
  private readonly cache: CodeCache;
  private readonly opt: OptCache;
  private readonly sandboxes = new Set<Sandbox>();
  private readonly pool: SandboxPool | undefined;
  /** Memory of this host's sandboxes, live and being made (what placement reserved here), MB. */
  private committedMb = 0;
  /** Cold starts under way, and when the last one ended (the pool refills in between). */
  private coldStarting = 0;
  private lastColdStartEnd = 0;

  constructor(private readonly opts: WorkerHostOptions) {
    this.id = opts.id;
    this.memoryMb = opts.memoryMb;
    this.driver = opts.driver;
    this.cache = new CodeCache(`${opts.dir}/code`, opts.code);
    this.opt = new OptCache(`${opts.dir}/opt`, this.cache);
    if (opts.pool !== false) {
      this.pool = new SandboxPool(
        opts.pool ?? {},
        opts.memoryMb,
        (mb) => this.committedMb + this.pool!.pooledMb + mb <= this.memoryMb,
        // Quiet: no cold start under way, and the last one's first invoke likely done.
        () => this.coldStarting === 0 && performance.now() - this.lastColdStartEnd >= QUIET_AFTER_COLD_START_MS,
      );
    }
  }

  /** The pool's keys, for tests, the bench and the console; empty without a pool. */
  poolStats(): PoolStats[] {
    return this.pool?.stats() ?? [];
  }

  /** Resolves once the pool's sandboxes of this function's key are all at Standby (tests, the bench). */
  async poolSettled(fn: FunctionVersion, settings: { driver?: DriverName; network?: 'default' | 'none' } = {}): Promise<void> {
    const driver = settings.driver !== undefined && this.opts.drivers ? await this.opts.drivers.get(settings.driver) : this.driver;
    await this.pool?.settled(this.poolKey(fn, driver, settings.network));
  }

  async start(): Promise<void> {
    await this.driver.cleanup();
    await this.cache.clear();
    await this.opt.clear();
  }

  /**
   * Gets a function version ready before its first invoke, as Lambda does while a
   * function is Pending: its package (and layers) unpacked into this host's cache,
   * and its pool key wanted, so a generic sandbox waits for it. Best effort: a cold
   * start that comes first joins the unpack under way; one that fails is tried
   * again by the cold start. `zip`: the package's bytes, when the caller has them.
   */
  async prepare(fn: FunctionVersion, zip?: Buffer): Promise<void> {
    const work: Promise<unknown>[] = [this.cache.prepare(base64ToHex(fn.codeSha256), zip)];
    const layers = fn.layerCode ?? [];
    if (layers.length > 0) work.push(this.opt.optDir(layers.map((l) => base64ToHex(l.codeSha256)), true));
    // After this turn: a launch blocks the event loop a few ms, and the caller's response goes first.
    // (The pool is only an optimisation: a driver that cannot run fn fails its invoke, not this.)
    if (this.pool) work.push(new Promise((r) => setImmediate(r)).then(() => this.expectColdStart(fn)).catch(() => undefined));
    await Promise.all(work);
  }

  /** Unpacks a package just uploaded (a function's or a layer's) into this host's cache, before any function uses it. */
  async preparePackage(sha256Hex: string, zip: Buffer): Promise<void> {
    await this.cache.prepare(sha256Hex, zip);
  }

  private async expectColdStart(fn: FunctionVersion): Promise<void> {
    const settings = (await this.opts.sandboxSettings?.(fn)) ?? {};
    const driver = settings.driver !== undefined && this.opts.drivers ? await this.opts.drivers.get(settings.driver) : this.driver;
    this.pool?.expect(this.poolKey(fn, driver, settings.network));
  }

  cachesCode(codeSha256: string): boolean {
    return this.cache.has(base64ToHex(codeSha256));
  }

  /** Hex SHA-256 of every package in this host's cache (a remote worker's heartbeat). */
  cachedCodeHex(): string[] {
    return this.cache.cachedCodeHex();
  }

  get sandboxCount(): number {
    return this.sandboxes.size;
  }

  /** Creates a sandbox for a function version and runs its Init. Rejects with InitFailure. */
  async createSandbox(fn: FunctionVersion, opts: CreateSandboxOptions = {}): Promise<Sandbox> {
    // Placement reserved fn.memorySize here: it counts until the sandbox ends.
    this.committedMb += fn.memorySize;
    let counted = true;
    const uncount = () => {
      if (counted) this.committedMb -= fn.memorySize;
      counted = false;
    };
    this.coldStarting++;
    try {
      const sandbox = await this.makeSandbox(fn, opts);
      sandbox.onDead(uncount);
      return sandbox;
    } catch (err) {
      uncount();
      throw err;
    } finally {
      this.coldStarting--;
      this.lastColdStartEnd = performance.now();
    }
  }

  private async makeSandbox(fn: FunctionVersion, opts: CreateSandboxOptions): Promise<Sandbox> {
    const t0 = performance.now();
    // Read side by side with the code (a state store round trip when not cached).
    const settingsRead = opts.settings !== undefined ? undefined : this.opts.sandboxSettings?.(fn);
    settingsRead?.catch(() => undefined);
    const taskRoot = await this.cache.taskRoot(base64ToHex(fn.codeSha256));
    // Layers: unpacked and merged in order into one read-only folder, the sandbox's /opt.
    const layers = fn.layerCode ?? [];
    const opt = layers.length > 0 ? await this.opt.optDir(layers.map((l) => base64ToHex(l.codeSha256))) : undefined;
    const code: FunctionCode = { taskRoot, ...(opt !== undefined ? { opt } : {}) };
    const t1 = performance.now();
    const settings = opts.settings ?? (await settingsRead) ?? {};
    const driver = settings.driver !== undefined && this.opts.drivers ? await this.driverFor(settings.driver, this.opts.drivers) : this.driver;
    const family = runtimeInfo(fn.runtime)?.family ?? 'provided';
    const t2 = performance.now();
    const key = this.poolKey(fn, driver, settings.network);
    const { id, proc, pooled } = await this.sandboxFor(fn, key, code).catch((err: unknown) => {
      this.pool?.refill(key);
      throw err;
    });
    const t3 = performance.now();
    const logStream = logStreamName(fn.version, id);
    const sandbox = new Sandbox(
      { id, functionName: fn.functionName, version: fn.version, memoryMb: fn.memorySize, timeoutSeconds: fn.timeout, logStream },
      proc,
      this.opts.logs,
      !driver.enforcesMemory,
    );
    this.sandboxes.add(sandbox);
    sandbox.onDead(() => this.sandboxes.delete(sandbox));
    const initMeta: InitMeta = {
      env: lambdaEnvironment({
        fn,
        account: this.opts.account,
        taskRoot: proc.taskRootInGuest,
        logStream,
        ...(opts.initializationType !== undefined ? { initializationType: opts.initializationType } : {}),
        ...(proc.runtimeDirInGuest !== undefined ? { runtimeDir: proc.runtimeDirInGuest } : {}),
        ...(proc.optDirInGuest !== undefined ? { optDir: proc.optDirInGuest } : {}),
      }),
      family,
      handler: fn.handler,
      taskRoot: proc.taskRootInGuest,
      ...(proc.optDirInGuest !== undefined ? { optDir: proc.optDirInGuest } : {}),
      runtimeApiListen: proc.runtimeApiListen,
    };
    const initSentAt = performance.timeOrigin + performance.now();
    const ready = sandbox.init(initMeta, INIT_TIMEOUT_SECONDS * 1000);
    this.refillAfter(sandbox, key);
    await ready;
    const t4 = performance.now();
    const guest = guestPhases(sandbox.readyFrame, initSentAt);
    sandbox.startup = { codeMs: t1 - t0, pooled, sandboxMs: t3 - t2, initMs: t4 - t3, totalMs: t4 - t0, ...(guest ? { guest } : {}) };
    // Provisioned concurrency: Init ran ahead of any invoke, so none reports it.
    if (opts.initializationType === 'provisioned-concurrency') sandbox.markPrewarmed();
    return sandbox;
  }

  /**
   * The pool refills once the cold start's first invoke has been answered (or after
   * REFILL_LATEST_MS, when no invoke comes): a launch blocks this event loop for as long
   * as a fork of this process takes (2-7 ms here), which during the guest's Init held
   * up its Ready, and the first invoke behind it.
   */
  private refillAfter(sandbox: Sandbox, key: PoolKey): void {
    if (!this.pool) return;
    let done = false;
    const refill = (): void => {
      if (done) return;
      done = true;
      clearTimeout(latest);
      this.pool?.refill(key);
    };
    const latest = setTimeout(refill, REFILL_LATEST_MS);
    latest.unref();
    // After the turn that answered it: the response is written first.
    sandbox.afterFirstInvoke(() => setImmediate(refill));
  }

  private poolKey(fn: FunctionVersion, driver: SandboxDriver, network: 'default' | 'none' | undefined): PoolKey {
    return { driver, family: runtimeInfo(fn.runtime)?.family ?? 'provided', memoryMb: fn.memorySize, ephemeralStorageMb: fn.ephemeralStorageMb, network };
  }

  /** A pooled generic sandbox with the code attached, else a new sandbox launched with it. */
  private async sandboxFor(fn: FunctionVersion, key: PoolKey, code: FunctionCode): Promise<{ id: string; proc: SandboxProcess; pooled: boolean }> {
    const { driver, network } = key;
    // Refilled by the caller once the Init is sent.
    const generic = this.pool?.take(key, false);
    if (generic) {
      try {
        const proc = await generic.attach(code);
        // One that died meanwhile would fail the function's Init for a reason not its own.
        if (generic.alive()) return { id: generic.id, proc, pooled: true };
      } catch {
        // launched below instead
      }
      generic.kill();
    }
    // Pooled sandboxes go first when the host is full: they are only spare capacity.
    const over = this.committedMb + (this.pool?.pooledMb ?? 0) - this.memoryMb;
    if (over > 0) this.pool?.evict(over);
    const id = randomBytes(16).toString('hex');
    const proc = await driver.launch({
      id,
      memoryMb: fn.memorySize,
      ephemeralStorageMb: fn.ephemeralStorageMb,
      ...code,
      nodeFlags: nodeFlagsFor(fn.memorySize),
      ...(network !== undefined ? { network } : {}),
    });
    return { id, proc, pooled: false };
  }

  private async driverFor(name: DriverName, drivers: SandboxDrivers): Promise<SandboxDriver> {
    try {
      return await drivers.get(name);
    } catch (err) {
      // Placement tries another host; with none, the invoke gets a ServiceException that says why.
      throw new HostCannotRun(this.id, `the function's ${SANDBOX_TAG} tag asks for '${name}', which cannot run on worker host ${this.id}: ${(err as Error).message}`);
    }
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.pool?.shutdown(), ...[...this.sandboxes].map((s) => s.destroy())]);
  }
}

/** Init to Ready as the guest's timestamps split it (agents that send none: undefined). */
function guestPhases(ready: Sandbox['readyFrame'], sentAtMs: number): GuestInitPhases | undefined {
  const at = ready?.meta.at as ReadyMeta['at'] | undefined;
  if (!ready || typeof at?.received !== 'number') return undefined;
  const phases = { initInMs: at.received - sentAtMs, becomeMs: at.become - at.received, handlerMs: at.handler - at.become, readyOutMs: ready.atMs - at.ready };
  // A guest on another clock (a micro-VM's) says nothing comparable.
  return Object.values(phases).every((ms) => ms >= 0) ? phases : undefined;
}
