// Response streaming in the Node.js runtime, as AWS's Node RIC does it (ResponseStream.js,
// HttpResponseStream.js, the `awslambda` global): a handler wrapped in
// awslambda.streamifyResponse gets (event, responseStream, context); responseStream is a
// Writable whose bytes go to the host as ResponseStart / ResponseChunk / ResponseEnd frames
// as they are written. awslambda.HttpResponseStream.from(stream, {statusCode, headers, cookies})
// puts the function URL prelude (its JSON, then 8 NUL bytes) in front of the first write.
import { Writable } from 'node:stream';
import type { HostChannel } from './channel.js';
import { encodeWithLogs } from './frames.js';
import { FrameType } from './protocol.js';

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
export const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const DELIMITER = Buffer.alloc(8);

type BeforeFirstWrite = (write: (chunk: string | Uint8Array) => void) => void;

/** The responseStream a streaming handler writes to. */
/** What a streamed response needs of the host channel. */
export type StreamChannel = Pick<HostChannel, 'credit' | 'send' | 'flushLines' | 'write'>;

export class ResponseStream extends Writable {
  private contentType = DEFAULT_CONTENT_TYPE;
  private started = false;
  /** HttpResponseStream.from's prelude, written once in front of the first bytes. */
  _onBeforeFirstWrite: BeforeFirstWrite | undefined;

  constructor(
    private readonly ch: StreamChannel,
    private readonly requestId: string,
    highWaterMark: number | undefined,
  ) {
    super(highWaterMark !== undefined ? { highWaterMark } : {});
  }

  setContentType(contentType: string): void {
    if (this.started) throw new Error('Tried to set content type after the stream started.');
    this.contentType = contentType;
  }

  /** True once ResponseStart is out. */
  get isStarted(): boolean {
    return this.started;
  }

  /** Sends ResponseStart (and the prelude, if any) when not done yet. */
  begin(): void {
    if (this.started) return;
    this.started = true;
    this.ch.credit.open(this.requestId);
    this.ch.send(FrameType.ResponseStart, JSON.stringify({ requestId: this.requestId, contentType: this.contentType }));
    const before = this._onBeforeFirstWrite;
    if (before) {
      this._onBeforeFirstWrite = undefined;
      before((chunk) => this.sendChunk(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    }
  }

  private sendChunk(bytes: Buffer, cb?: () => void): void {
    if (bytes.length === 0) {
      cb?.();
      return;
    }
    // Whole log lines written so far go first; unfinished ones wait for the end of the invoke.
    this.ch.flushLines();
    this.ch.credit.spend(bytes.length);
    // The write completes once the bytes are out and the host has room for more: with the
    // window used up, write() backs up in this Writable (returns false) as in Lambda.
    const credit = this.ch.credit;
    this.ch.write(encodeWithLogs('', FrameType.ResponseChunk, '', bytes), cb && (() => credit.whenOpen(cb)));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.begin();
    this.sendChunk(chunk, () => cb());
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.begin();
    this.sendChunk(Buffer.concat(chunks.map((c) => c.chunk)), () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.begin();
    cb();
  }
}

/** Installs the `awslambda` global of Lambda's Node.js runtime. */
export function installAwsLambdaGlobal(): void {
  const g = globalThis as unknown as { awslambda?: unknown };
  g.awslambda = {
    streamifyResponse<T extends object>(handler: T, options?: { highWaterMark?: number }): T {
      const h = handler as unknown as Record<symbol, unknown>;
      h[HANDLER_STREAMING] = 'response';
      if (typeof options?.highWaterMark === 'number') h[HANDLER_HIGHWATERMARK] = parseInt(String(options.highWaterMark));
      return handler;
    },
    HttpResponseStream: class HttpResponseStream {
      static from(underlying: ResponseStream, prelude: unknown): ResponseStream {
        underlying.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
        const text = JSON.stringify(prelude);
        underlying._onBeforeFirstWrite = (write) => {
          write(text);
          write(DELIMITER);
        };
        return underlying;
      }
    },
  };
}
