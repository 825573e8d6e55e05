// Asynchronous invocation's API: Lambda's event invoke config operations
// (2019-09-25) and Kindling's own endpoints: a function's queue counts, and its
// failed events (what `kindling events failed` and `kindling events redrive` call).
import type { RunningAsync } from '../async/index.js';
import type { FailedEvent } from '../async/queue.js';
import { functionArn } from '../control/arn.js';
import type { ControlPlane } from '../control/functions.js';
import { LATEST } from '../control/model.js';
import { checkInt, checkStringList, Problems } from '../control/validate.js';
import { invalidParameterValue } from '../errors.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

const CONFIG = '/2019-09-25/functions/:FunctionName/event-invoke-config';
/** Kindling's own API version for what Lambda has no operation for. */
export const KINDLING_API = '/kindling/2024-01-01';
const FAILED = `${KINDLING_API}/functions/:FunctionName/failed-events`;
const CONFIG_BODY_MAX_BYTES = 64 * 1024;
const FAILED_LIST_MAX = 50;

const param = (ctx: RequestContext, name: string): string => ctx.params[name] ?? '';
const query = (ctx: RequestContext, name: string): string | undefined => ctx.query.get(name) ?? undefined;

export function asyncRoutes(control: ControlPlane, async: RunningAsync): Route[] {
  const { configs } = async;
  const acct = control.account;

  const renderFailed = (f: FailedEvent): Record<string, unknown> => {
    let record: unknown;
    try {
      record = JSON.parse(f.record) as unknown;
    } catch {
      record = f.record;
    }
    const count = (record as { requestContext?: { approximateInvokeCount?: unknown } })?.requestContext?.approximateInvokeCount;
    return {
      Id: f.id,
      RequestId: f.requestId,
      FunctionArn: functionArn(acct, f.functionName, f.qualifier ?? LATEST),
      Condition: f.condition,
      ...(typeof count === 'number' ? { ApproximateInvokeCount: count } : {}),
      EnqueuedAt: new Date(f.enqueuedAt).toISOString(),
      FailedAt: new Date(f.failedAt).toISOString(),
      ...(f.errorType !== undefined ? { ErrorType: f.errorType } : {}),
      ...(f.errorMessage !== undefined ? { ErrorMessage: f.errorMessage } : {}),
      Record: record,
    };
  };

  return [
    {
      method: 'PUT',
      path: CONFIG,
      operation: 'PutFunctionEventInvokeConfig',
      bodyLimit: CONFIG_BODY_MAX_BYTES,
      async handle(ctx) {
        return { status: 200, json: await configs.put(param(ctx, 'FunctionName'), query(ctx, 'Qualifier'), parseJsonObject(ctx.body)) };
      },
    },
    {
      method: 'POST',
      path: CONFIG,
      operation: 'UpdateFunctionEventInvokeConfig',
      bodyLimit: CONFIG_BODY_MAX_BYTES,
      async handle(ctx) {
        return { status: 200, json: await configs.update(param(ctx, 'FunctionName'), query(ctx, 'Qualifier'), parseJsonObject(ctx.body)) };
      },
    },
    {
      method: 'GET',
      path: CONFIG,
      operation: 'GetFunctionEventInvokeConfig',
      bodyLimit: 0,
      async handle(ctx) {
        return { status: 200, json: await configs.get(param(ctx, 'FunctionName'), query(ctx, 'Qualifier')) };
      },
    },
    {
      method: 'DELETE',
      path: CONFIG,
      operation: 'DeleteFunctionEventInvokeConfig',
      bodyLimit: 0,
      async handle(ctx) {
        await configs.delete(param(ctx, 'FunctionName'), query(ctx, 'Qualifier'));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${CONFIG}/list`,
      operation: 'ListFunctionEventInvokeConfigs',
      bodyLimit: 0,
      async handle(ctx) {
        return { status: 200, json: await configs.list(param(ctx, 'FunctionName'), query(ctx, 'Marker'), query(ctx, 'MaxItems')) };
      },
    },
    {
      method: 'GET',
      path: `${KINDLING_API}/functions/:FunctionName/queue`,
      operation: 'KindlingGetEventQueue',
      bodyLimit: 0,
      async handle(ctx) {
        const ref = control.resolveRef(param(ctx, 'FunctionName'), undefined);
        const s = await async.stats(ref.name);
        return { status: 200, json: { Visible: s.visible, InFlight: s.inFlight, Delayed: s.delayed, Failed: s.failed } };
      },
    },
    {
      method: 'GET',
      path: FAILED,
      operation: 'KindlingListFailedEvents',
      bodyLimit: 0,
      async handle(ctx) {
        const ref = control.resolveRef(param(ctx, 'FunctionName'), undefined);
        const rawMax = query(ctx, 'MaxItems');
        let limit = FAILED_LIST_MAX;
        if (rawMax !== undefined) {
          if (!/^\d+$/.test(rawMax)) throw invalidParameterValue(`Invalid value for MaxItems: ${rawMax}`);
          const p = new Problems();
          limit = checkInt(p, Number(rawMax), 'maxItems', { min: 1, max: FAILED_LIST_MAX })!;
          p.throwIfAny();
        }
        const marker = query(ctx, 'Marker');
        if (marker !== undefined && marker !== '' && !/^\d+$/.test(marker)) throw invalidParameterValue(`Invalid marker: ${marker}`);
        const page = await async.listFailed(ref.name, { ...(marker ? { after: marker } : {}), limit: limit + 1 });
        const items = page.slice(0, limit);
        const json: Record<string, unknown> = { FailedEvents: items.map(renderFailed) };
        const last = items[items.length - 1];
        if (page.length > limit && last) json.NextMarker = last.id;
        return { status: 200, json };
      },
    },
    {
      method: 'POST',
      path: `${FAILED}/redrive`,
      operation: 'KindlingRedriveFailedEvents',
      bodyLimit: CONFIG_BODY_MAX_BYTES,
      async handle(ctx) {
        const ref = control.resolveRef(param(ctx, 'FunctionName'), undefined);
        const body = parseJsonObject(ctx.body);
        const p = new Problems();
        const ids = checkStringList(p, body.Ids, 'ids', { pattern: /^\d+$/, patternText: '\\d+' });
        p.throwIfAny();
        const redriven = await async.redrive(ref.name, ids);
        return { status: 200, json: { Redriven: redriven } };
      },
    },
  ];
}
