// The one synchronous invoke path (Lambda's Frontend Invoke service): resolve
// the qualifier, take a concurrency lease, get a sandbox, run the event,
// release. Sync invokes, pollers and function URLs all come through here.
import type { FunctionRef } from '../control/arn.js';
import { functionArn } from '../control/arn.js';
import type { ControlPlane } from '../control/functions.js';
import type { FunctionVersion } from '../control/model.js';
import { LATEST } from '../control/model.js';
import { functionNotFound, tooManyRequests } from '../errors.js';
import { InitFailure, type SandboxResult } from '../host/sandbox.js';
import { endLine, reportLine, startLine } from '../host/report.js';
import * as limits from '../limits.js';
import type { WorkerManager } from '../workers/manager.js';

export interface InvokeInput {
  ref: FunctionRef;
  requestId: string;
  payload: Buffer;
  tail: boolean;
  clientContext?: string;
  traceId?: string;
}

export interface InvokeOutput extends SandboxResult {
  executedVersion: string;
  cold: boolean;
}

export class InvokeService {
  /** Resolved versions by "name\0qualifier"; dropped whenever the function changes. */
  private readonly versions = new Map<string, FunctionVersion>();
  private inFlight = 0;

  constructor(
    private readonly control: ControlPlane,
    private readonly workers: WorkerManager,
    private readonly accountConcurrency = limits.ACCOUNT_CONCURRENCY_DEFAULT,
  ) {
    control.on('change', (c) => {
      for (const key of this.versions.keys()) if (key.startsWith(`${c.functionName}\0`)) this.versions.delete(key);
      if (c.kind !== 'created') workers.retire(c.functionName, c.version);
    });
  }

  /** The version an invoke runs; throws ResourceNotFoundException as Invoke reports it. */
  async resolve(ref: FunctionRef): Promise<FunctionVersion> {
    const qualifier = ref.qualifier ?? LATEST;
    const key = `${ref.name}\0${qualifier}`;
    const cached = this.versions.get(key);
    if (cached) return cached;
    try {
      const v = await this.control.getVersion({ ...ref, qualifier });
      this.versions.set(key, v);
      return v;
    } catch {
      throw functionNotFound(functionArn(this.control.account, ref.name, qualifier));
    }
  }

  async invoke(input: InvokeInput): Promise<InvokeOutput> {
    const fn = await this.resolve(input.ref);
    if (this.inFlight >= this.accountConcurrency) throw tooManyRequests('ConcurrentInvocationLimitExceeded');
    this.inFlight++;
    try {
      return await this.run(fn, input);
    } finally {
      this.inFlight--;
    }
  }

  private async run(fn: FunctionVersion, input: InvokeInput): Promise<InvokeOutput> {
    let lease;
    try {
      lease = await this.workers.acquire(fn);
    } catch (err) {
      if (err instanceof InitFailure) return this.initFailed(fn, input, err);
      throw err;
    }
    const invokedFunctionArn = functionArn(this.control.account, fn.functionName, input.ref.qualifier);
    const result = await lease.sandbox.invoke({
      requestId: input.requestId,
      payload: input.payload,
      invokedFunctionArn,
      traceId: input.traceId ?? traceId(),
      ...(input.clientContext !== undefined ? { clientContext: input.clientContext } : {}),
      tail: input.tail,
    });
    this.workers.release(lease, result.reusable);
    return { ...result, executedVersion: fn.version, cold: lease.cold };
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
