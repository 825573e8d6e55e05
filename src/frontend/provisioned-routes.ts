// Provisioned concurrency on Lambda's REST paths:
// /2019-09-30/functions/{FunctionName}/provisioned-concurrency (?Qualifier= | ?List=ALL).
import type { ProvisionedConcurrency, ProvisionedView } from '../control/provisioned.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

const PATH = '/2019-09-30/functions/:FunctionName/provisioned-concurrency';
const fnParam = (ctx: RequestContext): string => ctx.params.FunctionName ?? '';
const qualifier = (ctx: RequestContext): string | undefined => ctx.query.get('Qualifier') ?? undefined;

function render(v: ProvisionedView): Record<string, unknown> {
  return {
    RequestedProvisionedConcurrentExecutions: v.config.requested,
    AvailableProvisionedConcurrentExecutions: v.status.available,
    AllocatedProvisionedConcurrentExecutions: v.status.allocated,
    Status: v.status.status,
    ...(v.status.statusReason !== undefined ? { StatusReason: v.status.statusReason } : {}),
    LastModified: v.config.lastModified,
  };
}

export function provisionedRoutes(provisioned: ProvisionedConcurrency): Route[] {
  return [
    {
      method: 'PUT',
      path: PATH,
      operation: 'PutProvisionedConcurrencyConfig',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        const v = await provisioned.put(fnParam(ctx), qualifier(ctx), parseJsonObject(ctx.body));
        return { status: 202, json: render(v) };
      },
    },
    {
      // GetProvisionedConcurrencyConfig, and ListProvisionedConcurrencyConfigs with ?List=ALL.
      method: 'GET',
      path: PATH,
      operation: 'GetProvisionedConcurrencyConfig',
      bodyLimit: 0,
      async handle(ctx) {
        if (ctx.query.get('List') === 'ALL') {
          const page = await provisioned.list(fnParam(ctx), {
            ...(ctx.query.get('Marker') ? { marker: ctx.query.get('Marker')! } : {}),
            ...(ctx.query.get('MaxItems') !== null ? { maxItems: ctx.query.get('MaxItems')! } : {}),
          });
          return {
            status: 200,
            json: {
              ProvisionedConcurrencyConfigs: page.configs.map((c) => ({ FunctionArn: c.functionArn, ...render(c) })),
              ...(page.nextMarker !== undefined ? { NextMarker: page.nextMarker } : {}),
            },
          };
        }
        return { status: 200, json: render(await provisioned.get(fnParam(ctx), qualifier(ctx))) };
      },
    },
    {
      method: 'DELETE',
      path: PATH,
      operation: 'DeleteProvisionedConcurrencyConfig',
      bodyLimit: 0,
      async handle(ctx) {
        await provisioned.delete(fnParam(ctx), qualifier(ctx));
        return { status: 204 };
      },
    },
  ];
}
