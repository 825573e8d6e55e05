// The host-guest stream: the one channel between a worker host and a sandbox
// (a socketpair for processes and namespaces, virtio-serial for micro-VMs).
// Both host/ and guest/ import this module; it imports only Node built-ins.
//
// Frame: u32 BE length of the rest | u8 type | u32 BE meta length | meta (JSON) | payload (bytes)

export const FrameType = {
  /** host -> guest: the function to become (env, handler, code folder). */
  Init: 1,
  /** host -> guest: one event to run. */
  Invoke: 2,
  /** host -> guest (micro-VMs): files for the code or layers folder (meta FilesMeta, payload = their bytes in order). */
  Files: 3,
  /** host -> guest (micro-VMs, after Files): the restored VM becomes this sandbox (meta PrepareMeta); the guest answers Prepared. */
  Prepare: 4,
  /** host -> guest (micro-VMs, after Prepared, before Init): the host's clock, epoch ms (meta ClockMeta). */
  Clock: 5,
  /** host -> guest: the host took streamed bytes off its hands: the guest may send that many more (meta CreditMeta). */
  Credit: 6,
  /**
   * host -> guest (pooled sandboxes, at Standby): nothing to do. The agent reads it so that
   * its first read of the stream (Node's socket read path, the frame decoder) is not a cold start's Init.
   */
  Warmup: 7,
  /** guest -> host: Init done, ready for invokes. */
  Ready: 10,
  /** guest -> host: Init failed (POST /runtime/init/error, or the runtime died first). */
  InitError: 11,
  /** guest -> host: the function's result. */
  Response: 12,
  /** guest -> host: the function's error (POST /runtime/invocation/{id}/error). */
  Error: 13,
  /** guest -> host: lines the function wrote. */
  Log: 14,
  /** guest -> host: the runtime process exited. */
  Exit: 15,
  /** guest -> host: a streamed response begins (meta StreamStartMeta); chunks and one ResponseEnd follow. */
  ResponseStart: 16,
  /** guest -> host: the next bytes of the streamed response (meta empty, payload = the bytes). */
  ResponseChunk: 17,
  /** guest -> host: the streamed response is over (meta StreamEndMeta; with errorType, payload = the error body). */
  ResponseEnd: 18,
  /** guest -> host (micro-VMs): Prepare is done; the host answers with Clock at once, so the clock is off by one hop only. */
  Prepared: 19,
  /** guest -> host (pooled sandboxes): the agent is up, its runtime loaded, and waits for a function's Init. */
  Standby: 20,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

export interface InitMeta {
  /** The whole environment the runtime sees (Lambda's variables and the function's own). */
  env: Record<string, string>;
  /** nodejs | python | provided */
  family: string;
  handler: string;
  /** The function's code, read-only (LAMBDA_TASK_ROOT). */
  taskRoot: string;
  /** The layers folder (absent: /opt), where a provided runtime's fallback bootstrap lives. */
  optDir?: string;
  /** Address the Runtime API is served on inside the sandbox, "127.0.0.1:9001" or ":0" for any free port. */
  runtimeApiListen: string;
}

/** One file, folder or symlink of a Files frame; a file's bytes follow the previous file's in the payload. */
export interface FileEntry {
  /** Path relative to the frame's root, without '..'. */
  p: string;
  t: 'f' | 'd' | 'l';
  /** Permission bits. */
  m: number;
  /** Bytes of this entry in the payload (files). */
  s?: number;
  /** Appends to the file the previous entry started (a large file spans frames). */
  a?: 1;
  /** A symlink's target. */
  l?: string;
}

export interface FilesMeta {
  /** '/var/task' or '/opt'. */
  root: string;
  entries: FileEntry[];
}

export interface PrepareMeta {
  /** Host randomness for the guest kernel's pool, hex. */
  seed: string;
  /** The function's EphemeralStorage, MB (the size of /tmp). */
  tmpMb: number;
  uid: number;
  gid: number;
}

export interface ClockMeta {
  /** The host's clock, epoch ms (a restored VM wakes with the time of its snapshot). */
  timeMs: number;
}

export interface ReadyMeta {
  initDurationMs: number;
  /** Epoch ms (timeOrigin + now) of Init's steps in the guest, for the host's cold start breakdown. */
  at?: { received: number; become: number; handler: number; ready: number };
}

export interface InvokeMeta {
  requestId: string;
  /** Epoch milliseconds when the invoke's Timeout runs out. */
  deadlineMs: number;
  invokedFunctionArn: string;
  traceId: string;
  clientContext?: string;
  cognitoIdentity?: string;
}

export interface ResultMeta {
  requestId: string;
  /** For Error frames: Lambda-Runtime-Function-Error-Type, or the runtime's own type. */
  errorType?: string;
}

export interface StreamStartMeta {
  requestId: string;
  /** The stream's content type (the Node runtime's setContentType, the runtime's Content-Type header). */
  contentType: string;
}

export interface StreamEndMeta {
  requestId: string;
  /** Set when the stream ended with an error (Lambda-Runtime-Function-Error-Type, or the runtime's own type). */
  errorType?: string;
}

/**
 * Backpressure for a streamed response: the guest may have this many ResponseChunk bytes
 * sent and not yet credited back. Every stream starts with this window; the host returns
 * credit (Credit frames, in batches) as its consumer takes the bytes, and withholds it while
 * the consumer is full, so the runtime's writes stall instead of piling up on the host.
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024;

export interface CreditMeta {
  /** The streaming invoke the credit is for (credit for another one is ignored). */
  requestId: string;
  bytes: number;
}

/** Lambda's limit for a streamed response: 20 MiB (the host enforces it too). */
export const STREAM_RESPONSE_MAX_BYTES = 20 * 1024 * 1024;

export interface ExitMeta {
  code: number | null;
  signal: string | null;
}

export interface Frame {
  type: number;
  meta: Record<string, unknown>;
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);
const HEADER = 9;

export function encodeFrame(type: number, meta: object | undefined, payload: Buffer | string = EMPTY): Buffer {
  const metaBuf = meta === undefined ? EMPTY : Buffer.from(JSON.stringify(meta));
  const payloadLen = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const out = Buffer.allocUnsafe(HEADER + metaBuf.length + payloadLen);
  out.writeUInt32BE(5 + metaBuf.length + payloadLen, 0);
  out.writeUInt8(type, 4);
  out.writeUInt32BE(metaBuf.length, 5);
  metaBuf.copy(out, HEADER);
  if (typeof payload === 'string') out.write(payload, HEADER + metaBuf.length);
  else payload.copy(out, HEADER + metaBuf.length);
  return out;
}

/** Turns a byte stream into frames; feed it every chunk in order. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly onFrame: (frame: Frame) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const head = this.peek(4);
      const len = head.readUInt32BE(0);
      if (this.buffered < 4 + len) return;
      const frame = this.take(4 + len);
      const type = frame.readUInt8(4);
      const metaLen = frame.readUInt32BE(5);
      const meta = metaLen === 0 ? {} : (JSON.parse(frame.toString('utf8', HEADER, HEADER + metaLen)) as Record<string, unknown>);
      this.onFrame({ type, meta, payload: frame.subarray(HEADER + metaLen) });
    }
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    return this.flatten();
  }

  private flatten(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }

  private take(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) first = this.flatten();
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}
