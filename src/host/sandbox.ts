// One sandbox as its host sees it: the guest agent behind a driver, spoken to
// over the host-guest stream. Runs Init once, then one invoke at a time, with
// the function's deadline and memory enforced from outside.
import { FunctionErrorType } from '../errors.js';
import { LOG_PER_INVOKE_MAX_BYTES, LOG_TAIL_BYTES, SYNC_RESPONSE_MAX_BYTES } from '../limits.js';
import {
  encodeFrame,
  FrameDecoder,
  FrameType,
  STREAM_RESPONSE_MAX_BYTES,
  STREAM_WINDOW_BYTES,
  type Frame,
  type InitMeta,
  type InvokeMeta,
} from '../guest/protocol.js';
import type { SandboxExit, SandboxProcess } from '../sandbox/driver.js';
import { endLine, platformLine, reportLine, startLine } from './report.js';

export interface FunctionLogSink {
  /** Appends text (whole lines) to a function's log stream. */
  append(functionName: string, logStream: string, text: string): void;
}

export interface SandboxInvoke {
  requestId: string;
  payload: Buffer;
  invokedFunctionArn: string;
  traceId: string;
  /** The decoded JSON of X-Amz-Client-Context. */
  clientContext?: string;
  cognitoIdentity?: string;
  /** Collect the log tail (X-Amz-Log-Type: Tail). */
  tail: boolean;
  /**
   * The caller takes a streamed response as it comes (InvokeWithResponseStream, RESPONSE_STREAM
   * function URLs). Without it a streamed response is buffered into `payload` (6 MB limit), as
   * Lambda's Invoke does. A buffered response still arrives whole in the result (streamed unset).
   */
  stream?: ResponseSink;
}

/** Receives a streamed response: start once, then its chunks in order; the invoke's result ends it. */
export interface ResponseSink {
  /** The invoke service picked the version that runs (before any start/chunk). */
  begin?(executedVersion: string): void;
  start(contentType: string): void;
  /**
   * Takes the next bytes. A promise says the consumer is full: the sandbox sends no more
   * credit to the function until it settles (once the consumer drained, or went away;
   * it never rejects). Chunks may still arrive meanwhile, up to the credit already out.
   */
  chunk(bytes: Buffer): void | Promise<void>;
}

export interface SandboxResult {
  /** The function's response, or Lambda's error body when functionError is set. */
  payload: Buffer;
  functionError?: 'Unhandled';
  errorType?: string;
  /** base64 of the last 4 KB of the invoke's log, when asked for. */
  logResult?: string;
  durationMs: number;
  initDurationMs?: number;
  /** False when the sandbox must not run another invoke. */
  reusable: boolean;
  /** The response went to req.stream (payload is empty, or the error body when functionError is set). */
  streamed?: boolean;
  /** A streamed response's content type (also when it was buffered for a caller without a sink). */
  contentType?: string;
}

export interface SandboxIdentity {
  id: string;
  functionName: string;
  version: string;
  memoryMb: number;
  timeoutSeconds: number;
  logStream: string;
}

/**
 * What the Worker Manager and the invoke path use of a sandbox: one on this
 * machine (Sandbox) or on a worker host that joined the manager (RemoteSandbox).
 */
export interface SandboxHandle {
  readonly identity: SandboxIdentity;
  readonly state: 'init' | 'ready' | 'busy' | 'dead';
  /** When its last invoke ended (Date.now()), for reaping and LRU eviction. */
  readonly lastUsed: number;
  invoke(req: SandboxInvoke): Promise<SandboxResult>;
  /** Ends the sandbox now, without waiting. */
  kill(): void;
  /** Ends the sandbox and waits until it is gone. */
  destroy(): Promise<void>;
  /** Called once when the sandbox ends (at once when it already has). */
  onDead(listener: () => void): void;
}

/** Where one cold start's time went on its host, ms (the bench's breakdown). */
export interface ColdStartPhases {
  /** Package from the code store into the host's cache, unpacked (near 0 when cached), and the layers. */
  codeMs: number;
  /** True when a pooled generic sandbox took the code; false: launched for this function. */
  pooled: boolean;
  /** Taking and attaching a pooled sandbox, or launching one. */
  sandboxMs: number;
  /** Init sent to Ready: the agent becoming the function, the runtime start (Node.js itself, when launched), the handler's import. */
  initMs: number;
  /** The whole of createSandbox. */
  totalMs: number;
  /** initMs as the guest's timestamps split it (when it sent them): see GuestInitPhases. */
  guest?: GuestInitPhases;
}

/** Init to Ready, split by the guest's own timestamps (epoch ms, so across processes). */
export interface GuestInitPhases {
  /** Init written by the host to the agent handling it (the guest's wake-up). */
  initInMs: number;
  /** The agent becoming the function: environment, folder, console patch, runtime set up. */
  becomeMs: number;
  /** The handler's import (Lambda's "Init" of the function's own code). */
  handlerMs: number;
  /** Ready written by the guest to the host reading it. */
  readyOutMs: number;
}

/** Init could not complete: what the first invoke reports instead of running. */
export class InitFailure extends Error {
  constructor(
    readonly errorType: string,
    readonly body: Buffer,
    readonly logs: string,
    readonly durationMs: number,
  ) {
    super(`init failed: ${errorType}`);
  }
}

const SIGNAL_TEXT: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: 'killed',
  SIGABRT: 'aborted (core dumped)',
  SIGSEGV: 'segmentation fault (core dumped)',
  SIGTERM: 'terminated',
  SIGBUS: 'bus error (core dumped)',
  SIGILL: 'illegal instruction (core dumped)',
  SIGFPE: 'floating point exception (core dumped)',
};

/** Lambda's words for how a runtime process ended (they are Go's). */
export function exitReason(exit: SandboxExit): string {
  if (exit.signal) return `Runtime exited with error: signal: ${SIGNAL_TEXT[exit.signal] ?? exit.signal.toLowerCase()}`;
  if (exit.code === 0 || exit.code === null) return 'Runtime exited without providing a reason';
  return `Runtime exited with error: exit status ${exit.code}`;
}

const errorBody = (errorType: string, errorMessage: string): Buffer =>
  Buffer.from(JSON.stringify({ errorType, errorMessage }));

const EMPTY = Buffer.alloc(0);
const MEMORY_POLL_MS = 25;
const EXIT_GRACE_MS = 1000;

interface Pending {
  req: SandboxInvoke;
  started: number;
  log: string[] | undefined;
  logBytes: number;
  resolve: (r: SandboxResult) => void;
  timer: NodeJS.Timeout;
  watchdog: NodeJS.Timeout | undefined;
  timedOut: boolean;
  oom: boolean;
  /** A streamed response: set at ResponseStart. */
  stream?: StreamState;
}

interface StreamState {
  contentType: string;
  bytes: number;
  /** Buffered for a caller without a sink (dropped once over the 6 MB limit). */
  chunks: Buffer[] | undefined;
  over: boolean;
  /** Bytes the consumer took that the guest has not been credited for yet. */
  owed: number;
  /** The sink is full until this settles: no credit goes out meanwhile. */
  full: Promise<void> | undefined;
}

/** Credit goes back in batches of this (one Credit frame per quarter window, not per chunk). */
const CREDIT_BATCH_BYTES = STREAM_WINDOW_BYTES / 4;

export class Sandbox implements SandboxHandle {
  state: 'init' | 'ready' | 'busy' | 'dead' = 'init';
  lastUsed = Date.now();
  /** Where its cold start's time went (set by the host once Init is done). */
  startup: ColdStartPhases | undefined;
  /** Ready's meta (the guest's account of its Init) and when it came, epoch ms: for the cold start breakdown. */
  readyFrame: { meta: Record<string, unknown>; atMs: number } | undefined;
  /** Set on a cold sandbox until its first invoke reports it. */
  private pendingInitMs: number | undefined;
  private initLog: string[] = [];
  private current: Pending | undefined;
  private initWaiter: { resolve: () => void; reject: (e: InitFailure) => void } | undefined;
  private exit: SandboxExit | undefined;
  /** How the runtime said it exited (Exit frame), which beats the agent's own exit status. */
  private reportedExit: SandboxExit | undefined;
  private readonly deadListeners: (() => void)[] = [];
  /** Called once, when the first invoke is over (or the sandbox died first). */
  private firstInvokeListeners: (() => void)[] | undefined = [];

  constructor(
    readonly identity: SandboxIdentity,
    private readonly proc: SandboxProcess,
    private readonly logs: FunctionLogSink,
    private readonly watchMemory: boolean,
  ) {
    const decoder = new FrameDecoder((f) => this.onFrame(f));
    proc.stream.on('data', (chunk: Buffer) => decoder.push(chunk));
    proc.stream.on('error', () => undefined);
    for (const out of proc.output) out.on('data', (chunk: Buffer) => this.onLog(chunk.toString('utf8')));
    proc.exited.then((exit) => this.onExit(exit));
  }

  get pid(): number {
    return this.proc.pid;
  }

  onDead(listener: () => void): void {
    if (this.state === 'dead') listener();
    else this.deadListeners.push(listener);
  }

  /** Calls `listener` once the first invoke has been answered (at once if it was, or if the sandbox is dead). */
  afterFirstInvoke(listener: () => void): void {
    if (this.firstInvokeListeners === undefined || this.state === 'dead') listener();
    else this.firstInvokeListeners.push(listener);
  }

  private firstInvokeOver(): void {
    const ls = this.firstInvokeListeners;
    this.firstInvokeListeners = undefined;
    if (ls) for (const l of ls) l();
  }

  /** Init ran ahead of demand (provisioned concurrency): the first invoke reports no Init Duration and no init logs. */
  markPrewarmed(): void {
    this.pendingInitMs = undefined;
    this.initLog = [];
  }

  /** Runs Init: resolves once the runtime is ready, rejects with InitFailure. */
  init(meta: InitMeta, timeoutMs: number): Promise<void> {
    const started = performance.now();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill();
        reject(this.initFailure(FunctionErrorType.Timedout, errorBody(FunctionErrorType.Timedout, `Init timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`), started));
      }, timeoutMs);
      this.initWaiter = {
        resolve: () => {
          clearTimeout(timer);
          this.pendingInitMs = performance.now() - started;
          this.state = 'ready';
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.write(encodeFrame(FrameType.Init, meta));
    }).finally(() => {
      this.initWaiter = undefined;
    });
  }

  private initFailure(errorType: string, body: Buffer, started: number): InitFailure {
    const f = new InitFailure(errorType, body, this.initLog.join(''), performance.now() - started);
    this.kill();
    return f;
  }

  invoke(req: SandboxInvoke): Promise<SandboxResult> {
    if (this.state !== 'ready') throw new Error(`sandbox ${this.identity.id} is ${this.state}, not ready`);
    this.state = 'busy';
    const { identity } = this;
    const meta: InvokeMeta = {
      requestId: req.requestId,
      deadlineMs: Date.now() + identity.timeoutSeconds * 1000,
      invokedFunctionArn: req.invokedFunctionArn,
      traceId: req.traceId,
      ...(req.clientContext !== undefined ? { clientContext: req.clientContext } : {}),
      ...(req.cognitoIdentity !== undefined ? { cognitoIdentity: req.cognitoIdentity } : {}),
    };
    return new Promise<SandboxResult>((resolve) => {
      const pending: Pending = {
        req,
        started: performance.now(),
        log: req.tail ? [...this.initLog] : undefined,
        logBytes: 0,
        resolve,
        timer: setTimeout(() => this.onTimeout(), identity.timeoutSeconds * 1000),
        watchdog: this.watchMemory ? setInterval(() => this.checkMemory(), MEMORY_POLL_MS) : undefined,
        timedOut: false,
        oom: false,
      };
      this.initLog = [];
      this.logKept = 0;
      this.current = pending;
      this.appendLog(startLine(req.requestId, identity.version));
      this.write(encodeFrame(FrameType.Invoke, meta, req.payload));
    });
  }

  private write(frame: Buffer): void {
    if (!this.proc.stream.destroyed) this.proc.stream.write(frame);
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.Ready:
        this.readyFrame = { meta: f.meta, atMs: performance.timeOrigin + performance.now() };
        this.initWaiter?.resolve();
        return;
      case FrameType.InitError:
        this.initWaiter?.reject(this.initFailure(String(f.meta.errorType ?? FunctionErrorType.Unknown), f.payload, performance.now()));
        return;
      case FrameType.Log:
        this.onLog(f.payload.toString('utf8'));
        return;
      case FrameType.Response:
        if (!this.current || f.meta.requestId !== this.current.req.requestId) return;
        if (f.payload.length > SYNC_RESPONSE_MAX_BYTES) {
          this.finish(
            errorBody(
              FunctionErrorType.ResponseSizeTooLarge,
              `Response payload size exceeded maximum allowed payload size (${SYNC_RESPONSE_MAX_BYTES} bytes).`,
            ),
            FunctionErrorType.ResponseSizeTooLarge,
            true,
          );
          return;
        }
        this.finish(f.payload, undefined, true);
        return;
      case FrameType.Error:
        if (!this.current || f.meta.requestId !== this.current.req.requestId) return;
        this.finish(f.payload, String(f.meta.errorType ?? 'Unhandled'), true);
        return;
      case FrameType.ResponseStart:
      case FrameType.ResponseChunk:
      case FrameType.ResponseEnd:
        this.onStreamFrame(f);
        return;
      case FrameType.Exit:
        // The runtime is on its way out and said how; its process exit ends the
        // sandbox. Should it linger, it is killed, keeping the reported status.
        this.reportedExit = { code: (f.meta.code as number | null) ?? null, signal: (f.meta.signal as NodeJS.Signals | null) ?? null };
        setTimeout(() => this.proc.kill(), EXIT_GRACE_MS).unref();
        return;
      default:
        return;
    }
  }

  private onStreamFrame(f: Frame): void {
    const p = this.current;
    if (!p) return;
    const sink = p.req.stream;
    if (f.type === FrameType.ResponseStart) {
      if (f.meta.requestId !== p.req.requestId || p.stream) return;
      const contentType = typeof f.meta.contentType === 'string' && f.meta.contentType !== '' ? f.meta.contentType : 'application/octet-stream';
      p.stream = { contentType, bytes: 0, chunks: sink ? undefined : [], over: false, owed: 0, full: undefined };
      sink?.start(contentType);
      return;
    }
    const s = p.stream;
    if (!s) return;
    if (f.type === FrameType.ResponseChunk) {
      if (s.over || f.payload.length === 0) return;
      s.bytes += f.payload.length;
      if (sink) {
        if (s.bytes > STREAM_RESPONSE_MAX_BYTES) {
          // The runtime is still writing: the sandbox is not reused.
          s.over = true;
          this.finish(
            errorBody(FunctionErrorType.ResponseSizeTooLarge, `Response payload size exceeded maximum allowed payload size (${STREAM_RESPONSE_MAX_BYTES} bytes).`),
            FunctionErrorType.ResponseSizeTooLarge,
            false,
          );
          return;
        }
        s.owed += f.payload.length;
        const full = sink.chunk(f.payload);
        if (full) this.holdCredit(p, s, full);
        else if (s.full === undefined && s.owed >= CREDIT_BATCH_BYTES) this.sendCredit(p, s);
        return;
      }
      if (s.bytes > SYNC_RESPONSE_MAX_BYTES) {
        s.over = true;
        s.chunks = [];
      } else {
        s.chunks!.push(f.payload);
      }
      // Buffered here: the runtime may go on writing (to the end, or past the limit it is told of).
      s.owed += f.payload.length;
      if (s.owed >= CREDIT_BATCH_BYTES) this.sendCredit(p, s);
      return;
    }
    // ResponseEnd
    if (f.meta.requestId !== p.req.requestId) return;
    const errorType = typeof f.meta.errorType === 'string' ? f.meta.errorType : undefined;
    if (errorType !== undefined) {
      this.finish(f.payload, errorType, true);
    } else if (s.over) {
      this.finish(
        errorBody(FunctionErrorType.ResponseSizeTooLarge, `Response payload size exceeded maximum allowed payload size (${SYNC_RESPONSE_MAX_BYTES} bytes).`),
        FunctionErrorType.ResponseSizeTooLarge,
        true,
      );
    } else {
      this.finish(sink ? EMPTY : Buffer.concat(s.chunks!, s.bytes), undefined, true);
    }
  }

  /** The sink is full: credit waits until `full` settles (the latest such promise wins). */
  private holdCredit(p: Pending, s: StreamState, full: Promise<void>): void {
    if (s.full === full) return;
    s.full = full;
    const settled = (): void => {
      if (s.full !== full) return;
      s.full = undefined;
      this.sendCredit(p, s);
    };
    full.then(settled, settled);
  }

  /** Returns the credit the consumer has earned to the guest (nothing once the invoke is over). */
  private sendCredit(p: Pending, s: StreamState): void {
    if (this.current !== p || s.owed === 0) return;
    const bytes = s.owed;
    s.owed = 0;
    this.write(encodeFrame(FrameType.Credit, { requestId: p.req.requestId, bytes }));
  }

  /** Function output logged since the current invoke (or the init) began, bytes; a flood stops at the cap. */
  private logKept = 0;

  private onLog(text: string): void {
    if (text.length === 0) return;
    const room = LOG_PER_INVOKE_MAX_BYTES - this.logKept;
    if (room <= 0) return;
    const bytes = Buffer.byteLength(text);
    if (bytes > room) {
      const kept = Buffer.from(text).subarray(0, room).toString('utf8');
      text = `${kept}${kept.endsWith('\n') ? '' : '\n'}[kindling] log truncated: this invoke wrote more than ${LOG_PER_INVOKE_MAX_BYTES} bytes of log\n`;
      this.logKept = LOG_PER_INVOKE_MAX_BYTES;
    } else {
      this.logKept += bytes;
    }
    if (this.current) this.appendLog(text);
    else {
      if (this.state === 'init') this.initLog.push(text);
      this.logs.append(this.identity.functionName, this.identity.logStream, text);
    }
  }

  private appendLog(text: string): void {
    const p = this.current;
    if (p?.log) {
      p.log.push(text);
      p.logBytes += text.length;
      // Keep only what the 4 KB tail can still use.
      while (p.log.length > 1 && p.logBytes - p.log[0]!.length > LOG_TAIL_BYTES * 2) p.logBytes -= p.log.shift()!.length;
    }
    this.logs.append(this.identity.functionName, this.identity.logStream, text);
  }

  private onTimeout(): void {
    const p = this.current;
    if (!p) return;
    p.timedOut = true;
    this.kill();
    const msg = `Task timed out after ${this.identity.timeoutSeconds.toFixed(2)} seconds`;
    this.appendLog(platformLine(p.req.requestId, msg));
    this.finish(errorBody(FunctionErrorType.Timedout, `RequestId: ${p.req.requestId} Error: ${msg}`), FunctionErrorType.Timedout, false);
  }

  private checkMemory(): void {
    const p = this.current;
    if (!p) return;
    if (this.proc.memory().currentMb > this.identity.memoryMb) {
      p.oom = true;
      this.kill();
    }
  }

  private onExit(processExit: SandboxExit): void {
    const exit = this.reportedExit ?? processExit;
    this.exit = exit;
    const wasInit = this.state === 'init';
    this.state = 'dead';
    if (wasInit && this.initWaiter) {
      const reason = exitReason(exit);
      this.initWaiter.reject(
        new InitFailure(FunctionErrorType.ExitError, errorBody(FunctionErrorType.ExitError, `Error: ${reason}`), this.initLog.join(''), 0),
      );
    }
    const p = this.current;
    if (p && !p.timedOut) {
      const oom = p.oom || this.proc.oomKilled();
      const reason = oom ? exitReason({ code: null, signal: 'SIGKILL' }) : exitReason(exit);
      const type = oom ? FunctionErrorType.OutOfMemory : FunctionErrorType.ExitError;
      this.finish(errorBody(type, `RequestId: ${p.req.requestId} Error: ${reason}`), type, false);
    }
    for (const l of this.deadListeners.splice(0)) l();
    this.firstInvokeOver();
  }

  private finish(payload: Buffer, errorType: string | undefined, reusable: boolean): void {
    const p = this.current;
    if (!p) return;
    this.current = undefined;
    clearTimeout(p.timer);
    if (p.watchdog) clearInterval(p.watchdog);
    const durationMs = performance.now() - p.started;
    const initDurationMs = this.pendingInitMs;
    this.pendingInitMs = undefined;
    const alive = reusable && this.state !== 'dead';
    const platformError = errorType === FunctionErrorType.Timedout || errorType === FunctionErrorType.ExitError || errorType === FunctionErrorType.OutOfMemory;
    const endText =
      endLine(p.req.requestId) +
      reportLine({
        requestId: p.req.requestId,
        durationMs,
        memorySizeMb: this.identity.memoryMb,
        maxMemoryUsedMb: Math.min((this.proc.peakMemoryMb ? this.proc.peakMemoryMb() : this.proc.memory().peakMb) || 0, this.identity.memoryMb),
        ...(initDurationMs !== undefined ? { initDurationMs } : {}),
        ...(errorType === FunctionErrorType.Timedout ? { status: 'timeout' as const } : platformError ? { status: 'error' as const, errorType } : {}),
      });
    const log = p.log;
    this.current = p; // so the END/REPORT lines land in this invoke's tail
    this.appendLog(endText);
    this.current = undefined;
    if (alive) {
      this.state = 'ready';
      this.lastUsed = Date.now();
    } else if (this.state !== 'dead') {
      this.kill();
    }
    const result: SandboxResult = { payload, durationMs, reusable: alive };
    if (initDurationMs !== undefined) result.initDurationMs = initDurationMs;
    if (p.stream) {
      result.contentType = p.stream.contentType;
      if (p.req.stream) result.streamed = true;
    }
    if (errorType !== undefined) {
      result.functionError = 'Unhandled';
      result.errorType = errorType;
    }
    if (log) result.logResult = tail(log.join(''));
    p.resolve(result);
    this.firstInvokeOver();
  }

  kill(): void {
    if (this.exit) return;
    if (this.state !== 'busy') this.state = 'dead';
    this.proc.kill();
  }

  /** Ends the sandbox and waits for its process to be gone. */
  async destroy(): Promise<void> {
    this.kill();
    await this.proc.exited;
  }
}

/** base64 of the last 4 KB of a log, cut at a character boundary. */
function tail(text: string): string {
  let buf = Buffer.from(text, 'utf8');
  if (buf.length > LOG_TAIL_BYTES) {
    buf = buf.subarray(buf.length - LOG_TAIL_BYTES);
    let i = 0;
    while (i < buf.length && (buf[i]! & 0xc0) === 0x80) i++;
    buf = buf.subarray(i);
  }
  return buf.toString('base64');
}
