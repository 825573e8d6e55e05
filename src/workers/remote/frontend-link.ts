// A cluster frontend's side of the lease protocol (lease-protocol.ts): it
// registers with its Worker Manager and heartbeats; each invoke is admitted
// and leased a sandbox by the manager, runs on the worker host directly, and
// the lease goes back after the response is on its way. Provisioned
// concurrency pools are kept by the manager; this side passes configs on and
// reports the statuses the manager heartbeats back.
import { randomBytes } from 'node:crypto';
import type { ProvisionedPools } from '../../control/provisioned.js';
import type { FunctionVersion } from '../../control/model.js';
import { LambdaError, lambdaErrorFromResponse, serviceException } from '../../errors.js';
import { InitFailure } from '../../host/sandbox.js';
import type { Invocation, InvokeBackend } from '../../invoke/backend.js';
import type { Logger } from '../../log.js';
import type { Lease, ProvisionedStatus } from '../manager.js';
import type { ManagerClient } from './join.js';
import {
  FRONTENDS_PATH,
  type AcquireLeaseRequest,
  type FrontendHeartbeatResponse,
  type LeaseGrant,
  type LeaseReturn,
  type ProvisionRequest,
  type RegisterFrontendResponse,
  type ReturnLeasesRequest,
} from './lease-protocol.js';
import type { InitFailureBody } from './protocol.js';
import { RemoteSandbox, SandboxApiClient } from './remote-host.js';

type Log = Pick<Logger, 'info' | 'warn'>;

/** A cold start runs Init in the acquire call: code download (120 s) + unpack + Init. */
const ACQUIRE_TIMEOUT_MS = 180_000;
const CALL_TIMEOUT_MS = 10_000;
/** Tries of a lease return (it carries the invoke's end: a lost one holds concurrency until it expires). */
const RETURN_TRIES = 3;
/** Worker connections kept; one per worker host (and token) the manager leased from. */
const WORKER_CLIENTS_MAX = 256;
/**
 * Returns wait this long for the next acquire to carry them (one call per invoke
 * under load instead of two); past it they go on their own.
 */
const RETURN_WAIT_MS = 2;

export class FrontendLink implements InvokeBackend, ProvisionedPools {
  private frontendId: string | undefined;
  private intervalMs = 1000;
  private registering: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private provisioned: Record<string, ProvisionedStatus> = {};
  private readonly workers = new Map<string, SandboxApiClient>();
  private readonly leaseIds = new WeakMap<Lease, { leaseId: string; hostId: string; grantedAt: number }>();
  /** When a connection to each worker host last failed. */
  private readonly unreachableAt = new Map<string, number>();
  /** Returns and ends not sent yet: the next acquire carries them, or a flush RETURN_WAIT_MS later. */
  private pending: ReturnLeasesRequest = { returns: [], ended: [] };
  private flushTimer: NodeJS.Timeout | undefined;
  /** Flushes on their way: an admission waits for them (so a sequential caller never meets its own last invoke). */
  private readonly returning = new Set<Promise<void>>();
  private inFlight = 0;
  private beatFailures = 0;

  constructor(
    private readonly client: ManagerClient,
    /** This frontend's own address, for the manager's list. */
    private readonly selfUrl: string,
    private readonly log: Log,
  ) {}

  /** Registers (rejects when the manager refuses), then heartbeats until stop(). */
  async start(): Promise<void> {
    await this.register();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.flush();
    await Promise.all(this.returning);
    await Promise.all([...this.workers.values()].map((w) => w.close()));
    this.workers.clear();
  }

  // --- InvokeBackend ---

  async begin(fn: FunctionVersion): Promise<Invocation> {
    if (this.returning.size > 0) await Promise.all(this.returning);
    const invocationId = randomBytes(12).toString('hex');
    const returns: LeaseReturn[] = [];
    // Admission and the first sandbox in one call; only a refusal of admission fails begin.
    let first: Lease | undefined;
    let firstError: unknown;
    try {
      first = await this.acquire(invocationId, fn, returns);
    } catch (err) {
      if (err instanceof LambdaError && err.status === 429) throw err;
      firstError = err;
    }
    this.inFlight++;
    let ended = false;
    return {
      acquire: async () => {
        if (first) {
          const lease = first;
          first = undefined;
          return lease;
        }
        if (firstError !== undefined) {
          const err = firstError;
          firstError = undefined;
          throw err;
        }
        return this.acquire(invocationId, fn, returns.splice(0));
      },
      release: (lease, reusable) => {
        const held = this.leaseIds.get(lease);
        if (held === undefined) return;
        const unreachable = (this.unreachableAt.get(held.hostId) ?? -1) >= held.grantedAt;
        returns.push({ leaseId: held.leaseId, reusable: reusable && lease.sandbox.state === 'ready', ...(unreachable ? { unreachable } : {}) });
      },
      end: () => {
        if (ended) return;
        ended = true;
        this.inFlight--;
        this.pending.returns.push(...returns.splice(0));
        this.pending.ended.push(invocationId);
        this.flushTimer ??= setTimeout(() => this.flush(), RETURN_WAIT_MS);
      },
    };
  }

  /** The manager retires sandboxes of changed functions from its own change feed. */
  retire(): void {}

  forgetAll(): void {}

  running(): number {
    return this.inFlight;
  }

  // --- ProvisionedPools (the manager keeps them) ---

  provision(id: string, fn: FunctionVersion, n: number): void {
    void this.sendProvision({ id, fn, n });
  }

  unprovision(id: string): void {
    void this.sendProvision({ id });
  }

  provisionedStatus(id: string): ProvisionedStatus | undefined {
    return this.provisioned[id];
  }

  // --- calls ---

  private async acquire(invocationId: string, fn: FunctionVersion, returns: LeaseReturn[]): Promise<Lease> {
    // Other invokes' returns and ends ride along; the manager takes them before admitting this one.
    const carried = this.takePending();
    const all = [...returns, ...carried.returns];
    const body: AcquireLeaseRequest = { invocationId, fn, ...(all.length > 0 ? { returns: all } : {}), ...(carried.ended.length > 0 ? { ended: carried.ended } : {}) };
    let res;
    try {
      res = await this.call('leases', body, ACQUIRE_TIMEOUT_MS);
    } catch (err) {
      // They may not have arrived: sent again (returns and ends are idempotent at the manager).
      this.requeue(carried);
      throw err;
    }
    if (res.status === 422) {
      const b = JSON.parse(res.bytes.toString('utf8')) as InitFailureBody;
      throw new InitFailure(String(b.errorType), Buffer.from(String(b.body ?? ''), 'base64'), String(b.logs ?? ''), Number(b.durationMs) || 0);
    }
    if (res.status !== 200) throw this.refusal(res);
    const grant = JSON.parse(res.bytes.toString('utf8')) as LeaseGrant;
    const lease: Lease = { sandbox: new RemoteSandbox(grant.identity, this.worker(grant.host)), cold: grant.cold };
    this.leaseIds.set(lease, { leaseId: grant.leaseId, hostId: grant.host.id, grantedAt: Date.now() });
    return lease;
  }

  private takePending(): ReturnLeasesRequest {
    const taken = this.pending;
    this.pending = { returns: [], ended: [] };
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    return taken;
  }

  private requeue(r: ReturnLeasesRequest): void {
    if (r.returns.length === 0 && r.ended.length === 0) return;
    this.pending.returns.push(...r.returns);
    this.pending.ended.push(...r.ended);
    this.flushTimer ??= setTimeout(() => this.flush(), RETURN_WAIT_MS);
  }

  /** Sends what waits to be returned (no acquire came to carry it). */
  private flush(): void {
    const body = this.takePending();
    if (body.returns.length === 0 && body.ended.length === 0) return;
    const p: Promise<void> = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await this.call('leases/return', body, CALL_TIMEOUT_MS);
          // 404: the manager no longer knows this frontend, and with it these leases.
          if (res.status === 204 || res.status === 404) return;
          throw this.refusal(res);
        } catch (err) {
          if (attempt >= RETURN_TRIES || this.stopped) {
            this.log.warn({ err: (err as Error).message, leases: body.returns.length }, 'could not return sandbox leases to the manager; it takes them back when they expire');
            return;
          }
        }
      }
    })().finally(() => this.returning.delete(p));
    this.returning.add(p);
  }

  private async sendProvision(body: ProvisionRequest): Promise<void> {
    try {
      const res = await this.call('provisioned', body, CALL_TIMEOUT_MS);
      if (res.status !== 204) throw this.refusal(res);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, pool: body.id }, 'could not pass a provisioned concurrency change to the manager; it applies the stored configs when it starts');
    }
  }

  /** One call under this frontend's id; a 404 for the id itself registers again and tries once more. */
  private async call(what: string, body: unknown, timeoutMs: number): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: Buffer }> {
    for (let attempt = 1; ; attempt++) {
      let res;
      let id;
      try {
        if (this.frontendId === undefined) await this.register();
        id = this.frontendId!;
        res = await this.client.request('POST', `${FRONTENDS_PATH}/${id}/${what}`, body, timeoutMs);
      } catch (err) {
        if (err instanceof LambdaError) throw err;
        throw serviceException(`The Worker Manager at ${this.client.url} could not be reached: ${(err as Error).message}`, err);
      }
      if (res.status === 404 && attempt === 1 && this.unknownFrontend(res)) {
        if (this.frontendId === id) this.frontendId = undefined;
        continue;
      }
      return res;
    }
  }

  private unknownFrontend(res: { headers: Record<string, string | string[] | undefined>; bytes: Buffer }): boolean {
    return res.headers['x-amzn-errortype'] === 'ResourceNotFoundException' && res.bytes.toString('utf8').includes('is not registered');
  }

  private refusal(res: { status: number; headers: Record<string, string | string[] | undefined>; bytes: Buffer }): LambdaError {
    let body: unknown;
    try {
      body = JSON.parse(res.bytes.toString('utf8'));
    } catch {
      body = undefined;
    }
    const headers: Record<string, string> = {};
    const retryAfter = res.headers['retry-after'];
    if (typeof retryAfter === 'string') headers['Retry-After'] = retryAfter;
    return lambdaErrorFromResponse(res.status, res.headers['x-amzn-errortype'], body, headers) ?? serviceException(`The Worker Manager answered ${res.status}.`);
  }

  private worker(host: LeaseGrant['host']): SandboxApiClient {
    const key = `${host.id}\0${host.url}\0${host.token}`;
    let w = this.workers.get(key);
    if (!w) {
      if (this.workers.size >= WORKER_CLIENTS_MAX) {
        const [oldKey, old] = this.workers.entries().next().value as [string, SandboxApiClient];
        this.workers.delete(oldKey);
        void old.close();
      }
      w = new SandboxApiClient(host.id, host.url, host.token, () => this.unreachableAt.set(host.id, Date.now()));
      this.workers.set(key, w);
    }
    return w;
  }

  // --- registration and heartbeats ---

  private register(): Promise<void> {
    this.registering ??= (async () => {
      try {
        const res = await this.client.request('POST', FRONTENDS_PATH, { url: this.selfUrl }, CALL_TIMEOUT_MS);
        if (res.status !== 200) throw this.refusal(res);
        const r = JSON.parse(res.bytes.toString('utf8')) as RegisterFrontendResponse;
        const again = this.frontendId !== undefined;
        this.frontendId = r.frontendId;
        this.intervalMs = r.heartbeatIntervalMs;
        this.log.info({ frontendId: r.frontendId, manager: this.client.url, again }, 'registered with the Worker Manager');
      } finally {
        this.registering = undefined;
      }
    })();
    return this.registering;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat().finally(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      const res = await this.call('heartbeat', { invocations: this.inFlight }, CALL_TIMEOUT_MS);
      if (res.status !== 200) throw this.refusal(res);
      this.provisioned = (JSON.parse(res.bytes.toString('utf8')) as FrontendHeartbeatResponse).provisioned;
      if (this.beatFailures > 0) this.log.info({ failures: this.beatFailures }, 'heartbeats reach the Worker Manager again');
      this.beatFailures = 0;
    } catch (err) {
      if (this.beatFailures++ === 0) this.log.warn({ err: (err as Error).message, manager: this.client.url }, 'heartbeat to the Worker Manager failed; retrying');
    }
  }
}
