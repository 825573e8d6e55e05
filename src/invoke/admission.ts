// Concurrency admission for one account: whether one more invoke of a function
// may run now (its reservation, its provisioned concurrency, the unreserved
// pool), or Lambda's 429. The Worker Manager's process owns it; frontends of a
// cluster are admitted through the manager (workers/remote/frontends.ts), so a
// limit holds across all of them.
import type { ControlPlane } from '../control/functions.js';
import { ConcurrencyLedger } from './concurrency.js';

const NO_PROVISIONED: ReadonlyMap<string, number> = new Map();

export class Admission {
  private readonly ledger: ConcurrencyLedger;
  /** Reserved concurrency per function, loaded lazily; dropped on every change. */
  private reserved: Map<string, number> | undefined;

  constructor(
    control: Pick<ControlPlane, 'on'>,
    private readonly reservations: () => Promise<{ functionName: string; reserved: number }[]>,
    readonly accountConcurrency: number,
    /** Provisioned concurrency per function (kept in memory by its owner: read on every invoke). */
    private readonly provisioned: () => ReadonlyMap<string, number> = () => NO_PROVISIONED,
  ) {
    this.ledger = new ConcurrencyLedger(accountConcurrency);
    control.on('change', (c) => {
      if (c.kind === 'configured' || c.kind === 'deleted') this.reserved = undefined;
    });
  }

  /** Counts one invoke of the function in, or throws Lambda's 429; the returned function counts it out (once). */
  async admit(functionName: string): Promise<() => void> {
    if (!this.reserved) {
      const map = new Map<string, number>();
      for (const r of await this.reservations()) map.set(r.functionName, r.reserved);
      this.reserved = map;
    }
    return this.ledger.acquire(functionName, { reserved: this.reserved, provisioned: this.provisioned() });
  }

  /** Reservations may have changed unseen (a cluster's change feed reconnected). */
  forget(): void {
    this.reserved = undefined;
  }

  /** Executions running now, all functions. */
  running(): number {
    return this.ledger.total();
  }
}
