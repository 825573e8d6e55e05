// Aliases: named pointers to a version, with weighted routing to a second
// one (CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases).
import { randomUUID } from 'node:crypto';
import { functionNotFound, invalidParameterValue, resourceConflict, resourceNotFound, revisionIdMismatch } from '../errors.js';
import * as limits from '../limits.js';
import type { StateStore } from '../store/state.js';
import type { Account } from './arn.js';
import { functionArn } from './arn.js';
import type { ControlPlane } from './functions.js';
import type { AliasRecord } from './model.js';
import { LATEST } from './model.js';
import * as S from './shapes.js';
import { checkObject, checkString, Problems } from './validate.js';

type Json = Record<string, unknown>;

export const ALIAS_NAME = { pattern: /^(?!^[0-9]+$)([a-zA-Z0-9-_]+)$/, patternText: '(?!^[0-9]+$)([a-zA-Z0-9-_]+)', min: 1, max: 128 };
const VERSION = { pattern: /^(\$LATEST|[0-9]+)$/, patternText: '(\\$LATEST|[0-9]+)', min: 1, max: 1024 };

export const isAliasName = (qualifier: string): boolean => qualifier !== LATEST && !/^[0-9]+$/.test(qualifier);

export function renderAlias(acct: Account, a: AliasRecord): Json {
  const out: Json = {
    AliasArn: functionArn(acct, a.functionName, a.name),
    Name: a.name,
    FunctionVersion: a.functionVersion,
    Description: a.description,
  };
  if (a.additionalVersionWeights && Object.keys(a.additionalVersionWeights).length > 0) {
    out.RoutingConfig = { AdditionalVersionWeights: { ...a.additionalVersionWeights } };
  }
  out.RevisionId = a.revisionId;
  return out;
}

export class Aliases {
  constructor(
    private readonly control: ControlPlane,
    private readonly state: StateStore,
  ) {}

  private get acct(): Account {
    return this.control.account;
  }

  private async functionName(raw: string): Promise<string> {
    const ref = this.control.resolveRef(raw, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    await this.control.getFunctionRecord(ref);
    return ref.name;
  }

  async get(rawFunction: string, name: string): Promise<AliasRecord> {
    const p = new Problems();
    checkString(p, name, 'name', ALIAS_NAME);
    p.throwIfAny();
    const fn = await this.functionName(rawFunction);
    const alias = await this.state.getAlias(fn, name);
    if (!alias) throw resourceNotFound(`Cannot find alias arn: ${functionArn(this.acct, fn, name)}`);
    return alias;
  }

  async create(rawFunction: string, body: Json): Promise<AliasRecord> {
    const p = new Problems();
    const name = checkString(p, body.Name, 'name', { ...ALIAS_NAME, required: true });
    const functionVersion = checkString(p, body.FunctionVersion, 'functionVersion', { ...VERSION, required: true });
    const description = checkString(p, body.Description, 'description', { max: limits.DESCRIPTION_MAX_CHARS });
    const weights = this.checkRouting(p, body.RoutingConfig);
    p.throwIfAny();
    const fn = await this.functionName(rawFunction);
    await this.checkTargets(fn, functionVersion!, weights);
    const alias: AliasRecord = {
      functionName: fn,
      name: name!,
      functionVersion: functionVersion!,
      description: description ?? '',
      ...(weights ? { additionalVersionWeights: weights } : {}),
      revisionId: randomUUID(),
    };
    if (!(await this.state.putAlias(alias, undefined))) {
      if (await this.state.getAlias(fn, alias.name)) {
        throw resourceConflict(`Alias already exists: ${functionArn(this.acct, fn, alias.name)}`);
      }
      throw functionNotFound(functionArn(this.acct, fn));
    }
    this.control.emit('change', { kind: 'updated', functionName: fn, version: alias.name });
    return alias;
  }

  async update(rawFunction: string, name: string, body: Json): Promise<AliasRecord> {
    const p = new Problems();
    checkString(p, name, 'name', ALIAS_NAME);
    const functionVersion = checkString(p, body.FunctionVersion, 'functionVersion', VERSION);
    const description = checkString(p, body.Description, 'description', { max: limits.DESCRIPTION_MAX_CHARS });
    const weights = this.checkRouting(p, body.RoutingConfig);
    const revisionId = checkString(p, body.RevisionId, 'revisionId', {});
    p.throwIfAny();
    const fn = await this.functionName(rawFunction);
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.state.getAlias(fn, name);
      if (!current) throw resourceNotFound(`Alias not found: ${functionArn(this.acct, fn, name)}`);
      if (revisionId !== undefined && revisionId !== current.revisionId) throw revisionIdMismatch();
      const next: AliasRecord = { ...current, revisionId: randomUUID() };
      if (functionVersion !== undefined) next.functionVersion = functionVersion;
      if (description !== undefined) next.description = description;
      if (weights !== undefined) {
        if (Object.keys(weights).length === 0) delete next.additionalVersionWeights;
        else next.additionalVersionWeights = weights;
      }
      await this.checkTargets(fn, next.functionVersion, next.additionalVersionWeights);
      if (await this.state.putAlias(next, current.revisionId)) {
        this.control.emit('change', { kind: 'updated', functionName: fn, version: name });
        return next;
      }
    }
    throw resourceConflict(`The operation cannot be performed at this time. An update is in progress for resource: ${functionArn(this.acct, fn, name)}`);
  }

  async delete(rawFunction: string, name: string): Promise<void> {
    const p = new Problems();
    checkString(p, name, 'name', ALIAS_NAME);
    p.throwIfAny();
    const fn = await this.functionName(rawFunction);
    // Lambda answers 204 whether or not the alias was there.
    await this.state.deleteAlias(fn, name);
    this.control.emit('change', { kind: 'deleted', functionName: fn, version: name });
  }

  async list(rawFunction: string, opts: { functionVersion?: string; marker?: string; maxItems?: string }): Promise<{ aliases: AliasRecord[]; nextMarker?: string }> {
    const p = new Problems();
    checkString(p, opts.functionVersion, 'functionVersion', VERSION);
    p.throwIfAny();
    const fn = await this.functionName(rawFunction);
    let all = await this.state.listAliases(fn);
    if (opts.functionVersion !== undefined) all = all.filter((a) => a.functionVersion === opts.functionVersion);
    return paginate(all, (a) => a.name, opts.marker, opts.maxItems);
  }

  private checkRouting(p: Problems, value: unknown): Record<string, number> | undefined {
    const rc = checkObject(value, 'routingConfig');
    if (!rc) return undefined;
    const w = checkObject(rc.AdditionalVersionWeights, 'routingConfig.additionalVersionWeights');
    if (!w) return {};
    const out: Record<string, number> = {};
    for (const [version, weight] of Object.entries(w)) {
      if (typeof weight !== 'number') throw invalidParameterValue(`Invalid weight for version ${version}: weights are numbers from 0.0 to 1.0.`);
      if (!/^[0-9]+$/.test(version)) {
        p.add(w, 'routingConfig.additionalVersionWeights', `Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]`);
      }
      if (weight < 0 || weight > 1) {
        p.add(w, 'routingConfig.additionalVersionWeights', 'Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]');
      }
      out[version] = weight;
    }
    if (Object.keys(out).length > 1) {
      p.add(w, 'routingConfig.additionalVersionWeights', 'Member must have length less than or equal to 1');
    }
    return out;
  }

  /** The versions an alias points to must exist; weighted routing needs two different published versions. */
  private async checkTargets(fn: string, primary: string, weights: Record<string, number> | undefined): Promise<void> {
    const extra = Object.keys(weights ?? {});
    if (extra.length > 0) {
      if (primary === LATEST) throw invalidParameterValue('$LATEST is not supported for an alias pointing to more than 1 version');
      if (extra.includes(primary)) throw invalidParameterValue(`Invalid function version ${primary}. Function version ${primary} is already included in routing configuration.`);
    }
    for (const v of [primary, ...extra]) {
      if (!(await this.state.getVersion(fn, v))) throw functionNotFound(functionArn(this.acct, fn, v));
    }
  }
}

/** Marker pagination over a sorted list, by a key. */
export function paginate<T>(items: T[], key: (t: T) => string, marker: string | undefined, maxItems: string | undefined): { aliases: T[]; nextMarker?: string } {
  const max = maxItems !== undefined && /^\d+$/.test(maxItems) ? Math.max(1, Math.min(Number(maxItems), limits.LIST_MAX_ITEMS)) : limits.LIST_MAX_ITEMS;
  let start = 0;
  if (marker) {
    const after = Buffer.from(marker, 'base64url').toString('utf8');
    start = items.findIndex((t) => key(t) > after);
    if (start === -1) start = items.length;
  }
  const page = items.slice(start, start + max);
  const last = page[page.length - 1];
  return start + max < items.length && last ? { aliases: page, nextMarker: Buffer.from(key(last)).toString('base64url') } : { aliases: page };
}
