// The internal event queue: Kindling's SQS between an accepted `Event` invoke
// and the pollers that run it. SQS semantics: a received event is leased
// (invisible) for a visibility timeout, counted (receive count), deleted on
// ack, and made visible again (now, or later for a retry) when it is not.
// Delivery is at least once: a lease that lapses, a crash, or a shutdown in
// the middle of an invoke hands the event out again.
//
// The embedded implementation is SQLite (src/store/sqlite-queue.ts); every
// method is async so that a PostgreSQL one (SELECT ... FOR UPDATE SKIP LOCKED)
// fits behind the same calls.

/** An event to put on the queue. */
export interface NewEvent {
  functionName: string;
  /** The qualifier the caller invoked (version or alias); undefined for unqualified. */
  qualifier?: string;
  /** The request id of the accepting Invoke: the handler's context.awsRequestId on every attempt. */
  requestId: string;
  payload: Buffer;
  traceId?: string;
  /** When the event was first accepted, ms since the epoch (default: now). Its age counts from here. */
  enqueuedAt?: number;
  /** Hold the event back this long before its first delivery, ms. */
  delayMs?: number;
}

/** An event handed to a poller, leased until it is acked, retried or released. */
export interface QueuedEvent {
  /** The queue's id of the event (stable across deliveries). */
  id: string;
  functionName: string;
  qualifier?: string;
  requestId: string;
  payload: Buffer;
  traceId?: string;
  enqueuedAt: number;
  /** Deliveries so far, this one included (SQS's ApproximateReceiveCount). */
  receiveCount: number;
  /** Attempts that ended in a function error so far (Lambda's retry counter). */
  functionErrors: number;
  /** Throttles and system errors in a row so far (the exponential backoff's exponent). */
  systemRetries: number;
  /** Names this lease: every later call about the event passes it; stale receipts do nothing. */
  receipt: string;
}

/** Put the event back for another attempt, later. */
export interface RetryUpdate {
  delayMs: number;
  functionErrors: number;
  systemRetries: number;
}

/** Why an event ended without success, kept in the failed-events store. */
export interface FailedEventInput {
  condition: string;
  /** The invocation record (JSON text), as a destination would have received it. */
  record: string;
  errorType?: string;
  errorMessage?: string;
}

/** An event that failed with nowhere to go: listed by `kindling events failed`, replayed by redrive. */
export interface FailedEvent {
  id: string;
  functionName: string;
  qualifier?: string;
  requestId: string;
  payload: Buffer;
  traceId?: string;
  enqueuedAt: number;
  failedAt: number;
  condition: string;
  record: string;
  errorType?: string;
  errorMessage?: string;
}

/** What happens with the event in the same transaction as its deletion. */
export interface AckOutcome {
  /** Enqueue this (a destination's invocation record) atomically with the ack. */
  forward?: NewEvent;
  /** Keep the event in the failed-events store atomically with the ack. */
  failed?: FailedEventInput;
}

export interface QueueStats {
  /** Ready for a poller now. */
  visible: number;
  /** Leased to a poller. */
  inFlight: number;
  /** Waiting for a retry delay (or a first-delivery delay). */
  delayed: number;
  failed: number;
}

export interface ReceiveOptions {
  /** At most this many events. */
  max: number;
  /** The lease: how long the events stay invisible to other receivers, ms. */
  visibilityMs: number;
  /** Functions to leave alone this time (at their poller cap). */
  exclude?: Iterable<string>;
}

export interface EventQueue {
  /** Resolves once the event is durably committed (fsync'd); rejects when it could not be stored. */
  enqueue(event: NewEvent): Promise<void>;
  /** Leases up to `max` visible events, oldest first. */
  receive(opts: ReceiveOptions): Promise<QueuedEvent[]>;
  /** Extends a lease; false when the receipt is no longer current. */
  extend(receipt: string, visibilityMs: number): Promise<boolean>;
  /** Deletes the event (done), with what follows from it; false when the receipt is no longer current. */
  ack(receipt: string, outcome?: AckOutcome): Promise<boolean>;
  /** Returns the event for another attempt after `delayMs`; false when the receipt is no longer current. */
  retry(receipt: string, update: RetryUpdate): Promise<boolean>;
  /** Gives a lease back unprocessed: visible now, this delivery not counted. */
  release(receipt: string): Promise<boolean>;
  /** Makes every leased event visible again (startup of the only process that uses the queue). */
  recover(): Promise<number>;
  /** When the next not-yet-visible, unleased event becomes visible (ms since the epoch). */
  nextVisibleAt(): Promise<number | undefined>;
  stats(functionName?: string): Promise<QueueStats>;
  /** Failed events of one function, oldest first, after the id `after`. */
  listFailed(functionName: string, opts: { after?: string; limit: number }): Promise<FailedEvent[]>;
  /** Moves failed events (all of the function's, or those ids) back onto the queue as new events; how many. */
  redrive(functionName: string, ids?: string[]): Promise<number>;
  /** Called after events became visible through this queue object (enqueue, redrive, recover). */
  onVisible(listener: () => void): () => void;
  close(): Promise<void>;
}
