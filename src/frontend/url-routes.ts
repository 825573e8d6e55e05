// Function URL configs on Lambda's REST paths (2021-10-31).
import type { FunctionUrls } from '../control/urls.js';
import { renderUrlConfig } from '../control/urls.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';
import { functionUrlFor } from './function-url.js';

const U = '/2021-10-31/functions/:FunctionName';

const fnParam = (ctx: RequestContext): string => ctx.params.FunctionName ?? '';
const qualifier = (ctx: RequestContext): string | undefined => ctx.query.get('Qualifier') ?? undefined;

export function urlRoutes(urls: FunctionUrls): Route[] {
  const url = (ctx: RequestContext, urlId: string) => functionUrlFor(urlId, urls.account.region, ctx.req.socket.localPort);
  return [
    {
      method: 'POST',
      path: `${U}/url`,
      operation: 'CreateFunctionUrlConfig',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        const body = parseJsonObject(ctx.body);
        const r = await urls.create(fnParam(ctx), qualifier(ctx), body);
        return { status: 201, json: renderUrlConfig(urls, r, url(ctx, r.urlId), 'create', body.InvokeMode !== undefined) };
      },
    },
    {
      method: 'GET',
      path: `${U}/url`,
      operation: 'GetFunctionUrlConfig',
      bodyLimit: 0,
      async handle(ctx) {
        const r = await urls.get(fnParam(ctx), qualifier(ctx));
        return { status: 200, json: renderUrlConfig(urls, r, url(ctx, r.urlId), 'read') };
      },
    },
    {
      method: 'PUT',
      path: `${U}/url`,
      operation: 'UpdateFunctionUrlConfig',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        const body = parseJsonObject(ctx.body);
        const r = await urls.update(fnParam(ctx), qualifier(ctx), body);
        return { status: 200, json: renderUrlConfig(urls, r, url(ctx, r.urlId), 'update', body.InvokeMode !== undefined) };
      },
    },
    {
      method: 'DELETE',
      path: `${U}/url`,
      operation: 'DeleteFunctionUrlConfig',
      bodyLimit: 0,
      async handle(ctx) {
        await urls.delete(fnParam(ctx), qualifier(ctx));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${U}/urls`,
      operation: 'ListFunctionUrlConfigs',
      bodyLimit: 0,
      async handle(ctx) {
        const page = await urls.list(fnParam(ctx), {
          ...(ctx.query.get('Marker') !== null ? { marker: ctx.query.get('Marker')! } : {}),
          ...(ctx.query.get('MaxItems') !== null ? { maxItems: ctx.query.get('MaxItems')! } : {}),
        });
        const json: Record<string, unknown> = { FunctionUrlConfigs: page.configs.map((r) => renderUrlConfig(urls, r, url(ctx, r.urlId), 'read')) };
        if (page.nextMarker) json.NextMarker = page.nextMarker;
        return { status: 200, json };
      },
    },
  ];
}
