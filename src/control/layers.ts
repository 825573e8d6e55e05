// Lambda layers: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers,
// ListLayerVersions, DeleteLayerVersion, and the resolution of a function's
// Layers (existence, one version per layer, the combined unzipped size).
// Layer zips live in the code store beside function packages.
import { invalidParameterValue, resourceNotFound } from '../errors.js';
import * as limits from '../limits.js';
import type { Account } from './arn.js';
import { lambdaTimestamp } from './configuration.js';
import type { LayerCode } from './model.js';
import { checkObject, checkString, Problems } from './validate.js';

export interface LayerVersionRecord {
  layerName: string;
  version: number;
  description: string;
  licenseInfo?: string;
  compatibleRuntimes: string[];
  compatibleArchitectures: string[];
  /** base64 SHA-256 of the zip, as Lambda shows it. */
  codeSha256: string;
  codeSize: number;
  unzippedSize: number;
  /** Lambda's timestamp format: 2024-01-31T12:00:00.000+0000 */
  createdDate: string;
}

export interface LayerStore {
  /** Hands out the layer's next version number (never reused) and stores what `build` makes of it. */
  publish(layerName: string, build: (version: number) => LayerVersionRecord): Promise<LayerVersionRecord>;
  get(layerName: string, version: number): Promise<LayerVersionRecord | undefined>;
  /** Newest first. */
  listVersions(layerName: string): Promise<LayerVersionRecord[]>;
  /** Names of layers with at least one version, in order. */
  listLayerNames(): Promise<string[]>;
  /** The deleted record, or undefined when there was none. */
  delete(layerName: string, version: number): Promise<LayerVersionRecord | undefined>;
  /** True when a layer version or any function version (own code or layers) uses this package. */
  isCodeReferenced(codeSha256: string): Promise<boolean>;
}

/** What the control plane stores a package with (ControlPlane.storeZip). */
export interface PackageStorer {
  storeZip(code: Record<string, unknown>): Promise<{ sha256Base64: string; sha256Hex: string; size: number; unzippedSize: number }>;
  deleteCode(sha256Hex: string): Promise<void>;
}

type Json = Record<string, unknown>;

// Lambda's enums, in the order its validator prints them.
export const LAYER_PUBLISH_RUNTIMES = [
  'nodejs20.x', 'python3.14', 'provided.al2023', 'python3.12', 'python3.13', 'nodejs24.x', 'nodejs22.x', 'java25', 'python3.10',
  'python3.11', 'java21', 'ruby3.3', 'ruby3.4', 'ruby3.2', 'python3.8', 'python3.9', 'java17', 'nodejs16.x', 'dotnet10', 'dotnet8',
  'java11', 'dotnet6', 'nodejs18.x', 'provided.al2', 'java8.al2',
] as const;
export const LAYER_LIST_RUNTIMES = [
  'ruby3.5', 'ruby2.6', 'dotnetcore1.0', 'python3.7', 'nodejs8.10', 'nasa', 'ruby2.7', 'python2.7-greengrass', 'dotnetcore2.0',
  'python3.8', 'java21', 'dotnet6', 'dotnetcore2.1', 'python3.9', 'java11', 'nodejs6.10', 'provided', 'dotnetcore3.1', 'dotnet8',
  'java25', 'java17', 'nodejs', 'nodejs4.3', 'java8.al2', 'go1.x', 'dotnet10', 'nodejs20.x', 'go1.9', 'byol', 'nodejs10.x',
  'provided.al2023', 'nodejs22.x', 'python3.10', 'java8', 'nodejs12.x', 'python3.11', 'nodejs24.x', 'nodejs8.x', 'python3.12',
  'nodejs14.x', 'nodejs8.9', 'nodejs26.x', 'python3.13', 'python3.14', 'nodejs16.x', 'python3.15', 'provided.al2', 'nodejs4.3-edge',
  'nodejs18.x', 'ruby3.2', 'python3.4', 'ruby3.3', 'ruby3.4', 'ruby2.5', 'python3.6', 'python2.7',
] as const;
const ARCHITECTURES = ['x86_64', 'arm64'] as const;

const LAYER_NAME_RULE = {
  pattern: /^(?:(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+)$/,
  patternText: '(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+',
  min: 1,
  max: 140,
};
const LAYER_VERSION_ARN_TEXT =
  '(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)';
const LAYER_VERSION_ARN = new RegExp(`^(?:${LAYER_VERSION_ARN_TEXT})$`);
const PARSE_VERSION_ARN = /^arn:[a-zA-Z-]+:lambda:([a-z0-9-]+):(\d{12}):layer:([a-zA-Z0-9-_]+):(\d+)$/;

export const layerArn = (acct: Account, name: string): string => `arn:aws:lambda:${acct.region}:${acct.accountId}:layer:${name}`;
export const layerVersionArn = (acct: Account, name: string, version: number): string => `${layerArn(acct, name)}:${version}`;

const notFound = () => resourceNotFound('The resource you requested does not exist.');

/** Validates a function's Layers member (CreateFunction, UpdateFunctionConfiguration) as Lambda prints it. */
export function checkLayerArns(p: Problems, value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  const bad = list.some((arn) => typeof arn !== 'string' || arn.length < 1 || arn.length > 2048 || !LAYER_VERSION_ARN.test(arn));
  if (bad) {
    p.add(
      list,
      'layers',
      `Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: ${LAYER_VERSION_ARN_TEXT}, Member must not be null]`,
    );
  }
  return list as string[];
}

function enumList(p: Problems, value: unknown, field: string, allowed: readonly string[], maxItems: number, wrapped: boolean): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidParameterValue(`${field} must be a list.`);
  const items = value.map(String);
  if (items.length > maxItems) p.add(items, field, `Member must have length less than or equal to ${maxItems}`);
  if (items.some((v) => !allowed.includes(v))) {
    const set = `Member must satisfy enum value set: [${allowed.join(', ')}]`;
    p.add(items, field, wrapped ? `Member must satisfy constraint: [${set}, Member must not be null]` : set);
  }
  return items;
}

export class Layers {
  constructor(
    private readonly account: Account,
    private readonly store: LayerStore,
    private readonly packages: PackageStorer,
  ) {}

  /** The bare layer name from a LayerName path member (a name or an unversioned layer ARN). */
  private layerName(raw: string): string {
    const p = new Problems();
    checkString(p, raw, 'layerName', LAYER_NAME_RULE);
    p.throwIfAny();
    const m = /:layer:([a-zA-Z0-9-_]+)$/.exec(raw);
    return m ? m[1]! : raw;
  }

  private versionNumber(raw: string): number {
    if (!/^-?\d+$/.test(raw)) throw invalidParameterValue(`Invalid layer version number: ${raw}`);
    const n = Number(raw);
    if (n < 1) throw invalidParameterValue('Layer Version Cannot be less than 1');
    return n;
  }

  async publish(rawName: string, body: Json): Promise<LayerVersionRecord> {
    const name = this.layerName(rawName);
    const p = new Problems();
    const description = checkString(p, body.Description, 'description', { max: limits.DESCRIPTION_MAX_CHARS });
    const licenseInfo = checkString(p, body.LicenseInfo, 'licenseInfo', { max: 512 });
    const runtimes = enumList(p, body.CompatibleRuntimes, 'compatibleRuntimes', LAYER_PUBLISH_RUNTIMES, 15, false);
    const architectures = enumList(p, body.CompatibleArchitectures, 'compatibleArchitectures', ARCHITECTURES, 2, true);
    const content = checkObject(body.Content, 'content');
    if (!content) p.add(undefined, 'content', 'Member must not be null');
    p.throwIfAny();
    const stored = await this.packages.storeZip(content!);
    return this.store.publish(name, (version) => ({
      layerName: name,
      version,
      description: description ?? '',
      ...(licenseInfo !== undefined ? { licenseInfo } : {}),
      compatibleRuntimes: runtimes,
      compatibleArchitectures: architectures,
      codeSha256: stored.sha256Base64,
      codeSize: stored.size,
      unzippedSize: stored.unzippedSize,
      createdDate: lambdaTimestamp(),
    }));
  }

  async get(rawName: string, rawVersion: string): Promise<LayerVersionRecord> {
    const name = this.layerName(rawName);
    const version = this.versionNumber(rawVersion);
    const record = await this.store.get(name, version);
    if (!record) throw notFound();
    return record;
  }

  async getByArn(arn: string | undefined): Promise<LayerVersionRecord> {
    const p = new Problems();
    checkString(p, arn, 'arn', { required: true, min: 1, max: 140, pattern: LAYER_VERSION_ARN, patternText: LAYER_VERSION_ARN_TEXT });
    p.throwIfAny();
    const m = PARSE_VERSION_ARN.exec(arn!);
    if (!m || m[1] !== this.account.region || m[2] !== this.account.accountId) throw notFound();
    const record = await this.store.get(m[3]!, Number(m[4]));
    if (!record) throw notFound();
    return record;
  }

  async listVersions(rawName: string, opts: { compatibleRuntime?: string; compatibleArchitecture?: string; marker?: string; maxItems?: string }) {
    const name = this.layerName(rawName);
    this.checkFilters(opts);
    const versions = (await this.store.listVersions(name)).filter((v) => matches(v, opts));
    return page(versions, (v) => String(v.version), opts.marker, opts.maxItems);
  }

  async listLayers(opts: { compatibleRuntime?: string; compatibleArchitecture?: string; marker?: string; maxItems?: string }) {
    this.checkFilters(opts);
    const latest: LayerVersionRecord[] = [];
    for (const name of await this.store.listLayerNames()) {
      const v = (await this.store.listVersions(name)).find((r) => matches(r, opts));
      if (v) latest.push(v);
    }
    return page(latest, (v) => v.layerName, opts.marker, opts.maxItems);
  }

  private checkFilters(opts: { compatibleRuntime?: string; compatibleArchitecture?: string }): void {
    const p = new Problems();
    checkString(p, opts.compatibleRuntime, 'compatibleRuntime', { enumValues: LAYER_LIST_RUNTIMES });
    checkString(p, opts.compatibleArchitecture, 'compatibleArchitecture', { enumValues: ARCHITECTURES });
    p.throwIfAny();
  }

  /** Deleting a version that does not exist succeeds, as in Lambda. Functions using it keep their copy. */
  async delete(rawName: string, rawVersion: string): Promise<void> {
    const name = this.layerName(rawName);
    const version = this.versionNumber(rawVersion);
    const gone = await this.store.delete(name, version);
    if (gone && !(await this.store.isCodeReferenced(gone.codeSha256))) {
      await this.packages.deleteCode(Buffer.from(gone.codeSha256, 'base64').toString('hex'));
    }
  }

  /** Whether a package is still needed by a layer (consulted before the control plane deletes one). */
  codeInUse(codeSha256: string): Promise<boolean> {
    return this.store.isCodeReferenced(codeSha256);
  }

  /** A function's Layers, checked as Lambda checks them, with their packages. */
  async resolve(arns: string[]): Promise<LayerCode[]> {
    if (arns.length > limits.LAYERS_MAX) throw invalidParameterValue(`Cannot reference more than ${limits.LAYERS_MAX} layers.`);
    const parsed = arns.map((arn) => ({ arn, m: PARSE_VERSION_ARN.exec(arn) }));
    for (let i = 0; i < parsed.length; i++) {
      for (let j = i + 1; j < parsed.length; j++) {
        const a = parsed[i]!;
        const b = parsed[j]!;
        if (a.m && b.m && a.m[1] === b.m[1] && a.m[2] === b.m[2] && a.m[3] === b.m[3]) {
          throw invalidParameterValue(
            `Two different versions of the same layer are not allowed to be referenced in the same function. ${a.arn} and ${b.arn} are versions of the same layer.`,
          );
        }
      }
    }
    if (parsed.some(({ m }) => m && m[1] !== this.account.region)) {
      throw invalidParameterValue(`Layers are not in the same region as the function. Layers are expected to be in region ${this.account.region}.`);
    }
    const out: LayerCode[] = [];
    for (const { arn, m } of parsed) {
      const record = m && m[2] === this.account.accountId ? await this.store.get(m[3]!, Number(m[4])) : undefined;
      if (!record) throw invalidParameterValue(`Layer version ${arn} does not exist.`);
      out.push({ arn, codeSha256: record.codeSha256, codeSize: record.codeSize, unzippedSize: record.unzippedSize });
    }
    return out;
  }
}

const matches = (v: LayerVersionRecord, opts: { compatibleRuntime?: string; compatibleArchitecture?: string }): boolean =>
  (opts.compatibleRuntime === undefined || v.compatibleRuntimes.includes(opts.compatibleRuntime)) &&
  (opts.compatibleArchitecture === undefined || v.compatibleArchitectures.includes(opts.compatibleArchitecture));

function page<T>(items: T[], key: (t: T) => string, marker: string | undefined, maxItems: string | undefined): { items: T[]; nextMarker?: string } {
  const max = maxItems !== undefined && /^\d+$/.test(maxItems) ? Math.max(1, Math.min(Number(maxItems), limits.LIST_MAX_ITEMS)) : limits.LIST_MAX_ITEMS;
  let start = 0;
  if (marker) {
    const after = Buffer.from(marker, 'base64url').toString('utf8');
    start = items.findIndex((t) => key(t) === after) + 1;
  }
  const slice = items.slice(start, start + max);
  const last = slice[slice.length - 1];
  return start + max < items.length && last ? { items: slice, nextMarker: Buffer.from(key(last)).toString('base64url') } : { items: slice };
}

/** Lambda's LayerVersionsListItem / GetLayerVersion shape. */
export function renderLayerVersion(acct: Account, v: LayerVersionRecord, location?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (location !== undefined) {
    out.Content = { Location: location, CodeSha256: v.codeSha256, CodeSize: v.codeSize };
    out.LayerArn = layerArn(acct, v.layerName);
  }
  out.LayerVersionArn = layerVersionArn(acct, v.layerName, v.version);
  out.Description = v.description;
  out.CreatedDate = v.createdDate;
  out.Version = v.version;
  out.CompatibleRuntimes = [...v.compatibleRuntimes];
  if (v.licenseInfo !== undefined) out.LicenseInfo = v.licenseInfo;
  out.CompatibleArchitectures = [...v.compatibleArchitectures];
  return out;
}
