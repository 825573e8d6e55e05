// The HTTP edge: routing, bounded body reading, request ids, and Lambda's
// error rendering. Routes only see parsed requests and return replies.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';
import type { LambdaError } from '../errors.js';
import { isLambdaError, methodNotAllowed, missingAuthenticationToken, requestTooLargeForOperation, serviceException, unknownOperation } from '../errors.js';
import type { Logger } from '../log.js';
import type { RateLimiter } from './rate-limit.js';
import { SigV4Verifier, type Prechecked, type Principal } from './sigv4.js';

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly params: Record<string, string | undefined>;
  readonly query: URLSearchParams;
  readonly body: Buffer;
  /** Who signed the request; undefined on public routes (or when the frontend checks no signatures). */
  readonly principal?: Principal;
  /**
   * For public routes that check SigV4 only sometimes (function URLs with AuthType AWS_IAM): verifies the
   * request's signature for `service` (default 'lambda'), throws Lambda's auth error, or returns the signer.
   * Undefined when the frontend checks no signatures.
   */
  readonly authenticate: (service?: string) => Principal | undefined;
}

export interface Reply {
  status: number;
  headers?: Record<string, string | string[]>;
  /** Serialised as JSON with Content-Type application/json. */
  json?: unknown;
  /** Sent as is. */
  body?: Buffer | string;
  /** The route wrote the response itself (streams). */
  handled?: boolean;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
  path: string;
  /** Lambda's operation name, for logs and size errors. */
  operation: string;
  /** Largest body accepted; larger ones get `tooLarge`. 0 reads no body. */
  bodyLimit: number;
  tooLarge?: (limit: number) => LambdaError;
  /** Served without authentication (the console's static files, /metrics). */
  public?: boolean;
  /** The service a SigV4 credential scope must name on this route (default 'lambda'; 'logs' for CloudWatch Logs). */
  authService?: string;
  /** Not counted against the per-key rate limit: the cluster's own traffic (worker heartbeats, log batches). */
  unthrottled?: boolean;
  handle(ctx: RequestContext): Promise<Reply> | Reply;
}

const ALL_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;

/** Keeps reading past the limit (without buffering) up to this factor before dropping the connection. */
const DRAIN_FACTOR = 4;
/** Body read from a signed request to an unknown route, to check its signature before answering UnknownOperation. */
const UNROUTED: Route = { method: 'POST', path: '', operation: 'Unknown', bodyLimit: 1024 * 1024, handle: () => ({ status: 404 }) };

export interface FrontendOptions {
  /** Checks SigV4 on every non-public route; none: every request is served (embedding, tests). */
  auth?: SigV4Verifier;
  /** Requests per second per access key (signed requests only). */
  rateLimit?: RateLimiter;
}

export class HttpFrontend {
  private readonly router = FindMyWay({ ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 2048 });

  constructor(
    private readonly log: Logger,
    routes: Route[],
    private readonly opts: FrontendOptions = {},
  ) {
    for (const route of routes) this.router.on(route.method, route.path, () => undefined, route);
  }

  /** The request listener for node:http. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = randomUUID();
    res.setHeader('x-amzn-RequestId', requestId);
    this.dispatch(req, res, requestId).catch((err: unknown) => this.fail(res, requestId, err));
  };

  private async dispatch(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = (req.method ?? 'GET').toUpperCase() as Route['method'];
    const found = ALL_METHODS.includes(method as (typeof ALL_METHODS)[number]) ? this.router.find(method, path) : null;
    const rawQuery = q === -1 ? '' : url.slice(q + 1);
    if (!found) {
      const allowed = ALL_METHODS.some((m) => m !== method && this.router.find(m, path));
      // As Lambda: unsigned requests learn nothing of the routes; signed ones are told what is wrong.
      if (this.opts.auth) {
        if (!SigV4Verifier.hasAuth({ headers: req.headers, rawQuery })) {
          req.resume();
          throw missingAuthenticationToken();
        }
        let pre: Prechecked;
        try {
          pre = this.opts.auth.precheck({ method, path, rawQuery, headers: req.headers, rawHeaders: req.rawHeaders }, 'lambda');
        } catch (err) {
          req.resume();
          throw err;
        }
        const body = await readBody(req, res, UNROUTED).catch(() => undefined);
        if (body) this.authenticate(req, method, path, rawQuery, body, 'lambda', pre);
      } else {
        req.resume();
      }
      throw allowed ? methodNotAllowed(method, path) : unknownOperation();
    }
    const route = found.store as Route;
    // Unsigned requests are refused before their bodies are read.
    if (this.opts.auth && !route.public && !SigV4Verifier.hasAuth({ headers: req.headers, rawQuery })) {
      req.resume();
      throw missingAuthenticationToken();
    }
    // All of SigV4 but the signature needs no body: a request that cannot verify is refused before it is read.
    let pre: Prechecked | undefined;
    if (this.opts.auth && !route.public) {
      try {
        pre = this.opts.auth.precheck({ method, path, rawQuery, headers: req.headers, rawHeaders: req.rawHeaders }, route.authService ?? 'lambda');
      } catch (err) {
        req.resume();
        throw err;
      }
    }
    const body = route.bodyLimit > 0 ? await readBody(req, res, route) : (req.resume(), EMPTY);
    const principal = route.public ? undefined : this.authenticate(req, method, path, rawQuery, body, route.authService ?? 'lambda', pre);
    if (principal && !route.unthrottled) this.opts.rateLimit?.take(principal.accessKeyId);
    const ctx: RequestContext = {
      req,
      res,
      requestId,
      params: found.params,
      query: new URLSearchParams(rawQuery),
      body,
      ...(principal ? { principal } : {}),
      authenticate: (service = 'lambda') => {
        if (!this.opts.auth) return undefined;
        if (!SigV4Verifier.hasAuth({ headers: req.headers, rawQuery })) throw missingAuthenticationToken();
        return this.authenticate(req, method, path, rawQuery, body, service);
      },
    };
    const reply = await route.handle(ctx);
    if (!reply.handled) send(res, reply);
  }

  private authenticate(req: IncomingMessage, method: string, path: string, rawQuery: string, body: Buffer, service: string, pre?: Prechecked): Principal | undefined {
    if (!this.opts.auth) return undefined;
    return this.opts.auth.verify({ method, path, rawQuery, headers: req.headers, rawHeaders: req.rawHeaders, body }, service, pre);
  }

  private fail(res: ServerResponse, requestId: string, err: unknown): void {
    const error = isLambdaError(err) ? err : serviceException('An internal error occurred.', err);
    if (!isLambdaError(err) || error.status >= 500) {
      this.log.error({ err, requestId }, 'request failed');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendError(res, error);
  }
}

const EMPTY = Buffer.alloc(0);

export function sendError(res: ServerResponse, error: LambdaError): void {
  send(res, {
    status: error.status,
    headers: { 'x-amzn-ErrorType': error.type, ...error.headers },
    json: error.body(),
  });
}

export function send(res: ServerResponse, reply: Reply): void {
  res.statusCode = reply.status;
  if (reply.headers) for (const [k, v] of Object.entries(reply.headers)) res.setHeader(k, v);
  if (reply.json !== undefined) {
    const text = JSON.stringify(reply.json);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
    return;
  }
  if (reply.body !== undefined) {
    res.setHeader('Content-Length', Buffer.byteLength(reply.body));
    res.end(reply.body);
    return;
  }
  res.setHeader('Content-Length', 0);
  res.end();
}

/** Reads a body up to the route's limit; past it, drains (or drops) and throws the route's error. */
function readBody(req: IncomingMessage, res: ServerResponse, route: Route): Promise<Buffer> {
  const limit = route.bodyLimit;
  const tooLarge = (): LambdaError =>
    route.tooLarge?.(limit) ?? requestTooLargeForOperation(limit, route.operation);
  const declared = Number(req.headers['content-length'] ?? NaN);
  return new Promise((resolve, reject) => {
    if (declared > limit * DRAIN_FACTOR) {
      // Refuse before reading; the connection cannot be reused after an unread body.
      res.setHeader('Connection', 'close');
      req.destroy();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    // Declared too large: drained unbuffered (up to the factor above), so the 413 reaches the client.
    let over = declared > limit;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > limit * DRAIN_FACTOR) {
          res.setHeader('Connection', 'close');
          req.destroy();
          reject(tooLarge());
        }
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => (over ? reject(tooLarge()) : resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))));
    req.on('error', reject);
  });
}
