// A worker host's sandbox API (protocol.ts), just enough of it for manager-side
// tests: creates sandboxes without running anything, answers invokes with
// frames, and can be stopped (a dead host) or told to cut an invoke's body.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FunctionVersion } from '../../src/control/model.js';
import type { SandboxIdentity } from '../../src/host/sandbox.js';
import {
  encodeInvokeFrame,
  encodeResultFrame,
  FrameKind,
  INVOKE_HEADER,
  type CreateSandboxRequest,
  type InitFailureBody,
  type InvokeRequestMeta,
} from '../../src/workers/remote/protocol.js';
import { functionVersion } from '../helpers/records.js';

/** ok: a RESULT echoing the payload; stream: START, two CHUNKs, RESULT; cut: START, then the socket is destroyed. */
export type InvokeMode = 'ok' | 'stream' | 'cut';

export class FakeWorker {
  readonly token = `token-${randomBytes(8).toString('hex')}`;
  url = '';
  readonly created: CreateSandboxRequest[] = [];
  readonly invokes: { id: string; meta: InvokeRequestMeta; payload: Buffer; auth: string | undefined }[] = [];
  readonly deletes: { id: string; how: string | null }[] = [];
  /** Sandboxes alive here. */
  readonly sandboxes = new Set<string>();
  mode: InvokeMode = 'ok';
  /** Set: the next creates fail Init with this (422). */
  initFailure: InitFailureBody | undefined;
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  }

  static async start(): Promise<FakeWorker> {
    const w = new FakeWorker();
    await new Promise<void>((resolve) => w.server.listen(0, '127.0.0.1', resolve));
    w.url = `http://127.0.0.1:${(w.server.address() as AddressInfo).port}`;
    return w;
  }

  /** The worker process is gone: the port refuses connections, open ones are closed. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    if (req.headers.authorization !== `Bearer ${this.token}`) return json(res, 401, { message: 'wrong token' });
    const url = new URL(req.url ?? '/', 'http://worker');
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'POST' && parts.length === 1 && parts[0] === 'sandboxes') return this.create(JSON.parse(body.toString('utf8')) as CreateSandboxRequest, res);
    const id = parts[1] ?? '';
    if (req.method === 'POST' && parts[2] === 'invoke') return this.invoke(id, req, body, res);
    if (req.method === 'DELETE' && parts.length === 2) {
      this.deletes.push({ id, how: url.searchParams.get('how') });
      this.sandboxes.delete(id);
      res.writeHead(204).end();
      return;
    }
    json(res, 404, { message: 'no such route' });
  }

  private create(req: CreateSandboxRequest, res: ServerResponse): void {
    this.created.push(req);
    if (this.initFailure) return json(res, 422, this.initFailure);
    const fn: FunctionVersion = req.fn;
    const id = randomBytes(8).toString('hex');
    this.sandboxes.add(id);
    const identity: SandboxIdentity = { id, functionName: fn.functionName, version: fn.version, memoryMb: fn.memorySize, timeoutSeconds: fn.timeout, logStream: `stream-${id}` };
    json(res, 201, { identity });
  }

  private invoke(id: string, req: IncomingMessage, payload: Buffer, res: ServerResponse): void {
    if (!this.sandboxes.has(id)) return json(res, 404, { message: `no sandbox ${id}` });
    const meta = JSON.parse(String(req.headers[INVOKE_HEADER])) as InvokeRequestMeta;
    this.invokes.push({ id, meta, payload, auth: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.flushHeaders();
    if (this.mode === 'cut') {
      res.write(encodeInvokeFrame(FrameKind.Start, Buffer.from('text/plain')));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    if (this.mode === 'stream') {
      res.write(encodeInvokeFrame(FrameKind.Start, Buffer.from('text/plain; charset=utf-8')));
      res.write(encodeInvokeFrame(FrameKind.Chunk, Buffer.from('hello ')));
      res.write(encodeInvokeFrame(FrameKind.Chunk, Buffer.from('world')));
      res.end(encodeResultFrame({ payload: Buffer.alloc(0), durationMs: 3, reusable: true, streamed: true, contentType: 'text/plain; charset=utf-8' }));
      return;
    }
    res.end(encodeResultFrame({ payload: Buffer.concat([Buffer.from('echo:'), payload]), durationMs: 2, initDurationMs: 5, reusable: true }));
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A function version as the control plane stores it. */
export function fnVersion(functionName: string, memorySize = 128, codeSha256 = Buffer.alloc(32, 7).toString('base64')): FunctionVersion {
  return functionVersion(functionName, { memorySize, codeSha256, revisionId: 'r1' });
}
