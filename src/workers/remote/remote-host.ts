// A worker host that joined this manager (`kindling worker --join`), as
// placement and the Worker Manager see it: a PlacementHost whose sandboxes live
// behind the worker's sandbox API (protocol.ts), spoken to over one keep-alive
// undici Pool per host.
import { Pool, type Dispatcher } from 'undici';
import type { FunctionVersion } from '../../control/model.js';
import { LambdaError, serviceException } from '../../errors.js';
import { InitFailure, type SandboxHandle, type SandboxIdentity, type SandboxInvoke, type SandboxResult } from '../../host/sandbox.js';
import { HostCannotRun, type CreateSandboxOptions, type PlacementHost } from '../../placement/placement.js';
import type { SandboxSettings } from '../../sandbox/function-tags.js';
import { base64ToHex } from '../../store/code.js';
import {
  decodeResultFrame,
  FrameKind,
  HEARTBEAT_INTERVAL_MS,
  INVOKE_HEADER,
  InvokeFrameDecoder,
  type CreateSandboxRequest,
  type CreateSandboxResponse,
  type HeartbeatRequest,
  type InitFailureBody,
  type InvokeRequestMeta,
} from './protocol.js';

/** A worker that does not accept a connection within this is treated as unreachable. */
const CONNECT_TIMEOUT_MS = 2000;
/** Room past a function's timeout for the worker to report it (its own deadline fires first). */
const INVOKE_MARGIN_MS = 30_000;
/** Code download (up to 120 s on the worker) + unpack + Init (10 s). */
const CREATE_TIMEOUT_MS = 180_000;
/** DELETE ?how=destroy waits for the sandbox's process to be gone. */
const END_TIMEOUT_MS = 15_000;
/** A sandbox marked dead mid-invoke gets this long for its RESULT (already on the wire) before the call is cut. */
const DEAD_ABORT_GRACE_MS = 1000;

/** No connection could be made: the host itself is likely gone. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
/** No response was received for another reason: the socket closed first, or the host's pool was closed. */
const NO_RESPONSE = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);

/**
 * The sandbox (or its host) could not be reached and no response was received:
 * the invoke never started, so the caller may run it elsewhere. Renders as
 * Lambda's ServiceException should it reach a client.
 */
export class SandboxUnreachable extends LambdaError {
  constructor(
    readonly hostId: string,
    readonly detail: string,
    cause?: unknown,
  ) {
    super('ServiceException', 500, 'The worker host of the sandbox could not be reached.', { cause });
  }
}

export interface RemoteHostOptions {
  id: string;
  /** The worker's sandbox API, e.g. http://10.0.0.5:9100. */
  url: string;
  token: string;
  memoryMb: number;
  drivers: string[];
  /** A function's sandbox settings (its kindling:* tags), read by the manager at each cold start. */
  settings: (fn: FunctionVersion) => Promise<SandboxSettings>;
}

export interface CallOptions {
  body?: Buffer | string;
  headers?: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Where a RemoteSandbox lives: a worker's sandbox API. */
export interface SandboxApi {
  readonly id: string;
  call(method: 'POST' | 'DELETE', path: string, o: CallOptions): Promise<Dispatcher.ResponseData>;
  /** The sandbox is over: drop it from what is kept of the host. */
  forget?(sandbox: RemoteSandbox): void;
}

/**
 * One worker's sandbox API over a keep-alive undici Pool, Bearer-authenticated.
 * A Worker Manager's RemoteHost speaks through one; so does a cluster frontend
 * invoking the sandboxes its manager leased it.
 */
export class SandboxApiClient implements SandboxApi {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    readonly id: string,
    readonly url: string,
    readonly token: string,
    /** Told when a connection could not be made (the host is likely gone). */
    private readonly onConnectFailure?: () => void,
  ) {
    const u = new URL(url);
    this.basePath = u.pathname.replace(/\/+$/, '');
    this.pool = new Pool(u.origin, {
      connect: { timeout: CONNECT_TIMEOUT_MS },
      // Kept alive between invokes; the worker's own keep-alive hint may lower it.
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 10 * 60_000,
    });
  }

  async call(method: 'POST' | 'DELETE', path: string, o: CallOptions): Promise<Dispatcher.ResponseData> {
    try {
      return await this.pool.request({
        method,
        path: `${this.basePath}${path}`,
        headers: { authorization: `Bearer ${this.token}`, ...o.headers },
        body: o.body ?? null,
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      const code = errorCode(err) ?? '';
      // Only a failed connect says the host is gone; a reset of one socket does not.
      if (CONNECT_FAILURES.has(code)) this.onConnectFailure?.();
      if (CONNECT_FAILURES.has(code) || NO_RESPONSE.has(code)) throw new SandboxUnreachable(this.id, `${method} ${path}: ${code}`, err);
      throw err;
    }
  }

  /** Closes the connections; calls still running after graceMs are cut. */
  async close(graceMs = DEAD_ABORT_GRACE_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    await Promise.race([this.pool.close().catch(() => undefined), grace]);
    clearTimeout(timer);
    await this.pool.destroy().catch(() => undefined);
  }
}

export class RemoteHost implements PlacementHost, SandboxApi {
  readonly id: string;
  readonly memoryMb: number;
  readonly url: string;
  readonly drivers: readonly string[];
  /** When the worker last heartbeated (Date.now()). */
  lastHeartbeat = Date.now();
  private readonly api: SandboxApiClient;
  private cached = new Set<string>();
  private readonly sandboxes = new Map<string, RemoteSandbox>();
  /** Set when a connection to the worker failed; cleared by a later heartbeat. */
  private unreachableAt: number | undefined;
  private dead = false;

  constructor(private readonly opts: RemoteHostOptions) {
    this.id = opts.id;
    this.memoryMb = opts.memoryMb;
    this.url = opts.url;
    this.drivers = opts.drivers;
    this.api = new SandboxApiClient(opts.id, opts.url, opts.token, () => {
      this.unreachableAt = Date.now();
    });
  }

  /** A frontend could not connect to it: as when this manager cannot, until a later heartbeat. */
  noteUnreachable(): void {
    this.unreachableAt = Date.now();
  }

  /** How a frontend reaches this host's sandboxes (the manager leases them out). */
  get endpoint(): { id: string; url: string; token: string } {
    return { id: this.id, url: this.url, token: this.opts.token };
  }

  /** codeSha256 is base64 (as Lambda shows it); heartbeats list hex. */
  cachesCode(codeSha256: string): boolean {
    return this.cached.has(base64ToHex(codeSha256));
  }

  available(): boolean {
    return !this.dead && this.unreachableAt === undefined;
  }

  /** Sandboxes alive here as far as this manager knows. */
  get sandboxCount(): number {
    return this.sandboxes.size;
  }

  /** A heartbeat arrived: the cache it reports, and the sandboxes that ended there. */
  heartbeat(req: HeartbeatRequest, now = Date.now()): void {
    this.lastHeartbeat = now;
    this.cached = new Set(req.cachedCode);
    // A heartbeat sent before the failed connection proves nothing: wait for one after it.
    if (this.unreachableAt !== undefined && now - this.unreachableAt >= HEARTBEAT_INTERVAL_MS) this.unreachableAt = undefined;
    for (const e of req.ended) this.sandboxes.get(e.id)?.markDead(e.reason, { gone: true });
  }

  /** The host is gone (missed heartbeats, or it registered again): every sandbox on it is dead. */
  markDead(reason: string): void {
    this.dead = true;
    for (const s of [...this.sandboxes.values()]) s.markDead(reason, { gone: true });
  }

  /** Closes the connection pool; calls still running after graceMs are cut. */
  close(graceMs = DEAD_ABORT_GRACE_MS): Promise<void> {
    return this.api.close(graceMs);
  }

  async createSandbox(fn: FunctionVersion, opts: CreateSandboxOptions = {}): Promise<SandboxHandle> {
    if (this.dead) throw new SandboxUnreachable(this.id, 'the host is dead');
    const { settings: given, ...options } = opts;
    const settings = given ?? (await this.opts.settings(fn));
    if (settings.driver !== undefined && !this.drivers.includes(settings.driver)) {
      throw new HostCannotRun(this.id, `worker host ${this.id} runs ${this.drivers.join(', ')}, not '${settings.driver}'`);
    }
    const body: CreateSandboxRequest = { fn, options, settings };
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      res = await this.call('POST', '/sandboxes', {
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
        timeoutMs: CREATE_TIMEOUT_MS,
      });
      text = await res.body.text();
    } catch (err) {
      if (err instanceof LambdaError) throw err;
      throw serviceException(`The worker host ${this.id} did not answer a sandbox create: ${(err as Error).message}`, err);
    }
    if (res.statusCode === 422) throw initFailureOf(parseJson(text) as InitFailureBody);
    if (res.statusCode === 409 && (parseJson(text) as { cannotRun?: unknown }).cannotRun === true) {
      throw new HostCannotRun(this.id, String((parseJson(text) as { message?: unknown }).message));
    }
    if (res.statusCode !== 201) throw workerError(this.id, 'could not create a sandbox', res.statusCode, text);
    const { identity } = parseJson(text) as CreateSandboxResponse;
    if (typeof identity?.id !== 'string') throw serviceException(`The worker host ${this.id} answered a sandbox create without an identity.`);
    const sandbox = new RemoteSandbox(identity, this);
    if (this.dead) {
      // Declared dead (or replaced) while Init ran: nobody will use this one.
      sandbox.kill();
      throw new SandboxUnreachable(this.id, 'the host died while the sandbox started');
    }
    this.sandboxes.set(identity.id, sandbox);
    return sandbox;
  }

  /** @internal RemoteSandbox's way out: one call to the worker's sandbox API. */
  call(method: 'POST' | 'DELETE', path: string, o: CallOptions): Promise<Dispatcher.ResponseData> {
    return this.api.call(method, path, o);
  }

  /** @internal */
  forget(sandbox: RemoteSandbox): void {
    if (this.sandboxes.get(sandbox.identity.id) === sandbox) this.sandboxes.delete(sandbox.identity.id);
  }
}

/** One sandbox on a remote worker host. */
export class RemoteSandbox implements SandboxHandle {
  state: 'ready' | 'busy' | 'dead' = 'ready';
  lastUsed = Date.now();
  /** Why it died, once it has. */
  deadReason: string | undefined;
  private readonly deadListeners: (() => void)[] = [];
  /** The worker no longer has it (404, it reported the end, the host is gone): nothing to end there. */
  private gone = false;
  private inFlight: AbortController | undefined;

  constructor(
    readonly identity: SandboxIdentity,
    readonly host: SandboxApi,
  ) {}

  onDead(listener: () => void): void {
    if (this.state === 'dead') listener();
    else this.deadListeners.push(listener);
  }

  /** The sandbox is over as far as the manager is concerned: listeners fire once. */
  markDead(reason: string, o: { gone?: boolean } = {}): void {
    if (o.gone) this.gone = true;
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.deadReason = reason;
    this.host.forget?.(this);
    const call = this.inFlight;
    if (call) setTimeout(() => call.abort(), DEAD_ABORT_GRACE_MS).unref();
    for (const l of this.deadListeners.splice(0)) l();
  }

  async invoke(req: SandboxInvoke): Promise<SandboxResult> {
    if (this.state === 'dead') throw new SandboxUnreachable(this.host.id, `sandbox ${this.identity.id} is dead: ${this.deadReason}`);
    if (this.state !== 'ready') throw new Error(`sandbox ${this.identity.id} is ${this.state}, not ready`);
    this.state = 'busy';
    const meta: InvokeRequestMeta = {
      requestId: req.requestId,
      invokedFunctionArn: req.invokedFunctionArn,
      traceId: req.traceId,
      ...(req.clientContext !== undefined ? { clientContext: req.clientContext } : {}),
      ...(req.cognitoIdentity !== undefined ? { cognitoIdentity: req.cognitoIdentity } : {}),
      tail: req.tail,
      stream: req.stream !== undefined,
    };
    const abort = new AbortController();
    this.inFlight = abort;
    try {
      const result = await this.run(req, meta, abort.signal);
      // Marked dead meanwhile (its host died, or it was killed): never reused.
      const reusable = result.reusable && this.state === 'busy';
      if (reusable) {
        this.state = 'ready';
        this.lastUsed = Date.now();
      }
      return { ...result, reusable };
    } finally {
      this.inFlight = undefined;
    }
  }

  private async run(req: SandboxInvoke, meta: InvokeRequestMeta, signal: AbortSignal): Promise<SandboxResult> {
    const path = `/sandboxes/${encodeURIComponent(this.identity.id)}/invoke`;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.host.call('POST', path, {
        body: req.payload,
        headers: { [INVOKE_HEADER]: asciiJson(meta), 'content-type': 'application/octet-stream' },
        timeoutMs: this.identity.timeoutSeconds * 1000 + INVOKE_MARGIN_MS,
        signal,
      });
    } catch (err) {
      if (err instanceof SandboxUnreachable) {
        this.markDead(err.detail);
        // The worker may still have it (a connection hiccup): ask it to end it, best effort.
        this.endOnWorker('kill');
        throw err;
      }
      this.markDead('the invoke request failed');
      throw wentAway(err);
    }
    if (res.statusCode === 404) {
      await res.body.dump().catch(() => undefined);
      this.markDead('the worker host no longer has it', { gone: true });
      throw new SandboxUnreachable(this.host.id, `sandbox ${this.identity.id} is gone from its host`);
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text().catch(() => '');
      this.markDead(`the worker host refused the invoke (${res.statusCode})`);
      this.endOnWorker('kill');
      throw workerError(this.host.id, 'refused an invoke', res.statusCode, text);
    }
    let result: SandboxResult | undefined;
    let full: void | Promise<void> = undefined;
    const decoder = new InvokeFrameDecoder((kind, bytes) => {
      if (kind === FrameKind.Start) req.stream?.start(bytes.toString('utf8'));
      else if (kind === FrameKind.Chunk) full = req.stream?.chunk(bytes) ?? full;
      else if (kind === FrameKind.Result) result = decodeResultFrame(bytes);
    });
    try {
      // Read to the end even past RESULT, so the connection can serve the next invoke.
      for await (const chunk of res.body) {
        decoder.push(chunk as Buffer);
        // The client is full: pull no more of the body, so TCP holds the worker's writes back.
        if (full !== undefined) {
          await full;
          full = undefined;
        }
      }
    } catch (err) {
      if (!result) {
        this.markDead('its worker host went away during an invoke');
        throw wentAway(err);
      }
    }
    if (!result) {
      this.markDead('its worker host went away during an invoke');
      throw wentAway();
    }
    return result;
  }

  kill(): void {
    if (this.state === 'dead') return;
    this.markDead('killed');
    this.endOnWorker('kill');
  }

  async destroy(): Promise<void> {
    const wasGone = this.gone;
    this.markDead('destroyed');
    if (wasGone) return;
    this.gone = true;
    await this.end('destroy');
  }

  private endOnWorker(how: 'kill' | 'destroy'): void {
    if (this.gone) return;
    this.gone = true;
    void this.end(how);
  }

  private async end(how: 'kill' | 'destroy'): Promise<void> {
    try {
      const res = await this.host.call('DELETE', `/sandboxes/${encodeURIComponent(this.identity.id)}?how=${how}`, { timeoutMs: END_TIMEOUT_MS });
      await res.body.dump();
    } catch {
      // The host is gone or going: its sandboxes with it.
    }
  }
}

function wentAway(cause?: unknown): LambdaError {
  return serviceException('The worker host running the sandbox went away during the invoke.', cause);
}

function initFailureOf(b: InitFailureBody): InitFailure {
  return new InitFailure(String(b.errorType), Buffer.from(String(b.body ?? ''), 'base64'), String(b.logs ?? ''), Number(b.durationMs) || 0);
}

/** The worker's own error as a Lambda error: its type and status when it sent them (a LambdaError there). */
function workerError(hostId: string, what: string, status: number, text: string): LambdaError {
  const body = (() => {
    try {
      return JSON.parse(text) as { message?: unknown; type?: unknown; status?: unknown };
    } catch {
      return {};
    }
  })();
  const message = typeof body.message === 'string' ? body.message : text.slice(0, 500);
  if (typeof body.type === 'string' && typeof body.status === 'number') return new LambdaError(body.type, body.status, message);
  return serviceException(`The worker host ${hostId} ${what}: HTTP ${status}: ${message}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw serviceException('A worker host answered with a body that is not JSON.', err);
  }
}

/** JSON with every non-ASCII character escaped: header values must be ASCII. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: { code?: unknown }[] };
  if (typeof e?.code === 'string') return e.code;
  // Connecting to every address of a name fails as an AggregateError.
  const first = e?.errors?.[0]?.code;
  return typeof first === 'string' ? first : undefined;
}
