// A worker host's side of worker → manager (protocol.ts): SigV4-signed calls
// to the manager, the register + heartbeat loop that keeps this host known,
// and the two stores a remote WorkerHost uses in place of the server's own:
// function logs shipped in batches, code packages fetched from the manager.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { Pool } from 'undici';
import type { AccessKey } from '../../credentials.js';
import type { FunctionLogSink } from '../../host/sandbox.js';
import type { Logger } from '../../log.js';
import type { CodeStore, StoredCode } from '../../store/code.js';
import { splitLines } from '../../store/logs.js';
import {
  HOSTS_PATH,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type LogBatch,
  type RegisterHostRequest,
  type RegisterHostResponse,
} from './protocol.js';

type Log = Pick<Logger, 'warn' | 'info'>;

/** The manager answered, but not with success. */
export class ManagerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ManagerError';
  }
}

const REQUEST_TIMEOUT_MS = 10_000;
/** A package can be 50 MB zipped: allow for a slow link. */
const CODE_TIMEOUT_MS = 120_000;

/** The manager's API for worker hosts, signed with the root key (keep-alive connections). */
export class ManagerClient {
  private readonly pool: Pool;
  private readonly signer: SignatureV4;
  private readonly base: URL;

  constructor(managerUrl: string, key: AccessKey, region: string, opts: { connections?: number } = {}) {
    this.base = new URL(managerUrl);
    this.pool = new Pool(this.base.origin, { connections: opts.connections ?? 8, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 });
    this.signer = new SignatureV4({
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
      region,
      service: 'lambda',
      sha256: Hash.bind(null, 'sha256'),
    });
  }

  /** The manager's URL, without a trailing slash. */
  get url(): string {
    return this.base.toString().replace(/\/$/, '');
  }

  async register(req: RegisterHostRequest): Promise<RegisterHostResponse> {
    return json(await this.send('POST', HOSTS_PATH, req, REQUEST_TIMEOUT_MS)) as RegisterHostResponse;
  }

  /** Rejects with ManagerError 404 when the manager does not know the host (register again). */
  async heartbeat(hostId: string, req: HeartbeatRequest, timeoutMs = REQUEST_TIMEOUT_MS): Promise<HeartbeatResponse> {
    return json(await this.send('POST', `${HOSTS_PATH}/${encodeURIComponent(hostId)}/heartbeat`, req, timeoutMs)) as HeartbeatResponse;
  }

  async logs(hostId: string, batch: LogBatch, timeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
    await this.send('POST', `${HOSTS_PATH}/${encodeURIComponent(hostId)}/logs`, batch, timeoutMs);
  }

  /** A code package's zip, or undefined when the manager's code store has none. */
  async code(hostId: string, sha256Hex: string): Promise<Buffer | undefined> {
    try {
      return await this.send('GET', `${HOSTS_PATH}/${encodeURIComponent(hostId)}/code/${sha256Hex}`, undefined, CODE_TIMEOUT_MS);
    } catch (err) {
      if (err instanceof ManagerError && err.status === 404) return undefined;
      throw err;
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** The response body of a 2xx; ManagerError otherwise (network failures reject as they come). */
  private async send(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<Buffer> {
    const res = await this.request(method, path, body, timeoutMs);
    if (res.status >= 200 && res.status < 300) return res.bytes;
    throw new ManagerError(res.status, `the manager answered ${method} ${path} with ${res.status}: ${errorText(res.headers['x-amzn-errortype'], res.bytes)}`);
  }

  /** One signed call to the manager, whatever it answers (network failures reject as they come). */
  async request(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: Buffer }> {
    const fullPath = `${this.base.pathname.replace(/\/+$/, '')}${path}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const signed = await this.signer.sign({
      method,
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      ...(this.base.port ? { port: Number(this.base.port) } : {}),
      path: fullPath,
      query: {},
      headers: { host: this.base.host, ...(text !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(text !== undefined ? { body: text } : {}),
    });
    // undici sends its own Host (the same value, from the origin).
    const { host: _host, ...headers } = signed.headers;
    const res = await this.pool.request({
      method,
      path: fullPath,
      headers,
      body: text ?? null,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, bytes };
  }
}

const json = (bytes: Buffer): unknown => (bytes.length === 0 ? {} : JSON.parse(bytes.toString('utf8')));

function errorText(type: string | string[] | undefined, bytes: Buffer): string {
  const text = bytes.toString('utf8');
  let message = text;
  try {
    const body = JSON.parse(text) as { message?: unknown; Message?: unknown };
    const m = body.message ?? body.Message;
    if (typeof m === 'string') message = m;
  } catch {
    // not JSON: the text as it came
  }
  return typeof type === 'string' ? `${type}: ${message}` : message;
}

/** Whether an error means the manager refused this worker's key (no retry will fix it). */
export const isRefusal = (err: unknown): boolean => err instanceof ManagerError && (err.status === 401 || err.status === 403);

// --- register + heartbeat ---

/** What each heartbeat reports of this host. */
export interface HeartbeatSource {
  sandboxes(): string[];
  /** Deaths since the last call; handed over once (the loop keeps them until a heartbeat gets through). */
  takeEnded(): HeartbeatRequest['ended'];
  cachedCode(): string[];
}

export interface HeartbeatLoopOptions {
  client: ManagerClient;
  /** What to register with; its hostId is kept across re-registrations. */
  registration: RegisterHostRequest;
  source: HeartbeatSource;
  log: Log;
  /** The manager did not know this host any more (it restarted, or declared the host dead): it knows none of its sandboxes. */
  onForgotten?: () => void;
  onDraining?: (draining: boolean) => void;
  /** Retry delays after a failure, doubling from min to max. */
  backoffMs?: { min: number; max: number };
}

const ENDED_KEPT_MAX = 10_000;
/** How often a failing streak is logged again. */
const WARN_EVERY_MS = 30_000;

/**
 * Registers, then heartbeats every heartbeatIntervalMs; registers again (same
 * host id) when the manager answers 404; on any other failure keeps trying with
 * backoff, forever. start() resolves at the first registration.
 */
export class HeartbeatLoop {
  private hostIdValue: string | undefined;
  private drainingValue = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsentEnded: HeartbeatRequest['ended'] = [];
  private running: Promise<void> | undefined;
  private intervalMs = 1000;
  private deadAfterMs = 3000;
  private failures = 0;
  private lastWarnAt = 0;

  constructor(private readonly opts: HeartbeatLoopOptions) {}

  /** The host id the manager knows this host by (undefined before the first registration). */
  get hostId(): string | undefined {
    return this.hostIdValue;
  }

  get draining(): boolean {
    return this.drainingValue;
  }

  /** Resolves once registered; rejects when the manager refuses the key at the first attempt. */
  start(): Promise<RegisterHostResponse> {
    return new Promise((resolve, reject) => {
      this.running = this.run(resolve, reject);
    });
  }

  /** Stops heartbeating (an in-flight call finishes on its own). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.running;
  }

  /** One last heartbeat, best effort (shutdown: the manager learns at once that the sandboxes are gone). */
  async finalBeat(timeoutMs: number): Promise<void> {
    if (this.hostIdValue === undefined) return;
    await this.opts.client.heartbeat(this.hostIdValue, this.report(), timeoutMs).catch(() => undefined);
  }

  private report(): HeartbeatRequest {
    this.unsentEnded.push(...this.opts.source.takeEnded());
    if (this.unsentEnded.length > ENDED_KEPT_MAX) this.unsentEnded.splice(0, this.unsentEnded.length - ENDED_KEPT_MAX);
    return { sandboxes: this.opts.source.sandboxes(), ended: [...this.unsentEnded], cachedCode: this.opts.source.cachedCode() };
  }

  private async run(registered: (r: RegisterHostResponse) => void, refused: (err: Error) => void): Promise<void> {
    let known = false;
    let first = true;
    while (!this.stopped) {
      if (!known) {
        try {
          const res = await this.opts.client.register({ ...this.opts.registration, ...(this.hostIdValue !== undefined ? { hostId: this.hostIdValue } : {}) });
          this.hostIdValue = res.hostId;
          this.intervalMs = res.heartbeatIntervalMs;
          this.deadAfterMs = res.deadAfterMs;
          known = true;
          this.succeeded('registered again');
          if (first) registered(res);
          first = false;
        } catch (err) {
          if (first && isRefusal(err)) {
            refused(err as Error);
            return;
          }
          this.failed('could not register with the manager', err);
          await this.sleep(this.backoff());
          continue;
        }
      }
      await this.sleep(this.failures > 0 ? this.backoff() : this.intervalMs);
      if (this.stopped) return;
      try {
        const sent = this.report();
        // Past deadAfterMs the manager has declared this host dead anyway.
        const res = await this.opts.client.heartbeat(this.hostIdValue!, sent, Math.max(1000, this.deadAfterMs));
        this.unsentEnded.splice(0, sent.ended.length);
        this.succeeded('heartbeats got through again');
        if (res.draining !== this.drainingValue) {
          this.drainingValue = res.draining;
          this.opts.onDraining?.(res.draining);
        }
      } catch (err) {
        if (err instanceof ManagerError && err.status === 404) {
          this.opts.log.warn({ hostId: this.hostIdValue }, 'the manager no longer knows this host: registering again');
          known = false;
          this.unsentEnded = [];
          this.opts.onForgotten?.();
          continue;
        }
        this.failed('heartbeat failed', err);
      }
    }
  }

  private backoff(): number {
    const { min, max } = this.opts.backoffMs ?? { min: 250, max: 5000 };
    const base = Math.min(max, min * 2 ** Math.min(this.failures - 1, 20));
    // Jitter, so many workers coming back at once do not arrive together.
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  private failed(what: string, err: unknown): void {
    this.failures++;
    const now = Date.now();
    if (this.failures === 1 || now - this.lastWarnAt >= WARN_EVERY_MS) {
      this.lastWarnAt = now;
      this.opts.log.warn({ err: (err as Error).message, failures: this.failures, manager: this.opts.client.url }, `${what}; retrying`);
    }
  }

  private succeeded(what: string): void {
    if (this.failures > 0) this.opts.log.info({ failures: this.failures }, what);
    this.failures = 0;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    }).then(() => {
      this.wake = undefined;
      this.timer = undefined;
    });
  }
}

// --- function logs ---

export interface ManagerLogSinkOptions {
  flushMs?: number;
  /** A batch is sent at once when this many lines wait; no batch is larger. */
  batchLines?: number;
  /** Lines kept while the manager is unreachable; past it the oldest go. */
  maxLines?: number;
  /** After a failed send, wait this long before the next. */
  retryMs?: number;
}

type LogLine = LogBatch['lines'][number];

/** Function log lines, buffered and POSTed to the manager (its log store) in batches. */
export class ManagerLogSink implements FunctionLogSink {
  private queue: LogLine[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private failing = false;
  private closed = false;
  /** Lines dropped since the last report, and ever. */
  private droppedUnreported = 0;
  dropped = 0;
  private readonly flushMs: number;
  private readonly batchLines: number;
  private readonly maxLines: number;
  private readonly retryMs: number;

  constructor(
    private readonly client: ManagerClient,
    private readonly hostId: () => string | undefined,
    private readonly log: Log,
    opts: ManagerLogSinkOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 250;
    this.batchLines = opts.batchLines ?? 1000;
    this.maxLines = opts.maxLines ?? 20_000;
    this.retryMs = opts.retryMs ?? 1000;
  }

  /** Lines waiting to be sent. */
  get pending(): number {
    return this.queue.length;
  }

  append(functionName: string, logStream: string, text: string): void {
    const timestamp = Date.now();
    for (const line of splitLines(text)) this.queue.push({ functionName, logStream, text: `${line}\n`, timestamp });
    this.trim();
    this.sendSoon(this.nextDelay());
  }

  /** Sends what is buffered (one attempt per batch); resolves when done or failed. */
  async flush(): Promise<void> {
    if (this.sending) await this.sending;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.startSending();
  }

  /** Stops the timer and tries once more to send what is left. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private sendSoon(ms: number): void {
    if (this.sending || this.closed) return;
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.startSending();
    }, ms);
  }

  /** When the next send should go: at once for a full batch, later while the manager is unreachable. */
  private nextDelay(): number {
    if (this.failing || this.hostId() === undefined) return this.retryMs;
    return this.queue.length >= this.batchLines ? 0 : this.flushMs;
  }

  private startSending(): Promise<void> {
    const p = this.sendAll().finally(() => {
      if (this.sending === p) this.sending = undefined;
      if (this.queue.length > 0) this.sendSoon(this.nextDelay());
    });
    this.sending = p;
    return p;
  }

  private async sendAll(): Promise<void> {
    const hostId = this.hostId();
    // Not registered yet: the lines wait.
    while (hostId !== undefined && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchLines);
      try {
        await this.client.logs(hostId, { lines: batch });
      } catch (err) {
        // Back in front, in order; the oldest go if that is too many.
        this.queue = batch.concat(this.queue);
        this.trim();
        if (!this.failing) this.log.warn({ err: (err as Error).message }, 'could not send function logs to the manager; keeping them');
        this.failing = true;
        return;
      }
      this.failing = false;
      if (this.droppedUnreported > 0) {
        this.log.warn({ dropped: this.droppedUnreported }, 'dropped the oldest function log lines while the manager was unreachable');
        this.droppedUnreported = 0;
      }
    }
  }

  private trim(): void {
    const over = this.queue.length - this.maxLines;
    if (over <= 0) return;
    this.queue.splice(0, over);
    this.dropped += over;
    this.droppedUnreported += over;
  }
}

// --- code packages ---

const HEX = /^[0-9a-f]{64}$/;

/** The code store as a worker host sees it: packages fetched from the manager, checked against their hash. */
export class ManagerCodeStore implements CodeStore {
  constructor(
    private readonly client: ManagerClient,
    /** Known once the host has registered (the first Init comes after). */
    private readonly hostId: () => string | undefined,
  ) {}

  async get(sha256Hex: string): Promise<Buffer | undefined> {
    if (!HEX.test(sha256Hex)) throw new Error(`not a SHA-256: ${sha256Hex}`);
    const hostId = this.hostId();
    if (hostId === undefined) throw new Error('this worker host has not registered with its manager yet');
    const zip = await this.client.code(hostId, sha256Hex);
    if (zip === undefined) return undefined;
    const got = createHash('sha256').update(zip).digest('hex');
    if (got !== sha256Hex) throw new Error(`code package ${sha256Hex} arrived damaged from the manager (its SHA-256 is ${got})`);
    return zip;
  }

  async open(sha256Hex: string): Promise<{ stream: Readable; size: number } | undefined> {
    const zip = await this.get(sha256Hex);
    return zip === undefined ? undefined : { stream: Readable.from([zip]), size: zip.length };
  }

  put(_zip: Buffer): Promise<StoredCode> {
    return Promise.reject(new Error('a worker host cannot store code: packages are stored through the manager'));
  }

  delete(_sha256Hex: string): Promise<void> {
    return Promise.reject(new Error('a worker host cannot store code: packages are deleted through the manager'));
  }
}
