// The one synchronous invoke path (Lambda's Frontend Invoke service): resolve
// the qualifier, take a concurrency lease, get a sandbox, run the event,
// release. Sync invokes, pollers and function URLs all come through here.
import { randomFillSync } from 'node:crypto';
import type { FunctionRef } from '../control/arn.js';
import { functionArn } from '../control/arn.js';
import type { ControlPlane } from '../control/functions.js';
import type { FunctionVersion } from '../control/model.js';
import { LATEST } from '../control/model.js';
import { functionNotFound, tooManyRequests } from '../errors.js';
import { InitFailure, type ResponseSink, type SandboxResult } from '../host/sandbox.js';
import { endLine, reportLine, startLine } from '../host/report.js';
import * as limits from '../limits.js';
import { SandboxUnreachable } from '../workers/remote/remote-host.js';
import type { Invocation, InvokeBackend } from './backend.js';

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

/** Sandboxes an invoke may try, in all, when their hosts cannot be reached. */
const SANDBOX_ATTEMPTS = 3;

export class InvokeService {
  /** What a "name\0qualifier" resolves to; dropped whenever the function changes. */
  private readonly targets = new Map<string, Target>();
  /** Metrics, when wired (set once at startup). */
  observer: InvokeObserver | undefined;

  constructor(
    private readonly control: ControlPlane,
    private readonly backend: InvokeBackend,
  ) {
    control.on('change', (c) => {
      for (const key of this.targets.keys()) if (key.startsWith(`${c.functionName}\0`)) this.targets.delete(key);
      if (c.kind !== 'created') backend.retire(c.functionName, c.version);
    });
  }

  /**
   * Changes may have been missed (cluster mode lost its change feed for a while):
   * forget every resolved target and retire every warm sandbox, so the next
   * invoke of each function reads its current version.
   */
  forgetAll(): void {
    this.targets.clear();
    this.backend.forgetAll();
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
      const invocation = await this.backend.begin(fn, input.requestId);
      try {
        return await this.run(fn, input, invocation);
      } finally {
        invocation.end();
      }
    }
    let invocation;
    try {
      invocation = await this.backend.begin(fn, input.requestId);
    } catch (err) {
      obs.failed(fn, err);
      throw err;
    }
    obs.started(fn);
    try {
      const out = await this.run(fn, input, invocation);
      obs.finished(fn, out);
      return out;
    } catch (err) {
      obs.failed(fn, err);
      throw err;
    } finally {
      invocation.end();
      obs.ended(fn);
    }
  }

  /** Executions running now, for metrics and the console. */
  concurrentExecutions(): number {
    return this.backend.running();
  }

  private async run(fn: FunctionVersion, input: InvokeInput, invocation: Invocation): Promise<InvokeOutput> {
    input.stream?.begin?.(fn.version);
    const invokedFunctionArn = functionArn(this.control.account, fn.functionName, input.ref.qualifier);
    const trace = input.traceId ?? traceId();
    for (let attempt = 1; ; attempt++) {
      // A worker host that could not be reached never started the invoke: it runs elsewhere.
      const retry = (err: unknown): boolean => err instanceof SandboxUnreachable && attempt < SANDBOX_ATTEMPTS;
      let lease;
      try {
        lease = await invocation.acquire();
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
        invocation.release(lease, false);
        if (retry(err)) continue;
        throw err;
      }
      invocation.release(lease, result.reusable);
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

/** Random bytes drawn a block at a time: one getrandom call per 200 invokes, not one each. */
const TRACE_RANDOM = Buffer.alloc(4000);
let traceRandomAt = TRACE_RANDOM.length;

/** An X-Ray style trace header, as Lambda hands every invoke one. */
function traceId(): string {
  if (traceRandomAt + 20 > TRACE_RANDOM.length) {
    randomFillSync(TRACE_RANDOM);
    traceRandomAt = 0;
  }
  const root = TRACE_RANDOM.toString('hex', traceRandomAt, traceRandomAt + 12);
  const parent = TRACE_RANDOM.toString('hex', traceRandomAt + 12, traceRandomAt + 20);
  traceRandomAt += 20;
  return `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${root};Parent=${parent};Sampled=0`;
}
