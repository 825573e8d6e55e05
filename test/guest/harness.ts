// Drives the real compiled guest agent over its host-guest stream (fd 3), as a host would.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { encodeFrame, FrameDecoder, FrameType, type Frame, type InitMeta, type InvokeMeta } from '../../src/guest/protocol.js';

export const AGENT = fileURLToPath(new URL('../../src/guest/agent.js', import.meta.url));

export const FrameName: Record<number, string> = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));

/** A folder of files for one test; `files` maps relative paths to contents (mode 0755 when the name is `bootstrap` or ends in .sh). */
export function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kindling-guest-'));
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text);
    if (path.basename(p) === 'bootstrap' || p.endsWith('.sh')) chmodSync(p, 0o755);
  }
  return dir;
}

export function removeFixture(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function lambdaEnv(taskRoot: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LAMBDA_TASK_ROOT: taskRoot,
    AWS_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: 'fn',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/fn',
    AWS_LAMBDA_LOG_STREAM_NAME: '2024/01/01/[$LATEST]abc',
    ...extra,
  };
}

export interface InvokeResult {
  /** Log text received between the Invoke and its result. */
  logs: string;
  /** Response or Error. */
  result: Frame;
  /** Frames received for this invoke, in order (Log frames included). */
  frames: Frame[];
}

let counter = 0;
export const newRequestId = (): string => `req-${process.pid}-${++counter}-${Math.random().toString(16).slice(2, 10)}`;

export class Agent {
  readonly child: ChildProcess;
  readonly stream: Duplex;
  readonly frames: Frame[] = [];
  private read = 0;
  private wake: (() => void) | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout = '';
  stderr = '';
  /** Credit streamed bytes back as they arrive, as a host with a fast consumer does (off: the window runs out). */
  autoCredit = true;
  /** The streamed response under way (its ResponseStart's request id). */
  private streaming = '';

  constructor(env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [AGENT], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'en_US.UTF-8', TZ: ':UTC', ...env },
    });
    this.stream = this.child.stdio[3] as Duplex;
    const decoder = new FrameDecoder((f) => {
      if (f.type === FrameType.ResponseStart) this.streaming = String(f.meta.requestId);
      if (f.type === FrameType.ResponseChunk && this.autoCredit) this.credit(f.payload.length);
      this.frames.push(f);
      this.wake?.();
    });
    this.stream.on('data', (c: Buffer) => decoder.push(c));
    this.stream.on('error', () => undefined);
    this.child.stdout!.on('data', (c: Buffer) => (this.stdout += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => this.wake?.());
  }

  send(type: number, meta: object, payload?: Buffer | string): void {
    this.stream.write(encodeFrame(type, meta, payload));
  }

  /** Grants the streaming invoke `bytes` more of credit (a Credit frame). */
  credit(bytes: number): void {
    this.send(FrameType.Credit, { requestId: this.streaming, bytes });
  }

  init(meta: Partial<InitMeta> & { taskRoot: string; handler: string; family: string }): void {
    const full: InitMeta = { env: lambdaEnv(meta.taskRoot), runtimeApiListen: ':0', ...meta };
    this.send(FrameType.Init, full);
  }

  /** The next frame not read yet (in order), waiting for it. */
  async nextFrame(timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.read < this.frames.length) return this.frames[this.read++]!;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        // Frames may still be in flight on the stream after the exit.
        await new Promise((r) => setTimeout(r, 50));
        if (this.read < this.frames.length) return this.frames[this.read++]!;
        throw new Error(`agent exited (${this.child.exitCode ?? this.child.signalCode}) while waiting for a frame; stderr: ${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms; frames so far: ${this.describe()}; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Reads frames until one of `types`; returns it with the log text and frames before it. */
  async until(types: number[], timeoutMs = 10_000): Promise<{ frame: Frame; logs: string; frames: Frame[] }> {
    const frames: Frame[] = [];
    let logs = '';
    for (;;) {
      const f = await this.nextFrame(timeoutMs);
      frames.push(f);
      if (types.includes(f.type)) return { frame: f, logs, frames };
      if (f.type === FrameType.Log) logs += f.payload.toString('utf8');
    }
  }

  async ready(timeoutMs = 10_000): Promise<Frame & { logs: string }> {
    const { frame, logs } = await this.until([FrameType.Ready, FrameType.InitError, FrameType.Exit], timeoutMs);
    if (frame.type !== FrameType.Ready) {
      throw new Error(`expected Ready, got ${FrameName[frame.type]} ${JSON.stringify(frame.meta)} ${frame.payload.toString()}; logs: ${logs}; stderr: ${this.stderr}`);
    }
    return Object.assign(frame, { logs });
  }

  async invoke(event: unknown, meta: Partial<InvokeMeta> = {}, timeoutMs = 10_000): Promise<InvokeResult> {
    const full: InvokeMeta = {
      requestId: newRequestId(),
      deadlineMs: Date.now() + 30_000,
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn',
      traceId: 'Root=1-00000000-000000000000000000000000;Sampled=0',
      ...meta,
    };
    this.send(FrameType.Invoke, full, typeof event === 'string' ? event : JSON.stringify(event));
    const { frame, logs, frames } = await this.until([FrameType.Response, FrameType.Error, FrameType.Exit], timeoutMs);
    return { logs, result: frame, frames };
  }

  describe(): string {
    return this.frames.map((f) => `${FrameName[f.type]}${JSON.stringify(f.meta)}`).join(', ');
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.stream.destroy();
      const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

export const json = (f: Frame): Record<string, unknown> => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>;
