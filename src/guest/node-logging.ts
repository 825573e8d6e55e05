// console.* and process.stdout/stderr of a Node.js function, as Lambda's Node.js
// runtime (LogPatch.js) patches them, written to the host as Log frames.
//
// Text format (the default): `${ISO time}\t${requestId}\t${LEVEL}\t${util.format(...)}`;
// a "\n" inside a message becomes "\r" so that one console call stays one line, one
// log record. JSON format (AWS_LAMBDA_LOG_FORMAT=JSON) and AWS_LAMBDA_LOG_LEVEL
// filtering follow the runtime too. process.stdout.write / process.stderr.write go
// out raw, cut into whole lines.
import { StringDecoder } from 'node:string_decoder';
import { format } from 'node:util';
import { LineWriter, type HostChannel } from './channel.js';
import { intoError, toFormatted } from './node-errors.js';

interface Level {
  name: string;
  priority: number;
}

const LEVELS: Record<string, Level> = {
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
};

const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const globals = globalThis as unknown as Record<symbol, unknown>;

let requestId: string | undefined;

/** The request id printed in log lines: the current (or last) invoke's; undefined during init. */
export function setRequestId(id: string): void {
  requestId = id;
  globals[REQUEST_ID_SYMBOL] = id;
}

/** Back to no invoke yet (after the Standby rehearsal's). */
export function clearRequestId(): void {
  requestId = undefined;
  delete globals[REQUEST_ID_SYMBOL];
}

type Log = (level: Level, message: unknown, params: unknown[]) => void;

/** What the console needs of the host channel. */
type LogChannel = Pick<HostChannel, 'log' | 'lineWriter'>;

const NEWLINES = /\n/g;

function textLogger(ch: LogChannel): Log {
  return (level, message, params) => {
    let line = `${new Date().toISOString()}\t${requestId}\t${level.name}\t${format(message, ...params)}`;
    if (line.includes('\n')) line = line.replace(NEWLINES, '\r');
    ch.log(line + '\n');
  };
}

const jsonErrorReplacer = (_key: string, value: unknown): unknown => {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
};

function formatJsonMessage(timestamp: string, level: Level, message: unknown, params: unknown[]): string {
  const result: Record<string, unknown> = { timestamp, level: level.name, requestId };
  if (params.length === 0) {
    result.message = message;
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch {
      result.message = format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = format(message, ...params);
  for (const param of [message, ...params]) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? 'UnknownError';
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function jsonLogger(ch: LogChannel): Log {
  return (level, message, params) => {
    let line = formatJsonMessage(new Date().toISOString(), level, message, params);
    if (line.includes('\n')) line = line.replace(NEWLINES, '\r');
    ch.log(line + '\n');
  };
}

let jsonFormat = false;

/** Lambda's structuredConsole.logError: "Uncaught Exception", "Invoke Error", ... */
export function logError(message: string, err: unknown): void {
  if (jsonFormat) console.error(intoError(err));
  else console.error(message, toFormatted(intoError(err)));
}

type Write = typeof process.stdout.write;

function rawWrite(w: LineWriter): Write {
  const decoder = new StringDecoder('utf8');
  return function write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (typeof chunk === 'string') {
      w.write(encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(chunk, encoding as BufferEncoding).toString('utf8') : chunk);
    } else if (chunk instanceof Uint8Array) {
      w.write(decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    }
    if (typeof cb === 'function') process.nextTick(cb as () => void);
    return true;
  } as Write;
}

// In parentheses: V8 compiles it when the module loads (at Standby), not at its first call during Init.
export const patchConsole = (function patchConsole(ch: LogChannel): void {
  jsonFormat = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  const log = jsonFormat ? jsonLogger(ch) : textLogger(ch);
  const min = LEVELS[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase() ?? ''] ?? LEVELS.TRACE!;
  const nop = (): void => undefined;
  const at = (level: Level) =>
    level.priority >= min.priority ? (message?: unknown, ...params: unknown[]): void => log(level, message, params) : nop;
  const c = console as unknown as Record<string, unknown>;
  c.trace = at(LEVELS.TRACE!);
  c.debug = at(LEVELS.DEBUG!);
  c.info = at(LEVELS.INFO!);
  c.log = c.info;
  c.warn = at(LEVELS.WARN!);
  c.error = at(LEVELS.ERROR!);
  c.fatal = (message?: unknown, ...params: unknown[]): void => log(LEVELS.FATAL!, message, params);

  process.stdout.write = rawWrite(ch.lineWriter());
  process.stderr.write = rawWrite(ch.lineWriter());
});

/**
 * At Standby: the console patched onto a channel that drops everything, one line
 * logged each way, then Node's own console and stdout/stderr back. Init's
 * patchConsole then runs code V8 has compiled already (~0.2 ms of a cold start).
 */
export function rehearsePatchConsole(): void {
  const c = console as unknown as Record<string, unknown>;
  const names = ['trace', 'debug', 'info', 'log', 'warn', 'error', 'fatal'] as const;
  const saved = names.map((n) => [n, c[n], Object.hasOwn(c, n)] as const);
  const writes = [process.stdout.write, process.stderr.write] as const;
  const standIn: LogChannel = { log: () => undefined, lineWriter: () => new LineWriter(standIn) };
  try {
    patchConsole(standIn);
    console.log('standby %s', 'rehearsal');
    process.stdout.write('standby\n');
  } finally {
    for (const [n, fn, own] of saved) {
      if (own) c[n] = fn;
      else delete c[n];
    }
    process.stdout.write = writes[0];
    process.stderr.write = writes[1];
    clearRequestId();
  }
}
