// The Placement Service: knows the worker hosts and their memory, and picks
// the host for each new sandbox. A sandbox holds a reservation of its
// function's MemorySize until it ends.
import type { FunctionVersion } from '../control/model.js';
import type { SandboxHandle } from '../host/sandbox.js';
import type { SandboxSettings } from '../sandbox/function-tags.js';

/** What placement needs of a worker host (in-process or remote). */
export interface PlacementHost {
  readonly id: string;
  readonly memoryMb: number;
  cachesCode(codeSha256: string): boolean;
  createSandbox(fn: FunctionVersion, opts?: CreateSandboxOptions): Promise<SandboxHandle>;
  /** False while the host cannot take new sandboxes (a remote host that just refused a connection); absent: always can. */
  available?(): boolean;
}

export interface CreateSandboxOptions {
  /** AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand' (the default) or 'provisioned-concurrency'. */
  initializationType?: 'on-demand' | 'provisioned-concurrency';
  /** The function's sandbox settings, when the caller read them already (a remote host gets them from its manager). */
  settings?: SandboxSettings;
}

/** A host that cannot run this sandbox at all (it lacks the sandbox driver the function asks for): place it elsewhere. */
export class HostCannotRun extends Error {
  constructor(
    readonly hostId: string,
    why: string,
  ) {
    super(why);
  }
}

export interface Reservation {
  readonly host: PlacementHost;
  readonly memoryMb: number;
  release(): void;
}

interface HostState {
  host: PlacementHost;
  reservedMb: number;
  /** Sandboxes per function on this host, to spread a function over hosts. */
  perFunction: Map<string, number>;
}

export class PlacementService {
  private readonly hosts = new Map<string, HostState>();
  /** Hosts that get no new sandboxes (an operator drained them); a new registration clears it. */
  private readonly draining = new Set<string>();

  register(host: PlacementHost): void {
    this.hosts.set(host.id, { host, reservedMb: 0, perFunction: new Map() });
    this.draining.delete(host.id);
  }

  deregister(hostId: string): void {
    this.hosts.delete(hostId);
    this.draining.delete(hostId);
  }

  /** No new sandboxes go to this host from now on; false when no such host is registered. */
  drain(hostId: string): boolean {
    if (!this.hosts.has(hostId)) return false;
    this.draining.add(hostId);
    return true;
  }

  isDraining(hostId: string): boolean {
    return this.draining.has(hostId);
  }

  /** Free memory per host, for eviction decisions and the console. */
  capacity(): { hostId: string; memoryMb: number; reservedMb: number }[] {
    return [...this.hosts.values()].map((h) => ({ hostId: h.host.id, memoryMb: h.host.memoryMb, reservedMb: h.reservedMb }));
  }

  /** Reserves room for one sandbox of fn, or undefined when no host has it. */
  place(fn: FunctionVersion, exclude?: ReadonlySet<string>): Reservation | undefined {
    const need = fn.memorySize;
    let best: HostState | undefined;
    let bestScore = -Infinity;
    for (const h of this.hosts.values()) {
      const free = h.host.memoryMb - h.reservedMb;
      if (free < need || this.draining.has(h.host.id) || h.host.available?.() === false || exclude?.has(h.host.id)) continue;
      // Fewest sandboxes of this function first, so losing a host loses a
      // share of its warm capacity, not all of it; among those, a host that
      // has the code (no fetch, no unpack); then the fullest that fits (bin-packing).
      const score =
        -(h.perFunction.get(fn.functionName) ?? 0) * 2_000_000 +
        (h.host.cachesCode(fn.codeSha256) ? 1_000_000 : 0) -
        free / h.host.memoryMb;
      if (score > bestScore) {
        best = h;
        bestScore = score;
      }
    }
    if (!best) return undefined;
    const state = best;
    state.reservedMb += need;
    state.perFunction.set(fn.functionName, (state.perFunction.get(fn.functionName) ?? 0) + 1);
    let released = false;
    return {
      host: state.host,
      memoryMb: need,
      release: () => {
        if (released) return;
        released = true;
        state.reservedMb -= need;
        const n = (state.perFunction.get(fn.functionName) ?? 1) - 1;
        if (n <= 0) state.perFunction.delete(fn.functionName);
        else state.perFunction.set(fn.functionName, n);
      },
    };
  }

  /** Memory that would be free on a host if `extraMb` more were released there. */
  freeMb(hostId: string): number {
    const h = this.hosts.get(hostId);
    return h ? h.host.memoryMb - h.reservedMb : 0;
  }
}
