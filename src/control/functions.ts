// The control plane for functions: CreateFunction, GetFunction, Update*,
// DeleteFunction, ListFunctions, PublishVersion. Validates as Lambda does,
// keeps metadata in the state store and packages in the code store.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  functionNotFound,
  invalidParameterValue,
  LambdaError,
  resourceConflict,
  resourceNotFound,
  revisionIdMismatch,
  serviceException,
} from '../errors.js';
import * as limits from '../limits.js';
import type { CodeStore } from '../store/code.js';
import { base64ToHex } from '../store/code.js';
import type { StateStore } from '../store/state.js';
import type { Account, FunctionRef } from './arn.js';
import { functionArn, parseFunctionRef } from './arn.js';
import { lambdaTimestamp } from './configuration.js';
import { isAliasName, paginate } from './aliases.js';
import { checkLayerArns } from './layers.js';
import type { AliasRecord, FunctionRecord, FunctionVersion, LayerCode } from './model.js';
import { LATEST } from './model.js';
import { requireSupportedRuntime } from './runtimes.js';
import * as S from './shapes.js';
import {
  checkBool,
  checkInt,
  checkObject,
  checkString,
  checkStringList,
  checkStringMap,
  Problems,
} from './validate.js';
import { inspectZip } from './zip.js';
import { sandboxTagsProblem } from '../sandbox/function-tags.js';

/** What changed, for the parts that cache or run functions (workers retire sandboxes). */
export interface FunctionChange {
  /** `configured`: function-wide settings (concurrency) changed; no code or version did. */
  kind: 'created' | 'updated' | 'deleted' | 'configured';
  functionName: string;
  version: string;
  /** Made by another process of the cluster (and already applied there). */
  remote?: boolean;
}

export interface ControlPlaneDeps {
  state: StateStore;
  code: CodeStore;
  account: Account;
  /** The account's concurrent executions limit (GetAccountSettings). */
  accountConcurrency?: number;
}

/**
 * A function version whose code or sandbox settings were just set (CreateFunction,
 * UpdateFunctionCode, UpdateFunctionConfiguration): its first invoke is likely soon,
 * so a worker host may get its package and a sandbox ready ahead (Lambda's Pending).
 */
export interface FunctionToPrepare {
  fn: FunctionVersion;
  /** The package's bytes, when this request uploaded them (saves the host a code store read). */
  zip?: Buffer;
}

/** A package just uploaded and validated (a function's or a layer's), before it is stored. */
export interface PackageToPrepare {
  sha256Hex: string;
  zip: Buffer;
}

/**
 * Packages up to this size are announced (the 'package' event) as soon as they are
 * validated, so a host unpacks them while the call stores them; hashing them twice
 * (here and in the code store) costs nothing at this size.
 */
const EARLY_PREPARE_MAX_BYTES = 1024 * 1024;

type Json = Record<string, unknown>;

/** Resolves a function's Layers and says which packages layers still hold (control/layers.ts). */
export interface LayerResolver {
  resolve(arns: string[]): Promise<LayerCode[]>;
  codeInUse(codeSha256: string): Promise<boolean>;
}

export class ControlPlane extends EventEmitter<{ change: [FunctionChange]; prepare: [FunctionToPrepare]; package: [PackageToPrepare] }> {
  readonly account: Account;
  private readonly state: StateStore;
  private readonly code: CodeStore;
  private readonly accountConcurrency: number;
  private layerResolver: LayerResolver | undefined;
  /** Provisioned concurrency that comes out of the unreserved pool (control/provisioned.ts). */
  private provisionedUnreserved: (() => Promise<number>) | undefined;

  constructor(deps: ControlPlaneDeps) {
    super();
    this.state = deps.state;
    this.code = deps.code;
    this.account = deps.account;
    this.accountConcurrency = deps.accountConcurrency ?? limits.ACCOUNT_CONCURRENCY_DEFAULT;
  }

  /** Connects provisioned concurrency: GetAccountSettings counts it against the unreserved pool. */
  useProvisioned(count: () => Promise<number>): void {
    this.provisionedUnreserved = count;
  }

  /** Connects the layers service: Layers are resolved through it, and its packages are kept. */
  useLayers(resolver: LayerResolver): void {
    this.layerResolver = resolver;
  }

  private async resolveLayers(arns: string[]): Promise<LayerCode[]> {
    if (arns.length === 0) return [];
    if (!this.layerResolver) throw invalidParameterValue(`Layer version ${arns[0]} does not exist.`);
    return this.layerResolver.resolve(arns);
  }

  /** Function code and its layers together stay within Lambda's unzipped limit. */
  private checkCombinedSize(unzippedSize: number, layerCode: LayerCode[]): void {
    if (layerCode.length === 0) return;
    const total = layerCode.reduce((sum, l) => sum + l.unzippedSize, unzippedSize);
    if (total > limits.UNZIPPED_MAX_BYTES) {
      throw invalidParameterValue(
        `Function code combined with layers exceeds the maximum allowed size of ${limits.UNZIPPED_MAX_BYTES} bytes. The actual size is ${total} bytes.`,
      );
    }
  }

  /** The unzipped size of a version's package (measured again for records that predate the field). */
  private async unzippedSizeOf(v: FunctionVersion): Promise<number> {
    if (v.unzippedSize !== undefined) return v.unzippedSize;
    const zip = await this.code.get(base64ToHex(v.codeSha256));
    if (!zip) return 0;
    return (await inspectZip(zip)).unzippedSize;
  }

  // --- function references ---

  /**
   * Resolves a FunctionName path member (name, name:qualifier, partial or full
   * ARN) plus an optional Qualifier query member.
   */
  resolveRef(raw: string, qualifierParam: string | undefined, shape = S.FUNCTION_NAME_NAMESPACED): FunctionRef {
    const p = new Problems();
    checkString(p, raw, 'functionName', shape);
    if (qualifierParam !== undefined) checkString(p, qualifierParam, 'qualifier', S.QUALIFIER);
    p.throwIfAny();
    const ref = parseFunctionRef(raw);
    if (!ref) throw invalidParameterValue(`Invalid function name: ${raw}`);
    if (ref.region !== undefined && ref.region !== this.account.region) {
      throw resourceNotFound(`Functions from '${ref.region}' are not reachable in this region ('${this.account.region}')`);
    }
    if (ref.accountId !== undefined && ref.accountId !== this.account.accountId) {
      throw functionNotFound(functionArn({ ...this.account, accountId: ref.accountId }, ref.name, ref.qualifier));
    }
    if (qualifierParam !== undefined) {
      if (ref.qualifier !== undefined && ref.qualifier !== qualifierParam) {
        throw invalidParameterValue('The derived qualifier from the function name does not match the specified qualifier.');
      }
      ref.qualifier = qualifierParam;
    }
    return ref;
  }

  private async requireFunction(ref: FunctionRef): Promise<FunctionRecord> {
    const fn = await this.state.getFunction(ref.name);
    if (!fn) throw functionNotFound(functionArn(this.account, ref.name, ref.qualifier));
    return fn;
  }

  /** The version a reference names: $LATEST when unqualified, an alias's primary version for an alias. */
  async getVersion(ref: FunctionRef): Promise<FunctionVersion> {
    const target = await this.resolveTarget(ref);
    const v = await this.state.getVersion(ref.name, target.alias ? target.alias.functionVersion : (ref.qualifier ?? LATEST));
    if (!v) throw functionNotFound(functionArn(this.account, ref.name, ref.qualifier));
    return v;
  }

  /** What a qualifier names: a version, or an alias (with its routing). */
  async resolveTarget(ref: FunctionRef): Promise<{ alias?: AliasRecord }> {
    if (ref.qualifier === undefined || !isAliasName(ref.qualifier)) return {};
    const alias = await this.state.getAlias(ref.name, ref.qualifier);
    if (!alias) throw functionNotFound(functionArn(this.account, ref.name, ref.qualifier));
    return { alias };
  }

  async getVersionNumber(name: string, version: string): Promise<FunctionVersion | undefined> {
    return this.state.getVersion(name, version);
  }

  // --- ListVersionsByFunction ---

  async listVersions(rawName: string, opts: { marker?: string; maxItems?: string }): Promise<{ versions: FunctionVersion[]; nextMarker?: string }> {
    const ref = this.resolveRef(rawName, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    await this.requireFunction(ref);
    const all = await this.state.listVersions(ref.name);
    const key = (v: FunctionVersion) => (v.version === LATEST ? '' : v.version.padStart(12, '0'));
    const page = paginate(all, key, opts.marker, opts.maxItems);
    return page.nextMarker ? { versions: page.aliases, nextMarker: page.nextMarker } : { versions: page.aliases };
  }

  // --- PublishVersion (the API call) ---

  async publishVersion(rawName: string, body: Json): Promise<FunctionVersion> {
    const ref = this.resolveRef(rawName, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    const p = new Problems();
    const codeSha256 = checkString(p, body.CodeSha256, 'codeSha256', {});
    const description = checkString(p, body.Description, 'description', { max: limits.DESCRIPTION_MAX_CHARS });
    const revisionId = checkString(p, body.RevisionId, 'revisionId', {});
    p.throwIfAny();
    await this.requireFunction(ref);
    return this.publish(ref.name, {
      ...(codeSha256 !== undefined ? { codeSha256 } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(revisionId !== undefined ? { revisionId } : {}),
    });
  }

  async functionExists(name: string): Promise<boolean> {
    return (await this.state.getFunction(name)) !== undefined;
  }

  async getFunctionRecord(ref: FunctionRef): Promise<FunctionRecord> {
    return this.requireFunction(ref);
  }

  // --- CreateFunction ---

  async createFunction(body: Json): Promise<FunctionVersion> {
    const p = new Problems();
    const rawName = checkString(p, body.FunctionName, 'functionName', { ...S.FUNCTION_NAME_CREATE, required: true });
    const role = checkString(p, body.Role, 'role', { ...S.ROLE, required: true });
    const runtime = checkString(p, body.Runtime, 'runtime', {});
    const handler = checkString(p, body.Handler, 'handler', S.HANDLER);
    const packageType = checkString(p, body.PackageType, 'packageType', { enumValues: S.PACKAGE_TYPES });
    const code = checkObject(body.Code, 'code');
    if (!code) p.add(undefined, 'code', 'Member must not be null');
    const settings = this.checkSettings(p, body);
    const publish = checkBool(body.Publish, 'publish');
    const tags = checkStringMap(body.Tags, 'tags');
    p.throwIfAny();
    const sandboxTags = tags ? sandboxTagsProblem(tags) : undefined;
    if (sandboxTags !== undefined) throw invalidParameterValue(sandboxTags);

    if (packageType === 'Image') {
      throw invalidParameterValue('Kindling runs Zip packages only: PackageType Image is not supported.');
    }
    if (!runtime || !handler) {
      throw invalidParameterValue('Runtime and Handler are mandatory parameters for functions created with deployment packages.');
    }
    requireSupportedRuntime(runtime);
    const name = parseFunctionRef(rawName!);
    if (!name) throw invalidParameterValue(`Invalid function name: ${rawName}`);
    if (name.name.length > limits.FUNCTION_NAME_MAX_CHARS) {
      // Lambda reports the bare-name length as a parameter error, in validation wording.
      throw invalidParameterValue(
        `1 validation error detected: Value '${name.name}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to ${limits.FUNCTION_NAME_MAX_CHARS}`,
      );
    }
    if (name.qualifier !== undefined) {
      throw invalidParameterValue('Unsupported function name: a function name cannot carry a qualifier when it is created.');
    }
    if (name.region !== undefined && name.region !== this.account.region) {
      throw resourceNotFound(`Functions from '${name.region}' are not reachable in this region ('${this.account.region}')`);
    }
    this.checkEnvironment(settings.environment);
    const layerCode = await this.resolveLayers(settings.layers ?? []);
    const stored = await this.storeZip(code!);
    this.checkCombinedSize(stored.unzippedSize, layerCode);

    const now = lambdaTimestamp();
    const latest: FunctionVersion = {
      functionName: name.name,
      version: LATEST,
      description: settings.description ?? '',
      runtime,
      role: role!,
      handler,
      timeout: settings.timeout ?? limits.TIMEOUT_DEFAULT_SECONDS,
      memorySize: settings.memorySize ?? limits.MEMORY_DEFAULT_MB,
      ...(settings.environment !== undefined ? { environment: settings.environment } : {}),
      ephemeralStorageMb: settings.ephemeralStorageMb ?? limits.EPHEMERAL_STORAGE_DEFAULT_MB,
      architectures: settings.architectures ?? ['x86_64'],
      tracingMode: settings.tracingMode ?? 'PassThrough',
      logging: {
        logFormat: settings.logging?.logFormat ?? 'Text',
        logGroup: settings.logging?.logGroup ?? `/aws/lambda/${name.name}`,
        ...(settings.logging?.applicationLogLevel ? { applicationLogLevel: settings.logging.applicationLogLevel } : {}),
        ...(settings.logging?.systemLogLevel ? { systemLogLevel: settings.logging.systemLogLevel } : {}),
      },
      codeSha256: stored.sha256Base64,
      codeSize: stored.size,
      unzippedSize: stored.unzippedSize,
      packageType: 'Zip',
      layers: settings.layers ?? [],
      ...(layerCode.length > 0 ? { layerCode } : {}),
      ...(settings.deadLetterTargetArn ? { deadLetterTargetArn: settings.deadLetterTargetArn } : {}),
      ...(settings.kmsKeyArn ? { kmsKeyArn: settings.kmsKeyArn } : {}),
      lastModified: now,
      revisionId: randomUUID(),
      state: 'Active',
      lastUpdateStatus: 'Successful',
    };
    const fn: FunctionRecord = { functionName: name.name, createdAt: now, lastVersion: 0, tags: tags ?? {} };
    if (!(await this.state.createFunction(fn, latest))) {
      throw resourceConflict(`Function already exist: ${name.name}`);
    }
    this.emit('change', { kind: 'created', functionName: name.name, version: LATEST });
    this.emit('prepare', { fn: latest, zip: stored.zip });
    if (publish) return this.publish(fn.functionName, {});
    return latest;
  }

  // --- UpdateFunctionConfiguration ---

  async updateFunctionConfiguration(rawName: string, body: Json): Promise<FunctionVersion> {
    const ref = this.resolveRef(rawName, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    const p = new Problems();
    const role = checkString(p, body.Role, 'role', S.ROLE);
    const runtime = checkString(p, body.Runtime, 'runtime', {});
    const handler = checkString(p, body.Handler, 'handler', S.HANDLER);
    const revisionId = checkString(p, body.RevisionId, 'revisionId', {});
    const settings = this.checkSettings(p, body);
    p.throwIfAny();
    if (runtime !== undefined) requireSupportedRuntime(runtime);
    this.checkEnvironment(settings.environment);
    let layerCode: LayerCode[] | undefined;
    if (settings.layers !== undefined) {
      await this.requireFunction(ref);
      layerCode = await this.resolveLayers(settings.layers);
      const current = await this.state.getVersion(ref.name, LATEST);
      if (current) this.checkCombinedSize(await this.unzippedSizeOf(current), layerCode);
    }

    const committed = (next: FunctionVersion) => this.emit('prepare', { fn: next });
    return this.mutateLatest(ref, revisionId, (v) => {
      const next: FunctionVersion = { ...v };
      if (role !== undefined) next.role = role;
      if (runtime !== undefined) next.runtime = runtime;
      if (handler !== undefined) next.handler = handler;
      if (settings.description !== undefined) next.description = settings.description;
      if (settings.timeout !== undefined) next.timeout = settings.timeout;
      if (settings.memorySize !== undefined) next.memorySize = settings.memorySize;
      if (settings.environment !== undefined) next.environment = settings.environment;
      if (settings.ephemeralStorageMb !== undefined) next.ephemeralStorageMb = settings.ephemeralStorageMb;
      if (settings.tracingMode !== undefined) next.tracingMode = settings.tracingMode;
      if (settings.layers !== undefined) {
        next.layers = settings.layers;
        if (layerCode && layerCode.length > 0) next.layerCode = layerCode;
        else delete next.layerCode;
      }
      if (settings.kmsKeyArn !== undefined) {
        if (settings.kmsKeyArn === '') delete next.kmsKeyArn;
        else next.kmsKeyArn = settings.kmsKeyArn;
      }
      if (settings.deadLetterTargetArn !== undefined) {
        if (settings.deadLetterTargetArn === '') delete next.deadLetterTargetArn;
        else next.deadLetterTargetArn = settings.deadLetterTargetArn;
      }
      if (settings.logging !== undefined) next.logging = { ...v.logging, ...settings.logging } as FunctionVersion['logging'];
      return next;
    }, { committed });
  }

  // --- UpdateFunctionCode ---

  async updateFunctionCode(rawName: string, body: Json): Promise<FunctionVersion> {
    const ref = this.resolveRef(rawName, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    const p = new Problems();
    const revisionId = checkString(p, body.RevisionId, 'revisionId', {});
    const publish = checkBool(body.Publish, 'publish');
    const architectures = checkStringList(p, body.Architectures, 'architectures', {
      enumValues: S.ARCHITECTURES,
      maxItems: 1,
    }) as FunctionVersion['architectures'] | undefined;
    checkBool(body.DryRun, 'dryRun');
    p.throwIfAny();
    await this.requireFunction(ref);
    const stored = await this.storeZip(body);
    const current = await this.state.getVersion(ref.name, LATEST);
    if (current) this.checkCombinedSize(stored.unzippedSize, current.layerCode ?? []);
    const updated = await this.mutateLatest(
      ref,
      revisionId,
      (v) => ({
        ...v,
        codeSha256: stored.sha256Base64,
        codeSize: stored.size,
        unzippedSize: stored.unzippedSize,
        ...(architectures ? { architectures } : {}),
      }),
      { committed: (next) => this.emit('prepare', { fn: next, zip: stored.zip }) },
    );
    if (publish) return this.publish(ref.name, {});
    return updated;
  }

  /** Gives $LATEST a new RevisionId, as Lambda does when tags change or a version is published. */
  async touchLatest(name: string): Promise<void> {
    await this.mutateLatest({ name }, undefined, (v) => v, { keepLastModified: true });
  }

  /** Read-modify-write of $LATEST, with Lambda's RevisionId precondition. */
  private async mutateLatest(
    ref: FunctionRef,
    expectedRevision: string | undefined,
    change: (v: FunctionVersion) => FunctionVersion,
    opts: { keepLastModified?: boolean; committed?: (next: FunctionVersion) => void } = {},
  ): Promise<FunctionVersion> {
    if (ref.qualifier !== undefined && ref.qualifier !== LATEST) {
      throw invalidParameterValue('Only $LATEST can be changed: published versions are immutable.');
    }
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.state.getVersion(ref.name, LATEST);
      if (!current) throw functionNotFound(functionArn(this.account, ref.name));
      if (expectedRevision !== undefined && expectedRevision !== current.revisionId) throw revisionIdMismatch();
      const next = { ...change(current), lastModified: opts.keepLastModified ? current.lastModified : lambdaTimestamp(), revisionId: randomUUID() };
      if (await this.state.putVersion(next, current.revisionId)) {
        this.emit('change', { kind: opts.keepLastModified ? 'configured' : 'updated', functionName: ref.name, version: LATEST });
        // Before the old package is collected: preparing the new one need not wait for that.
        opts.committed?.(next);
        await this.collectVersionCode(current);
        return next;
      }
    }
    throw serviceException('The function was changed by too many concurrent requests; try again.');
  }

  // --- PublishVersion ---

  async publish(name: string, opts: { codeSha256?: string; description?: string; revisionId?: string }): Promise<FunctionVersion> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const fn = await this.state.getFunction(name);
      const latest = await this.state.getVersion(name, LATEST);
      if (!fn || !latest) throw functionNotFound(functionArn(this.account, name));
      if (opts.revisionId !== undefined && opts.revisionId !== latest.revisionId) throw revisionIdMismatch();
      if (opts.codeSha256 !== undefined && opts.codeSha256 !== latest.codeSha256) {
        throw invalidParameterValue(
          `CodeSHA256 (${opts.codeSha256}) is different from current CodeSHA256 in $LATEST (${latest.codeSha256}). Please try again with the CodeSHA256 in $LATEST.`,
        );
      }
      // Lambda publishes nothing new when $LATEST equals the newest version.
      if (fn.lastVersion > 0) {
        const newest = await this.state.getVersion(name, String(fn.lastVersion));
        if (newest && sameContent(newest, latest)) return newest;
      }
      const number = fn.lastVersion + 1;
      const version: FunctionVersion = {
        ...latest,
        version: String(number),
        description: opts.description ?? latest.description,
        revisionId: randomUUID(),
        lastModified: lambdaTimestamp(),
      };
      if (await this.state.publishVersion({ ...fn, lastVersion: number }, version)) {
        this.emit('change', { kind: 'created', functionName: name, version: version.version });
        await this.touchLatest(name);
        return version;
      }
    }
    throw serviceException('The function was changed by too many concurrent requests; try again.');
  }

  // --- DeleteFunction ---

  async deleteFunction(rawName: string, qualifier: string | undefined): Promise<void> {
    const ref = this.resolveRef(rawName, qualifier);
    await this.requireFunction(ref);
    if (ref.qualifier !== undefined && isAliasName(ref.qualifier)) {
      throw invalidParameterValue('Deletion of aliases is not currently supported.');
    }
    if (ref.qualifier !== undefined && ref.qualifier !== LATEST) {
      const v = await this.getVersion(ref);
      const pointing = (await this.state.listAliases(ref.name)).filter(
        (a) => a.functionVersion === v.version || a.additionalVersionWeights?.[v.version] !== undefined,
      );
      if (pointing.length > 0) {
        throw resourceConflict(
          `Unable to delete version because the following aliases reference it: [${pointing.map((a) => a.name).join(', ')}]`,
        );
      }
      await this.state.deleteVersion(ref.name, v.version);
      this.emit('change', { kind: 'deleted', functionName: ref.name, version: v.version });
      await this.collectVersionCode(v);
      return;
    }
    if (ref.qualifier === LATEST) {
      throw invalidParameterValue('$LATEST version cannot be deleted without deleting the function.');
    }
    const versions = await this.state.listVersions(ref.name);
    await this.state.deleteFunction(ref.name);
    for (const v of versions) this.emit('change', { kind: 'deleted', functionName: ref.name, version: v.version });
    for (const sha of new Set(versions.flatMap((v) => [v.codeSha256, ...(v.layerCode ?? []).map((l) => l.codeSha256)]))) {
      await this.collectCode(sha);
    }
  }

  // --- ListFunctions ---

  async listFunctions(opts: { marker?: string; maxItems?: string; functionVersion?: string; masterRegion?: string }): Promise<{
    functions: FunctionVersion[];
    nextMarker?: string;
  }> {
    const p = new Problems();
    let maxItems = limits.LIST_MAX_ITEMS;
    if (opts.maxItems !== undefined) {
      const n = Number(opts.maxItems);
      if (!/^-?\d+$/.test(opts.maxItems)) {
        throw invalidParameterValue(`Invalid value for MaxItems: ${opts.maxItems}`);
      }
      checkInt(p, n, 'maxItems', { min: 1, max: 10000 });
      maxItems = Math.min(n, limits.LIST_MAX_ITEMS);
    }
    checkString(p, opts.functionVersion, 'functionVersion', { enumValues: S.FUNCTION_VERSION_LIST });
    p.throwIfAny();
    let after: { functionName: string; version: string } | undefined;
    if (opts.marker !== undefined && opts.marker !== '') after = decodeMarker(opts.marker);
    const page = await this.state.listFunctionVersions({
      ...(after ? { after } : {}),
      limit: maxItems + 1,
      allVersions: opts.functionVersion === 'ALL',
    });
    const functions = page.slice(0, maxItems);
    const last = functions[functions.length - 1];
    return page.length > maxItems && last ? { functions, nextMarker: encodeMarker(last) } : { functions };
  }

  // --- GetAccountSettings ---

  async accountSettings(): Promise<Json> {
    const usage = await this.state.usage();
    const reserved = (await this.state.listReservations()).reduce((sum, r) => sum + r.reserved, 0);
    const provisioned = (await this.provisionedUnreserved?.()) ?? 0;
    return {
      AccountLimit: {
        TotalCodeSize: limits.CODE_STORAGE_MAX_BYTES,
        CodeSizeUnzipped: limits.UNZIPPED_MAX_BYTES,
        CodeSizeZipped: limits.ZIP_MAX_BYTES,
        ConcurrentExecutions: this.accountConcurrency,
        UnreservedConcurrentExecutions: this.accountConcurrency - reserved - provisioned,
      },
      AccountUsage: { TotalCodeSize: usage.totalCodeSize, FunctionCount: usage.functionCount },
    };
  }

  // --- code ---

  /** The zip of a version, for GetFunction's Code.Location. */
  codeKey(v: FunctionVersion): string {
    return base64ToHex(v.codeSha256);
  }

  /** Validates and stores a Code / Content member's inline zip (functions and layers). */
  async storeZip(code: Json): Promise<{ sha256Hex: string; sha256Base64: string; size: number; unzippedSize: number; zip: Buffer }> {
    if (code.S3Bucket !== undefined || code.S3Key !== undefined || code.ImageUri !== undefined) {
      throw invalidParameterValue('Kindling takes the deployment package inline: send it as Code.ZipFile.');
    }
    const p = new Problems();
    const zipB64 = checkString(p, code.ZipFile, 'zipFile', {});
    p.throwIfAny();
    if (zipB64 === undefined || zipB64 === '') {
      throw invalidParameterValue('Please provide a source for function code.');
    }
    const zip = Buffer.from(zipB64, 'base64');
    if (zip.length > limits.ZIP_MAX_BYTES) {
      throw new LambdaError(
        'RequestEntityTooLargeException',
        413,
        `Zipped size must be smaller than ${limits.ZIP_MAX_BYTES} bytes`,
      );
    }
    let summary;
    try {
      summary = await inspectZip(zip);
    } catch {
      throw invalidParameterValue('Could not unzip uploaded file. Please check your file, then try to upload again.');
    }
    if (summary.unzippedSize > limits.UNZIPPED_MAX_BYTES) {
      throw invalidParameterValue(`Unzipped size must be smaller than ${limits.UNZIPPED_MAX_BYTES} bytes`);
    }
    if (zip.length <= EARLY_PREPARE_MAX_BYTES) this.emit('package', { sha256Hex: createHash('sha256').update(zip).digest('hex'), zip });
    return { ...(await this.code.put(zip)), unzippedSize: summary.unzippedSize, zip };
  }

  /** Removes a package from the code store (layers call this once nothing uses it). */
  async deleteCode(sha256Hex: string): Promise<void> {
    await this.code.delete(sha256Hex);
  }

  /** Deletes a package no version refers to any more. */
  private async collectCode(codeSha256: string): Promise<void> {
    if (await this.state.isCodeReferenced(codeSha256)) return;
    if (this.layerResolver && (await this.layerResolver.codeInUse(codeSha256))) return;
    await this.code.delete(base64ToHex(codeSha256));
  }

  /** Collects a replaced or deleted version's package and its layers' packages. */
  private async collectVersionCode(v: FunctionVersion): Promise<void> {
    for (const sha of new Set([v.codeSha256, ...(v.layerCode ?? []).map((l) => l.codeSha256)])) await this.collectCode(sha);
  }

  // --- shared settings of CreateFunction and UpdateFunctionConfiguration ---

  private checkSettings(p: Problems, body: Json) {
    const description = checkString(p, body.Description, 'description', { max: limits.DESCRIPTION_MAX_CHARS });
    const timeout = checkInt(p, body.Timeout, 'timeout', { min: limits.TIMEOUT_MIN_SECONDS, max: limits.TIMEOUT_MAX_SECONDS });
    const memorySize = checkInt(p, body.MemorySize, 'memorySize', { min: limits.MEMORY_MIN_MB, max: limits.MEMORY_MAX_MB });
    const env = checkObject(body.Environment, 'environment');
    const environment = env ? (checkStringMap(env.Variables, 'environment.variables') ?? {}) : undefined;
    if (environment && Object.keys(environment).some((key) => !S.ENV_KEY.pattern.test(key))) {
      // Variables are sensitive in Lambda's model: its validator names the map's key rule, not the value.
      p.list.push(
        `Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: ${S.ENV_KEY.patternText}]`,
      );
    }
    const eph = checkObject(body.EphemeralStorage, 'ephemeralStorage');
    const ephemeralStorageMb = eph
      ? checkInt(p, eph.Size, 'ephemeralStorage.size', {
          min: limits.EPHEMERAL_STORAGE_MIN_MB,
          max: limits.EPHEMERAL_STORAGE_MAX_MB,
          required: true,
        })
      : undefined;
    const architectures = checkStringList(p, body.Architectures, 'architectures', {
      enumValues: S.ARCHITECTURES,
      maxItems: 1,
    }) as FunctionVersion['architectures'] | undefined;
    const tracing = checkObject(body.TracingConfig, 'tracingConfig');
    const tracingMode = tracing
      ? (checkString(p, tracing.Mode, 'tracingConfig.mode', { enumValues: S.TRACING_MODES }) as FunctionVersion['tracingMode'] | undefined)
      : undefined;
    const layers = checkLayerArns(p, body.Layers);
    if (layers && layers.length > limits.LAYERS_MAX) {
      throw invalidParameterValue(`Cannot reference more than ${limits.LAYERS_MAX} layers.`);
    }
    const kmsKeyArn = checkString(p, body.KMSKeyArn, 'kMSKeyArn', S.KMS_KEY_ARN);
    const dlq = checkObject(body.DeadLetterConfig, 'deadLetterConfig');
    const deadLetterTargetArn = dlq ? checkString(p, dlq.TargetArn, 'deadLetterConfig.targetArn', S.DLQ_TARGET_ARN) : undefined;
    const lc = checkObject(body.LoggingConfig, 'loggingConfig');
    let logging: Partial<FunctionVersion['logging']> | undefined;
    if (lc) {
      logging = {};
      const logFormat = checkString(p, lc.LogFormat, 'loggingConfig.logFormat', { enumValues: S.LOG_FORMATS });
      const app = checkString(p, lc.ApplicationLogLevel, 'loggingConfig.applicationLogLevel', { enumValues: S.APPLICATION_LOG_LEVELS });
      const sys = checkString(p, lc.SystemLogLevel, 'loggingConfig.systemLogLevel', { enumValues: S.SYSTEM_LOG_LEVELS });
      const group = checkString(p, lc.LogGroup, 'loggingConfig.logGroup', { min: 1, max: 512, pattern: /^[.\-_/#A-Za-z0-9]+$/, patternText: '[\\.\\-_/#A-Za-z0-9]+' });
      if (logFormat) logging.logFormat = logFormat as 'Text' | 'JSON';
      if (app) logging.applicationLogLevel = app;
      if (sys) logging.systemLogLevel = sys;
      if (group) logging.logGroup = group;
    }
    checkObject(body.VpcConfig, 'vpcConfig');
    return {
      description,
      timeout,
      memorySize,
      environment,
      ephemeralStorageMb,
      architectures,
      tracingMode,
      layers,
      kmsKeyArn,
      deadLetterTargetArn,
      logging,
    };
  }

  private checkEnvironment(env: Record<string, string> | undefined): void {
    if (!env) return;
    const reserved = Object.keys(env).filter((k) => S.RESERVED_ENV_KEYS.includes(k));
    if (reserved.length > 0) {
      throw invalidParameterValue(
        `Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
      );
    }
    const measured = JSON.stringify(env);
    if (Buffer.byteLength(measured) > limits.ENVIRONMENT_MAX_BYTES) {
      throw invalidParameterValue(
        `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured}`,
      );
    }
  }
}

const sameContent = (a: FunctionVersion, b: FunctionVersion): boolean => {
  const strip = ({ version: _v, revisionId: _r, lastModified: _l, description: _d, ...rest }: FunctionVersion) => rest;
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
};

const encodeMarker = (v: FunctionVersion): string =>
  Buffer.from(JSON.stringify([v.functionName, v.version])).toString('base64url');

function decodeMarker(marker: string): { functionName: string; version: string } {
  try {
    const [functionName, version] = JSON.parse(Buffer.from(marker, 'base64url').toString('utf8')) as unknown[];
    if (typeof functionName === 'string' && typeof version === 'string') return { functionName, version };
  } catch {
    // fall through
  }
  throw invalidParameterValue(`Invalid marker: ${marker}`);
}
