// The Placement Service: knows the worker hosts and their memory, and picks
// the host for each new sandbox. A sandbox holds a reservation of its
// function's MemorySize until it ends.
import type { FunctionVersion } from '../control/model.js';
import type { Sandbox } from '../host/sandbox.js';

/** What placement needs of a worker host (in-process or remote). */
export interface PlacementHost {
  readonly id: string;
  readonly memoryMb: number;
  cachesCode(codeSha256: string): boolean;
  createSandbox(fn: FunctionVersion, opts?: CreateSandboxOptions): Promise<Sandbox>;
}

export interface CreateSandboxOptions {
  /** AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand' (the default) or 'provisioned-concurrency'. */
  initializationType?: 'on-demand' | 'provisioned-concurrency';
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

  register(host: PlacementHost): void {
    this.hosts.set(host.id, { host, reservedMb: 0, perFunction: new Map() });
  }

  deregister(hostId: string): void {
    this.hosts.delete(hostId);
  }

  /** Free memory per host, for eviction decisions and the console. */
  capacity(): { hostId: string; memoryMb: number; reservedMb: number }[] {
    return [...this.hosts.values()].map((h) => ({ hostId: h.host.id, memoryMb: h.host.memoryMb, reservedMb: h.reservedMb }));
  }

  /** Reserves room for one sandbox of fn, or undefined when no host has it. */
  place(fn: FunctionVersion): Reservation | undefined {
    const need = fn.memorySize;
    let best: HostState | undefined;
    let bestScore = -Infinity;
    for (const h of this.hosts.values()) {
      const free = h.host.memoryMb - h.reservedMb;
      if (free < need) continue;
      // Code already on the host saves a fetch and an unpack; fewer sandboxes
      // of this function there spreads it; then the fullest host that fits (bin-packing).
      const score =
        (h.host.cachesCode(fn.codeSha256) ? 1_000_000 : 0) -
        (h.perFunction.get(fn.functionName) ?? 0) * 10_000 -
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
