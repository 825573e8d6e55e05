// Lambda's retry policy for asynchronous invocation, as pure functions.
//
// - A function error (the handler threw, timed out, ran out of memory...) is
//   retried MaximumRetryAttempts times (0-2, default 2): about 1 minute after
//   the first failure, then 2 minutes after the second.
// - A throttle (429) or a system error (5xx, or anything thrown on the way to
//   the sandbox) returns the event to the queue with exponential backoff,
//   1 s doubling up to 5 minutes, for as long as the event is younger than
//   MaximumEventAgeInSeconds (60-21600, default 21600 = 6 hours).
// - An event older than its maximum age is not invoked again ("EventAgeExceeded"),
//   and neither is one whose next retry would fall past that age.
//
// Every duration is multiplied by the server's time scale (KINDLING_ASYNC_TIME_SCALE,
// `kindling up --async-time-scale`), so tests can run six hours of policy in seconds.

export const DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2;
export const MAXIMUM_RETRY_ATTEMPTS_MIN = 0;
export const MAXIMUM_RETRY_ATTEMPTS_MAX = 2;
export const DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 21_600;
export const MAXIMUM_EVENT_AGE_MIN_SECONDS = 60;
export const MAXIMUM_EVENT_AGE_MAX_SECONDS = 21_600;

/** Function-error retries: 1 minute after the first failure, 2 after the second. */
export const FUNCTION_ERROR_RETRY_BASE_MS = 60_000;
/** Throttle / system-error backoff: 1 s, doubling... */
export const SYSTEM_RETRY_BASE_MS = 1_000;
/** ... up to 5 minutes. */
export const SYSTEM_RETRY_MAX_MS = 300_000;

/** Why an event ended without success (the invocation record's condition). ZeroReservedConcurrency:
 *  the function's reserved concurrency is 0, which turns its asynchronous events away without retries. */
export type FailureCondition = 'RetriesExhausted' | 'EventAgeExceeded' | 'ZeroReservedConcurrency';

export interface RetryPolicy {
  maximumRetryAttempts: number;
  /** Already scaled, ms. */
  maximumEventAgeMs: number;
  timeScale: number;
}

export function retryPolicy(
  config: { maximumRetryAttempts?: number | undefined; maximumEventAgeInSeconds?: number | undefined } | undefined,
  timeScale: number,
): RetryPolicy {
  return {
    maximumRetryAttempts: config?.maximumRetryAttempts ?? DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
    maximumEventAgeMs: (config?.maximumEventAgeInSeconds ?? DEFAULT_MAXIMUM_EVENT_AGE_SECONDS) * 1000 * timeScale,
    timeScale,
  };
}

/** The delay before retry number `failures` (1 = after the first failed attempt) of a function error. */
export const functionErrorDelayMs = (failures: number, timeScale: number): number =>
  FUNCTION_ERROR_RETRY_BASE_MS * Math.max(1, failures) * timeScale;

/** The delay after the `retries`-th throttle or system error in a row (0 = the first). */
export const systemErrorDelayMs = (retries: number, timeScale: number): number =>
  Math.min(SYSTEM_RETRY_BASE_MS * 2 ** Math.min(retries, 30), SYSTEM_RETRY_MAX_MS) * timeScale;

/** What to do with an event after an attempt. */
export type Decision =
  | { kind: 'retry'; delayMs: number; functionErrors: number; systemRetries: number }
  | { kind: 'fail'; condition: FailureCondition };

/** The event is too old to be invoked at all. */
export const expired = (ageMs: number, policy: RetryPolicy): boolean => ageMs > policy.maximumEventAgeMs;

/** After an attempt that ended in a function error (`functionErrors` counts the earlier ones). */
export function afterFunctionError(ageMs: number, functionErrors: number, policy: RetryPolicy): Decision {
  const failures = functionErrors + 1;
  if (failures > policy.maximumRetryAttempts) return { kind: 'fail', condition: 'RetriesExhausted' };
  const delayMs = functionErrorDelayMs(failures, policy.timeScale);
  if (ageMs + delayMs > policy.maximumEventAgeMs) return { kind: 'fail', condition: 'EventAgeExceeded' };
  return { kind: 'retry', delayMs, functionErrors: failures, systemRetries: 0 };
}

/** After a throttle or a system error (`systemRetries` counts those in a row before it). */
export function afterSystemError(ageMs: number, functionErrors: number, systemRetries: number, policy: RetryPolicy): Decision {
  const delayMs = systemErrorDelayMs(systemRetries, policy.timeScale);
  if (ageMs + delayMs > policy.maximumEventAgeMs) return { kind: 'fail', condition: 'EventAgeExceeded' };
  return { kind: 'retry', delayMs, functionErrors, systemRetries: systemRetries + 1 };
}

/** The server-wide time scale: the environment's KINDLING_ASYNC_TIME_SCALE, else 1. */
export function envTimeScale(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.KINDLING_ASYNC_TIME_SCALE;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`KINDLING_ASYNC_TIME_SCALE must be a number above 0, not '${raw}'.`);
  return n;
}
