// Worker hosts' API (protocol.ts): workers register, heartbeat, ship function
// log lines and fetch code packages; operators drain hosts. For the root key
// only. Worker traffic is not rate limited: a throttled heartbeat would get a
// healthy host declared dead. (GET HOSTS_PATH, the list, is the console's
// hosts route in metrics/routes.ts, which adds the protocol's `hosts` to it.)
import { pipeline } from 'node:stream/promises';
import { accessDenied, invalidParameterValue, resourceNotFound } from '../errors.js';
import type { CodeStore } from '../store/code.js';
import type { KeyStore } from '../store/keys.js';
import type { LogStore } from '../store/logs.js';
import { HOSTS_PATH, type HeartbeatRequest, type LogBatch, type RegisterHostRequest } from '../workers/remote/protocol.js';
import type { HostRegistry } from '../workers/remote/registry.js';
import type { RequestContext, Route } from './http.js';
import { parseJsonObject } from './json.js';

const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const TOKEN = /^[\x21-\x7e]{1,1024}$/;
const DRIVER = /^[a-z][a-z0-9-]{0,31}$/;
const NAME_MAX = 512;
const REGISTER_BODY_MAX = 64 * 1024;
/** Thousands of sandboxes and cached packages. */
const HEARTBEAT_BODY_MAX = 4 * 1024 * 1024;
/** A worker's batch is at most 1,000 lines; a line can be long. */
const LOGS_BODY_MAX = 16 * 1024 * 1024;

export interface HostsRoutesDeps {
  registry: HostRegistry;
  keys: Pick<KeyStore, 'isRoot'>;
  logs: Pick<LogStore, 'append'>;
  code: Pick<CodeStore, 'open'>;
}

/** Refuses every principal but the root key (no principal: the frontend checks no signatures, nothing to refuse). */
export function rootOnlyFor(keys: Pick<KeyStore, 'isRoot'>, what: string): (ctx: RequestContext) => void {
  return (ctx) => {
    if (ctx.principal && !keys.isRoot(ctx.principal.accessKeyId)) throw accessDenied(`Only the root access key can ${what}.`);
  };
}

export function hostsRoutes(deps: HostsRoutesDeps): Route[] {
  const { registry, keys, logs, code } = deps;
  const rootOnly = rootOnlyFor(keys, 'manage worker hosts');
  const hostIdOf = (ctx: RequestContext): string => {
    const id = ctx.params.HostId ?? '';
    if (!HOST_ID.test(id)) throw invalidParameterValue(`HostId must be 1-64 letters, digits, '.', '_' or '-', not '${id.slice(0, 80)}'.`);
    return id;
  };
  return [
    {
      method: 'POST',
      path: HOSTS_PATH,
      operation: 'KindlingRegisterHost',
      bodyLimit: REGISTER_BODY_MAX,
      unthrottled: true,
      handle(ctx) {
        rootOnly(ctx);
        return { status: 200, json: registry.register(parseRegister(parseJsonObject(ctx.body))) };
      },
    },
    {
      method: 'POST',
      path: `${HOSTS_PATH}/:HostId/heartbeat`,
      operation: 'KindlingHostHeartbeat',
      bodyLimit: HEARTBEAT_BODY_MAX,
      unthrottled: true,
      handle(ctx) {
        rootOnly(ctx);
        const hostId = hostIdOf(ctx);
        const res = registry.heartbeat(hostId, parseHeartbeat(parseJsonObject(ctx.body)));
        if (!res) throw resourceNotFound(`Worker host ${hostId} is not registered: register again.`);
        return { status: 200, json: res };
      },
    },
    {
      method: 'POST',
      path: `${HOSTS_PATH}/:HostId/logs`,
      operation: 'KindlingPutHostLogs',
      bodyLimit: LOGS_BODY_MAX,
      unthrottled: true,
      handle(ctx) {
        rootOnly(ctx);
        hostIdOf(ctx);
        // Taken from any host, even one declared dead meanwhile: these are functions' logs.
        for (const l of parseLogBatch(parseJsonObject(ctx.body)).lines) logs.append(l.functionName, l.logStream, l.text, l.timestamp);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${HOSTS_PATH}/:HostId/code/:Sha256`,
      operation: 'KindlingGetHostCode',
      bodyLimit: 0,
      unthrottled: true,
      async handle(ctx) {
        rootOnly(ctx);
        hostIdOf(ctx);
        const sha = ctx.params.Sha256 ?? '';
        if (!SHA256_HEX.test(sha)) throw invalidParameterValue('The code package must be named by its SHA-256 in lowercase hex (64 characters).');
        const zip = await code.open(sha);
        if (!zip) throw resourceNotFound(`Code package ${sha} does not exist.`);
        ctx.res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': zip.size });
        await pipeline(zip.stream, ctx.res).catch(() => ctx.res.destroy());
        return { status: 200, handled: true };
      },
    },
    {
      method: 'POST',
      path: `${HOSTS_PATH}/:HostId/drain`,
      operation: 'KindlingDrainHost',
      bodyLimit: 0,
      handle(ctx) {
        rootOnly(ctx);
        const hostId = hostIdOf(ctx);
        const info = registry.drain(hostId);
        if (!info) throw resourceNotFound(`Worker host ${hostId} is not registered, or is dead.`);
        return { status: 200, json: info };
      },
    },
  ];
}

const isString = (v: unknown): v is string => typeof v === 'string';

function parseRegister(b: Record<string, unknown>): RegisterHostRequest {
  const { hostId, url, token, memoryMb, drivers } = b;
  if (hostId !== undefined && (!isString(hostId) || !HOST_ID.test(hostId))) {
    throw invalidParameterValue("hostId must be 1-64 letters, digits, '.', '_' or '-'.");
  }
  if (!isString(url) || !isSandboxApiUrl(url)) {
    throw invalidParameterValue('url must be the http:// or https:// URL of the worker\'s sandbox API, without credentials, query or fragment.');
  }
  if (!isString(token) || !TOKEN.test(token)) throw invalidParameterValue('token must be 1-1024 visible ASCII characters.');
  if (typeof memoryMb !== 'number' || !Number.isInteger(memoryMb) || memoryMb < 128 || memoryMb > 1 << 30) {
    throw invalidParameterValue('memoryMb must be a whole number of MB, at least 128.');
  }
  if (!Array.isArray(drivers) || drivers.length === 0 || drivers.length > 16 || !drivers.every((d) => isString(d) && DRIVER.test(d))) {
    throw invalidParameterValue('drivers must list the sandbox drivers the worker runs (1-16 names such as namespace, microvm, process).');
  }
  return { ...(hostId !== undefined ? { hostId } : {}), url, token, memoryMb, drivers: drivers as string[] };
}

function isSandboxApiUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.search === '' && u.hash === '';
  } catch {
    return false;
  }
}

function parseHeartbeat(b: Record<string, unknown>): HeartbeatRequest {
  const { sandboxes, ended, cachedCode } = b;
  if (!Array.isArray(sandboxes) || !sandboxes.every(isString)) throw invalidParameterValue('sandboxes must be a list of sandbox ids.');
  const endedOk = (e: unknown): e is HeartbeatRequest['ended'][number] => {
    const o = e as { id?: unknown; reason?: unknown } | null;
    return typeof o === 'object' && o !== null && isString(o.id) && isString(o.reason);
  };
  if (!Array.isArray(ended) || !ended.every(endedOk)) throw invalidParameterValue('ended must be a list of {"id", "reason"} strings.');
  if (!Array.isArray(cachedCode) || !cachedCode.every((c) => isString(c) && SHA256_HEX.test(c))) {
    throw invalidParameterValue('cachedCode must be a list of SHA-256s in lowercase hex.');
  }
  return { sandboxes, ended, cachedCode };
}

function parseLogBatch(b: Record<string, unknown>): LogBatch {
  const { lines } = b;
  const lineOk = (l: unknown): l is LogBatch['lines'][number] => {
    const o = l as { functionName?: unknown; logStream?: unknown; text?: unknown; timestamp?: unknown } | null;
    return (
      typeof o === 'object' &&
      o !== null &&
      (o.timestamp === undefined || (typeof o.timestamp === 'number' && Number.isSafeInteger(o.timestamp) && o.timestamp >= 0)) &&
      isString(o.functionName) &&
      o.functionName.length > 0 &&
      o.functionName.length <= NAME_MAX &&
      isString(o.logStream) &&
      o.logStream.length > 0 &&
      o.logStream.length <= NAME_MAX &&
      isString(o.text)
    );
  };
  if (!Array.isArray(lines) || !lines.every(lineOk)) {
    throw invalidParameterValue(`lines must be a list of {"functionName", "logStream", "text"} strings (names of 1-${NAME_MAX} characters), each with an optional "timestamp" (ms since the epoch).`);
  }
  return { lines };
}
