// Versions and aliases on Lambda's REST paths.
import type { Aliases } from '../control/aliases.js';
import { renderAlias } from '../control/aliases.js';
import { renderConfiguration } from '../control/configuration.js';
import type { ControlPlane } from '../control/functions.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

const F = '/2015-03-31/functions/:FunctionName';
const fnParam = (ctx: RequestContext): string => ctx.params.FunctionName ?? '';
const q = (ctx: RequestContext, name: string): string | undefined => ctx.query.get(name) ?? undefined;

export function versionRoutes(control: ControlPlane, aliases: Aliases): Route[] {
  const acct = control.account;
  return [
    {
      method: 'POST',
      path: `${F}/versions`,
      operation: 'PublishVersion',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        const v = await control.publishVersion(fnParam(ctx), parseJsonObject(ctx.body));
        return { status: 201, json: renderConfiguration(acct, v) };
      },
    },
    {
      method: 'GET',
      path: `${F}/versions`,
      operation: 'ListVersionsByFunction',
      bodyLimit: 0,
      async handle(ctx) {
        const page = await control.listVersions(fnParam(ctx), { marker: q(ctx, 'Marker'), maxItems: q(ctx, 'MaxItems') });
        const json: Record<string, unknown> = {
          Versions: page.versions.map((v) => renderConfiguration(acct, v, { forList: true, qualifyLatest: true })),
        };
        if (page.nextMarker) json.NextMarker = page.nextMarker;
        return { status: 200, json };
      },
    },
    {
      method: 'POST',
      path: `${F}/aliases`,
      operation: 'CreateAlias',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        return { status: 201, json: renderAlias(acct, await aliases.create(fnParam(ctx), parseJsonObject(ctx.body))) };
      },
    },
    {
      method: 'GET',
      path: `${F}/aliases`,
      operation: 'ListAliases',
      bodyLimit: 0,
      async handle(ctx) {
        const page = await aliases.list(fnParam(ctx), { functionVersion: q(ctx, 'FunctionVersion'), marker: q(ctx, 'Marker'), maxItems: q(ctx, 'MaxItems') });
        const json: Record<string, unknown> = { Aliases: page.aliases.map((a) => renderAlias(acct, a)) };
        if (page.nextMarker) json.NextMarker = page.nextMarker;
        return { status: 200, json };
      },
    },
    {
      method: 'GET',
      path: `${F}/aliases/:Name`,
      operation: 'GetAlias',
      bodyLimit: 0,
      async handle(ctx) {
        return { status: 200, json: renderAlias(acct, await aliases.get(fnParam(ctx), ctx.params.Name ?? '')) };
      },
    },
    {
      method: 'PUT',
      path: `${F}/aliases/:Name`,
      operation: 'UpdateAlias',
      bodyLimit: 64 * 1024,
      async handle(ctx) {
        return { status: 200, json: renderAlias(acct, await aliases.update(fnParam(ctx), ctx.params.Name ?? '', parseJsonObject(ctx.body))) };
      },
    },
    {
      method: 'DELETE',
      path: `${F}/aliases/:Name`,
      operation: 'DeleteAlias',
      bodyLimit: 0,
      async handle(ctx) {
        await aliases.delete(fnParam(ctx), ctx.params.Name ?? '');
        return { status: 204 };
      },
    },
  ];
}
