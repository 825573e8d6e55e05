// The guest's end of the host-guest stream: frames in, frames out, and the function's
// log text batched into Log frames.
//
// Log text is kept as whole lines and sent at most once per event-loop turn (or at
// once when a lot is pending). Every frame that ends a phase (Ready, InitError,
// Response, Error, Exit) goes out through send(), which puts everything still pending
// (unfinished lines too, closed with "\n") in a Log frame in front of it, in the
// same write: the host always sees an invoke's logs before its result.
import { writeSync } from 'node:fs';
import net from 'node:net';
import { encodeLog, encodeWithLogs, type Payload } from './frames.js';
import { FrameDecoder, FrameType, type Frame } from './protocol.js';
import { StreamCredit } from './stream-credit.js';

/** Pending log text (characters) that is sent at once instead of at the end of the turn. */
const FLUSH_AT = 256 * 1024;
/** A line longer than this without "\n" becomes a record of its own (Lambda's event limit). */
const MAX_LINE = 256 * 1024;

/** Turns a stream of text (stdout, stderr) into whole lines on the channel. */
export class LineWriter {
  private tail = '';

  constructor(private readonly ch: Pick<HostChannel, 'log'>) {}

  write(text: string): void {
    if (text.length === 0) return;
    const nl = text.lastIndexOf('\n');
    if (nl === -1) {
      this.tail += text;
      if (this.tail.length >= MAX_LINE) this.ch.log(this.drain());
      return;
    }
    let lines: string;
    if (nl === text.length - 1) {
      lines = this.tail.length === 0 ? text : this.tail + text;
      this.tail = '';
    } else {
      lines = this.tail + text.slice(0, nl + 1);
      this.tail = text.slice(nl + 1);
    }
    this.ch.log(lines);
  }

  /** The unfinished line as a whole line ('' when there is none). */
  drain(): string {
    if (this.tail.length === 0) return '';
    const t = this.tail + '\n';
    this.tail = '';
    return t;
  }
}

export class HostChannel {
  readonly socket: net.Socket;
  private pending = '';
  private scheduled = false;
  private readonly writers: LineWriter[] = [];
  private exiting = false;
  private readonly fd: number;
  /** The current streamed response's window (the host's Credit frames refill it). */
  readonly credit = new StreamCredit();

  constructor(fd: number, onFrame: (frame: Frame) => void, onGone: () => void) {
    this.fd = fd;
    this.socket = new net.Socket({ fd, readable: true, writable: true });
    const decoder = new FrameDecoder(onFrame);
    this.socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    this.socket.on('end', onGone);
    this.socket.on('close', onGone);
    this.socket.on('error', onGone);
  }

  /** A writer for one text stream; its unfinished line is flushed with every result. */
  lineWriter(): LineWriter {
    const w = new LineWriter(this);
    this.writers.push(w);
    return w;
  }

  /** Queues whole lines (each ending in "\n"). */
  log(lines: string): void {
    this.pending = this.pending.length === 0 ? lines : this.pending + lines;
    if (this.pending.length >= FLUSH_AT) this.flushLines();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.onTurnEnd);
    }
  }

  private readonly onTurnEnd = (): void => {
    this.scheduled = false;
    this.flushLines();
  };

  /** Sends the whole lines pending now (not the unfinished ones). */
  flushLines(): void {
    if (this.pending.length === 0) return;
    const text = this.pending;
    this.pending = '';
    this.write(encodeLog(text));
  }

  /** All pending log text, unfinished lines closed with "\n"; the queue is left empty. */
  takeLogs(): string {
    let text = this.pending;
    this.pending = '';
    for (const w of this.writers) {
      const t = w.drain();
      if (t.length !== 0) text += t;
    }
    return text;
  }

  /** Sends a frame (meta as JSON text, '' for none) after all pending log text. */
  send(type: number, meta: string, payload: Payload = null, cb?: () => void): void {
    this.write(encodeWithLogs(this.takeLogs(), type, meta, payload), cb);
  }

  write(buf: Buffer, cb?: () => void): void {
    if (this.socket.destroyed) return;
    this.socket.write(buf, cb);
  }

  /** Keeps (or stops keeping) the event loop alive for the stream alone. */
  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  get hasExited(): boolean {
    return this.exiting;
  }

  /** Sends Exit {code, signal} after the pending logs, then ends this process with processCode. */
  exit(code: number | null, signal: string | null, processCode = 0): void {
    if (this.exiting) return;
    this.exiting = true;
    const done = (): void => process.exit(processCode);
    if (this.socket.destroyed) done();
    this.socket.ref();
    this.socket.write(encodeWithLogs(this.takeLogs(), FrameType.Exit, JSON.stringify({ code, signal }), null), done);
    setTimeout(done, 1000);
  }

  /**
   * For a process 'exit' listener (no async work possible there): writes the pending
   * logs and Exit straight to the descriptor, when nothing is queued on the socket
   * (else the bytes would interleave and the host sees the stream close instead).
   */
  exitSync(code: number | null, signal: string | null): void {
    if (this.exiting) return;
    this.exiting = true;
    if (this.socket.destroyed || this.socket.writableLength !== 0) return;
    const buf = encodeWithLogs(this.takeLogs(), FrameType.Exit, JSON.stringify({ code, signal }), null);
    try {
      let at = 0;
      while (at < buf.length) at += writeSync(this.fd, buf, at);
    } catch {
      // The host is gone or not reading: it sees the stream close.
    }
  }
}
