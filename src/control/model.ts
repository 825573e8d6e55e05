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
  deadLetterTargetArn?: string;
  kmsKeyArn?: string;
  /** Lambda's timestamp format: 2024-01-31T12:00:00.000+0000 */
  lastModified: string;
  revisionId: string;
  state: 'Pending' | 'Active' | 'Inactive' | 'Failed';
  lastUpdateStatus: 'Successful' | 'InProgress' | 'Failed';
}

/** Function-wide settings, shared by all its versions. */
export interface FunctionRecord {
  functionName: string;
  createdAt: string;
  /** The last version number handed out; numbers are never reused. */
  lastVersion: number;
  tags: Record<string, string>;
  reservedConcurrency?: number;
}

export const LATEST = '$LATEST';
