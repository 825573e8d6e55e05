// The worker hosts that joined this manager: registration, heartbeats, death
// by silence, draining. A live host is a RemoteHost registered with placement;
// a dead one is deregistered and every sandbox on it marked dead, so the Worker
// Manager forgets them and releases their memory.
import { randomBytes } from 'node:crypto';
import type { FunctionVersion } from '../../control/model.js';
import { invalidParameterValue } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { PlacementService } from '../../placement/placement.js';
import type { SandboxSettings } from '../../sandbox/function-tags.js';
import type { WorkerManager } from '../manager.js';
import {
  DEAD_AFTER_MS,
  HEARTBEAT_INTERVAL_MS,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type HostInfo,
  type RegisterHostRequest,
  type RegisterHostResponse,
} from './protocol.js';
import { RemoteHost } from './remote-host.js';

/** How often silent hosts are looked for. */
const CHECK_EVERY_MS = 500;
/** A dead host stays in list() this long, so operators see what happened. */
const KEEP_DEAD_MS = 10 * 60_000;

/** The manager's own in-process host (role all), as list() shows it. */
export interface LocalHostView {
  readonly id: string;
  readonly memoryMb: number;
  readonly sandboxCount: number;
}

export interface HostRegistryOptions {
  placement: PlacementService;
  workers: Pick<WorkerManager, 'retireHost'>;
  log: Pick<Logger, 'info' | 'warn'>;
  /** A function's sandbox settings (its kindling:* tags), sent with each sandbox create. */
  settings: (fn: FunctionVersion) => Promise<SandboxSettings>;
  local?: LocalHostView;
  /** For tests; the protocol's values otherwise. */
  deadAfterMs?: number;
  keepDeadMs?: number;
}

interface Entry {
  host: RemoteHost;
  state: 'live' | 'dead';
  deadAt?: number;
}

export class HostRegistry {
  private readonly hosts = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private readonly deadAfterMs: number;
  private readonly keepDeadMs: number;

  constructor(private readonly opts: HostRegistryOptions) {
    this.deadAfterMs = opts.deadAfterMs ?? DEAD_AFTER_MS;
    this.keepDeadMs = opts.keepDeadMs ?? KEEP_DEAD_MS;
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  /** A worker joins (or joins again: the old registration's sandboxes are dead, it knows none of them). */
  register(req: RegisterHostRequest): RegisterHostResponse {
    const hostId = req.hostId ?? `host-${randomBytes(8).toString('hex')}`;
    if (hostId === this.opts.local?.id) throw invalidParameterValue(`hostId '${hostId}' is taken by the manager's own host.`);
    const old = this.hosts.get(hostId);
    if (old) this.retire(old, 'its worker host registered again');
    const host = new RemoteHost({ id: hostId, url: req.url, token: req.token, memoryMb: req.memoryMb, drivers: req.drivers, settings: this.opts.settings });
    this.hosts.set(hostId, { host, state: 'live' });
    this.opts.placement.register(host);
    this.opts.log.info({ hostId, url: req.url, memoryMb: req.memoryMb, again: old !== undefined }, 'worker host registered');
    return { hostId, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, deadAfterMs: this.deadAfterMs };
  }

  /** Undefined when the host is unknown or was declared dead: it must register again. */
  heartbeat(hostId: string, req: HeartbeatRequest): HeartbeatResponse | undefined {
    const e = this.hosts.get(hostId);
    if (!e || e.state === 'dead') return undefined;
    e.host.heartbeat(req);
    return { draining: this.opts.placement.isDraining(hostId) };
  }

  /** Whether a host is registered and live (the local one included). */
  isLive(hostId: string): boolean {
    return hostId === this.opts.local?.id || this.hosts.get(hostId)?.state === 'live';
  }

  /** No new sandboxes on the host; its idle ones retired, busy ones finish. Undefined for an unknown or dead host. */
  drain(hostId: string): HostInfo | undefined {
    if (!this.isLive(hostId) || !this.opts.placement.drain(hostId)) return undefined;
    this.opts.workers.retireHost(hostId);
    this.opts.log.info({ hostId }, 'draining worker host');
    return this.list().find((h) => h.hostId === hostId);
  }

  list(): HostInfo[] {
    const reserved = new Map(this.opts.placement.capacity().map((c) => [c.hostId, c.reservedMb]));
    const out: HostInfo[] = [];
    const local = this.opts.local;
    if (local) {
      out.push({
        hostId: local.id,
        url: '',
        memoryMb: local.memoryMb,
        reservedMb: reserved.get(local.id) ?? 0,
        sandboxes: local.sandboxCount,
        state: this.opts.placement.isDraining(local.id) ? 'draining' : 'live',
        lastHeartbeatMs: Date.now(),
        local: true,
      });
    }
    for (const [hostId, e] of this.hosts) {
      out.push({
        hostId,
        url: e.host.url,
        memoryMb: e.host.memoryMb,
        reservedMb: e.state === 'dead' ? 0 : (reserved.get(hostId) ?? 0),
        sandboxes: e.state === 'dead' ? 0 : e.host.sandboxCount,
        state: e.state === 'dead' ? 'dead' : this.opts.placement.isDraining(hostId) ? 'draining' : 'live',
        lastHeartbeatMs: e.host.lastHeartbeat,
        local: false,
      });
    }
    return out;
  }

  /** Declares hosts silent for longer than deadAfterMs dead; forgets long-dead ones. */
  check(now = Date.now()): void {
    for (const [hostId, e] of this.hosts) {
      if (e.state === 'live' && now - e.host.lastHeartbeat > this.deadAfterMs) {
        this.opts.log.warn({ hostId, silentMs: now - e.host.lastHeartbeat }, 'worker host missed its heartbeats: declared dead');
        this.retire(e, 'its worker host stopped heartbeating');
        e.state = 'dead';
        e.deadAt = now;
      } else if (e.state === 'dead' && now - (e.deadAt ?? now) > this.keepDeadMs) {
        this.hosts.delete(hostId);
      }
    }
  }

  /** Stops watching and closes every host's connections. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.hosts.values()].map((e) => e.host.close()));
  }

  /** Out of placement, its sandboxes dead (the Worker Manager releases them), its connections closed. */
  private retire(e: Entry, reason: string): void {
    if (e.state === 'live') this.opts.placement.deregister(e.host.id);
    e.host.markDead(reason);
    void e.host.close();
  }
}
