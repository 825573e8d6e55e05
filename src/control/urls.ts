// Function URL configs: Create/Get/Update/Delete/ListFunctionUrlConfigs, with
// Lambda's validation and its (operation-dependent) not-found wording. A
// config belongs to the unqualified function or to one alias (never to a
// version number, nor to $LATEST: Lambda's qualifier pattern refuses both).
import { randomBytes } from 'node:crypto';
import { invalidParameterValue, resourceConflict, resourceNotFound } from '../errors.js';
import * as limits from '../limits.js';
import type { Account, FunctionRef } from './arn.js';
import { functionArn } from './arn.js';
import { isAliasName } from './aliases.js';
import type { ControlPlane } from './functions.js';
import * as S from './shapes.js';
import { checkBool, checkInt, checkObject, checkString, checkStringList, Problems } from './validate.js';

export const AUTH_TYPES = ['NONE', 'AWS_IAM'] as const;
export const INVOKE_MODES = ['BUFFERED', 'RESPONSE_STREAM'] as const;

export interface CorsConfig {
  AllowCredentials?: boolean;
  AllowHeaders?: string[];
  AllowMethods?: string[];
  AllowOrigins?: string[];
  ExposeHeaders?: string[];
  MaxAge?: number;
}

export interface FunctionUrlRecord {
  functionName: string;
  /** An alias name, or '' for the unqualified function. */
  qualifier: string;
  /** The url-id of https://<url-id>.lambda-url.<region>.on.aws */
  urlId: string;
  authType: (typeof AUTH_TYPES)[number];
  cors?: CorsConfig;
  /** Absent: never set (Lambda shows BUFFERED on reads). */
  invokeMode?: (typeof INVOKE_MODES)[number];
  creationTime: string;
  lastModifiedTime: string;
}

export interface FunctionUrlStore {
  get(functionName: string, qualifier: string): Promise<FunctionUrlRecord | undefined>;
  getByUrlId(urlId: string): Promise<FunctionUrlRecord | undefined>;
  /** Inserts; false when the function already has a config for that qualifier (or the function is gone). */
  create(record: FunctionUrlRecord): Promise<boolean>;
  update(record: FunctionUrlRecord): Promise<void>;
  delete(functionName: string, qualifier: string): Promise<boolean>;
  list(functionName: string): Promise<FunctionUrlRecord[]>;
}

const URL_QUALIFIER = { pattern: /^(?!\d+$)[0-9a-zA-Z_-]+$/, patternText: '((?!^\\d+$)^[0-9a-zA-Z-_]+$)', min: 1, max: 128 };
const DOES_NOT_EXIST = 'The resource you requested does not exist.';
const FUNCTION_DOES_NOT_EXIST = 'Function does not exist';

type Json = Record<string, unknown>;

/** Lambda's CreationTime / LastModifiedTime: ISO 8601 with microseconds. */
const urlTimestamp = (d = new Date()): string => d.toISOString().replace('Z', '000Z');

/** A url-id as Lambda makes them: 32 lowercase letters and digits. */
function newUrlId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(32);
  let id = '';
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}

export class FunctionUrls {
  readonly account: Account;

  constructor(
    private readonly control: ControlPlane,
    private readonly store: FunctionUrlStore,
  ) {
    this.account = control.account;
    // A URL on an alias goes with the alias (the function's own cascade takes the rest).
    control.on('change', (c) => {
      if (c.kind === 'deleted' && c.version !== '' && isAliasName(c.version)) {
        void this.store.delete(c.functionName, c.version).catch(() => undefined);
      }
    });
  }

  /**
   * The function and qualifier a call names. `missing` is the not-found
   * wording of the operation: Create/Update/List say the function does not
   * exist, Get/Delete only that the resource does not.
   */
  private async target(raw: string, qualifierParam: string | undefined, missing: string): Promise<FunctionRef & { qualifier: string }> {
    const ref = this.control.resolveRef(raw, qualifierParam);
    if (ref.qualifier !== undefined) {
      const p = new Problems();
      checkString(p, ref.qualifier, 'qualifier', URL_QUALIFIER);
      p.throwIfAny();
    }
    if (!(await this.control.functionExists(ref.name))) throw resourceNotFound(missing);
    if (ref.qualifier !== undefined) {
      try {
        await this.control.resolveTarget(ref);
      } catch {
        throw resourceNotFound(missing);
      }
    }
    return { ...ref, qualifier: ref.qualifier ?? '' };
  }

  functionArnOf(r: FunctionUrlRecord): string {
    return functionArn(this.account, r.functionName, r.qualifier || undefined);
  }

  async create(raw: string, qualifierParam: string | undefined, body: Json): Promise<FunctionUrlRecord> {
    const settings = checkBody(body, true);
    const ref = await this.target(raw, qualifierParam, FUNCTION_DOES_NOT_EXIST);
    const now = urlTimestamp();
    const record: FunctionUrlRecord = {
      functionName: ref.name,
      qualifier: ref.qualifier,
      urlId: newUrlId(),
      authType: settings.authType!,
      ...(settings.cors ? { cors: settings.cors } : {}),
      ...(settings.invokeMode ? { invokeMode: settings.invokeMode } : {}),
      creationTime: now,
      lastModifiedTime: now,
    };
    if (!(await this.store.create(record))) {
      throw resourceConflict(
        `Failed to create function url config for [functionArn = ${this.functionArnOf(record)}]. Error message:  FunctionUrlConfig exists for this Lambda function`,
      );
    }
    return record;
  }

  async get(raw: string, qualifierParam: string | undefined): Promise<FunctionUrlRecord> {
    const ref = await this.target(raw, qualifierParam, DOES_NOT_EXIST);
    const record = await this.store.get(ref.name, ref.qualifier);
    if (!record) throw resourceNotFound(DOES_NOT_EXIST);
    return record;
  }

  async update(raw: string, qualifierParam: string | undefined, body: Json): Promise<FunctionUrlRecord> {
    const settings = checkBody(body, false);
    const ref = await this.target(raw, qualifierParam, FUNCTION_DOES_NOT_EXIST);
    const current = await this.store.get(ref.name, ref.qualifier);
    if (!current) throw resourceNotFound(DOES_NOT_EXIST);
    const next: FunctionUrlRecord = { ...current, lastModifiedTime: urlTimestamp() };
    if (settings.authType) next.authType = settings.authType;
    if (settings.cors) next.cors = settings.cors;
    if (settings.invokeMode) next.invokeMode = settings.invokeMode;
    await this.store.update(next);
    return next;
  }

  async delete(raw: string, qualifierParam: string | undefined): Promise<void> {
    const ref = await this.target(raw, qualifierParam, DOES_NOT_EXIST);
    if (!(await this.store.delete(ref.name, ref.qualifier))) throw resourceNotFound(DOES_NOT_EXIST);
  }

  async list(raw: string, opts: { marker?: string; maxItems?: string }): Promise<{ configs: FunctionUrlRecord[]; nextMarker?: string }> {
    const ref = this.control.resolveRef(raw, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    const p = new Problems();
    if (opts.maxItems !== undefined) {
      if (!/^-?\d+$/.test(opts.maxItems)) throw invalidParameterValue(`Invalid value for MaxItems: ${opts.maxItems}`);
      checkInt(p, Number(opts.maxItems), 'maxItems', { min: 1, max: limits.LIST_MAX_ITEMS });
    }
    p.throwIfAny();
    if (!(await this.control.functionExists(ref.name))) throw resourceNotFound(FUNCTION_DOES_NOT_EXIST);
    const all = await this.store.list(ref.name);
    const max = opts.maxItems !== undefined ? Number(opts.maxItems) : limits.LIST_MAX_ITEMS;
    let start = 0;
    if (opts.marker) {
      // Markers carry a prefix, so the unqualified config ('') has one too.
      const after = Buffer.from(opts.marker, 'base64url').toString('utf8').slice(1);
      start = all.findIndex((r) => r.qualifier > after);
      if (start === -1) start = all.length;
    }
    const configs = all.slice(start, start + max);
    const last = configs[configs.length - 1];
    return start + max < all.length && last ? { configs, nextMarker: Buffer.from(`q${last.qualifier}`).toString('base64url') } : { configs };
  }

  /** The config a function URL request addresses (url-ids are matched case-insensitively, as DNS names are). */
  lookup(urlId: string): Promise<FunctionUrlRecord | undefined> {
    return this.store.getByUrlId(urlId.toLowerCase());
  }
}

function checkBody(body: Json, create: boolean) {
  const p = new Problems();
  const authType = checkString(p, body.AuthType, 'authType', { enumValues: AUTH_TYPES, required: create }) as FunctionUrlRecord['authType'] | undefined;
  const invokeMode = checkString(p, body.InvokeMode, 'invokeMode', { enumValues: INVOKE_MODES }) as FunctionUrlRecord['invokeMode'] | undefined;
  const c = checkObject(body.Cors, 'cors');
  let cors: CorsConfig | undefined;
  if (c) {
    cors = {};
    const credentials = checkBool(c.AllowCredentials, 'cors.allowCredentials');
    const headers = checkStringList(p, c.AllowHeaders, 'cors.allowHeaders', { maxItems: 100, max: 1024 });
    const methods = checkStringList(p, c.AllowMethods, 'cors.allowMethods', { maxItems: 6, max: 6 });
    const origins = checkStringList(p, c.AllowOrigins, 'cors.allowOrigins', { maxItems: 100, min: 1, max: 253 });
    const expose = checkStringList(p, c.ExposeHeaders, 'cors.exposeHeaders', { maxItems: 100, max: 1024 });
    const maxAge = checkInt(p, c.MaxAge, 'cors.maxAge', { min: 0, max: 86400 });
    if (credentials !== undefined) cors.AllowCredentials = credentials;
    if (headers) cors.AllowHeaders = headers;
    if (methods) cors.AllowMethods = methods;
    if (origins) cors.AllowOrigins = origins;
    if (expose) cors.ExposeHeaders = expose;
    if (maxAge !== undefined) cors.MaxAge = maxAge;
  }
  p.throwIfAny();
  return { authType, invokeMode, cors };
}

/**
 * Lambda's FunctionUrlConfig JSON. Create answers without LastModifiedTime;
 * InvokeMode shows on Create/Update only when the call set it, always on reads.
 */
export function renderUrlConfig(
  urls: FunctionUrls,
  r: FunctionUrlRecord,
  functionUrl: string,
  view: 'create' | 'update' | 'read',
  invokeModeGiven = false,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    FunctionUrl: functionUrl,
    FunctionArn: urls.functionArnOf(r),
    AuthType: r.authType,
  };
  if (r.cors) out.Cors = { ...r.cors };
  out.CreationTime = r.creationTime;
  if (view !== 'create') out.LastModifiedTime = r.lastModifiedTime;
  if (view === 'read' || invokeModeGiven) out.InvokeMode = r.invokeMode ?? 'BUFFERED';
  return out;
}
