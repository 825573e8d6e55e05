// The Lambda control-plane REST API (2015-03-31): function CRUD, listing,
// account settings and code downloads, mapped onto the control plane.
import type { ControlPlane } from '../control/functions.js';
import { isAliasName } from '../control/aliases.js';
import { renderConfiguration } from '../control/configuration.js';
import { LATEST } from '../control/model.js';
import { resourceNotFound } from '../errors.js';
import * as limits from '../limits.js';
import type { CodeStore } from '../store/code.js';
import type { CodeUrlSigner } from './code-url.js';
import { CODE_PATH } from './code-url.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

const F = '/2015-03-31/functions';

const param = (ctx: RequestContext, name: string): string => ctx.params[name] ?? '';
const query = (ctx: RequestContext, name: string): string | undefined => ctx.query.get(name) ?? undefined;

/** The scheme and authority the caller used, so links work behind proxies too. */
const origin = (ctx: RequestContext): string => {
  const proto = (ctx.req.headers['x-forwarded-proto'] as string | undefined) ?? 'http';
  return `${proto}://${ctx.req.headers.host ?? '127.0.0.1'}`;
};

/** A qualified read shows a qualified ARN: the version's, or the alias's. */
const readOptions = (qualifier: string | undefined) =>
  qualifier === undefined ? {} : isAliasName(qualifier) ? { alias: qualifier } : { qualifyLatest: true };

export function controlRoutes(control: ControlPlane, code: CodeStore, signer: CodeUrlSigner): Route[] {
  const acct = control.account;
  return [
    {
      method: 'POST',
      path: F,
      operation: 'CreateFunction',
      bodyLimit: limits.CONTROL_BODY_MAX_BYTES,
      async handle(ctx) {
        const v = await control.createFunction(parseJsonObject(ctx.body));
        return { status: 201, json: renderConfiguration(acct, v, { transition: v.version === LATEST ? 'creating' : undefined }) };
      },
    },
    {
      method: 'GET',
      path: F,
      operation: 'ListFunctions',
      bodyLimit: 0,
      async handle(ctx) {
        const functionVersion = query(ctx, 'FunctionVersion');
        const page = await control.listFunctions({
          marker: query(ctx, 'Marker'),
          maxItems: query(ctx, 'MaxItems'),
          functionVersion,
        });
        const all = functionVersion === 'ALL';
        const json: Record<string, unknown> = {
          Functions: page.functions.map((v) => renderConfiguration(acct, v, { forList: true, qualifyLatest: all })),
        };
        if (page.nextMarker) json.NextMarker = page.nextMarker;
        return { status: 200, json };
      },
    },
    {
      method: 'GET',
      path: `${F}/:FunctionName`,
      operation: 'GetFunction',
      bodyLimit: 0,
      async handle(ctx) {
        const ref = control.resolveRef(param(ctx, 'FunctionName'), query(ctx, 'Qualifier'));
        const v = await control.getVersion(ref);
        const fn = await control.getFunctionRecord(ref);
        const json: Record<string, unknown> = {
          // A qualified request (even with $LATEST) gets the qualified ARN back, as in Lambda.
          Configuration: renderConfiguration(acct, v, readOptions(ref.qualifier)),
          Code: { RepositoryType: 'S3', Location: origin(ctx) + signer.sign(control.codeKey(v)) },
        };
        if (Object.keys(fn.tags).length > 0) json.Tags = fn.tags;
        if (fn.reservedConcurrency !== undefined) {
          json.Concurrency = { ReservedConcurrentExecutions: fn.reservedConcurrency };
        }
        return { status: 200, json };
      },
    },
    {
      method: 'DELETE',
      path: `${F}/:FunctionName`,
      operation: 'DeleteFunction',
      bodyLimit: 0,
      async handle(ctx) {
        await control.deleteFunction(param(ctx, 'FunctionName'), query(ctx, 'Qualifier'));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${F}/:FunctionName/configuration`,
      operation: 'GetFunctionConfiguration',
      bodyLimit: 0,
      async handle(ctx) {
        const ref = control.resolveRef(param(ctx, 'FunctionName'), query(ctx, 'Qualifier'));
        return { status: 200, json: renderConfiguration(acct, await control.getVersion(ref), readOptions(ref.qualifier)) };
      },
    },
    {
      method: 'PUT',
      path: `${F}/:FunctionName/configuration`,
      operation: 'UpdateFunctionConfiguration',
      bodyLimit: limits.CONTROL_BODY_MAX_BYTES,
      async handle(ctx) {
        const v = await control.updateFunctionConfiguration(param(ctx, 'FunctionName'), parseJsonObject(ctx.body));
        return { status: 200, json: renderConfiguration(acct, v, { transition: 'updating' }) };
      },
    },
    {
      method: 'PUT',
      path: `${F}/:FunctionName/code`,
      operation: 'UpdateFunctionCode',
      bodyLimit: limits.CONTROL_BODY_MAX_BYTES,
      async handle(ctx) {
        const v = await control.updateFunctionCode(param(ctx, 'FunctionName'), parseJsonObject(ctx.body));
        return { status: 200, json: renderConfiguration(acct, v, { transition: v.version === LATEST ? 'updating' : undefined }) };
      },
    },
    {
      method: 'GET',
      path: '/2016-08-19/account-settings',
      operation: 'GetAccountSettings',
      bodyLimit: 0,
      async handle() {
        return { status: 200, json: await control.accountSettings() };
      },
    },
    {
      method: 'GET',
      path: CODE_PATH,
      operation: 'GetCode',
      bodyLimit: 0,
      // The link carries its own HMAC signature and expiry (code-url.ts), as S3's presigned URLs do.
      public: true,
      async handle(ctx) {
        const key = param(ctx, 'key');
        if (!/^[0-9a-f]{64}$/.test(key) || !signer.verify(key, ctx.query)) {
          throw resourceNotFound('The code link is invalid or has expired: call GetFunction for a new one.');
        }
        const zip = await code.open(key);
        if (!zip) throw resourceNotFound('The code package no longer exists.');
        ctx.res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': zip.size });
        zip.stream.pipe(ctx.res);
        return { status: 200, handled: true };
      },
    },
  ];
}
