// A worker host's sandbox API (manager → worker, protocol.ts): create, invoke
// and end sandboxes of a real WorkerHost over HTTP. Every request carries the
// Bearer token this worker registered; invokes answer with a body of frames so
// a streamed response reaches the manager as the function writes it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLambdaError } from '../../errors.js';
import { DrainGate } from '../../host/drain-gate.js';
import type { WorkerHost } from '../../host/host.js';
import { InitFailure, type ResponseSink, type Sandbox, type SandboxResult } from '../../host/sandbox.js';
import { HostCannotRun } from '../../placement/placement.js';
import {
  encodeInvokeFrame,
  encodeResultFrame,
  FrameKind,
  INVOKE_HEADER,
  type CreateSandboxRequest,
  type CreateSandboxResponse,
  type HeartbeatRequest,
  type InitFailureBody,
  type InvokeRequestMeta,
} from './protocol.js';

/** An invoke's payload above this is refused (Lambda's own limit is 6 MB; the frontend checks it first). */
export const INVOKE_PAYLOAD_MAX_BYTES = 7 * 1024 * 1024;
/** A create request is a function's configuration: small. */
const CREATE_BODY_MAX_BYTES = 1024 * 1024;
/** Deaths kept for the next heartbeat while the manager is unreachable. */
const ENDED_MAX = 10_000;

type Ended = HeartbeatRequest['ended'][number];

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class WorkerAgent {
  private readonly server: Server;
  private readonly tokenDigest: Buffer;
  private readonly sandboxes = new Map<string, Sandbox>();
  /** Why a sandbox we ended ourselves ended (the manager asked: not reported back). */
  private readonly endedBy = new Map<string, string | null>();
  /** The last invoke's failure per sandbox, the likeliest reason it died. */
  private readonly lastFailure = new Map<string, string>();
  private ended: Ended[] = [];

  constructor(
    private readonly host: WorkerHost,
    token: string,
  ) {
    this.tokenDigest = digest(token);
    this.server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 20_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => fail(res, 500, (err as Error).message));
    });
  }

  /** Starts serving; resolves to the address actually bound (port 0 picks one). */
  listen(port: number, hostname: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, hostname, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Ids of the sandboxes alive here (the heartbeat's `sandboxes`). */
  liveSandboxes(): string[] {
    return [...this.sandboxes.values()].filter((s) => s.state !== 'dead').map((s) => s.identity.id);
  }

  /** Sandboxes that died since the last call, and why (the heartbeat's `ended`). */
  takeEnded(): Ended[] {
    const out = this.ended;
    this.ended = [];
    return out;
  }

  /** Kills every sandbox (the manager forgot this host, so it knows none of them). */
  killAll(reason: string): void {
    for (const s of this.sandboxes.values()) {
      this.endedBy.set(s.identity.id, reason);
      s.kill();
    }
  }

  /** Destroys every sandbox and stops serving. */
  async close(): Promise<void> {
    for (const id of this.sandboxes.keys()) this.endedBy.set(id, 'the worker host shut down');
    await this.host.shutdown();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorized(req.headers.authorization)) return fail(res, 401, 'missing or wrong bearer token');
    const url = new URL(req.url ?? '/', 'http://worker');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'sandboxes' || parts.length > 3) return fail(res, 404, `no such route: ${url.pathname}`);
    try {
      if (parts.length === 1) {
        if (req.method !== 'POST') return fail(res, 405, 'use POST');
        return await this.create(req, res);
      }
      const id = parts[1]!;
      if (parts.length === 3 && parts[2] === 'invoke') {
        if (req.method !== 'POST') return fail(res, 405, 'use POST');
        return await this.invoke(id, req, res);
      }
      if (parts.length === 2) {
        if (req.method !== 'DELETE') return fail(res, 405, 'use DELETE');
        return await this.end(id, url.searchParams.get('how'), res);
      }
      return fail(res, 404, `no such route: ${url.pathname}`);
    } catch (err) {
      if (err instanceof HttpError) return fail(res, err.status, err.message);
      throw err;
    }
  }

  private authorized(header: string | undefined): boolean {
    const m = /^Bearer (.+)$/.exec(header ?? '');
    // Digests have one length, so the comparison neither throws nor leaks the token's length.
    return m !== null && timingSafeEqual(digest(m[1]!), this.tokenDigest);
  }

  private async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Init can take seconds: a manager that gives up meanwhile never learns of the sandbox.
    let abandoned = false;
    res.once('close', () => {
      if (!res.writableFinished) abandoned = true;
    });
    const body = parseJson(await readBody(req, CREATE_BODY_MAX_BYTES)) as Partial<CreateSandboxRequest> | undefined;
    if (!body || typeof body.fn !== 'object' || body.fn === null) throw new HttpError(400, 'the body must be a CreateSandboxRequest');
    let sandbox: Sandbox;
    try {
      sandbox = await this.host.createSandbox(body.fn, { ...(body.options ?? {}), settings: body.settings ?? {} });
    } catch (err) {
      if (err instanceof InitFailure) {
        const failure: InitFailureBody = { errorType: err.errorType, body: err.body.toString('base64'), logs: err.logs, durationMs: err.durationMs };
        return json(res, 422, failure);
      }
      // Placement tries another host for this one (the function's sandbox driver cannot run here).
      if (err instanceof HostCannotRun) return json(res, 409, { message: err.message, cannotRun: true });
      // A LambdaError (an unusable package) keeps its type and status.
      const e = err as Error;
      return json(res, 500, { message: e.message, ...(isLambdaError(err) ? { type: err.type, status: err.status } : {}) });
    }
    if (abandoned) {
      // Nobody would ever use or end it.
      sandbox.kill();
      return;
    }
    this.track(sandbox);
    json(res, 201, { identity: sandbox.identity } satisfies CreateSandboxResponse);
  }

  private track(sandbox: Sandbox): void {
    const { id } = sandbox.identity;
    this.sandboxes.set(id, sandbox);
    sandbox.onDead(() => {
      this.sandboxes.delete(id);
      // Ended by us: the reason is known now. On its own: an invoke the death ended
      // resolves just after this listener, so let it record its failure first.
      if (this.endedBy.has(id)) this.recordEnd(id);
      else setImmediate(() => this.recordEnd(id));
    });
  }

  private recordEnd(id: string): void {
    const by = this.endedBy.get(id);
    this.endedBy.delete(id);
    const failure = this.lastFailure.get(id);
    this.lastFailure.delete(id);
    // null: the manager ended it, so it knows.
    if (by === null) return;
    this.ended.push({ id, reason: by ?? failure ?? 'the sandbox exited on its own' });
    if (this.ended.length > ENDED_MAX) this.ended.shift();
  }

  private async invoke(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    ready(id, this.sandboxes.get(id));
    const meta = parseInvokeMeta(req.headers[INVOKE_HEADER]);
    const payload = await readBody(req, INVOKE_PAYLOAD_MAX_BYTES);
    // The body took time to arrive: the sandbox may have died or been taken meanwhile.
    const sandbox = ready(id, this.sandboxes.get(id));
    res.on('error', () => undefined);
    const { stream, ...rest } = meta;
    // A manager that stops reading (its client is slow) holds the function's writes back.
    const gate = new DrainGate(res);
    const sink: ResponseSink = {
      start: (contentType) => void res.write(encodeInvokeFrame(FrameKind.Start, Buffer.from(contentType, 'utf8'))),
      chunk: (bytes) => gate.write(encodeInvokeFrame(FrameKind.Chunk, bytes)),
    };
    // Headers go now, so a long invoke never looks like a silent worker; no length: chunked.
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.flushHeaders();
    const result: SandboxResult = await sandbox.invoke({ ...rest, payload, ...(stream ? { stream: sink } : {}) });
    if (result.functionError !== undefined && !result.reusable) this.lastFailure.set(id, failureText(result));
    res.end(encodeResultFrame(result));
  }

  private async end(id: string, how: string | null, res: ServerResponse): Promise<void> {
    if (how !== 'kill' && how !== 'destroy') throw new HttpError(400, "how must be 'kill' or 'destroy'");
    const sandbox = this.sandboxes.get(id);
    if (sandbox) {
      this.endedBy.set(id, null);
      if (how === 'kill') sandbox.kill();
      else await sandbox.destroy();
    }
    res.writeHead(204).end();
  }
}

/** The sandbox, when it can take an invoke now; else 404 (gone) or 409 (busy). */
function ready(id: string, sandbox: Sandbox | undefined): Sandbox {
  if (!sandbox || sandbox.state === 'dead') throw new HttpError(404, `no sandbox ${id} on this host`);
  if (sandbox.state !== 'ready') throw new HttpError(409, `sandbox ${id} is ${sandbox.state}`);
  return sandbox;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function fail(res: ServerResponse, status: number, message: string): void {
  // A refused request's unread body is not worth reading: close the connection instead.
  if (status === 413 || status === 401) res.setHeader('connection', 'close');
  json(res, status, { message });
}

/** The request body, refused with 413 past `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(new HttpError(413, `the body is over ${max} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        reject(new HttpError(413, `the body is over ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
}

function parseInvokeMeta(header: string | string[] | undefined): InvokeRequestMeta {
  if (typeof header !== 'string') throw new HttpError(400, `the ${INVOKE_HEADER} header is missing`);
  let m: Partial<Record<keyof InvokeRequestMeta, unknown>>;
  try {
    m = JSON.parse(header) as typeof m;
  } catch {
    throw new HttpError(400, `the ${INVOKE_HEADER} header is not JSON`);
  }
  const str = (v: unknown): v is string => typeof v === 'string';
  if (typeof m !== 'object' || m === null || !str(m.requestId) || !str(m.invokedFunctionArn) || !str(m.traceId)) {
    throw new HttpError(400, `the ${INVOKE_HEADER} header needs requestId, invokedFunctionArn and traceId`);
  }
  if ((m.clientContext !== undefined && !str(m.clientContext)) || (m.cognitoIdentity !== undefined && !str(m.cognitoIdentity))) {
    throw new HttpError(400, 'clientContext and cognitoIdentity must be strings');
  }
  return {
    requestId: m.requestId,
    invokedFunctionArn: m.invokedFunctionArn,
    traceId: m.traceId,
    ...(m.clientContext !== undefined ? { clientContext: m.clientContext } : {}),
    ...(m.cognitoIdentity !== undefined ? { cognitoIdentity: m.cognitoIdentity } : {}),
    tail: m.tail === true,
    stream: m.stream === true,
  };
}

/** "Runtime.ExitError: RequestId: ... Error: Runtime exited with error: signal: killed", from Lambda's error body. */
function failureText(result: SandboxResult): string {
  let message = '';
  try {
    const body = JSON.parse(result.payload.toString('utf8')) as { errorMessage?: unknown };
    if (typeof body.errorMessage === 'string') message = `: ${body.errorMessage}`;
  } catch {
    // not JSON: the type alone says enough
  }
  return `${result.errorType ?? 'Unhandled'}${message}`;
}
