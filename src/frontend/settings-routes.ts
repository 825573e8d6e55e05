// Tags and reserved concurrency on Lambda's REST paths.
import type { Policies } from '../control/policy.js';
import type { FunctionSettings } from '../control/settings.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

const arnParam = (ctx: RequestContext): string => ctx.params.ARN ?? '';
const fnParam = (ctx: RequestContext): string => ctx.params.FunctionName ?? '';

export function settingsRoutes(settings: FunctionSettings, policies: Policies, accountConcurrency: number): Route[] {
  const qualifier = (ctx: RequestContext) => ctx.query.get('Qualifier') ?? undefined;
  return [
    {
      method: 'POST',
      path: '/2015-03-31/functions/:FunctionName/policy',
      operation: 'AddPermission',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        const statement = await policies.add(fnParam(ctx), qualifier(ctx), parseJsonObject(ctx.body));
        return { status: 201, json: { Statement: JSON.stringify(statement) } };
      },
    },
    {
      method: 'GET',
      path: '/2015-03-31/functions/:FunctionName/policy',
      operation: 'GetPolicy',
      bodyLimit: 0,
      async handle(ctx) {
        const { policy, revisionId } = await policies.get(fnParam(ctx), qualifier(ctx));
        return { status: 200, json: { Policy: policy, RevisionId: revisionId } };
      },
    },
    {
      method: 'DELETE',
      path: '/2015-03-31/functions/:FunctionName/policy/:StatementId',
      operation: 'RemovePermission',
      bodyLimit: 0,
      async handle(ctx) {
        await policies.remove(fnParam(ctx), qualifier(ctx), ctx.params.StatementId ?? '', ctx.query.get('RevisionId') ?? undefined);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/2017-03-31/tags/:ARN',
      operation: 'ListTags',
      bodyLimit: 0,
      async handle(ctx) {
        return { status: 200, json: { Tags: await settings.listTags(arnParam(ctx)) } };
      },
    },
    {
      method: 'POST',
      path: '/2017-03-31/tags/:ARN',
      operation: 'TagResource',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        await settings.tag(arnParam(ctx), parseJsonObject(ctx.body));
        return { status: 204 };
      },
    },
    {
      method: 'DELETE',
      path: '/2017-03-31/tags/:ARN',
      operation: 'UntagResource',
      bodyLimit: 0,
      async handle(ctx) {
        await settings.untag(arnParam(ctx), ctx.query.getAll('tagKeys'));
        return { status: 204 };
      },
    },
    {
      method: 'PUT',
      path: '/2017-10-31/functions/:FunctionName/concurrency',
      operation: 'PutFunctionConcurrency',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        const n = await settings.putConcurrency(fnParam(ctx), parseJsonObject(ctx.body), accountConcurrency);
        return { status: 200, json: { ReservedConcurrentExecutions: n } };
      },
    },
    {
      method: 'GET',
      path: '/2019-09-30/functions/:FunctionName/concurrency',
      operation: 'GetFunctionConcurrency',
      bodyLimit: 0,
      async handle(ctx) {
        const n = await settings.getConcurrency(fnParam(ctx));
        return { status: 200, json: n === undefined ? {} : { ReservedConcurrentExecutions: n } };
      },
    },
    {
      method: 'DELETE',
      path: '/2017-10-31/functions/:FunctionName/concurrency',
      operation: 'DeleteFunctionConcurrency',
      bodyLimit: 0,
      async handle(ctx) {
        await settings.deleteConcurrency(fnParam(ctx));
        return { status: 204 };
      },
    },
  ];
}
