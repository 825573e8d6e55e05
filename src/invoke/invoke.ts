// The one synchronous invoke path (Lambda's Frontend Invoke service): resolve
// the qualifier, take a concurrency lease, get a sandbox, run the event,
// release. Sync invokes, pollers and function URLs all come through here.
import type { FunctionRef } from '../control/arn.js';
import { functionArn } from '../control/arn.js';
import type { ControlPlane } from '../control/functions.js';
import type { FunctionVersion } from '../control/model.js';
import { LATEST } from '../control/model.js';
import { functionNotFound, tooManyRequests } from '../errors.js';
import { InitFailure, type ResponseSink, type SandboxResult } from '../host/sandbox.js';
import { endLine, reportLine, startLine } from '../host/report.js';
import * as limits from '../limits.js';
import type { WorkerManager } from '../workers/manager.js';
import { SandboxUnreachable } from '../workers/remote/remote-host.js';
import { ConcurrencyLedger } from './concurrency.js';

export interface InvokeInput {
  ref: FunctionRef;
  requestId: string;
  payload: Buffer;
  tail: boolean;
  clientContext?: string;
  traceId?: string;
  /** Take a streamed response as it comes (see SandboxInvoke.stream). */
  stream?: ResponseSink;
}

export interface InvokeOutput extends SandboxResult {
  executedVersion: string;
  cold: boolean;
}

/** Watches every invoke (metrics): started and ended pair up; finished or failed comes between. */
export interface InvokeObserver {
  started(fn: FunctionVersion): void;
  finished(fn: FunctionVersion, out: InvokeOutput): void;
  /** The invoke threw (a throttle, or a platform failure). */
  failed(fn: FunctionVersion, err: unknown): void;
  ended(fn: FunctionVersion): void;
}

interface Target {
  primary: FunctionVersion;
  /** An alias's additional versions with their shares of traffic; the rest goes to primary. */
  weighted?: [FunctionVersion, number][];
}

const NO_PROVISIONED: ReadonlyMap<string, number> = new Map();
/** Sandboxes an invoke may try, in all, when their hosts cannot be reached. */
const SANDBOX_ATTEMPTS = 3;

export class InvokeService {
  /** What a "name\0qualifier" resolves to; dropped whenever the function changes. */
  private readonly targets = new Map<string, Target>();
  private readonly ledger: ConcurrencyLedger;
  /** Reserved concurrency per function, loaded lazily; dropped on every change. */
  private reserved: Map<string, number> | undefined;
  /** Metrics, when wired (set once at startup). */
  observer: InvokeObserver | undefined;

  constructor(
    private readonly control: ControlPlane,
    private readonly workers: WorkerManager,
    private readonly reservations: () => Promise<{ functionName: string; reserved: number }[]>,
    readonly accountConcurrency = limits.ACCOUNT_CONCURRENCY_DEFAULT,
    /** Provisioned concurrency per function (kept in memory by its owner: read on every invoke). */
    private readonly provisioned: () => ReadonlyMap<string, number> = () => NO_PROVISIONED,
  ) {
    this.ledger = new ConcurrencyLedger(accountConcurrency);
    control.on('change', (c) => {
      if (c.kind === 'configured' || c.kind === 'deleted') this.reserved = undefined;
      for (const key of this.targets.keys()) if (key.startsWith(`${c.functionName}\0`)) this.targets.delete(key);
      if (c.kind !== 'created') workers.retire(c.functionName, c.version);
    });
  }

  /**
   * Changes may have been missed (cluster mode lost its change feed for a while):
   * forget every resolved target and retire every warm sandbox, so the next
   * invoke of each function reads its current version.
   */
  forgetAll(): void {
    this.reserved = undefined;
    this.targets.clear();
    for (const name of new Set(this.workers.stats().map((s) => s.functionName))) this.workers.retire(name);
  }

  /** The version an invoke runs (an alias picks by its weights); throws ResourceNotFoundException as Invoke reports it. */
  async resolve(ref: FunctionRef): Promise<FunctionVersion> {
    const qualifier = ref.qualifier ?? LATEST;
    const key = `${ref.name}\0${qualifier}`;
    let target = this.targets.get(key);
    if (!target) {
      target = await this.load({ ...ref, qualifier });
      this.targets.set(key, target);
    }
    if (target.weighted) {
      let r = Math.random();
      for (const [v, weight] of target.weighted) {
        if (r < weight) return v;
        r -= weight;
      }
    }
    return target.primary;
  }

  private async load(ref: FunctionRef): Promise<Target> {
    const notFound = () => functionNotFound(functionArn(this.control.account, ref.name, ref.qualifier));
    let alias;
    try {
      alias = (await this.control.resolveTarget(ref)).alias;
    } catch {
      throw notFound();
    }
    const primary = await this.control.getVersionNumber(ref.name, alias ? alias.functionVersion : ref.qualifier!);
    if (!primary) throw notFound();
    const extra = Object.entries(alias?.additionalVersionWeights ?? {});
    if (extra.length === 0) return { primary };
    const weighted: [FunctionVersion, number][] = [];
    for (const [version, weight] of extra) {
      const v = await this.control.getVersionNumber(ref.name, version);
      if (v) weighted.push([v, weight]);
    }
    return { primary, weighted };
  }

  async invoke(input: InvokeInput): Promise<InvokeOutput> {
    const fn = await this.resolve(input.ref);
    const obs = this.observer;
    if (!obs) {
      const release = await this.lease(fn.functionName);
      try {
        return await this.run(fn, input);
      } finally {
        release();
      }
    }
    let release;
    try {
      release = await this.lease(fn.functionName);
    } catch (err) {
      obs.failed(fn, err);
      throw err;
    }
    obs.started(fn);
    try {
      const out = await this.run(fn, input);
      obs.finished(fn, out);
      return out;
    } catch (err) {
      obs.failed(fn, err);
      throw err;
    } finally {
      release();
      obs.ended(fn);
    }
  }

  /** A concurrency lease (concurrency.ts: reserved, provisioned, the unreserved pool), or Lambda's 429. */
  private async lease(name: string): Promise<() => void> {
    if (!this.reserved) {
      const map = new Map<string, number>();
      for (const r of await this.reservations()) map.set(r.functionName, r.reserved);
      this.reserved = map;
    }
    return this.ledger.acquire(name, { reserved: this.reserved, provisioned: this.provisioned() });
  }

  /** Executions running now, for metrics and the console. */
  concurrentExecutions(): number {
    return this.ledger.total();
  }

  private async run(fn: FunctionVersion, input: InvokeInput): Promise<InvokeOutput> {
    input.stream?.begin?.(fn.version);
    const invokedFunctionArn = functionArn(this.control.account, fn.functionName, input.ref.qualifier);
    const trace = input.traceId ?? traceId();
    for (let attempt = 1; ; attempt++) {
      // A worker host that could not be reached never started the invoke: it runs elsewhere.
      const retry = (err: unknown): boolean => err instanceof SandboxUnreachable && attempt < SANDBOX_ATTEMPTS;
      let lease;
      try {
        lease = await this.workers.acquire(fn);
      } catch (err) {
        if (err instanceof InitFailure) return this.initFailed(fn, input, err);
        if (retry(err)) continue;
        throw err;
      }
      let result;
      try {
        result = await lease.sandbox.invoke({
          requestId: input.requestId,
          payload: input.payload,
          invokedFunctionArn,
          traceId: trace,
          ...(input.clientContext !== undefined ? { clientContext: input.clientContext } : {}),
          tail: input.tail,
          ...(input.stream !== undefined ? { stream: input.stream } : {}),
        });
      } catch (err) {
        this.workers.release(lease, false);
        if (retry(err)) continue;
        throw err;
      }
      this.workers.release(lease, result.reusable);
      return { ...result, executedVersion: fn.version, cold: lease.cold };
    }
  }

  /** Init failed: the invoke reports the init error as Lambda does, with its own log lines. */
  private initFailed(fn: FunctionVersion, input: InvokeInput, f: InitFailure): InvokeOutput {
    const log =
      f.logs +
      startLine(input.requestId, fn.version) +
      endLine(input.requestId) +
      reportLine({
        requestId: input.requestId,
        durationMs: f.durationMs,
        memorySizeMb: fn.memorySize,
        maxMemoryUsedMb: 0,
        status: 'error',
        errorType: f.errorType,
      });
    const out: InvokeOutput = {
      payload: f.body,
      functionError: 'Unhandled',
      errorType: f.errorType,
      durationMs: f.durationMs,
      reusable: false,
      executedVersion: fn.version,
      cold: true,
    };
    if (input.tail) out.logResult = Buffer.from(log.slice(-limits.LOG_TAIL_BYTES)).toString('base64');
    return out;
  }
}

/** An X-Ray style trace header, as Lambda hands every invoke one. */
function traceId(): string {
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');
  return `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${hex(24)};Parent=${hex(16)};Sampled=0`;
}
