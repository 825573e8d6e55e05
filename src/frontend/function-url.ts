// Serving function URLs. Lambda's URLs are https://<url-id>.lambda-url.<region>.on.aws/;
// Kindling serves them on its own port, by Host (<url-id>.lambda-url.<region>.localhost:PORT,
// which browsers resolve to loopback) and by path (/kindling/urls/<url-id>/...). A request
// becomes Lambda's payload format 2.0 event, runs through InvokeService (the one invoke
// path), and the result becomes the HTTP response as Lambda maps it. CORS preflights are
// answered from the URL's Cors config without invoking; AWS_IAM URLs need SigV4 (service
// lambda). These requests never reach the control-plane router.
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CorsConfig, FunctionUrlRecord, FunctionUrls } from '../control/urls.js';
import { isLambdaError } from '../errors.js';
import { DrainGate } from '../host/drain-gate.js';
import type { ResponseSink } from '../host/sandbox.js';
import type { InvokeService } from '../invoke/invoke.js';
import * as limits from '../limits.js';
import type { Logger } from '../log.js';
import type { SigV4Verifier } from './sigv4.js';

export const URL_PATH_PREFIX = '/kindling/urls/';
const HOST_FORM = /^([a-z0-9]+)\.lambda-url\.([a-z0-9-]+)\.localhost(?::\d+)?$/i;

/** The FunctionUrl Kindling shows for a url-id. */
export const functionUrlFor = (urlId: string, region: string, port: number | undefined): string =>
  `http://${urlId}.lambda-url.${region}.localhost${port ? `:${port}` : ''}/`;

interface Addressed {
  urlId: string;
  /** The path the function sees (rawPath). */
  path: string;
  rawQuery: string;
  /** The path as sent, for SigV4. */
  signedPath: string;
}

/** Content types Lambda passes as text; everything else arrives base64-encoded. */
const TEXT_TYPE = /^(text\/|application\/(json|javascript|xml|yaml|x-yaml|graphql|ld\+json|[\w.+-]*\+(json|xml)))/i;

export class FunctionUrlServer {
  constructor(
    private readonly urls: FunctionUrls,
    private readonly invoker: InvokeService,
    private readonly log: Logger,
    /** Checks AWS_IAM URLs' signatures; without one, AWS_IAM URLs refuse every request. */
    private readonly verifier?: SigV4Verifier,
  ) {}

  /** Wraps the frontend's listener: function URL requests here, everything else there. */
  wrap(next: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => {
      const addressed = this.address(req);
      if (!addressed) {
        next(req, res);
        return;
      }
      const requestId = randomUUID();
      res.setHeader('x-amzn-RequestId', requestId);
      this.serve(req, res, addressed, requestId).catch((err: unknown) => {
        this.log.error({ err, requestId }, 'function URL request failed');
        if (res.headersSent) res.destroy();
        else reply(res, 500, { Message: 'Internal Server Error' }, 'InternalFailure');
      });
    };
  }

  /** The url-id and path a request addresses, or undefined when it is not a function URL request. */
  address(req: IncomingMessage): Addressed | undefined {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const rawQuery = q === -1 ? '' : url.slice(q + 1);
    const host = HOST_FORM.exec(req.headers.host ?? '');
    if (host) return { urlId: host[1]!.toLowerCase(), path: path || '/', rawQuery, signedPath: path || '/' };
    if (path.startsWith(URL_PATH_PREFIX)) {
      const rest = path.slice(URL_PATH_PREFIX.length);
      const slash = rest.indexOf('/');
      const urlId = slash === -1 ? rest : rest.slice(0, slash);
      if (!/^[a-z0-9]+$/i.test(urlId)) return undefined;
      return { urlId: urlId.toLowerCase(), path: slash === -1 ? '/' : rest.slice(slash), rawQuery, signedPath: path };
    }
    return undefined;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, a: Addressed, requestId: string): Promise<void> {
    const config = await this.urls.lookup(a.urlId);
    if (!config) {
      req.resume();
      reply(res, 403, { Message: null }, 'AccessDeniedException');
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      res.setHeader('Connection', 'close');
      reply(res, 413, { Message: `Request must be smaller than ${limits.SYNC_PAYLOAD_MAX_BYTES} bytes for the InvokeFunction operation` }, 'RequestEntityTooLargeException');
      return;
    }
    const origin = first(req.headers.origin);
    const method = (req.method ?? 'GET').toUpperCase();
    // A CORS preflight is Lambda's to answer when the URL has a Cors config.
    if (config.cors && method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined) {
      const headers = preflightHeaders(config.cors, origin, req);
      res.writeHead(200, { ...headers, 'Content-Length': 0 });
      res.end();
      return;
    }

    let iam: Record<string, unknown> | undefined;
    if (config.authType === 'AWS_IAM') {
      if (!this.verifier) {
        reply(res, 403, { Message: 'Forbidden' }, 'AccessDeniedException');
        return;
      }
      try {
        const principal = this.verifier.verify(
          { method, path: a.signedPath, rawQuery: a.rawQuery, headers: req.headers, rawHeaders: req.rawHeaders, body },
          'lambda',
        );
        iam = {
          accessKey: principal.accessKeyId,
          accountId: this.urls.account.accountId,
          callerId: principal.accessKeyId,
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: `arn:aws:iam::${this.urls.account.accountId}:user/${principal.accessKeyId}`,
          userId: principal.accessKeyId,
        };
      } catch {
        reply(res, 403, { Message: 'Forbidden' }, 'AccessDeniedException');
        return;
      }
    }

    const event = this.event(req, a, config, body, requestId, iam);
    const cors = config.cors && origin !== undefined ? corsHeaders(config.cors, origin) : undefined;
    const streamer = config.invokeMode === 'RESPONSE_STREAM' ? new UrlStreamer(res, cors, method === 'HEAD') : undefined;
    let out;
    try {
      out = await this.invoker.invoke({
        ref: { name: config.functionName, ...(config.qualifier ? { qualifier: config.qualifier } : {}) },
        requestId,
        payload: Buffer.from(JSON.stringify(event)),
        tail: false,
        ...(streamer ? { stream: streamer } : {}),
      });
    } catch (err) {
      if (streamer?.headersOut) {
        res.destroy();
        return;
      }
      if (isLambdaError(err) && err.type === 'TooManyRequestsException') {
        reply(res, 429, { Message: 'Rate Exceeded.' }, 'TooManyRequestsException', err.headers);
        return;
      }
      if (isLambdaError(err) && err.status < 500) {
        // The function or alias went away under its URL.
        reply(res, 403, { Message: null }, 'AccessDeniedException');
        return;
      }
      throw err;
    }
    if (streamer && (streamer.headersOut || (out.streamed && !out.functionError))) {
      // A function error after the head went out ends the body where it is, as Lambda's streams end.
      streamer.end(out.functionError !== undefined);
      return;
    }
    if (out.functionError) {
      reply(res, 502, { Message: 'Internal Server Error' }, undefined, cors);
      return;
    }
    const mapped = mapResult(out.payload);
    if (!mapped) {
      reply(res, 502, { Message: 'Internal Server Error' }, undefined, cors);
      return;
    }
    if (cors) {
      // The URL's CORS settings win over the function's own.
      for (const name of Object.keys(mapped.headers)) if (name.toLowerCase().startsWith('access-control-')) delete mapped.headers[name];
      Object.assign(mapped.headers, cors);
    }
    res.statusCode = mapped.statusCode;
    for (const [k, v] of Object.entries(mapped.headers)) res.setHeader(k, v);
    if (mapped.cookies.length > 0) res.setHeader('Set-Cookie', mapped.cookies);
    res.setHeader('Content-Length', mapped.body.length);
    res.end(method === 'HEAD' ? undefined : mapped.body);
  }

  /** Lambda's payload format 2.0 event for a request. */
  event(req: IncomingMessage, a: Addressed, config: FunctionUrlRecord, body: Buffer, requestId: string, iam?: Record<string, unknown>): Record<string, unknown> {
    const now = new Date();
    const sourceIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const headers: Record<string, string> = {};
    const cookies: string[] = [];
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (name === 'cookie') {
        for (const c of value.split(';')) if (c.trim() !== '') cookies.push(c.trim());
        continue;
      }
      headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
    }
    headers['x-forwarded-for'] ??= sourceIp;
    headers['x-forwarded-proto'] ??= 'http';
    headers['x-forwarded-port'] ??= String(req.socket.localPort ?? '');
    headers['x-amzn-trace-id'] ??= `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)}`;

    const domainName = `${a.urlId}.lambda-url.${this.urls.account.region}.localhost`;
    const http = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: a.path,
      protocol: `HTTP/${req.httpVersion}`,
      sourceIp,
      userAgent: headers['user-agent'] ?? '',
    };
    const requestContext: Record<string, unknown> = {
      accountId: iam ? this.urls.account.accountId : 'anonymous',
      apiId: a.urlId,
      ...(iam ? { authorizer: { iam } } : {}),
      domainName,
      domainPrefix: a.urlId,
      http,
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    };
    const event: Record<string, unknown> = {
      version: '2.0',
      routeKey: '$default',
      rawPath: a.path,
      rawQueryString: a.rawQuery,
    };
    if (cookies.length > 0) event.cookies = cookies;
    event.headers = headers;
    if (a.rawQuery !== '') {
      const params: Record<string, string> = {};
      for (const [k, v] of new URLSearchParams(a.rawQuery)) params[k] = params[k] === undefined ? v : `${params[k]},${v}`;
      event.queryStringParameters = params;
    }
    event.requestContext = requestContext;
    let isBase64Encoded = false;
    if (body.length > 0) {
      const text = TEXT_TYPE.test(headers['content-type'] ?? '') && isUtf8(body);
      isBase64Encoded = !text;
      event.body = text ? body.toString('utf8') : body.toString('base64');
    }
    event.isBase64Encoded = isBase64Encoded;
    return event;
  }
}

const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';
const PRELUDE_DELIMITER = Buffer.alloc(8);
/** Lambda reads the prelude from the first 16 KB of a stream at most. */
const PRELUDE_MAX_BYTES = 16 * 1024;

/**
 * A RESPONSE_STREAM URL's response: the function's bytes go to the client chunked as they come.
 * With HttpResponseStream.from (content type application/vnd.awslambda.http-integration-response)
 * the stream begins with a JSON prelude {statusCode, headers, cookies} and 8 NUL bytes: it sets
 * the HTTP status and headers; the rest is the body.
 */
class UrlStreamer implements ResponseSink {
  headersOut = false;
  private prelude: Buffer | undefined;
  private failed = false;
  private readonly gate: DrainGate;

  constructor(
    private readonly res: ServerResponse,
    private readonly cors: Record<string, string> | undefined,
    private readonly head: boolean,
  ) {
    this.gate = new DrainGate(res);
  }

  start(contentType: string): void {
    if (contentType === HTTP_INTEGRATION) this.prelude = Buffer.alloc(0);
    else this.writeHead(200, { 'Content-Type': contentType }, []);
  }

  /** Returns the gate's promise while the client is full (the sandbox then holds the function's writes back). */
  chunk(bytes: Buffer): void | Promise<void> {
    if (this.failed) return;
    if (this.prelude !== undefined) {
      const all = this.prelude.length === 0 ? bytes : Buffer.concat([this.prelude, bytes]);
      const at = all.indexOf(PRELUDE_DELIMITER);
      if (at === -1) {
        if (all.length > PRELUDE_MAX_BYTES) this.fail();
        else this.prelude = Buffer.from(all);
        return;
      }
      this.prelude = undefined;
      let parsed: { statusCode?: unknown; headers?: unknown; cookies?: unknown };
      try {
        parsed = JSON.parse(all.subarray(0, at).toString('utf8')) as typeof parsed;
        if (parsed === null || typeof parsed !== 'object') throw new Error('not an object');
      } catch {
        this.fail();
        return;
      }
      const status = parsed.statusCode === undefined ? 200 : Number(parsed.statusCode);
      if (!Number.isInteger(status) || status < 100 || status > 599) {
        this.fail();
        return;
      }
      const headers: Record<string, string> = {};
      if (parsed.headers !== null && typeof parsed.headers === 'object') {
        for (const [k, v] of Object.entries(parsed.headers as Record<string, unknown>)) if (v !== null && v !== undefined) headers[k] = String(v);
      }
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/octet-stream';
      const cookies = Array.isArray(parsed.cookies) ? parsed.cookies.map(String) : [];
      this.writeHead(status, headers, cookies);
      const rest = all.subarray(at + PRELUDE_DELIMITER.length);
      return rest.length !== 0 ? this.write(rest) : undefined;
    }
    return this.write(bytes);
  }

  /** The invoke is over: finish the response (a 502 when nothing usable came). */
  end(functionError: boolean): void {
    if (!this.headersOut) {
      if (this.failed || functionError || this.prelude !== undefined) {
        this.failed = true;
        reply(this.res, 502, { Message: 'Internal Server Error' }, undefined, this.cors);
        return;
      }
      this.writeHead(200, { 'Content-Type': 'application/octet-stream' }, []);
    }
    if (!this.failed) this.res.end();
  }

  private fail(): void {
    this.failed = true;
    this.prelude = undefined;
  }

  private write(bytes: Buffer): void | Promise<void> {
    if (!this.head) return this.gate.write(bytes);
  }

  private writeHead(status: number, headers: Record<string, string>, cookies: string[]): void {
    if (this.headersOut) return;
    this.headersOut = true;
    const res = this.res;
    if (this.cors) {
      for (const name of Object.keys(headers)) if (name.toLowerCase().startsWith('access-control-')) delete headers[name];
      Object.assign(headers, this.cors);
    }
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) {
      const name = k.toLowerCase();
      if (name === 'content-length' || name === 'transfer-encoding' || name === 'connection') continue;
      res.setHeader(k, v);
    }
    if (cookies.length > 0) res.setHeader('Set-Cookie', cookies);
    res.flushHeaders();
  }
}

/** 07/Sep/2021:22:50:22 +0000 */
function clfTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

function reply(res: ServerResponse, status: number, json: unknown, errorType?: string, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(json);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (errorType) res.setHeader('x-amzn-ErrorType', errorType);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** The body up to Lambda's 6 MB; undefined when larger (the rest is drained or the connection dropped). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const limit = limits.SYNC_PAYLOAD_MAX_BYTES;
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit * 4) {
      req.destroy();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit * 4) req.destroy();
      else if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks, size)));
    req.on('close', () => {
      if (size > limit) resolve(undefined);
    });
    req.on('error', reject);
  });
}

function allowedOrigin(cors: CorsConfig, origin: string): string | undefined {
  const origins = cors.AllowOrigins ?? [];
  if (origins.some((o) => o.toLowerCase() === origin.toLowerCase())) return origin;
  if (origins.includes('*')) return cors.AllowCredentials ? origin : '*';
  return undefined;
}

/** Access-Control-* headers of a response to a request from `origin` (none when the origin is not allowed). */
export function corsHeaders(cors: CorsConfig, origin: string): Record<string, string> | undefined {
  const allow = allowedOrigin(cors, origin);
  if (allow === undefined) return undefined;
  const h: Record<string, string> = { 'Access-Control-Allow-Origin': allow, Vary: 'Origin' };
  if (cors.AllowCredentials) h['Access-Control-Allow-Credentials'] = 'true';
  if (cors.ExposeHeaders?.length) h['Access-Control-Expose-Headers'] = cors.ExposeHeaders.join(',');
  return h;
}

function preflightHeaders(cors: CorsConfig, origin: string, req: IncomingMessage): Record<string, string> {
  const h = corsHeaders(cors, origin);
  if (!h) return {};
  const method = first(req.headers['access-control-request-method']) ?? '';
  const methods = cors.AllowMethods ?? [];
  if (methods.includes('*')) h['Access-Control-Allow-Methods'] = method;
  else if (methods.some((m) => m.toUpperCase() === method.toUpperCase())) h['Access-Control-Allow-Methods'] = methods.join(',');
  else return {};
  const requested = first(req.headers['access-control-request-headers']);
  const allowHeaders = cors.AllowHeaders ?? [];
  if (allowHeaders.includes('*')) {
    if (requested) h['Access-Control-Allow-Headers'] = requested;
  } else if (allowHeaders.length > 0) {
    h['Access-Control-Allow-Headers'] = allowHeaders.join(',');
  }
  if (cors.MaxAge !== undefined) h['Access-Control-Max-Age'] = String(cors.MaxAge);
  delete h['Access-Control-Expose-Headers'];
  return h;
}

interface Mapped {
  statusCode: number;
  headers: Record<string, string | string[]>;
  cookies: string[];
  body: Buffer;
}

/** A function's result as Lambda's function URLs map it (payload format 2.0). */
export function mapResult(payload: Buffer): Mapped | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const inferred = (): Mapped => ({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, cookies: [], body: payload });
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !('statusCode' in value)) return inferred();
  const r = value as Record<string, unknown>;
  const statusCode = Number(r.statusCode);
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) return undefined;
  const headers: Record<string, string | string[]> = {};
  if (r.headers !== null && typeof r.headers === 'object') {
    for (const [k, v] of Object.entries(r.headers as Record<string, unknown>)) if (v !== null && v !== undefined) headers[k] = String(v);
  }
  if (r.multiValueHeaders !== null && typeof r.multiValueHeaders === 'object') {
    for (const [k, v] of Object.entries(r.multiValueHeaders as Record<string, unknown>)) {
      if (Array.isArray(v)) headers[k] = v.map(String);
    }
  }
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  const cookies = Array.isArray(r.cookies) ? r.cookies.map(String) : [];
  let body: Buffer;
  if (r.body === undefined || r.body === null) body = Buffer.alloc(0);
  else if (typeof r.body === 'string') body = r.isBase64Encoded === true ? Buffer.from(r.body, 'base64') : Buffer.from(r.body);
  else body = Buffer.from(JSON.stringify(r.body));
  return { statusCode, headers, cookies, body };
}
