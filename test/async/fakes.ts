// Test doubles for the pollers: an invoker whose behaviour each test scripts,
// a config table, and a pool on a real SQLite queue in a temporary folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { EventInvokeConfig } from '../../src/async/event-config.js';
import { PollerPool, type InvokeTarget, type PollerOptions } from '../../src/async/pollers.js';
import type { FunctionRef } from '../../src/control/arn.js';
import { functionNotFound } from '../../src/errors.js';
import type { InvokeInput, InvokeOutput } from '../../src/invoke/invoke.js';
import { SqliteEventQueue } from '../../src/store/sqlite-queue.js';

/**
 * `kindling up` arguments for the `process` sandbox: the end-to-end async tests'
 * handlers write what they saw to a folder of the host, which only plain processes can.
 */
export const processSandboxArgs = (): string[] => ['--sandbox', 'process'];

export const ACCOUNT = { region: 'us-east-1', accountId: '000000000000' };

export interface Call {
  functionName: string;
  qualifier?: string;
  requestId: string;
  payload: string;
  at: number;
}

export type Behaviour = (input: InvokeInput, attempt: number) => Promise<Partial<InvokeOutput> | undefined> | Partial<InvokeOutput> | undefined;

/** An InvokeService stand-in: records every call, answers with what the function's behaviour says. */
export class FakeInvoker implements InvokeTarget {
  readonly calls: Call[] = [];
  readonly functions = new Map<string, { timeout: number; behaviour: Behaviour }>();
  running = 0;
  maxRunning = 0;
  readonly runningIds = new Set<string>();
  /** Request ids that were ever running twice at once. */
  readonly overlaps: string[] = [];
  private readonly attempts = new Map<string, number>();

  define(name: string, behaviour: Behaviour = () => undefined, timeout = 3): void {
    this.functions.set(name, { timeout, behaviour });
  }

  async resolve(ref: FunctionRef): Promise<{ version: string; timeout: number }> {
    const fn = this.functions.get(ref.name);
    if (!fn) throw functionNotFound(`arn:aws:lambda:us-east-1:000000000000:function:${ref.name}`);
    return { version: '$LATEST', timeout: fn.timeout };
  }

  async invoke(input: InvokeInput): Promise<InvokeOutput> {
    const fn = this.functions.get(input.ref.name);
    if (!fn) throw functionNotFound(`arn:aws:lambda:us-east-1:000000000000:function:${input.ref.name}`);
    const attempt = (this.attempts.get(input.requestId) ?? 0) + 1;
    this.attempts.set(input.requestId, attempt);
    this.calls.push({
      functionName: input.ref.name,
      ...(input.ref.qualifier !== undefined ? { qualifier: input.ref.qualifier } : {}),
      requestId: input.requestId,
      payload: input.payload.toString(),
      at: performance.now(),
    });
    if (this.runningIds.has(input.requestId)) this.overlaps.push(input.requestId);
    this.runningIds.add(input.requestId);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      const out = (await fn.behaviour(input, attempt)) ?? {};
      return {
        payload: Buffer.from('{"ok":true}'),
        durationMs: 1,
        reusable: true,
        executedVersion: '$LATEST',
        cold: false,
        ...out,
      };
    } finally {
      this.running--;
      this.runningIds.delete(input.requestId);
    }
  }

  callsOf(requestId: string): Call[] {
    return this.calls.filter((c) => c.requestId === requestId);
  }
}

/** A function error as the sandbox reports it. */
export const functionError = (message = 'boom'): Partial<InvokeOutput> => ({
  functionError: 'Unhandled',
  errorType: 'Error',
  payload: Buffer.from(JSON.stringify({ errorType: 'Error', errorMessage: message, trace: [] })),
});

export interface Harness {
  queue: SqliteEventQueue;
  invoker: FakeInvoker;
  configs: Map<string, EventInvokeConfig>;
  /** Reserved concurrency per function, as the pollers see it. */
  reserved: Map<string, number>;
  pool: PollerPool;
  dir: string;
  setConfig(c: Partial<EventInvokeConfig> & { functionName: string }): void;
  close(): Promise<void>;
}

export const silentLog = pino({ level: 'silent' });

export function harness(opts: PollerOptions = {}, start = true): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-pollers-'));
  const queue = new SqliteEventQueue(join(dir, 'queue.sqlite'));
  const invoker = new FakeInvoker();
  const configs = new Map<string, EventInvokeConfig>();
  const reserved = new Map<string, number>();
  const pool = new PollerPool(
    {
      queue,
      invoker,
      configs: async (name, qualifier) => configs.get(`${name}:${qualifier ?? '$LATEST'}`),
      account: ACCOUNT,
      log: silentLog,
      reservedConcurrency: async (name) => reserved.get(name),
    },
    { timeScale: 0.001, idlePollMs: 50, ...opts },
  );
  if (start) pool.start();
  return {
    queue,
    invoker,
    configs,
    reserved,
    pool,
    dir,
    setConfig(c) {
      const qualifier = c.qualifier ?? '$LATEST';
      configs.set(`${c.functionName}:${qualifier}`, { qualifier, lastModified: Date.now(), ...c });
    },
    async close() {
      await pool.stop();
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it is truthy (or fails after `timeoutMs`). */
export async function until<T>(check: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
