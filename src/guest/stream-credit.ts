// The guest's side of streamed-response backpressure: a byte window per streamed
// response. Sending a ResponseChunk spends credit; the host's Credit frames return it
// once its consumer (the client) took the bytes. With the window used up the sender
// waits, so a slow client stalls the function's writes instead of filling the host.
import { STREAM_WINDOW_BYTES } from './protocol.js';

export class StreamCredit {
  private requestId = '';
  private left = 0;
  private waiters: (() => void)[] = [];
  /** Keeps the event loop alive while a writer waits (the host stream is unref'd during an invoke). */
  private keepAlive: NodeJS.Timeout | undefined;

  /** A streamed response begins: a full window. Writers still waiting on an earlier one stay stuck (that invoke is over). */
  open(requestId: string): void {
    this.requestId = requestId;
    this.left = STREAM_WINDOW_BYTES;
    this.waiters = [];
    this.setKeepAlive(false);
  }

  /** Spends credit for bytes about to be sent; false when the window is used up now. */
  spend(bytes: number): boolean {
    this.left -= bytes;
    return this.left > 0;
  }

  /** A Credit frame from the host. */
  grant(requestId: string, bytes: number): void {
    if (requestId !== this.requestId || !(bytes > 0)) return;
    this.left += bytes;
    if (this.left <= 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    this.setKeepAlive(false);
    for (const w of waiters) w();
  }

  /** Calls fn now when there is credit, else once the host grants some. */
  whenOpen(fn: () => void): void {
    if (this.left > 0) {
      fn();
      return;
    }
    this.waiters.push(fn);
    this.setKeepAlive(true);
  }

  private setKeepAlive(on: boolean): void {
    if (on && this.keepAlive === undefined) this.keepAlive = setInterval(() => undefined, 1 << 30);
    else if (!on && this.keepAlive !== undefined) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }
}
