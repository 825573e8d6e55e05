// Lambda's concurrency accounting for one account: a function with reserved
// concurrency runs within its reservation; a function with provisioned
// concurrency (and no reservation) runs its first N concurrent invokes on it;
// everything else shares the unreserved pool, which is what the account has
// left after every reservation and every such provisioned count.
import { tooManyRequests } from '../errors.js';

export interface ConcurrencyLimits {
  /** Reserved concurrency per function. */
  reserved: ReadonlyMap<string, number>;
  /** Provisioned concurrency per function, all qualifiers together. */
  provisioned: ReadonlyMap<string, number>;
}

export class ConcurrencyLedger {
  /** Invokes running now, per function (all versions together, as Lambda counts them). */
  private readonly running = new Map<string, number>();
  /** Of those, how many run on the function's provisioned concurrency. */
  private readonly onProvisioned = new Map<string, number>();
  private unreservedRunning = 0;

  constructor(readonly accountConcurrency: number) {}

  /** The size of the pool that functions without a reservation share. */
  unreservedPool(limits: ConcurrencyLimits): number {
    let taken = 0;
    for (const n of limits.reserved.values()) taken += n;
    for (const [name, n] of limits.provisioned) if (!limits.reserved.has(name)) taken += n;
    return this.accountConcurrency - taken;
  }

  /** Counts one invoke of name in, or throws Lambda's 429; the returned function counts it out (once). */
  acquire(name: string, limits: ConcurrencyLimits): () => void {
    const running = this.running.get(name) ?? 0;
    const reserved = limits.reserved.get(name);
    let from: 'reserved' | 'provisioned' | 'unreserved' = 'reserved';
    if (reserved !== undefined) {
      if (running >= reserved) throw tooManyRequests('ReservedFunctionConcurrentInvocationLimitExceeded');
    } else if ((this.onProvisioned.get(name) ?? 0) < (limits.provisioned.get(name) ?? 0)) {
      from = 'provisioned';
      this.onProvisioned.set(name, (this.onProvisioned.get(name) ?? 0) + 1);
    } else {
      // Past its provisioned concurrency (if any), a function takes from the shared pool.
      if (this.unreservedRunning >= this.unreservedPool(limits)) throw tooManyRequests('ConcurrentInvocationLimitExceeded');
      this.unreservedRunning++;
      from = 'unreserved';
    }
    this.running.set(name, running + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.running.get(name) ?? 1) - 1;
      if (n === 0) this.running.delete(name);
      else this.running.set(name, n);
      if (from === 'unreserved') this.unreservedRunning--;
      else if (from === 'provisioned') {
        const p = (this.onProvisioned.get(name) ?? 1) - 1;
        if (p === 0) this.onProvisioned.delete(name);
        else this.onProvisioned.set(name, p);
      }
    };
  }

  /** Executions running now, all functions. */
  total(): number {
    let total = 0;
    for (const n of this.running.values()) total += n;
    return total;
  }
}
