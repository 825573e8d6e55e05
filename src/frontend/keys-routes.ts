// Kindling's own access-key API (what `kindling keys` calls): create, list and
// delete access keys. SigV4-signed like every route, and for the root key only.
import { accessDenied, invalidParameterValue, resourceNotFound } from '../errors.js';
import type { KeyInfo, KeyStore } from '../store/keys.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

export const KEYS_PATH = '/kindling/2024-01-01/keys';
const NAME_MAX = 64;

const render = (k: KeyInfo): Record<string, unknown> => ({
  AccessKeyId: k.accessKeyId,
  Name: k.name,
  CreatedAt: k.createdAt.toISOString(),
  Root: k.root,
});

export function keysRoutes(keys: KeyStore): Route[] {
  const rootOnly = (ctx: RequestContext): void => {
    // No principal means the frontend checks no signatures (embedded without auth): nothing to refuse.
    if (ctx.principal && !keys.isRoot(ctx.principal.accessKeyId)) {
      throw accessDenied('Only the root access key can manage access keys.');
    }
  };
  return [
    {
      method: 'POST',
      path: KEYS_PATH,
      operation: 'CreateAccessKey',
      bodyLimit: 4096,
      async handle(ctx) {
        rootOnly(ctx);
        const body = ctx.body.length === 0 ? {} : parseJsonObject(ctx.body);
        const name = body.Name ?? '';
        if (typeof name !== 'string' || name.length > NAME_MAX || /[\u0000-\u001f]/.test(name)) {
          throw invalidParameterValue(`Name must be a string of at most ${NAME_MAX} printable characters.`);
        }
        const k = await keys.create(name);
        return { status: 201, json: { ...render(k), SecretAccessKey: k.secretAccessKey } };
      },
    },
    {
      method: 'GET',
      path: KEYS_PATH,
      operation: 'ListAccessKeys',
      bodyLimit: 0,
      async handle(ctx) {
        rootOnly(ctx);
        return { status: 200, json: { Keys: (await keys.list()).map(render) } };
      },
    },
    {
      method: 'DELETE',
      path: `${KEYS_PATH}/:AccessKeyId`,
      operation: 'DeleteAccessKey',
      bodyLimit: 0,
      async handle(ctx) {
        rootOnly(ctx);
        const id = ctx.params.AccessKeyId ?? '';
        if (keys.isRoot(id)) throw invalidParameterValue('The root access key cannot be deleted.');
        if (!(await keys.delete(id))) throw resourceNotFound(`Access key not found: ${id}`);
        return { status: 204 };
      },
    },
  ];
}
