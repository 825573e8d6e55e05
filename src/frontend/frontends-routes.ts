// The lease protocol's manager side (workers/remote/lease-protocol.ts): cluster
// frontends register, heartbeat, take and return sandbox leases and set
// provisioned pools. Root key only; not rate limited (a frontend's calls are
// its clients' invokes, already counted where they came in).
import type { FunctionVersion } from '../control/model.js';
import { invalidParameterValue, resourceNotFound } from '../errors.js';
import { InitFailure } from '../host/sandbox.js';
import type { KeyStore } from '../store/keys.js';
import type { InitFailureBody } from '../workers/remote/protocol.js';
import { FRONTENDS_PATH, type AcquireLeaseRequest, type LeaseReturn, type ProvisionRequest } from '../workers/remote/lease-protocol.js';
import type { FrontendRegistry } from '../workers/remote/frontends.js';
import { rootOnlyFor } from './hosts-routes.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

const FRONTEND_ID = /^frontend-[0-9a-f]{16}$/;
const ID = /^[\x21-\x7e]{1,256}$/;
/** A function version's record with every environment variable (4 KB) and layer: well under this. */
const BODY_MAX = 1024 * 1024;
const RETURNS_MAX = 10_000;

export function frontendsRoutes(registry: FrontendRegistry, keys: Pick<KeyStore, 'isRoot'>): Route[] {
  const rootOnly = rootOnlyFor(keys, 'act as a cluster frontend');
  const idOf = (ctx: RequestContext): string => {
    rootOnly(ctx);
    const id = ctx.params.FrontendId ?? '';
    if (!FRONTEND_ID.test(id)) throw resourceNotFound(`Frontend ${id.slice(0, 80)} is not registered: register again.`);
    return id;
  };
  return [
    {
      method: 'POST',
      path: FRONTENDS_PATH,
      operation: 'KindlingRegisterFrontend',
      bodyLimit: BODY_MAX,
      unthrottled: true,
      handle(ctx) {
        rootOnly(ctx);
        const { url } = parseJsonObject(ctx.body);
        if (typeof url !== 'string' || url.length > 2048) throw invalidParameterValue('url must be the frontend\'s address (a string).');
        return { status: 200, json: registry.register({ url }) };
      },
    },
    {
      method: 'GET',
      path: FRONTENDS_PATH,
      operation: 'KindlingListFrontends',
      bodyLimit: 0,
      handle(ctx) {
        rootOnly(ctx);
        return { status: 200, json: { frontends: registry.list() } };
      },
    },
    {
      method: 'POST',
      path: `${FRONTENDS_PATH}/:FrontendId/heartbeat`,
      operation: 'KindlingFrontendHeartbeat',
      bodyLimit: BODY_MAX,
      unthrottled: true,
      handle(ctx) {
        const id = idOf(ctx);
        const res = registry.heartbeat(id);
        if (!res) throw resourceNotFound(`Frontend ${id} is not registered: register again.`);
        return { status: 200, json: res };
      },
    },
    {
      method: 'POST',
      path: `${FRONTENDS_PATH}/:FrontendId/leases`,
      operation: 'KindlingAcquireLease',
      bodyLimit: BODY_MAX,
      unthrottled: true,
      async handle(ctx) {
        const id = idOf(ctx);
        const req = parseAcquire(parseJsonObject(ctx.body));
        try {
          return { status: 200, json: await registry.acquire(id, req) };
        } catch (err) {
          if (!(err instanceof InitFailure)) throw err;
          const failure: InitFailureBody = { errorType: err.errorType, body: err.body.toString('base64'), logs: err.logs, durationMs: err.durationMs };
          return { status: 422, json: failure };
        }
      },
    },
    {
      method: 'POST',
      path: `${FRONTENDS_PATH}/:FrontendId/leases/return`,
      operation: 'KindlingReturnLeases',
      bodyLimit: BODY_MAX,
      unthrottled: true,
      handle(ctx) {
        const id = idOf(ctx);
        const b = parseJsonObject(ctx.body);
        registry.return(id, parseReturns(b.returns), parseEnded(b.ended) ?? []);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: `${FRONTENDS_PATH}/:FrontendId/provisioned`,
      operation: 'KindlingProvision',
      bodyLimit: BODY_MAX,
      unthrottled: true,
      handle(ctx) {
        const id = idOf(ctx);
        registry.provision(id, parseProvision(parseJsonObject(ctx.body)));
        return { status: 204 };
      },
    },
  ];
}

function parseFunctionVersion(v: unknown): FunctionVersion {
  const fn = v as Partial<FunctionVersion> | null;
  const ok =
    typeof fn === 'object' &&
    fn !== null &&
    typeof fn.functionName === 'string' &&
    typeof fn.version === 'string' &&
    typeof fn.runtime === 'string' &&
    typeof fn.handler === 'string' &&
    typeof fn.codeSha256 === 'string' &&
    typeof fn.lastModified === 'string' &&
    typeof fn.memorySize === 'number' &&
    typeof fn.timeout === 'number';
  if (!ok) throw invalidParameterValue('fn must be a function version record (functionName, version, runtime, handler, codeSha256, lastModified, memorySize, timeout).');
  return fn as FunctionVersion;
}

function parseReturns(v: unknown): LeaseReturn[] {
  if (v === undefined) return [];
  const ok = (r: unknown): r is LeaseReturn => {
    const o = r as Partial<LeaseReturn> | null;
    return (
      typeof o === 'object' &&
      o !== null &&
      typeof o.leaseId === 'string' &&
      ID.test(o.leaseId) &&
      typeof o.reusable === 'boolean' &&
      (o.unreachable === undefined || typeof o.unreachable === 'boolean')
    );
  };
  if (!Array.isArray(v) || v.length > RETURNS_MAX || !v.every(ok)) throw invalidParameterValue('returns must be a list of {"leaseId", "reusable", "unreachable"?}.');
  return v;
}

function parseEnded(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > RETURNS_MAX || !v.every((e) => typeof e === 'string' && ID.test(e))) throw invalidParameterValue('ended must be a list of invocation ids.');
  return v as string[];
}

function parseAcquire(b: Record<string, unknown>): AcquireLeaseRequest {
  if (typeof b.invocationId !== 'string' || !ID.test(b.invocationId)) throw invalidParameterValue('invocationId must be 1-256 visible ASCII characters.');
  const ended = parseEnded(b.ended);
  return { invocationId: b.invocationId, fn: parseFunctionVersion(b.fn), returns: parseReturns(b.returns), ...(ended ? { ended } : {}) };
}

function parseProvision(b: Record<string, unknown>): ProvisionRequest {
  if (typeof b.id !== 'string' || b.id.length === 0 || b.id.length > 2048) throw invalidParameterValue('id must be a provisioned pool id.');
  if (b.fn === undefined && b.n === undefined) return { id: b.id };
  if (typeof b.n !== 'number' || !Number.isInteger(b.n) || b.n < 1) throw invalidParameterValue('n must be a whole number above 0.');
  return { id: b.id, fn: parseFunctionVersion(b.fn), n: b.n };
}
