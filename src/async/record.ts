// Lambda's invocation record: what an on-success / on-failure destination
// receives about a finished asynchronous invocation (and what Kindling keeps
// for an event that failed with no destination). The shape and member order
// are Lambda's:
//
// {"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z",
//  "requestContext":{"requestId":"...","functionArn":"arn:...:function:NAME:$LATEST",
//                    "condition":"RetriesExhausted","approximateInvokeCount":3},
//  "requestPayload":{...},
//  "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
//  "responsePayload":{...}}
import type { FailureCondition } from './retry.js';

export type RecordCondition = 'Success' | FailureCondition;

export interface RecordInput {
  requestId: string;
  /** Qualified: `...:function:NAME:$LATEST` for an unqualified invoke. */
  functionArn: string;
  condition: RecordCondition;
  approximateInvokeCount: number;
  requestPayload: Buffer;
  /** The last attempt's response; absent when the function never answered (throttles, system errors, age). */
  response?: { executedVersion: string; functionError?: string | undefined; payload: Buffer };
  timestamp?: Date;
}

/** A payload as JSON: parsed when it is JSON, the text itself when not. */
function asJson(payload: Buffer): unknown {
  if (payload.length === 0) return null;
  const text = payload.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export interface InvocationRecord {
  version: '1.0';
  timestamp: string;
  requestContext: { requestId: string; functionArn: string; condition: RecordCondition; approximateInvokeCount: number };
  requestPayload: unknown;
  responseContext?: { statusCode: number; executedVersion: string; functionError?: string };
  responsePayload?: unknown;
}

export function invocationRecord(input: RecordInput): InvocationRecord {
  const record: InvocationRecord = {
    version: '1.0',
    timestamp: (input.timestamp ?? new Date()).toISOString(),
    requestContext: {
      requestId: input.requestId,
      functionArn: input.functionArn,
      condition: input.condition,
      approximateInvokeCount: input.approximateInvokeCount,
    },
    requestPayload: asJson(input.requestPayload),
  };
  if (input.response) {
    record.responseContext = {
      statusCode: 200,
      executedVersion: input.response.executedVersion,
      ...(input.response.functionError ? { functionError: input.response.functionError } : {}),
    };
    record.responsePayload = asJson(input.response.payload);
  }
  return record;
}
