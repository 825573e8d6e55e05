// Writes a streamed response to its consumer (an HTTP response) and tells the
// sandbox when the consumer is full: the promise a ResponseSink's chunk() returns.
import type { Writable } from 'node:stream';

export class DrainGate {
  /** Settles at the consumer's next 'drain' (or 'close'); one per full spell, shared by every write meanwhile. */
  private waiting: Promise<void> | undefined;

  constructor(private readonly out: Writable) {}

  /** Writes bytes; a promise when the consumer is full (nothing once it is gone: there is nobody to wait for). */
  write(bytes: Buffer): void | Promise<void> {
    const out = this.out;
    if (out.destroyed) return;
    if (out.write(bytes)) return;
    return (this.waiting ??= this.drained());
  }

  private drained(): Promise<void> {
    const out = this.out;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        out.off('drain', done);
        out.off('close', done);
        this.waiting = undefined;
        resolve();
      };
      out.on('drain', done);
      // A client that went away must not leave the function waiting.
      out.on('close', done);
      if (out.destroyed) done();
    });
  }
}
