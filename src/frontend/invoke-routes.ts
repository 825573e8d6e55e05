// Invoke (POST /2015-03-31/functions/{FunctionName}/invocations): Lambda's
// headers in, Lambda's headers and payload out.
import { isUtf8 } from 'node:buffer';
import type { ControlPlane } from '../control/functions.js';
import { invalidParameterValue, invalidRequestContent, requestEntityTooLarge, requestTooLargeForOperation } from '../errors.js';
import * as limits from '../limits.js';
import type { InvokeService } from '../invoke/invoke.js';
import type { EventAcceptor } from '../async/index.js';
import { checkString, Problems } from '../control/validate.js';
import type { FunctionRef } from '../control/arn.js';
import type { Reply, RequestContext, Route } from './http.js';
import { invokeWithResponseStreamRoute } from './stream-routes.js';

const INVOCATION_TYPES = ['Event', 'RequestResponse', 'DryRun'] as const;
const LOG_TYPES = ['None', 'Tail'] as const;
const EMPTY_EVENT = Buffer.from('{}');

export const header = (ctx: RequestContext, name: string): string | undefined => {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Lambda accepts any bytes, but only JSON gets through to a function. */
export function checkPayload(body: Buffer): Buffer {
  if (body.length === 0) return EMPTY_EVENT;
  if (!isUtf8(body)) {
    throw invalidRequestContent('Could not parse request body into json: Could not parse payload into json: Invalid UTF-8 start byte');
  }
  try {
    JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw invalidRequestContent(`Could not parse request body into json: Could not parse payload into json: ${(err as Error).message}`);
  }
  return body;
}

export function decodeClientContext(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.length > limits.CLIENT_CONTEXT_MAX_BYTES) {
    throw invalidRequestContent(`Client context must be at most ${limits.CLIENT_CONTEXT_MAX_BYTES} bytes of base64-encoded JSON.`);
  }
  const text = Buffer.from(raw, 'base64').toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object') throw new Error('not an object');
  } catch {
    throw invalidRequestContent('Client context must be a valid Base64-encoded JSON object.');
  }
  return text;
}

/** What both invoke APIs read first: the invocation and log types (checked against the API's own sets) and the function. */
export function invokeRequest<T extends string>(control: ControlPlane, ctx: RequestContext, invocationTypes: readonly T[]) {
  const p = new Problems();
  const invocationType = checkString(p, header(ctx, 'x-amz-invocation-type') ?? 'RequestResponse', 'invocationType', {
    enumValues: invocationTypes,
  }) as T;
  const logType = checkString(p, header(ctx, 'x-amz-log-type') ?? 'None', 'logType', { enumValues: LOG_TYPES });
  p.throwIfAny();
  const ref = control.resolveRef(ctx.params.FunctionName ?? '', ctx.query.get('Qualifier') ?? undefined);
  return { invocationType, tail: logType === 'Tail', ref };
}

/** DryRun on either API: the function is resolved and nothing runs. */
export async function dryRun(invoker: InvokeService, ref: FunctionRef): Promise<Reply> {
  const fn = await invoker.resolve(ref);
  return { status: 204, headers: { 'X-Amz-Executed-Version': fn.version } };
}

export function invokeRoutes(control: ControlPlane, invoker: InvokeService, events?: EventAcceptor): Route[] {
  return [
    {
      method: 'POST',
      path: '/2015-03-31/functions/:FunctionName/invocations',
      operation: 'InvokeFunction',
      bodyLimit: limits.SYNC_PAYLOAD_MAX_BYTES,
      tooLarge: (limit) => requestTooLargeForOperation(limit, 'InvokeFunction'),
      async handle(ctx) {
        const { invocationType, tail, ref } = invokeRequest(control, ctx, INVOCATION_TYPES);
        if (invocationType === 'DryRun') return dryRun(invoker, ref);
        if (invocationType === 'Event') {
          if (!events) throw invalidParameterValue('This Kindling server does not accept Event (asynchronous) invocations.');
          // 1 MB for Event; answered 202 only once the event is durably queued.
          if (ctx.body.length > limits.ASYNC_PAYLOAD_MAX_BYTES) {
            throw requestEntityTooLarge(
              `${ctx.body.length} byte payload is too large for the Event invocation type (limit ${limits.ASYNC_PAYLOAD_MAX_BYTES} bytes)`,
            );
          }
          await events.accept({ ref, requestId: ctx.requestId, payload: checkPayload(ctx.body) });
          return { status: 202 };
        }
        const payload = checkPayload(ctx.body);
        const clientContext = decodeClientContext(header(ctx, 'x-amz-client-context'));
        const out = await invoker.invoke({
          ref,
          requestId: ctx.requestId,
          payload,
          tail,
          ...(clientContext !== undefined ? { clientContext } : {}),
        });
        const headers: Record<string, string> = {
          'Content-Type': 'application/json',
          'X-Amz-Executed-Version': out.executedVersion,
        };
        if (out.functionError) headers['X-Amz-Function-Error'] = out.functionError;
        if (out.logResult !== undefined) headers['X-Amz-Log-Result'] = out.logResult;
        return { status: 200, headers, body: out.payload };
      },
    },
    invokeWithResponseStreamRoute(control, invoker),
  ];
}
