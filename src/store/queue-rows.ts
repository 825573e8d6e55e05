// The internal queue's rows as both backends read them (SQLite and PostgreSQL
// keep the same columns), and what the async part sees of them.
import type { FailedEvent, QueuedEvent } from '../async/queue.js';

export interface EventRow {
  id: number;
  function_name: string;
  qualifier: string | null;
  request_id: string;
  payload: Buffer;
  trace_id: string | null;
  enqueued_at: number;
  receive_count: number;
  function_errors: number;
  system_retries: number;
  receipt: string;
}

export interface FailedRow {
  id: number;
  function_name: string;
  qualifier: string | null;
  request_id: string;
  payload: Buffer;
  trace_id: string | null;
  enqueued_at: number;
  failed_at: number;
  condition: string;
  record: string;
  error_type: string | null;
  error_message: string | null;
}

export const toEvent = (r: EventRow): QueuedEvent => ({
  id: String(r.id),
  functionName: r.function_name,
  ...(r.qualifier !== null ? { qualifier: r.qualifier } : {}),
  requestId: r.request_id,
  payload: r.payload,
  ...(r.trace_id !== null ? { traceId: r.trace_id } : {}),
  enqueuedAt: r.enqueued_at,
  receiveCount: r.receive_count,
  functionErrors: r.function_errors,
  systemRetries: r.system_retries,
  receipt: `${r.id}:${r.receipt}`,
});

export const toFailed = (r: FailedRow): FailedEvent => ({
  id: String(r.id),
  functionName: r.function_name,
  ...(r.qualifier !== null ? { qualifier: r.qualifier } : {}),
  requestId: r.request_id,
  payload: r.payload,
  ...(r.trace_id !== null ? { traceId: r.trace_id } : {}),
  enqueuedAt: r.enqueued_at,
  failedAt: r.failed_at,
  condition: r.condition,
  record: r.record,
  ...(r.error_type !== null ? { errorType: r.error_type } : {}),
  ...(r.error_message !== null ? { errorMessage: r.error_message } : {}),
});
