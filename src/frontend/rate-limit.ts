// Per-access-key request rate limits: a token bucket per key, refilled
// continuously at `rate` tokens a second and holding at most one second's
// worth (`burst`). A request past it gets 429 TooManyRequestsException
// (Reason CallerRateLimitExceeded) with Retry-After.
import { tooManyRequests } from '../errors.js';

interface Bucket {
  tokens: number;
  at: number;
}

/** Default requests per second per access key: generous, a guard rather than a quota. */
export const DEFAULT_RATE_LIMIT = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;

  constructor(
    readonly rate: number,
    burst?: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.burst = Math.max(1, burst ?? rate);
  }

  /** Takes one token for `key`, or throws the 429. */
  take(key: string): void {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      // Keys are few (access keys that verified), but bound the map anyway.
      if (this.buckets.size >= 10_000) this.buckets.clear();
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
      b.at = now;
    }
    if (b.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
      throw tooManyRequests('CallerRateLimitExceeded', retryAfter, 'Rate Exceeded.');
    }
    b.tokens -= 1;
  }
}
