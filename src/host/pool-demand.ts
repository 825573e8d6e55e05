// How many generic sandboxes one pool key should hold: enough to cover the cold
// starts expected while replacements are being made (Little's law: arrival rate
// times launch time), from an EWMA of the time between cold starts, so a burst
// raises the target within a few cold starts and a quiet key falls to the floor.

export interface DemandOptions {
  /** Held for a key seen recently, whatever its rate (default 1). */
  floor: number;
  /** Never more than this (default 4). */
  cap: number;
  /** A key with no cold start for this long wants none (ms). */
  idleMs: number;
}

/** Weight of the newest sample in the EWMAs. */
const ALPHA = 0.3;
/** Until measured: how long a generic sandbox takes to reach Standby, ms. */
const FIRST_LAUNCH_MS = 100;

export class PoolDemand {
  private gapMs: number | undefined;
  private lastMs: number | undefined;
  /** When a cold start was last announced (a function of this key just created), not yet counted as one. */
  private expectedMs: number | undefined;
  private launchMs = FIRST_LAUNCH_MS;

  constructor(private readonly opts: DemandOptions) {}

  /** One cold start of this key now. */
  coldStart(now: number): void {
    if (this.lastMs !== undefined) {
      const gap = Math.max(1, now - this.lastMs);
      this.gapMs = this.gapMs === undefined ? gap : ALPHA * gap + (1 - ALPHA) * this.gapMs;
    }
    this.lastMs = now;
  }

  /**
   * A cold start of this key is likely soon (a function was just created or
   * changed): the key is wanted (at least its floor) as after a cold start, but
   * nothing is counted toward the rate, so the invoke that follows is not counted twice.
   */
  expected(now: number): void {
    this.expectedMs = now;
  }

  /** A generic sandbox of this key took `ms` from launch to Standby. */
  launched(ms: number): void {
    this.launchMs = ALPHA * ms + (1 - ALPHA) * this.launchMs;
  }

  /** Cold starts per second: the EWMA, decaying once they stop coming (the silence counts as a gap). */
  ratePerSecond(now: number): number {
    if (this.lastMs === undefined || this.gapMs === undefined) return 0;
    return 1000 / Math.max(this.gapMs, now - this.lastMs);
  }

  idle(now: number): boolean {
    const last = Math.max(this.lastMs ?? -Infinity, this.expectedMs ?? -Infinity);
    return now - last >= this.opts.idleMs;
  }

  /** Sandboxes to hold now: the ones taken while one launch is under way, with half a sandbox to spare. */
  target(now: number): number {
    if (this.idle(now)) return 0;
    const during = (this.ratePerSecond(now) * this.launchMs) / 1000;
    return Math.min(this.opts.cap, Math.max(this.opts.floor, Math.ceil(during + 0.5)));
  }
}
