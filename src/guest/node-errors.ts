// Errors of the Node.js runtime, named and shaped exactly as AWS's
// aws-lambda-nodejs-runtime-interface-client (src/Errors.js) makes them.
import { types } from 'node:util';

interface ErrorLike {
  name: string;
  message: string;
  stack: string;
}

function isErrorLike(obj: unknown): obj is ErrorLike {
  const o = obj as Partial<ErrorLike> | null | undefined;
  return !!(
    o &&
    o.name &&
    o.message &&
    o.stack &&
    typeof o.name === 'string' &&
    typeof o.message === 'string' &&
    typeof o.stack === 'string'
  );
}

export function intoError(err: unknown): Error {
  return err instanceof Error ? err : new Error(err as string);
}

/** The body Lambda answers for a function error: {errorType, errorMessage, trace}. */
export interface RapidError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

export function toRapidResponse(error: unknown): RapidError {
  try {
    if (types.isNativeError(error) || isErrorLike(error)) {
      const e = error as ErrorLike;
      return {
        errorType: e.name?.replaceAll('\x7F', '%7F'),
        errorMessage: e.message?.replaceAll('\x7F', '%7F'),
        trace: e.stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: (error as { toString(): string }).toString(), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value: unknown): unknown {
  if (value instanceof Error) {
    const ret = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: (value as { code?: unknown }).code },
      value,
    ) as unknown as Record<string, unknown>;
    if (typeof value.stack === 'string') ret.stack = value.stack.split('\n');
    return ret;
  }
  return value;
}

/** An error as the Text log format prints it: a tab, then its JSON with stack as lines. */
export function toFormatted(error: unknown): string {
  try {
    return '\t' + JSON.stringify(error, (_k, v: unknown) => withEnumerableProperties(v));
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

export class ImportModuleError extends Error {}
export class HandlerNotFound extends Error {}
export class MalformedHandlerName extends Error {}
export class UserCodeSyntaxError extends Error {}
export class MalformedStreamingHandler extends Error {}
export class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
export class UnhandledPromiseRejection extends Error {
  reason: unknown;
  promise: unknown;
  constructor(reason: unknown, promise: unknown) {
    super(reason as string);
    this.reason = reason;
    this.promise = promise;
  }
}

for (const cls of [ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError, MalformedStreamingHandler, NodeJsExit, UnhandledPromiseRejection]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}
