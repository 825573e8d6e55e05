// Asynchronous invocation, wired: the internal queue (queue.sqlite, or
// PostgreSQL in a cluster), the event invoke configs (beside the functions in
// the state store), the pollers, and the accepting side the frontend calls for
// `X-Amz-Invocation-Type: Event`.
import type { FunctionRef } from '../control/arn.js';
import type { ControlPlane } from '../control/functions.js';
import { LATEST } from '../control/model.js';
import { functionNotFound, serviceException } from '../errors.js';
import { functionArn } from '../control/arn.js';
import type { Logger } from '../log.js';
import { EventConfigService, type EventConfigStore } from './event-config.js';
import { PollerPool, type InvokeTarget, type PollerOptions } from './pollers.js';
import type { EventQueue, FailedEvent, QueueStats } from './queue.js';
import { envTimeScale } from './retry.js';

export interface AcceptInput {
  ref: FunctionRef;
  requestId: string;
  payload: Buffer;
  traceId?: string;
}

/** What the frontend's Invoke calls for an Event invocation. */
export interface EventAcceptor {
  /** Resolves once the event is durably queued; throws ResourceNotFoundException for an unknown function, ServiceException when it cannot be stored. */
  accept(input: AcceptInput): Promise<void>;
}

export interface StartAsyncOptions {
  control: ControlPlane;
  invoker: InvokeTarget;
  log: Logger;
  /** The internal queue (its owner closes it). */
  queue: EventQueue;
  /** Event invoke configs, beside the functions in the state store (its owner closes it). */
  configStore: EventConfigStore;
  /** What to tell the client when the queue could not store an event (undefined: not a storage failure). */
  storageFailure: (err: unknown) => string | undefined;
  /** Multiplies retry delays and maximum event ages; default $KINDLING_ASYNC_TIME_SCALE or 1. */
  timeScale?: number | undefined;
  pollers?: PollerOptions;
  /** Reset leases left by a previous process (embedded mode: this process alone uses the queue). Default true. */
  recover?: boolean;
}

export interface RunningAsync extends EventAcceptor {
  readonly queue: EventQueue;
  readonly configs: EventConfigService;
  readonly pollers: PollerPool;
  readonly timeScale: number;
  /** Events of a function waiting, running, held back for a retry, and failed. */
  stats(functionName: string): Promise<QueueStats>;
  /** Failed events of a function (the `kindling events failed` API). */
  listFailed(functionName: string, opts: { after?: string; limit: number }): Promise<FailedEvent[]>;
  /** Replays failed events (all, or those ids) of an existing function; how many. */
  redrive(functionName: string, ids?: string[]): Promise<number>;
  close(): Promise<void>;
}

export async function startAsync(opts: StartAsyncOptions): Promise<RunningAsync> {
  const timeScale = opts.timeScale ?? envTimeScale();
  const { queue, configStore: store, storageFailure } = opts;
  const configs = new EventConfigService(opts.control, store);
  const { control, invoker, log } = opts;

  // A deleted version takes its config with it (a deleted function's go by cascade).
  const onChange = (c: { kind: string; functionName: string; version: string }) => {
    if (c.kind === 'deleted' && c.version !== LATEST) {
      store.delete(c.functionName, c.version).catch((err: unknown) => log.warn({ err }, 'could not delete an event invoke config'));
    }
  };
  control.on('change', onChange);

  if (opts.recover !== false) {
    try {
      const n = await queue.recover();
      if (n > 0) log.info({ events: n }, 'async: events in flight at the last stop are queued again');
    } catch (err) {
      // A data folder that takes no writes: sync invokes still work; the leases lapse by themselves later.
      log.error({ err }, 'async: could not reset the leases of the last run');
    }
  }
  const pollers = new PollerPool(
    {
      queue,
      invoker,
      configs: (name, qualifier) => configs.forInvoke(name, qualifier),
      account: control.account,
      log,
      reservedConcurrency: async (name) => (await control.getFunctionRecord({ name })).reservedConcurrency,
    },
    { timeScale, ...opts.pollers },
  );
  pollers.start();

  let closed = false;
  return {
    queue,
    configs,
    pollers,
    timeScale,
    async accept(input: AcceptInput): Promise<void> {
      // Lambda checks the function (and qualifier) exists before it queues the event.
      await invoker.resolve(input.ref);
      try {
        await queue.enqueue({
          functionName: input.ref.name,
          ...(input.ref.qualifier !== undefined ? { qualifier: input.ref.qualifier } : {}),
          requestId: input.requestId,
          payload: input.payload,
          ...(input.traceId !== undefined ? { traceId: input.traceId } : {}),
        });
      } catch (err) {
        throw serviceException(storageFailure(err) ?? 'Kindling could not store the event.', err);
      }
    },
    stats: (functionName) => queue.stats(functionName),
    listFailed: (functionName, o) => queue.listFailed(functionName, o),
    async redrive(functionName, ids) {
      if (!(await control.functionExists(functionName))) throw functionNotFound(functionArn(control.account, functionName));
      try {
        return await queue.redrive(functionName, ids);
      } catch (err) {
        throw serviceException(storageFailure(err)?.replace('the event', 'the events') ?? 'Kindling could not redrive the events.', err);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      control.off('change', onChange);
      // The queue and the config store belong to the stores (store/open.ts), which close them after this.
      await pollers.stop();
    },
  };
}
