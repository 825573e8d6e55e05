// What the invoke path needs below it: admission (concurrency) and sandboxes.
// In one process that is the local Worker Manager and the Admission ledger; in
// a frontend of a cluster it is the manager, over the lease protocol
// (workers/remote/frontend-link.ts).
import type { FunctionVersion } from '../control/model.js';
import type { Lease, WorkerManager } from '../workers/manager.js';
import type { Admission } from './admission.js';

/** One admitted invoke: the sandboxes it runs on (one per attempt), then its end. */
export interface Invocation {
  /** A sandbox for the next attempt: warm when one is idle, otherwise a new one (Init). */
  acquire(): Promise<Lease>;
  /** An attempt is over; the sandbox may run again when reusable. */
  release(lease: Lease, reusable: boolean): void;
  /** The invoke is over: its concurrency is counted out (once). */
  end(): void;
}

export interface InvokeBackend {
  /** Admits one invoke of fn, or throws Lambda's 429. */
  begin(fn: FunctionVersion, requestId: string): Promise<Invocation>;
  /** Sandboxes of a function version (or of every version) must not run again: it changed. */
  retire(functionName: string, version?: string): void;
  /** Every cached thing may be stale (a cluster's change feed reconnected). */
  forgetAll(): void;
  /** Executions running now. */
  running(): number;
}

/** The backend of one process: its own Worker Manager and Admission. */
export class LocalInvokeBackend implements InvokeBackend {
  constructor(
    private readonly workers: WorkerManager,
    private readonly admission: Admission,
  ) {}

  async begin(fn: FunctionVersion): Promise<Invocation> {
    const end = await this.admission.admit(fn.functionName);
    const workers = this.workers;
    return {
      acquire: () => workers.acquire(fn),
      release: (lease, reusable) => workers.release(lease, reusable),
      end,
    };
  }

  retire(functionName: string, version?: string): void {
    this.workers.retire(functionName, version);
  }

  forgetAll(): void {
    this.admission.forget();
    for (const name of new Set(this.workers.stats().map((s) => s.functionName))) this.workers.retire(name);
  }

  running(): number {
    return this.admission.running();
  }
}
