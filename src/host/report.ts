// Lambda's platform log lines around every invoke.

export const startLine = (requestId: string, version: string): string =>
  `START RequestId: ${requestId} Version: ${version}\n`;

export const endLine = (requestId: string): string => `END RequestId: ${requestId}\n`;

export interface ReportFigures {
  requestId: string;
  durationMs: number;
  memorySizeMb: number;
  maxMemoryUsedMb: number;
  initDurationMs?: number;
  /** Set when the invoke did not end normally. */
  status?: 'timeout' | 'error';
  errorType?: string;
}

export function reportLine(r: ReportFigures): string {
  let line =
    `REPORT RequestId: ${r.requestId}\tDuration: ${r.durationMs.toFixed(2)} ms\t` +
    `Billed Duration: ${Math.max(1, Math.ceil(r.durationMs))} ms\tMemory Size: ${r.memorySizeMb} MB\t` +
    `Max Memory Used: ${r.maxMemoryUsedMb} MB\t`;
  if (r.initDurationMs !== undefined) line += `Init Duration: ${r.initDurationMs.toFixed(2)} ms\t`;
  if (r.status) line += `Status: ${r.status}\t`;
  if (r.errorType) line += `Error Type: ${r.errorType}\t`;
  return `${line}\n`;
}

/** Lambda's timestamped platform line, as the runtime writes it. */
export const platformLine = (requestId: string, message: string): string =>
  `${new Date().toISOString()} ${requestId} ${message}\n`;
