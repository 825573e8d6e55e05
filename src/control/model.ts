// The control plane's records: what Kindling keeps about a function. Field
// names follow Lambda's FunctionConfiguration, in camelCase.

export type Architecture = 'x86_64' | 'arm64';

export interface LoggingConfig {
  logFormat: 'Text' | 'JSON';
  applicationLogLevel?: string;
  systemLogLevel?: string;
  logGroup: string;
}

/** One version of a function: `$LATEST` (mutable) or a published number (immutable). */
export interface FunctionVersion {
  functionName: string;
  version: string;
  description: string;
  runtime: string;
  role: string;
  handler: string;
  timeout: number;
  memorySize: number;
  /** Undefined when the function has no Environment at all. */
  environment?: Record<string, string>;
  ephemeralStorageMb: number;
  architectures: Architecture[];
  tracingMode: 'Active' | 'PassThrough';
  logging: LoggingConfig;
  /** base64 SHA-256 of the zip, as Lambda shows it. */
  codeSha256: string;
  codeSize: number;
  packageType: 'Zip';
  layers: string[];
  /** The layers' packages as resolved when configured, in order (a deleted layer version stays usable). */
  layerCode?: LayerCode[];
  /** Bytes of the package unzipped (absent on records older than layers). */
  unzippedSize?: number;
  deadLetterTargetArn?: string;
  kmsKeyArn?: string;
  /** Lambda's timestamp format: 2024-01-31T12:00:00.000+0000 */
  lastModified: string;
  revisionId: string;
  state: 'Pending' | 'Active' | 'Inactive' | 'Failed';
  lastUpdateStatus: 'Successful' | 'InProgress' | 'Failed';
}

/** One layer version a function uses. */
export interface LayerCode {
  arn: string;
  /** base64 SHA-256 of the layer's zip. */
  codeSha256: string;
  codeSize: number;
  unzippedSize: number;
}

/** Function-wide settings, shared by all its versions. */
export interface FunctionRecord {
  functionName: string;
  createdAt: string;
  /** The last version number handed out; numbers are never reused. */
  lastVersion: number;
  tags: Record<string, string>;
  reservedConcurrency?: number;
  /** Resource-based policy per qualifier ('' for the unqualified function). */
  policies?: Record<string, { revisionId: string; statements: Record<string, unknown>[] }>;
}

/** A named pointer to a version, optionally splitting traffic with a second one. */
export interface AliasRecord {
  functionName: string;
  name: string;
  functionVersion: string;
  description: string;
  /** Additional version -> weight (0..1): the share of invokes it gets. */
  additionalVersionWeights?: Record<string, number>;
  revisionId: string;
}

export const LATEST = '$LATEST';
