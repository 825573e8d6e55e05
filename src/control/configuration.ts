// Renders stored records as Lambda's FunctionConfiguration JSON.
import type { Account } from './arn.js';
import { functionArn, versionArn } from './arn.js';
import type { FunctionVersion } from './model.js';

export interface RenderOptions {
  /** ListFunctions leaves out the state fields (Lambda: use GetFunction for them). */
  forList?: boolean;
  /** ListFunctions with FunctionVersion=ALL shows `...:function:NAME:$LATEST`. */
  qualifyLatest?: boolean;
  /** Read through an alias: Lambda shows the alias ARN with the version's configuration. */
  alias?: string;
  /** Shows the just-accepted change as Lambda's immediate response does. */
  transition?: 'creating' | 'updating';
}

export function renderConfiguration(acct: Account, v: FunctionVersion, opts: RenderOptions = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {
    FunctionName: v.functionName,
    // A listing of every version qualifies $LATEST too; elsewhere it stays bare.
    FunctionArn: opts.alias
      ? functionArn(acct, v.functionName, opts.alias)
      : opts.qualifyLatest
        ? functionArn(acct, v.functionName, v.version)
        : versionArn(acct, v.functionName, v.version),
    Runtime: v.runtime,
    Role: v.role,
    Handler: v.handler,
    CodeSize: v.codeSize,
    Description: v.description,
    Timeout: v.timeout,
    MemorySize: v.memorySize,
    LastModified: v.lastModified,
    CodeSha256: v.codeSha256,
    Version: v.version,
  };
  if (v.environment !== undefined) out.Environment = { Variables: { ...v.environment } };
  if (v.kmsKeyArn) out.KMSKeyArn = v.kmsKeyArn;
  if (v.deadLetterTargetArn) out.DeadLetterConfig = { TargetArn: v.deadLetterTargetArn };
  out.TracingConfig = { Mode: v.tracingMode };
  out.RevisionId = v.revisionId;
  if (v.layers.length > 0) {
    out.Layers = v.layers.map((arn) => ({ Arn: arn, CodeSize: v.layerCode?.find((l) => l.arn === arn)?.codeSize ?? 0 }));
  }
  if (!opts.forList) {
    if (opts.transition === 'creating') {
      out.State = 'Pending';
      out.StateReason = 'The function is being created.';
      out.StateReasonCode = 'Creating';
    } else {
      out.State = v.state;
    }
    // Lambda's immediate Create response has no LastUpdateStatus yet.
    if (opts.transition === 'updating') {
      out.LastUpdateStatus = 'InProgress';
      out.LastUpdateStatusReason = 'The function is being created.';
      out.LastUpdateStatusReasonCode = 'Creating';
    } else if (opts.transition !== 'creating') {
      out.LastUpdateStatus = v.lastUpdateStatus;
    }
  }
  out.PackageType = v.packageType;
  out.Architectures = [...v.architectures];
  out.EphemeralStorage = { Size: v.ephemeralStorageMb };
  out.SnapStart = { ApplyOn: 'None', OptimizationStatus: 'Off' };
  if (!opts.forList) {
    out.RuntimeVersionConfig = {
      RuntimeVersionArn: `arn:aws:lambda:${acct.region}::runtime:kindling-${v.runtime}`,
    };
  }
  const logging: Record<string, unknown> = { LogFormat: v.logging.logFormat, LogGroup: v.logging.logGroup };
  if (v.logging.applicationLogLevel) logging.ApplicationLogLevel = v.logging.applicationLogLevel;
  if (v.logging.systemLogLevel) logging.SystemLogLevel = v.logging.systemLogLevel;
  out.LoggingConfig = logging;
  return out;
}

/** Lambda's LastModified format: 2024-01-31T12:00:00.000+0000. */
export const lambdaTimestamp = (d: Date = new Date()): string => d.toISOString().replace('Z', '+0000');
