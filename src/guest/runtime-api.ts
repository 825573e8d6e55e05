// The Lambda Runtime API (2018-06-01) as the Runtime Interface Emulator serves it
// (rapi/ handlers, core/ runtime states), bridged to the host-guest stream.
//
// Runtime states (the RIE's names, used in its 403 messages):
//   Started --GET next--> Running (Ready frame)      Started --POST init/error--> InitError
//   Running --POST {id}/response--> InvocationResponse --body read--> RuntimeResponseSentState
//   Running --POST {id}/error--> InvocationErrorResponse --body read--> RuntimeResponseSentState
//   RuntimeResponseSentState --GET next--> Running (the invoke is over: its id is no longer valid)
// An {id} other than the current invoke's is 400 InvalidRequestID; a transition the
// state does not allow is 403 InvalidStateTransition.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { HostChannel } from './channel.js';
import { StreamCredit } from './stream-credit.js';
import { errorMeta, requestMeta } from './frames.js';
import { encodeWithLogs } from './frames.js';
import { FrameType, STREAM_RESPONSE_MAX_BYTES, type InvokeMeta } from './protocol.js';

/** Lambda's response limit for the Runtime API: 6 MiB + 100 bytes. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100;

const NEXT = '/2018-06-01/runtime/invocation/next';
const INVOCATION = '/2018-06-01/runtime/invocation/';
const INIT_ERROR = '/2018-06-01/runtime/init/error';
const PING = '/2018-06-01/ping';

type State = 'Started' | 'InitError' | 'Running' | 'InvocationResponse' | 'InvocationErrorResponse' | 'RuntimeResponseSentState';

const JSON_HEADERS = { 'Content-Type': 'application/json' };
const ACCEPTED = '{"status":"OK"}\n';
const INVALID_REQUEST_ID = '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n';
const TOO_LARGE = `{"errorMessage":"Exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).","errorType":"RequestEntityTooLarge"}\n`;
const TOO_LARGE_FOR_HOST = JSON.stringify({
  errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
  errorType: 'Function.ResponseSizeTooLarge',
});
const STREAM_TOO_LARGE = `{"errorMessage":"Exceeded maximum allowed payload size (${STREAM_RESPONSE_MAX_BYTES} bytes).","errorType":"RequestEntityTooLarge"}\n`;
const STREAM_TOO_LARGE_FOR_HOST = JSON.stringify({
  errorMessage: `Response payload size exceeded maximum allowed payload size (${STREAM_RESPONSE_MAX_BYTES} bytes).`,
  errorType: 'Function.ResponseSizeTooLarge',
});
const TRUNCATED = '{"errorMessage":"HTTP request detected as truncated","errorType":"Runtime.TruncatedResponse"}\n';

function forbidden(from: State, to: string): string {
  return (
    JSON.stringify({
      errorMessage: `State transition from ${from} to ${to} failed for runtime. Error: State transition is not allowed`,
      errorType: 'InvalidStateTransition',
    }) + '\n'
  );
}

/** Header values must be Latin-1 without control characters: UTF-8 goes out as its bytes. */
const SAFE_HEADER = /^[\x20-\x7e]*$/;
function headerValue(text: string): string {
  if (SAFE_HEADER.test(text)) return text;
  let t = text;
  if (/[\x00-\x1f\x7f]/.test(t)) {
    try {
      t = JSON.stringify(JSON.parse(t));
    } catch {
      t = t.replace(/[\x00-\x1f\x7f]/g, ' ');
    }
  }
  return Buffer.from(t, 'utf8').toString('latin1');
}

interface Invoke {
  meta: InvokeMeta;
  payload: Buffer;
}

/** What the Runtime API needs of the host channel. */
type ApiChannel = Pick<HostChannel, 'send' | 'credit' | 'flushLines' | 'write'>;

/** Sends `request` on a new connection to `port`; resolves once the text received includes `until` (or the connection ends). */
function exchange(port: number, request: string, until: string, onText?: (text: string, socket: net.Socket) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (): void => {
      socket.destroy();
      resolve();
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      onText?.(text, socket);
      if (text.includes(until)) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(request);
  });
}

export class RuntimeApi {
  private state: State = 'Started';
  /** The invoke handed to the runtime and not over yet (valid {id}). */
  private current: InvokeMeta | null = null;
  /** Invokes the host sent that no GET next has taken yet. */
  private readonly queue: Invoke[] = [];
  /** GET next requests waiting for an invoke. */
  private readonly waiters: http.ServerResponse[] = [];
  private readonly server: http.Server;
  private initDone = false;

  constructor(
    private readonly ch: ApiChannel,
    private initStarted: number,
  ) {
    this.server = http.createServer({ keepAliveTimeout: 0, requestTimeout: 0, headersTimeout: 0 } as http.ServerOptions, (req, res) =>
      this.route(req, res),
    );
    this.server.keepAliveTimeout = 0;
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 0;
    this.server.timeout = 0;
  }

  /** Listens on "host:port" (":0": 127.0.0.1, any free port); resolves to the bound port. */
  listen(address: string): Promise<number> {
    const colon = address.lastIndexOf(':');
    const host = (colon <= 0 ? '' : address.slice(0, colon)) || '127.0.0.1';
    const port = Number(colon === -1 ? address : address.slice(colon + 1)) || 0;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** A server listening ahead (warmUp's): its Init starts now. */
  begin(initStarted: number): void {
    this.initStarted = initStarted;
  }

  /**
   * A pooled agent, before its function: serves two requests to itself (a ping, a
   * result with no invoke) so that the Init's server does not pay for Node's cold
   * HTTP paths (server, parser, sockets) while a function waits. With `keepAt` (the
   * address the host's Init will ask for) the server listens there and is kept for
   * the Init; its port is returned with it. Undefined when it could not listen there.
   */
  static async warmUp(ch: HostChannel, keepAt?: string): Promise<{ api: RuntimeApi; address: string; port: number } | undefined> {
    const api = new RuntimeApi(ch, 0);
    let kept: { api: RuntimeApi; address: string; port: number } | undefined;
    try {
      let port: number;
      try {
        port = await api.listen(keepAt ?? '127.0.0.1:0');
        if (keepAt !== undefined) kept = { api, address: keepAt, port };
      } catch {
        if (keepAt === undefined) throw new Error('no port');
        port = await api.listen('127.0.0.1:0');
      }
      await exchange(port, `GET ${PING} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nPOST ${INVOCATION}warm/response HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}`, 'InvalidRequestID');
      await RuntimeApi.rehearse();
    } catch {
      // only a warm-up
    } finally {
      if (!kept) api.close();
    }
    return kept;
  }

  /**
   * One whole invoke (GET next, the event, its response) on a server of its
   * own whose frames go nowhere, so the first invoke of a function is not the first
   * run of that code either (~1 ms of a pooled python sandbox's first invoke here).
   */
  private static async rehearse(): Promise<void> {
    const standIn: ApiChannel = { send: () => undefined, credit: new StreamCredit(), flushLines: () => undefined, write: () => undefined };
    const api = new RuntimeApi(standIn, 0);
    try {
      const port = await api.listen('127.0.0.1:0');
      const id = 'standby-rehearsal';
      api.invoke({ requestId: id, deadlineMs: Date.now() + 3000, invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:standby', traceId: 'Root=1-00000000-000000000000000000000000;Sampled=0' }, Buffer.from('{}'));
      let posted = false;
      await exchange(port, `GET ${NEXT} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, '"status":"OK"', (text, socket) => {
        if (posted || !text.includes('\r\n\r\n{}')) return;
        posted = true;
        socket.write(`POST ${INVOCATION}${id}/response HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nnull`);
      });
    } finally {
      api.close();
    }
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections?.();
  }

  /** An Invoke frame from the host. */
  invoke(meta: InvokeMeta, payload: Buffer): void {
    this.queue.push({ meta, payload });
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length !== 0 && this.waiters.length !== 0 && this.current === null) {
      const res = this.waiters.shift()!;
      if (res.destroyed || res.writableEnded) continue;
      const inv = this.queue.shift()!;
      this.current = inv.meta;
      this.sendEvent(res, inv);
    }
  }

  private sendEvent(res: http.ServerResponse, { meta, payload }: Invoke): void {
    const headers: string[] = [
      'Content-Type',
      'application/json',
      'Lambda-Runtime-Aws-Request-Id',
      meta.requestId,
      'Lambda-Runtime-Deadline-Ms',
      String(meta.deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn',
      headerValue(meta.invokedFunctionArn ?? ''),
      'Lambda-Runtime-Trace-Id',
      headerValue(meta.traceId ?? ''),
    ];
    if (meta.clientContext !== undefined) headers.push('Lambda-Runtime-Client-Context', headerValue(meta.clientContext));
    if (meta.cognitoIdentity !== undefined) headers.push('Lambda-Runtime-Cognito-Identity', headerValue(meta.cognitoIdentity));
    headers.push('Content-Length', String(payload.length));
    res.writeHead(200, headers);
    res.end(payload);
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.sendDate = false;
    let url = req.url ?? '';
    const q = url.indexOf('?');
    if (q !== -1) url = url.slice(0, q);
    const method = req.method;

    if (url === NEXT) {
      if (method === 'GET') return this.next(res);
      return this.methodNotAllowed(req, res);
    }
    if (url.startsWith(INVOCATION)) {
      const rest = url.slice(INVOCATION.length);
      const slash = rest.lastIndexOf('/');
      const action = slash === -1 ? '' : rest.slice(slash + 1);
      if (slash > 0 && (action === 'response' || action === 'error')) {
        if (method !== 'POST') return this.methodNotAllowed(req, res);
        let id: string;
        try {
          id = decodeURIComponent(rest.slice(0, slash));
        } catch {
          id = rest.slice(0, slash);
        }
        return this.result(req, res, id, action === 'error');
      }
    }
    if (url === INIT_ERROR) {
      if (method === 'POST') return this.initError(req, res);
      return this.methodNotAllowed(req, res);
    }
    if (url === PING && method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('pong');
      return;
    }
    req.resume();
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end('404 page not found\n');
  }

  private methodNotAllowed(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    res.writeHead(405);
    res.end();
  }

  private reply(res: http.ServerResponse, status: number, body: string): void {
    res.writeHead(status, JSON_HEADERS);
    res.end(body);
  }

  private next(res: http.ServerResponse): void {
    switch (this.state) {
      case 'Started':
        this.state = 'Running';
        if (!this.initDone) {
          this.initDone = true;
          const initDurationMs = Math.round((performance.now() - this.initStarted) * 1000) / 1000;
          this.ch.send(FrameType.Ready, `{"initDurationMs":${initDurationMs}}`);
        }
        break;
      case 'RuntimeResponseSentState':
        this.state = 'Running';
        this.current = null;
        break;
      case 'Running':
        break;
      default:
        return this.reply(res, 403, forbidden(this.state, 'Ready'));
    }
    this.waiters.push(res);
    res.once('close', () => {
      const i = this.waiters.indexOf(res);
      if (i !== -1) this.waiters.splice(i, 1);
    });
    this.dispatch();
  }

  private result(req: http.IncomingMessage, res: http.ServerResponse, id: string, isError: boolean): void {
    const current = this.current;
    if (current === null || id !== current.requestId) {
      req.resume();
      return this.reply(res, 400, INVALID_REQUEST_ID);
    }
    if (this.state !== 'Running') {
      req.resume();
      return this.reply(res, 403, forbidden(this.state, isError ? 'InvocationErrorResponse' : 'InvocationResponse'));
    }
    this.state = isError ? 'InvocationErrorResponse' : 'InvocationResponse';
    if (!isError && headerText(req.headers['lambda-runtime-function-response-mode']).toLowerCase() === 'streaming') {
      return this.streamedResult(req, res, current);
    }
    const errorType = isError ? headerText(req.headers['lambda-runtime-function-error-type']) || 'Runtime.Unknown' : '';
    const limit = isError ? Infinity : MAX_RESPONSE_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    let ended = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) return;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      ended = true;
      this.state = 'RuntimeResponseSentState';
      // One turn later: output the runtime wrote before this request has been read by then.
      setImmediate(() => {
        if (over) {
          this.ch.send(FrameType.Error, errorMeta(current.requestId, 'Function.ResponseSizeTooLarge'), TOO_LARGE_FOR_HOST);
          return this.reply(res, 413, TOO_LARGE);
        }
        if (isError) this.ch.send(FrameType.Error, errorMeta(current.requestId, errorType), chunks);
        else this.ch.send(FrameType.Response, requestMeta(current.requestId), chunks);
        this.reply(res, 202, ACCEPTED);
      });
    });
    req.on('close', () => {
      if (ended) return;
      // The runtime went away in the middle of its body.
      this.state = 'RuntimeResponseSentState';
      this.ch.send(FrameType.Error, errorMeta(current.requestId, 'Runtime.TruncatedResponse'), TRUNCATED.trimEnd());
    });
  }

  /**
   * Lambda-Runtime-Function-Response-Mode: streaming: every chunk goes to the host as it arrives
   * (ResponseStart, ResponseChunk..., ResponseEnd); the trailers Lambda-Runtime-Function-Error-Type
   * and Lambda-Runtime-Function-Error-Body (base64) end the stream with an error. 20 MiB at most.
   */
  private streamedResult(req: http.IncomingMessage, res: http.ServerResponse, current: InvokeMeta): void {
    const requestId = current.requestId;
    const contentType = headerText(req.headers['content-type']) || 'application/octet-stream';
    const credit = this.ch.credit;
    credit.open(requestId);
    this.ch.send(FrameType.ResponseStart, JSON.stringify({ requestId, contentType }));
    let size = 0;
    let over = false;
    let ended = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > STREAM_RESPONSE_MAX_BYTES) {
        over = true;
        this.ch.send(FrameType.ResponseEnd, errorMeta(requestId, 'Function.ResponseSizeTooLarge'), STREAM_TOO_LARGE_FOR_HOST);
        return;
      }
      this.ch.flushLines();
      this.ch.write(encodeWithLogs('', FrameType.ResponseChunk, '', chunk));
      // The host's window is used up: stop reading the body until it grants more, so the
      // runtime's own writes back up (TCP) as Lambda's do when the client reads slowly.
      if (!credit.spend(chunk.length)) {
        req.pause();
        credit.whenOpen(() => req.resume());
      }
    });
    req.on('end', () => {
      ended = true;
      this.state = 'RuntimeResponseSentState';
      setImmediate(() => {
        if (over) return this.reply(res, 413, STREAM_TOO_LARGE);
        const errorType = headerText(req.trailers['lambda-runtime-function-error-type']);
        if (errorType !== '') {
          const raw = headerText(req.trailers['lambda-runtime-function-error-body']);
          const body = raw === '' ? JSON.stringify({ errorType, errorMessage: '' }) : Buffer.from(raw, 'base64');
          this.ch.send(FrameType.ResponseEnd, errorMeta(requestId, errorType), body);
        } else {
          this.ch.send(FrameType.ResponseEnd, requestMeta(requestId));
        }
        this.reply(res, 202, ACCEPTED);
      });
    });
    req.on('close', () => {
      if (ended || over) return;
      this.state = 'RuntimeResponseSentState';
      this.ch.send(FrameType.ResponseEnd, errorMeta(requestId, 'Runtime.TruncatedResponse'), TRUNCATED.trimEnd());
    });
  }

  private initError(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.state !== 'Started') {
      req.resume();
      return this.reply(res, 403, forbidden(this.state, 'InitError'));
    }
    this.state = 'InitError';
    const errorType = headerText(req.headers['lambda-runtime-function-error-type']) || 'Runtime.Unknown';
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      setImmediate(() => {
        this.ch.send(FrameType.InitError, JSON.stringify({ errorType }), chunks);
        this.reply(res, 202, ACCEPTED);
      });
    });
  }
}

function headerText(value: string | string[] | undefined): string {
  const v = Array.isArray(value) ? value[0] : value;
  return v === undefined ? '' : v.trim();
}
