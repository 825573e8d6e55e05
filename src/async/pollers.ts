// The pollers: take events off the internal queue and run each through the
// one synchronous invoke path, then ack it, schedule its retry, or send its
// invocation record on (destination, or the failed-events store).
//
// How many run: one per visible event, up to `maxPollers` in all and
// `perFunctionMax` per function (so one function's backlog cannot starve the
// others). They are woken at once when this process enqueues (no polling delay
// on the hot path), at the time the next delayed retry becomes visible, and
// every `idlePollMs` otherwise (for events another process put on a shared queue).
//
// One event is never run by two pollers at once: its lease (visibility timeout)
// is longer than the function's timeout plus Init plus a margin, and is renewed
// while the invoke runs. A crash or a shutdown mid-invoke leaves the lease to
// lapse (or be reset at the next start), and the event runs again: at least once.
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import type { Account, FunctionRef } from '../control/arn.js';
import { functionArn, parseFunctionRef } from '../control/arn.js';
import { LATEST } from '../control/model.js';
import { isLambdaError } from '../errors.js';
import type { InvokeInput, InvokeOutput } from '../invoke/invoke.js';
import * as limits from '../limits.js';
import type { Logger } from '../log.js';
import type { EventInvokeConfig } from './event-config.js';
import type { AckOutcome, EventQueue, NewEvent, QueuedEvent } from './queue.js';
import { invocationRecord, type RecordCondition } from './record.js';
import { afterFunctionError, afterSystemError, expired, retryPolicy, type RetryPolicy } from './retry.js';

/** What the pollers call: the synchronous invoke path (InvokeService). */
export interface InvokeTarget {
  /** The version an invoke would run; throws ResourceNotFoundException when there is none. */
  resolve(ref: FunctionRef): Promise<{ version: string; timeout: number }>;
  invoke(input: InvokeInput): Promise<InvokeOutput>;
}

export interface PollerOptions {
  /** Pollers (concurrent invokes) in all. Default: 2 x cores x 8. */
  maxPollers?: number;
  /** Pollers for one function. Default: half of maxPollers. */
  perFunctionMax?: number;
  /** The first lease of a received event, ms; renewed at a third of it while the invoke runs. */
  visibilityMs?: number;
  /** Added to function timeout + Init bound for the lease, ms. */
  leaseMarginMs?: number;
  /** Events taken per receive. */
  receiveBatch?: number;
  /** Look at the queue at least this often when nothing woke the pollers, ms. */
  idlePollMs?: number;
  /** Multiplies every retry delay and the maximum event age (tests: 0.001). */
  timeScale?: number;
  /** How long stop() waits for invokes in flight before giving their events back, ms. */
  shutdownGraceMs?: number;
}

export interface PollerDeps {
  queue: EventQueue;
  invoker: InvokeTarget;
  /** The event invoke config of name:qualifier (undefined qualifier: $LATEST), if any. */
  configs: (functionName: string, qualifier: string | undefined) => Promise<EventInvokeConfig | undefined>;
  account: Account;
  log: Logger;
  /** The function's reserved concurrency, if any: asked when an invoke is throttled (0 ends the event). */
  reservedConcurrency?: (functionName: string) => Promise<number | undefined>;
}

interface Lease {
  ms: number;
}

/** How an event finished, for tests and logs. */
export interface Finished {
  requestId: string;
  functionName: string;
  condition: RecordCondition;
  destination?: string;
}


export class PollerPool {
  readonly maxPollers: number;
  readonly perFunctionMax: number;
  private readonly visibilityMs: number;
  private readonly leaseMarginMs: number;
  private readonly receiveBatch: number;
  private readonly idlePollMs: number;
  private readonly timeScale: number;
  private readonly shutdownGraceMs: number;

  private inFlight = 0;
  private readonly perFunction = new Map<string, number>();
  private readonly active = new Map<string, QueuedEvent>();
  private readonly tasks = new Set<Promise<void>>();
  private pumping = false;
  private pumpScheduled = false;
  private again = false;
  private stopping = false;
  private started = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly finishedListeners = new Set<(f: Finished) => void>();

  constructor(
    private readonly deps: PollerDeps,
    opts: PollerOptions = {},
  ) {
    this.maxPollers = Math.max(1, opts.maxPollers ?? 2 * Math.max(1, cpus().length) * 8);
    this.perFunctionMax = Math.max(1, Math.min(this.maxPollers, opts.perFunctionMax ?? Math.ceil(this.maxPollers / 2)));
    this.visibilityMs = opts.visibilityMs ?? 60_000;
    this.leaseMarginMs = opts.leaseMarginMs ?? 30_000;
    this.receiveBatch = opts.receiveBatch ?? 16;
    this.idlePollMs = opts.idlePollMs ?? 1000;
    this.timeScale = opts.timeScale ?? 1;
    this.shutdownGraceMs = opts.shutdownGraceMs ?? 3000;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.deps.queue.onVisible(this.wake);
    this.pump();
  }

  /** Invokes in flight now, in all and per function. */
  stats(): { inFlight: number; perFunction: Record<string, number> } {
    return { inFlight: this.inFlight, perFunction: Object.fromEntries(this.perFunction) };
  }

  /** Called as each event finishes for good (success, or failure with its condition). */
  onFinished(listener: (f: Finished) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /** Stops taking events; waits a little for invokes in flight, then hands the rest back to the queue. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unsubscribe?.();
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    if (this.tasks.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (timer = setTimeout(r, this.shutdownGraceMs)));
      await Promise.race([Promise.allSettled([...this.tasks]), grace]);
      clearTimeout(timer);
    }
    for (const ev of this.active.values()) {
      try {
        await this.deps.queue.release(ev.receipt);
      } catch {
        // the lease lapses by itself, or is reset at the next start
      }
    }
  }

  private readonly wake = (): void => {
    if (!this.stopping) this.pump();
  };

  /** One pump for every completion of this turn of the event loop. */
  private pumpSoon(): void {
    if (this.pumpScheduled || this.stopping) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.wake();
    });
  }

  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.pumpLoop()
      .catch((err: unknown) => this.deps.log.error({ err }, 'async pollers: receive failed'))
      .finally(() => {
        this.pumping = false;
      });
  }

  private async pumpLoop(): Promise<void> {
    if (this.wakeTimer) {
      clearTimeout(this.wakeTimer);
      this.wakeTimer = undefined;
    }
    for (;;) {
      if (!(await this.drain())) {
        this.scheduleWake(this.idlePollMs); // the queue failed: try again in a while
        return;
      }
      if (this.stopping || this.inFlight >= this.maxPollers) return;
      let next: number | undefined;
      try {
        next = await this.deps.queue.nextVisibleAt();
      } catch {
        next = undefined;
      }
      if (this.again) continue; // woken while asking
      const delay = next === undefined ? this.idlePollMs : Math.min(this.idlePollMs, Math.max(0, next - Date.now()));
      this.scheduleWake(delay);
      return;
    }
  }

  /** Receives and starts events while there are pollers free and events visible; false when the queue failed. */
  private async drain(): Promise<boolean> {
    do {
      this.again = false;
      while (!this.stopping && this.inFlight < this.maxPollers) {
        // Never take more than any function could start now: functions at their cap are
        // left out, and a batch is no bigger than the smallest headroom of those running.
        const exclude: string[] = [];
        let max = Math.min(this.maxPollers - this.inFlight, this.receiveBatch);
        for (const [name, n] of this.perFunction) {
          if (n >= this.perFunctionMax) exclude.push(name);
          else max = Math.min(max, this.perFunctionMax - n);
        }
        let batch: QueuedEvent[];
        try {
          batch = await this.deps.queue.receive({ max, visibilityMs: this.visibilityMs, exclude });
        } catch (err) {
          if (!this.stopping) this.deps.log.error({ err }, 'async pollers: cannot receive events; trying again shortly');
          return false;
        }
        if (batch.length === 0) break;
        for (const ev of batch) {
          if (this.stopping || (this.perFunction.get(ev.functionName) ?? 0) >= this.perFunctionMax) {
            this.deps.queue.release(ev.receipt).catch(() => undefined);
            continue;
          }
          this.begin(ev);
        }
      }
    } while (this.again && !this.stopping);
    return true;
  }

  private scheduleWake(ms: number): void {
    if (this.stopping) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(this.wake, ms);
    this.wakeTimer.unref();
  }

  private begin(ev: QueuedEvent): void {
    this.inFlight++;
    this.perFunction.set(ev.functionName, (this.perFunction.get(ev.functionName) ?? 0) + 1);
    this.active.set(ev.receipt, ev);
    const task: Promise<void> = this.run(ev).finally(() => {
      this.inFlight--;
      const n = (this.perFunction.get(ev.functionName) ?? 1) - 1;
      if (n <= 0) this.perFunction.delete(ev.functionName);
      else this.perFunction.set(ev.functionName, n);
      this.active.delete(ev.receipt);
      this.tasks.delete(task);
      this.pumpSoon();
    });
    this.tasks.add(task);
  }

  private async run(ev: QueuedEvent): Promise<void> {
    const lease: Lease = { ms: this.visibilityMs };
    const heartbeat = setInterval(() => {
      this.deps.queue.extend(ev.receipt, lease.ms).catch(() => undefined);
    }, Math.max(10, Math.floor(this.visibilityMs / 3)));
    heartbeat.unref();
    try {
      await this.process(ev, lease);
    } catch (err) {
      // Kindling's own bookkeeping failed (the queue could not be written): the lease
      // lapses and the event is delivered again.
      if (!this.stopping) this.deps.log.error({ err, requestId: ev.requestId, functionName: ev.functionName }, 'async event handling failed');
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async process(ev: QueuedEvent, lease: Lease): Promise<void> {
    const ref: FunctionRef = { name: ev.functionName, ...(ev.qualifier !== undefined ? { qualifier: ev.qualifier } : {}) };
    const config = await this.deps.configs(ev.functionName, ev.qualifier);
    const policy = retryPolicy(config, this.timeScale);
    if (expired(Date.now() - ev.enqueuedAt, policy)) {
      await this.finish(ev, config, 'EventAgeExceeded', ev.functionErrors);
      return;
    }

    let timeoutSeconds: number;
    try {
      timeoutSeconds = (await this.deps.invoker.resolve(ref)).timeout;
    } catch (err) {
      await this.failed(ev, config, policy, err);
      return;
    }
    const needed = (timeoutSeconds + limits.INIT_TIMEOUT_SECONDS) * 1000 + this.leaseMarginMs;
    if (needed > lease.ms) {
      lease.ms = needed;
      await this.deps.queue.extend(ev.receipt, needed);
    }

    let out: InvokeOutput;
    try {
      out = await this.deps.invoker.invoke({
        ref,
        requestId: ev.requestId,
        payload: ev.payload,
        tail: false,
        ...(ev.traceId !== undefined ? { traceId: ev.traceId } : {}),
      });
    } catch (err) {
      await this.failed(ev, config, policy, err);
      return;
    }

    if (!out.functionError) {
      await this.finish(ev, config, 'Success', ev.functionErrors + 1, out);
      return;
    }
    const decision = afterFunctionError(Date.now() - ev.enqueuedAt, ev.functionErrors, policy);
    if (decision.kind === 'retry') {
      await this.deps.queue.retry(ev.receipt, decision);
      return;
    }
    const error = functionErrorOf(out);
    await this.finish(ev, config, decision.condition, ev.functionErrors + 1, out, error);
  }

  /** The invoke did not reach the function: a throttle, a system error, or no such function. */
  private async failed(ev: QueuedEvent, config: EventInvokeConfig | undefined, policy: RetryPolicy, err: unknown): Promise<void> {
    const error = {
      errorType: isLambdaError(err) ? err.type : 'ServiceException',
      errorMessage: err instanceof Error ? err.message : String(err),
    };
    if (isLambdaError(err) && err.type === 'ResourceNotFoundException') {
      // The function (or its qualifier) is gone: nothing can run the event. Lambda drops it;
      // Kindling keeps it with the failed events, to be redriven once the function is back.
      this.deps.log.warn({ requestId: ev.requestId, functionName: ev.functionName, error: error.errorMessage }, 'async event for a missing function');
      await this.finish(ev, config, 'RetriesExhausted', ev.functionErrors, undefined, error);
      return;
    }
    if (isLambdaError(err) && err.status === 429 && (await this.reservedIsZero(ev.functionName))) {
      // Lambda sends such events to the on-failure destination at once, without retries.
      await this.finish(ev, config, 'ZeroReservedConcurrency', 0, undefined, error);
      return;
    }
    if (!isLambdaError(err) || err.status >= 500) {
      this.deps.log.warn({ err, requestId: ev.requestId, functionName: ev.functionName }, 'async invoke failed; retrying');
    }
    const decision = afterSystemError(Date.now() - ev.enqueuedAt, ev.functionErrors, ev.systemRetries, policy);
    if (decision.kind === 'retry') {
      await this.deps.queue.retry(ev.receipt, decision);
      return;
    }
    await this.finish(ev, config, decision.condition, ev.functionErrors, undefined, error);
  }

  private async reservedIsZero(functionName: string): Promise<boolean> {
    try {
      return (await this.deps.reservedConcurrency?.(functionName)) === 0;
    } catch {
      return false;
    }
  }

  /**
   * Deletes the event, with its invocation record sent to the destination or kept as a failed event.
   * `invokeCount` (approximateInvokeCount) counts the attempts that reached the function: throttled
   * deliveries do not count, and neither does a run cut off by a crash (hence "approximate").
   */
  private async finish(
    ev: QueuedEvent,
    config: EventInvokeConfig | undefined,
    condition: RecordCondition,
    invokeCount: number,
    out?: InvokeOutput,
    error?: { errorType: string; errorMessage: string },
  ): Promise<void> {
    const destination = condition === 'Success' ? config?.onSuccess : config?.onFailure;
    const dest = destination ? parseFunctionRef(destination) : undefined;
    if (condition === 'Success' && !dest) {
      await this.deps.queue.ack(ev.receipt);
      this.emitFinished({ requestId: ev.requestId, functionName: ev.functionName, condition });
      return;
    }
    const record = JSON.stringify(
      invocationRecord({
        requestId: ev.requestId,
        functionArn: functionArn(this.deps.account, ev.functionName, ev.qualifier ?? LATEST),
        condition,
        approximateInvokeCount: Math.max(0, invokeCount),
        requestPayload: ev.payload,
        ...(out ? { response: { executedVersion: out.executedVersion, functionError: out.functionError, payload: out.payload } } : {}),
      }),
    );
    let outcome: AckOutcome;
    if (dest) {
      const forward: NewEvent = {
        functionName: dest.name,
        ...(dest.qualifier !== undefined ? { qualifier: dest.qualifier } : {}),
        requestId: randomUUID(),
        payload: Buffer.from(record),
      };
      outcome = { forward };
    } else {
      outcome = { failed: { condition, record, ...(error ?? {}) } };
    }
    await this.deps.queue.ack(ev.receipt, outcome);
    if (condition !== 'Success') {
      this.deps.log.info(
        { requestId: ev.requestId, functionName: ev.functionName, condition, destination: destination ?? 'failed-events' },
        'async event failed',
      );
    }
    this.emitFinished({ requestId: ev.requestId, functionName: ev.functionName, condition, ...(destination ? { destination } : {}) });
  }

  private emitFinished(f: Finished): void {
    for (const l of this.finishedListeners) {
      try {
        l(f);
      } catch {
        // listeners are for tests and metrics; they do not get to break the pollers
      }
    }
  }
}

/** errorType / errorMessage of a function error's payload, for the failed-events list. */
function functionErrorOf(out: InvokeOutput): { errorType: string; errorMessage: string } {
  let message = '';
  try {
    const body = JSON.parse(out.payload.toString('utf8')) as { errorMessage?: unknown };
    if (typeof body.errorMessage === 'string') message = body.errorMessage;
  } catch {
    message = out.payload.toString('utf8').slice(0, 1000);
  }
  return { errorType: out.errorType ?? 'Unhandled', errorMessage: message };
}
