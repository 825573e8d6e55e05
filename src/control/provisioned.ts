// Provisioned concurrency (Put/Get/Delete/ListProvisionedConcurrencyConfigs):
// per published version or alias, a count of sandboxes the Worker Manager
// keeps initialized. The config lives in the state store; the allocation
// (IN_PROGRESS, READY, FAILED) is live state of the pools.
import { functionNotFound, invalidParameterValue, provisionedConcurrencyConfigNotFound, resourceConflict, resourceNotFound } from '../errors.js';
import * as limits from '../limits.js';
import type { StateStore } from '../store/state.js';
import type { ProvisionedConfigRecord, ProvisionedConfigStore } from '../store/provisioned.js';
import type { ProvisionedStatus } from '../workers/manager.js';
import { isAliasName } from './aliases.js';
import { functionArn } from './arn.js';
import { lambdaTimestamp } from './configuration.js';
import type { ControlPlane, FunctionChange } from './functions.js';
import type { FunctionVersion } from './model.js';
import { LATEST } from './model.js';
import * as S from './shapes.js';
import { checkInt, checkString, Problems } from './validate.js';

type Json = Record<string, unknown>;

interface Target {
  version: FunctionVersion;
  alias: boolean;
  /** A weighted alias's additional version and its weight. */
  weights?: Record<string, number>;
}

/** What the control plane needs of the Worker Manager. */
export interface ProvisionedPools {
  provision(id: string, fn: FunctionVersion, n: number): void;
  unprovision(id: string): void;
  provisionedStatus(id: string): ProvisionedStatus | undefined;
  /** Pool ids of a function, including those another process asked for (cluster frontends). */
  provisionedIdsOf?(functionName: string): string[];
}

export interface ProvisionedView {
  config: ProvisionedConfigRecord;
  status: ProvisionedStatus;
}

const poolId = (functionName: string, qualifier: string): string => `${functionName}\0${qualifier}`;
/** The pool of a weighted alias's additional version (Lambda splits an alias's provisioned concurrency by weight). */
const routedPoolId = (functionName: string, qualifier: string): string => `${poolId(functionName, qualifier)}\0routing`;
const LIST_MAX = 50;

export class ProvisionedConcurrency {
  constructor(
    private readonly control: ControlPlane,
    private readonly state: StateStore,
    private readonly store: ProvisionedConfigStore,
    private readonly pools: ProvisionedPools,
    private readonly accountConcurrency: number,
  ) {
    control.on('change', (c) => void this.onChange(c).catch(() => undefined));
  }

  /** Startup: every stored config gets its pool again. */
  async start(): Promise<void> {
    await this.refreshTotals();
    for (const c of await this.store.list()) await this.reconcile(c.functionName, c.qualifier);
  }

  // --- the API ---

  async put(rawName: string, qualifierParam: string | undefined, body: Json): Promise<ProvisionedView> {
    const p = new Problems();
    const n = checkInt(p, body.ProvisionedConcurrentExecutions, 'provisionedConcurrentExecutions', { min: 1, required: true });
    p.throwIfAny();
    const { name, qualifier } = this.ref(rawName, qualifierParam, S.FUNCTION_NAME_CREATE);
    if (qualifier === LATEST) throw invalidParameterValue('Provisioned Concurrency Configs cannot be applied to unpublished function versions.');
    const target = await this.target(name, qualifier);
    if (target.alias && target.version.version === LATEST) {
      throw invalidParameterValue('Provisioned Concurrency Configs cannot be applied to unpublished function versions.');
    }
    const fn = (await this.state.getFunction(name))!;
    const mine = await this.store.list(name);
    const otherHere = mine.filter((c) => c.qualifier !== qualifier).reduce((sum, c) => sum + c.requested, 0);
    if (fn.reservedConcurrency !== undefined) {
      if (otherHere + n! > fn.reservedConcurrency) {
        throw invalidParameterValue('Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function');
      }
    } else {
      const unreserved = (await this.unreservedConcurrency()) + (mine.find((c) => c.qualifier === qualifier)?.requested ?? 0);
      if (n! > unreserved) throw invalidParameterValue(`Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [${unreserved}].`);
      if (unreserved - n! < limits.UNRESERVED_CONCURRENCY_MIN) {
        throw invalidParameterValue(
          `Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [${limits.UNRESERVED_CONCURRENCY_MIN}].`,
        );
      }
    }
    // One config per version: directly, or through an alias that points to it.
    const aliases = await this.state.listAliases(name);
    if (target.alias) {
      if (mine.some((c) => c.qualifier === target.version.version)) {
        throw resourceConflict("Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version");
      }
    } else if (aliases.some((a) => a.functionVersion === qualifier && mine.some((c) => c.qualifier === a.name))) {
      throw resourceConflict('Version is pointed by a Provisioned Concurrency alias');
    }
    const config: ProvisionedConfigRecord = { functionName: name, qualifier, requested: n!, lastModified: lambdaTimestamp() };
    const stored = await this.store.put(config);
    await this.refreshTotals();
    if (!stored) throw functionNotFound(functionArn(this.control.account, name, qualifier));
    await this.provisionPool(name, qualifier, target, n!);
    const live = this.status(config);
    // Lambda answers the Put with the allocation under way.
    return { config, status: { requested: n!, allocated: live.allocated, available: live.available, status: 'IN_PROGRESS' } };
  }

  async get(rawName: string, qualifierParam: string | undefined): Promise<ProvisionedView> {
    const { name, qualifier } = this.ref(rawName, qualifierParam, S.FUNCTION_NAME_NAMESPACED);
    if (qualifier === LATEST) throw invalidParameterValue('The function resource provided must be an alias or a published version.');
    await this.target(name, qualifier);
    const config = await this.store.get(name, qualifier);
    if (!config) throw provisionedConcurrencyConfigNotFound();
    return { config, status: this.status(config) };
  }

  async delete(rawName: string, qualifierParam: string | undefined): Promise<void> {
    const { name, qualifier } = this.ref(rawName, qualifierParam, S.FUNCTION_NAME_NAMESPACED);
    if (qualifier === LATEST) throw invalidParameterValue('The function resource provided must be an alias or a published version.');
    await this.target(name, qualifier);
    // Lambda answers 204 whether or not there was a config.
    await this.store.delete(name, qualifier);
    await this.refreshTotals();
    this.unprovisionPools(name, qualifier);
  }

  async list(rawName: string, opts: { marker?: string; maxItems?: string }): Promise<{ configs: (ProvisionedView & { functionArn: string })[]; nextMarker?: string }> {
    const p = new Problems();
    const maxItems = opts.maxItems !== undefined && /^-?\d+$/.test(opts.maxItems) ? Number(opts.maxItems) : undefined;
    if (opts.maxItems !== undefined) checkInt(p, maxItems ?? opts.maxItems, 'maxItems', { min: 1, max: LIST_MAX });
    p.throwIfAny();
    const ref = this.control.resolveRef(rawName, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    if (!(await this.control.functionExists(ref.name))) throw functionNotFound(functionArn(this.control.account, ref.name));
    const all = await this.store.list(ref.name);
    let start = 0;
    if (opts.marker) {
      const after = Buffer.from(opts.marker, 'base64url').toString('utf8');
      start = all.findIndex((c) => c.qualifier > after);
      if (start === -1) start = all.length;
    }
    const max = maxItems ?? LIST_MAX;
    const page = all.slice(start, start + max);
    const configs = page.map((config) => ({ config, status: this.status(config), functionArn: functionArn(this.control.account, ref.name, config.qualifier) }));
    const last = page[page.length - 1];
    return start + max < all.length && last ? { configs, nextMarker: Buffer.from(last.qualifier).toString('base64url') } : { configs };
  }

  // --- concurrency accounting ---

  /** Provisioned concurrency of functions without a reservation (theirs comes out of the unreserved pool). */
  async provisionedOutsideReservations(exceptFunction?: string): Promise<number> {
    const reserved = new Set((await this.state.listReservations()).map((r) => r.functionName));
    return (await this.store.list())
      .filter((c) => !reserved.has(c.functionName) && c.functionName !== exceptFunction)
      .reduce((sum, c) => sum + c.requested, 0);
  }

  /** A function's provisioned concurrency, all qualifiers together (from memory, as provisionedByFunction). */
  provisionedOf(functionName: string): number {
    return this.totals.get(functionName) ?? 0;
  }

  // The store is asynchronous and the invoke path reads totals synchronously on
  // every invoke: they are kept in memory, loaded by start() and reloaded after
  // each write this process makes.
  private totals: ReadonlyMap<string, number> = new Map();
  private totalsRequested = 0;
  private totalsApplied = 0;

  /** Provisioned concurrency per function, from memory (the invoke path reads it every time); reloaded after a write. */
  provisionedByFunction(): ReadonlyMap<string, number> {
    return this.totals;
  }

  /**
   * Reloads the totals (another process changed a config: a cluster frontend
   * tells its manager); of overlapping reloads, only a later-started one may
   * replace an earlier one's result.
   */
  async refreshTotals(): Promise<void> {
    const seq = ++this.totalsRequested;
    const totals = new Map<string, number>();
    for (const c of await this.store.list()) totals.set(c.functionName, (totals.get(c.functionName) ?? 0) + c.requested);
    if (seq > this.totalsApplied) {
      this.totalsApplied = seq;
      this.totals = totals;
    }
  }

  private async unreservedConcurrency(): Promise<number> {
    const reserved = (await this.state.listReservations()).reduce((sum, r) => sum + r.reserved, 0);
    return this.accountConcurrency - reserved - (await this.provisionedOutsideReservations());
  }

  // --- helpers ---

  private ref(rawName: string, qualifierParam: string | undefined, shape: typeof S.FUNCTION_NAME_CREATE): { name: string; qualifier: string } {
    const ref = this.control.resolveRef(rawName, qualifierParam, shape);
    if (ref.qualifier === undefined) {
      const p = new Problems();
      p.add(undefined, 'qualifier', 'Member must not be null');
      p.throwIfAny();
    }
    return { name: ref.name, qualifier: ref.qualifier! };
  }

  /** The version a qualifier names now, with Lambda's not-found messages (an unknown alias: "Cannot find alias arn"). */
  private async target(name: string, qualifier: string): Promise<Target> {
    if (isAliasName(qualifier)) {
      const alias = await this.state.getAlias(name, qualifier);
      if (!alias) throw resourceNotFound(`Cannot find alias arn: ${functionArn(this.control.account, name, qualifier)}`);
      const v = await this.state.getVersion(name, alias.functionVersion);
      if (!v) throw functionNotFound(functionArn(this.control.account, name, alias.functionVersion));
      const weights = alias.additionalVersionWeights;
      return { version: v, alias: true, ...(weights && Object.keys(weights).length > 0 ? { weights } : {}) };
    }
    const v = await this.state.getVersion(name, qualifier);
    if (!v) throw functionNotFound(functionArn(this.control.account, name, qualifier));
    return { version: v, alias: false };
  }

  /** One config's status over its pools (two for a weighted alias). */
  private status(config: ProvisionedConfigRecord): ProvisionedStatus {
    const parts = [poolId(config.functionName, config.qualifier), routedPoolId(config.functionName, config.qualifier)]
      .map((id) => this.pools.provisionedStatus(id))
      .filter((x): x is ProvisionedStatus => x !== undefined);
    if (parts.length === 0) return { requested: config.requested, allocated: 0, available: 0, status: 'IN_PROGRESS' };
    const failed = parts.find((x) => x.status === 'FAILED');
    return {
      requested: config.requested,
      allocated: parts.reduce((sum, x) => sum + x.allocated, 0),
      available: parts.reduce((sum, x) => sum + x.available, 0),
      status: failed ? 'FAILED' : parts.every((x) => x.status === 'READY') ? 'READY' : 'IN_PROGRESS',
      ...(failed?.statusReason !== undefined ? { statusReason: failed.statusReason } : {}),
    };
  }

  /** Points a config's pool at the version its qualifier names now (or drops it when the qualifier is gone). */
  private async reconcile(functionName: string, qualifier: string): Promise<void> {
    const config = await this.store.get(functionName, qualifier);
    if (!config) {
      this.unprovisionPools(functionName, qualifier);
      return;
    }
    let target: Target | undefined;
    try {
      target = await this.target(functionName, qualifier);
    } catch {
      target = undefined;
    }
    if (!target || target.version.version === LATEST) {
      // The alias or version went away: its config goes with it, as in Lambda.
      await this.store.delete(functionName, qualifier);
      await this.refreshTotals();
      this.unprovisionPools(functionName, qualifier);
      return;
    }
    await this.provisionPool(functionName, qualifier, target, config.requested);
  }

  private async onChange(c: FunctionChange): Promise<void> {
    if (c.kind === 'created' || c.kind === 'configured') return;
    if (c.kind === 'deleted' && !(await this.control.functionExists(c.functionName))) {
      // The function is gone (its rows cascaded away): release every pool it had.
      for (const id of new Set([...this.knownIds(c.functionName), ...(this.pools.provisionedIdsOf?.(c.functionName) ?? [])])) this.pools.unprovision(id);
      this.known.delete(c.functionName);
      await this.refreshTotals();
      return;
    }
    if (c.version === '' || c.version === LATEST) return;
    await this.reconcile(c.functionName, c.version);
  }

  /** Qualifiers that had pools, per function: the store forgets them when a function is deleted. */
  private readonly known = new Map<string, Set<string>>();
  /**
   * A version's pool, or a weighted alias's two: as Lambda does, the additional
   * version gets its weight's share of the sandboxes (rounded), the primary the rest.
   */
  private async provisionPool(functionName: string, qualifier: string, target: Target, n: number): Promise<void> {
    let set = this.known.get(functionName);
    if (!set) this.known.set(functionName, (set = new Set()));
    set.add(qualifier);
    const id = poolId(functionName, qualifier);
    const routed = routedPoolId(functionName, qualifier);
    const [extra] = Object.entries(target.weights ?? {});
    const extraVersion = extra ? await this.state.getVersion(functionName, extra[0]) : undefined;
    const extraCount = extra && extraVersion ? Math.round(n * extra[1]) : 0;
    if (n - extraCount > 0) this.pools.provision(id, target.version, n - extraCount);
    else this.pools.unprovision(id);
    if (extraVersion && extraCount > 0) this.pools.provision(routed, extraVersion, extraCount);
    else this.pools.unprovision(routed);
  }

  private unprovisionPools(functionName: string, qualifier: string): void {
    this.pools.unprovision(poolId(functionName, qualifier));
    this.pools.unprovision(routedPoolId(functionName, qualifier));
  }

  private knownIds(functionName: string): string[] {
    return [...(this.known.get(functionName) ?? [])].flatMap((q) => [poolId(functionName, q), routedPoolId(functionName, q)]);
  }
}
