// Layers on Lambda's REST paths (2018-10-31).
import type { Account } from '../control/arn.js';
import type { Layers, LayerVersionRecord } from '../control/layers.js';
import { layerArn, renderLayerVersion } from '../control/layers.js';
import { invalidParameterValue } from '../errors.js';
import * as limits from '../limits.js';
import { base64ToHex } from '../store/code.js';
import type { CodeUrlSigner } from './code-url.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

const L = '/2018-10-31/layers';

const origin = (ctx: RequestContext): string => {
  const proto = (ctx.req.headers['x-forwarded-proto'] as string | undefined) ?? 'http';
  return `${proto}://${ctx.req.headers.host ?? '127.0.0.1'}`;
};

const query = (ctx: RequestContext, name: string): string | undefined => ctx.query.get(name) ?? undefined;

const filters = (ctx: RequestContext) => ({
  ...(query(ctx, 'CompatibleRuntime') !== undefined ? { compatibleRuntime: query(ctx, 'CompatibleRuntime')! } : {}),
  ...(query(ctx, 'CompatibleArchitecture') !== undefined ? { compatibleArchitecture: query(ctx, 'CompatibleArchitecture')! } : {}),
  ...(query(ctx, 'Marker') !== undefined ? { marker: query(ctx, 'Marker')! } : {}),
  ...(query(ctx, 'MaxItems') !== undefined ? { maxItems: query(ctx, 'MaxItems')! } : {}),
});

export function layerRoutes(acct: Account, layers: Layers, signer: CodeUrlSigner): Route[] {
  const full = (ctx: RequestContext, v: LayerVersionRecord) =>
    renderLayerVersion(acct, v, origin(ctx) + signer.sign(base64ToHex(v.codeSha256)));
  return [
    {
      method: 'POST',
      path: `${L}/:LayerName/versions`,
      operation: 'PublishLayerVersion',
      bodyLimit: limits.CONTROL_BODY_MAX_BYTES,
      async handle(ctx) {
        const v = await layers.publish(ctx.params.LayerName ?? '', parseJsonObject(ctx.body));
        return { status: 201, json: full(ctx, v) };
      },
    },
    {
      method: 'GET',
      path: `${L}/:LayerName/versions/:VersionNumber`,
      operation: 'GetLayerVersion',
      bodyLimit: 0,
      async handle(ctx) {
        return { status: 200, json: full(ctx, await layers.get(ctx.params.LayerName ?? '', ctx.params.VersionNumber ?? '')) };
      },
    },
    {
      method: 'DELETE',
      path: `${L}/:LayerName/versions/:VersionNumber`,
      operation: 'DeleteLayerVersion',
      bodyLimit: 0,
      async handle(ctx) {
        await layers.delete(ctx.params.LayerName ?? '', ctx.params.VersionNumber ?? '');
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${L}/:LayerName/versions`,
      operation: 'ListLayerVersions',
      bodyLimit: 0,
      async handle(ctx) {
        const page = await layers.listVersions(ctx.params.LayerName ?? '', filters(ctx));
        const json: Record<string, unknown> = { LayerVersions: page.items.map((v) => renderLayerVersion(acct, v)) };
        if (page.nextMarker) json.NextMarker = page.nextMarker;
        return { status: 200, json };
      },
    },
    {
      // ListLayers, and GetLayerVersionByArn (?find=LayerVersion&Arn=...) on the same path.
      method: 'GET',
      path: L,
      operation: 'ListLayers',
      bodyLimit: 0,
      async handle(ctx) {
        const find = query(ctx, 'find');
        if (find !== undefined) {
          if (find !== 'LayerVersion') throw invalidParameterValue(`Unsupported find: ${find}`);
          return { status: 200, json: full(ctx, await layers.getByArn(query(ctx, 'Arn'))) };
        }
        const page = await layers.listLayers(filters(ctx));
        const json: Record<string, unknown> = {
          Layers: page.items.map((v) => ({
            LayerName: v.layerName,
            LayerArn: layerArn(acct, v.layerName),
            LatestMatchingVersion: renderLayerVersion(acct, v),
          })),
        };
        if (page.nextMarker) json.NextMarker = page.nextMarker;
        return { status: 200, json };
      },
    },
  ];
}
