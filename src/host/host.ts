// A worker host (Lambda's EC2 worker): makes sandboxes through its driver,
// runs Init (package from the code store into the local cache, runtime start)
// and hands the ready sandbox to the Worker Manager.
import { randomBytes } from 'node:crypto';
import type { Account } from '../control/arn.js';
import type { FunctionVersion } from '../control/model.js';
import { runtimeInfo } from '../control/runtimes.js';
import { INIT_TIMEOUT_SECONDS } from '../limits.js';
import { HostCannotRun, type CreateSandboxOptions } from '../placement/placement.js';
import { nodeFlagsFor, type DriverName, type SandboxDriver } from '../sandbox/driver.js';
import type { SandboxDrivers } from '../sandbox/drivers.js';
import { SANDBOX_TAG, type SandboxSettings } from '../sandbox/function-tags.js';
import type { CodeStore } from '../store/code.js';
import { base64ToHex } from '../store/code.js';
import { CodeCache } from './code-cache.js';
import { lambdaEnvironment, logStreamName } from './environment.js';
import { OptCache } from './opt-cache.js';
import { Sandbox, type FunctionLogSink } from './sandbox.js';

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
}

export class WorkerHost {
  readonly id: string;
  readonly memoryMb: number;
  readonly driver: SandboxDriver;
  private readonly cache: CodeCache;
  private readonly opt: OptCache;
  private readonly sandboxes = new Set<Sandbox>();

  constructor(private readonly opts: WorkerHostOptions) {
    this.id = opts.id;
    this.memoryMb = opts.memoryMb;
    this.driver = opts.driver;
    this.cache = new CodeCache(`${opts.dir}/code`, opts.code);
    this.opt = new OptCache(`${opts.dir}/opt`, this.cache);
  }

  async start(): Promise<void> {
    await this.driver.cleanup();
    await this.cache.clear();
    await this.opt.clear();
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
    const taskRoot = await this.cache.taskRoot(base64ToHex(fn.codeSha256));
    // Layers: unpacked and merged in order into one read-only folder, the sandbox's /opt.
    const layers = fn.layerCode ?? [];
    const opt = layers.length > 0 ? await this.opt.optDir(layers.map((l) => base64ToHex(l.codeSha256))) : undefined;
    const id = randomBytes(16).toString('hex');
    const logStream = logStreamName(fn.version, id);
    const settings = opts.settings ?? (await this.opts.sandboxSettings?.(fn)) ?? {};
    const driver = settings.driver !== undefined && this.opts.drivers ? await this.driverFor(settings.driver, this.opts.drivers) : this.driver;
    const proc = await driver.launch({
      id,
      memoryMb: fn.memorySize,
      ephemeralStorageMb: fn.ephemeralStorageMb,
      taskRoot,
      ...(opt !== undefined ? { opt } : {}),
      nodeFlags: nodeFlagsFor(fn.memorySize),
      ...(settings.network !== undefined ? { network: settings.network } : {}),
    });
    const sandbox = new Sandbox(
      { id, functionName: fn.functionName, version: fn.version, memoryMb: fn.memorySize, timeoutSeconds: fn.timeout, logStream },
      proc,
      this.opts.logs,
      !driver.enforcesMemory,
    );
    this.sandboxes.add(sandbox);
    sandbox.onDead(() => this.sandboxes.delete(sandbox));
    const family = runtimeInfo(fn.runtime)?.family ?? 'provided';
    await sandbox.init(
      {
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
      },
      INIT_TIMEOUT_SECONDS * 1000,
    );
    // Provisioned concurrency: Init ran ahead of any invoke, so none reports it.
    if (opts.initializationType === 'provisioned-concurrency') sandbox.markPrewarmed();
    return sandbox;
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
    await Promise.all([...this.sandboxes].map((s) => s.destroy()));
  }
}
