// The internal queue's rows as both backends read them (SQLite and PostgreSQL
// keep the same columns), and what the async part sees of them.
import type { FailedEvent, QueuedEvent } from '../async/queue.js';

/** What a queued and a failed event both keep of the event. */
interface StoredEventRow {
  id: number;
  function_name: string;
  qualifier: string | null;
  request_id: string;
  payload: Buffer;
  trace_id: string | null;
  enqueued_at: number;
}

export interface EventRow extends StoredEventRow {
  receive_count: number;
  function_errors: number;
  system_retries: number;
  receipt: string;
}

export interface FailedRow extends StoredEventRow {
  failed_at: number;
  condition: string;
  record: string;
  error_type: string | null;
  error_message: string | null;
}

const storedEvent = (r: StoredEventRow) => ({
  id: String(r.id),
  functionName: r.function_name,
  ...(r.qualifier !== null ? { qualifier: r.qualifier } : {}),
  requestId: r.request_id,
  payload: r.payload,
  ...(r.trace_id !== null ? { traceId: r.trace_id } : {}),
  enqueuedAt: r.enqueued_at,
});

export const toEvent = (r: EventRow): QueuedEvent => ({
  ...storedEvent(r),
  receiveCount: r.receive_count,
  functionErrors: r.function_errors,
  systemRetries: r.system_retries,
  receipt: `${r.id}:${r.receipt}`,
});

export const toFailed = (r: FailedRow): FailedEvent => ({
  ...storedEvent(r),
  failedAt: r.failed_at,
  condition: r.condition,
  record: r.record,
  ...(r.error_type !== null ? { errorType: r.error_type } : {}),
  ...(r.error_message !== null ? { errorMessage: r.error_message } : {}),
});
