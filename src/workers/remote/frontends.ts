// The manager's side of the lease protocol (lease-protocol.ts): the cluster
// frontends that registered, the invokes admitted for each (the one Admission
// ledger of the cluster, so reserved and account concurrency hold across
// frontends) and the sandboxes leased to them. A frontend that stops
// heartbeating is declared dead: its invokes are counted out and the sandboxes
// it held end (an invoke may still be running in one; none is reused).
import { randomBytes } from 'node:crypto';
import type { FunctionVersion } from '../../control/model.js';
import { resourceNotFound, serviceException } from '../../errors.js';
import type { Admission } from '../../invoke/admission.js';
import type { Logger } from '../../log.js';
import type { Lease, ProvisionedStatus, WorkerManager } from '../manager.js';
import {
  FRONTEND_DEAD_AFTER_MS,
  FRONTEND_HEARTBEAT_INTERVAL_MS,
  type AcquireLeaseRequest,
  type FrontendHeartbeatResponse,
  type LeaseGrant,
  type LeaseReturn,
  type ProvisionRequest,
  type RegisterFrontendRequest,
  type RegisterFrontendResponse,
} from './lease-protocol.js';
import { RemoteHost, RemoteSandbox } from './remote-host.js';

const CHECK_EVERY_MS = 500;
/** A lease not returned this long past its function's timeout is taken back. */
const LEASE_GRACE_MS = 60_000;

interface HeldLease {
  lease: Lease;
  invocationId: string;
  expiresAt: number;
}

interface Frontend {
  id: string;
  url: string;
  lastHeartbeat: number;
  /** Admitted invokes: the function that counts each out, and when it is counted out anyway. */
  invocations: Map<string, { end: () => void; expiresAt: number }>;
  leases: Map<string, HeldLease>;
  dead: boolean;
}

/** What a frontend's provisioned-concurrency calls reach on the manager. */
export interface ManagedProvisioning {
  provision(id: string, fn: FunctionVersion, n: number): void;
  unprovision(id: string): void;
  /** Every pool's status by id. */
  statuses(): Record<string, ProvisionedStatus>;
  /** A config changed elsewhere: admission's provisioned totals are read again. */
  reload(): Promise<void>;
}

export interface FrontendRegistryOptions {
  workers: Pick<WorkerManager, 'acquire' | 'release'>;
  admission: Admission;
  provisioning: ManagedProvisioning;
  log: Pick<Logger, 'info' | 'warn'>;
  /** The manager's own in-process host (role all): a frontend cannot reach its sandboxes. */
  localHostId?: string;
  /** For tests; the protocol's value otherwise. */
  deadAfterMs?: number;
}

export class FrontendRegistry {
  private readonly frontends = new Map<string, Frontend>();
  private readonly timer: NodeJS.Timeout;
  private readonly deadAfterMs: number;

  constructor(private readonly opts: FrontendRegistryOptions) {
    this.deadAfterMs = opts.deadAfterMs ?? FRONTEND_DEAD_AFTER_MS;
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  register(req: RegisterFrontendRequest): RegisterFrontendResponse {
    const frontendId = `frontend-${randomBytes(8).toString('hex')}`;
    this.frontends.set(frontendId, { id: frontendId, url: req.url, lastHeartbeat: Date.now(), invocations: new Map(), leases: new Map(), dead: false });
    this.opts.log.info({ frontendId, url: req.url }, 'frontend registered');
    return { frontendId, heartbeatIntervalMs: FRONTEND_HEARTBEAT_INTERVAL_MS, deadAfterMs: this.deadAfterMs };
  }

  /** Undefined when the frontend is unknown (declared dead, or this manager restarted): it registers again. */
  heartbeat(frontendId: string, now = Date.now()): FrontendHeartbeatResponse | undefined {
    const f = this.frontends.get(frontendId);
    if (!f) return undefined;
    f.lastHeartbeat = now;
    return { provisioned: this.opts.provisioning.statuses() };
  }

  /** Admits the invocation (on its first acquire) and leases it a sandbox on a worker host. */
  async acquire(frontendId: string, req: AcquireLeaseRequest): Promise<LeaseGrant> {
    const f = this.known(frontendId);
    if (req.returns) this.giveBack(f, req.returns);
    if (req.ended) this.end(f, req.ended);
    if (!f.invocations.has(req.invocationId)) {
      const end = await this.opts.admission.admit(req.fn.functionName);
      if (f.dead) {
        end();
        throw this.gone(frontendId);
      }
      f.invocations.set(req.invocationId, { end, expiresAt: Date.now() + req.fn.timeout * 1000 + LEASE_GRACE_MS });
    }
    const lease = await this.opts.workers.acquire(req.fn, this.opts.localHostId !== undefined ? { excludeHost: this.opts.localHostId } : {});
    const sandbox = lease.sandbox;
    if (f.dead || !(sandbox instanceof RemoteSandbox) || !(sandbox.host instanceof RemoteHost)) {
      this.opts.workers.release(lease, !f.dead);
      if (f.dead) throw this.gone(frontendId);
      throw serviceException('The Worker Manager leased a sandbox no frontend can reach.');
    }
    const leaseId = randomBytes(12).toString('hex');
    f.leases.set(leaseId, { lease, invocationId: req.invocationId, expiresAt: Date.now() + sandbox.identity.timeoutSeconds * 1000 + LEASE_GRACE_MS });
    return { leaseId, cold: lease.cold, identity: sandbox.identity, host: sandbox.host.endpoint };
  }

  /** Leases handed back, and invocations that are over. Unknown ones are ignored (already taken back). */
  return(frontendId: string, returns: LeaseReturn[], ended: string[]): void {
    const f = this.known(frontendId);
    this.giveBack(f, returns);
    this.end(f, ended);
  }

  private end(f: Frontend, ended: string[]): void {
    for (const id of ended) {
      f.invocations.get(id)?.end();
      f.invocations.delete(id);
    }
  }

  provision(frontendId: string, req: ProvisionRequest): void {
    this.known(frontendId);
    if (req.fn !== undefined && req.n !== undefined) this.opts.provisioning.provision(req.id, req.fn, req.n);
    else this.opts.provisioning.unprovision(req.id);
    void this.opts.provisioning.reload().catch((err: unknown) => this.opts.log.warn({ err }, 'could not reload provisioned concurrency totals'));
  }

  /** Frontends known now, for operators. */
  list(): { frontendId: string; url: string; invocations: number; leases: number; lastHeartbeatMs: number }[] {
    return [...this.frontends.values()].map((f) => ({ frontendId: f.id, url: f.url, invocations: f.invocations.size, leases: f.leases.size, lastHeartbeatMs: f.lastHeartbeat }));
  }

  /** Declares silent frontends dead and takes back leases held past their function's timeout. */
  check(now = Date.now()): void {
    for (const f of this.frontends.values()) {
      if (now - f.lastHeartbeat > this.deadAfterMs) {
        this.opts.log.warn({ frontendId: f.id, invocations: f.invocations.size, leases: f.leases.size }, 'frontend missed its heartbeats: declared dead');
        this.retire(f);
        continue;
      }
      for (const [id, held] of f.leases) {
        if (held.expiresAt > now) continue;
        f.leases.delete(id);
        this.opts.log.warn({ frontendId: f.id, functionName: held.lease.sandbox.identity.functionName }, 'a sandbox lease was not returned in time: its sandbox ends');
        this.opts.workers.release(held.lease, false);
      }
      // An end that never arrived (lost with its call): the invoke is long over.
      for (const [id, inv] of f.invocations) {
        if (inv.expiresAt > now) continue;
        f.invocations.delete(id);
        inv.end();
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const f of [...this.frontends.values()]) this.retire(f);
  }

  private known(frontendId: string): Frontend {
    const f = this.frontends.get(frontendId);
    if (!f) throw this.gone(frontendId);
    return f;
  }

  private gone(frontendId: string): Error {
    return resourceNotFound(`Frontend ${frontendId} is not registered: register again.`);
  }

  private giveBack(f: Frontend, returns: LeaseReturn[]): void {
    for (const r of returns) {
      const held = f.leases.get(r.leaseId);
      if (!held) continue;
      f.leases.delete(r.leaseId);
      const sandbox = held.lease.sandbox;
      if (sandbox instanceof RemoteSandbox) {
        // The invoke ran at the frontend: the sandbox's idle time starts now.
        sandbox.lastUsed = Date.now();
        if (r.unreachable && sandbox.host instanceof RemoteHost) sandbox.host.noteUnreachable();
      }
      this.opts.workers.release(held.lease, r.reusable);
    }
  }

  /** Dead: invokes counted out, held sandboxes ended (one may still be running an invoke). */
  private retire(f: Frontend): void {
    f.dead = true;
    this.frontends.delete(f.id);
    for (const held of f.leases.values()) this.opts.workers.release(held.lease, false);
    f.leases.clear();
    for (const inv of f.invocations.values()) inv.end();
    f.invocations.clear();
  }
}
