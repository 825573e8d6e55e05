// The Node.js runtime, in the agent's own process: AWS's Node.js runtime interface
// client (Runtime.js, CallbackContext.js, InvokeContext.js) with the host-guest stream
// where it has the Runtime API.
//
// Invoke semantics, as Lambda's:
// - async handlers: the response is sent when the promise settles; a promise that
//   never settles ends in Runtime.NodeJsExit once the event loop is empty (for an
//   `async function`; for other functions in a null response);
// - callback handlers: callback(err) sends the error at once; callback(null, result)
//   sends the result when the event loop is empty (context.callbackWaitsForEmptyEventLoop,
//   default true) or at once when it is set to false; context.done/succeed/fail send at
//   once; a handler that returns without calling anything answers null once the loop
//   is empty. "Empty" is measured for real: during an invoke the host stream does not
//   keep the loop alive (socket.unref()), so Node's 'beforeExit' fires exactly when the
//   function has no more pending work, as in Lambda, where the runtime has no request
//   open to the Runtime API while the handler runs.
// - uncaught exceptions and unhandled rejections: logged, reported as the invoke's
//   error (Runtime.UnhandledPromiseRejection for rejections), then the process exits
//   (129, 128) after sending Exit; during init they are the InitError.
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import type { RuntimeHandle } from './boot.js';
import type { HostChannel } from './channel.js';
import { encodeWithLogs, errorMeta, requestMeta } from './frames.js';
import { NodeJsExit, toRapidResponse, UnhandledPromiseRejection } from './node-errors.js';
import { handlerMetadata, loadHandler, warmLoader, type Handler } from './node-loader.js';
import { clearRequestId, logError, patchConsole, rehearsePatchConsole, setRequestId } from './node-logging.js';
import { installAwsLambdaGlobal, ResponseStream, type StreamChannel } from './node-streaming.js';
import { installTraceIdVariable, setTraceId } from './node-trace-id.js';
import { encodeFrame, FrameDecoder, FrameType, type InitMeta, type InvokeMeta } from './protocol.js';
import { StreamCredit } from './stream-credit.js';

/** One invoke in flight. */
interface Invocation {
  readonly id: string;
  /** One of callback/done/succeed/fail was called (only the first counts). */
  finished: boolean;
  /** A result was chosen (Lambda's isCompleteInvoked). */
  completed: boolean;
  /** The Response or Error frame is out. */
  posted: boolean;
  waitForEmpty: boolean;
  /** What to do when the event loop runs empty. */
  onEmpty: (() => void) | null;
}

/** What the runtime's invokes share: the one in flight, the last, those waiting. */
interface RuntimeState {
  /** The runtime is ending (fatal): nothing more is answered. */
  dead: boolean;
  current: Invocation | null;
  last: Invocation | null;
  queue: [InvokeMeta, Buffer][];
}

/** What the invokes answer on: the host channel, or the Standby rehearsal's stand-in. */
type InvokeChannel = StreamChannel & Pick<HostChannel, 'ref' | 'unref'>;

interface LoadedFunction {
  handler: Handler;
  isAsync: boolean;
  streaming: boolean;
  highWaterMark: number | undefined;
  env: Environment;
}

interface Environment {
  functionVersion: string | undefined;
  functionName: string | undefined;
  memoryLimitInMB: string | undefined;
  logGroupName: string | undefined;
  logStreamName: string | undefined;
}

function parseJson(text: string | undefined, name: string): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${String(err)}`);
  }
}

const isPromise = (obj: unknown): obj is PromiseLike<unknown> =>
  !!obj && typeof (obj as { then?: unknown }).then === 'function';

// Loaded at Standby in a pooled sandbox: what Init would otherwise pay for is done here.
const Module = createRequire(import.meta.url)('node:module') as { _initPaths?: () => void };

/**
 * What a pooled sandbox does while it waits for its function, none of it
 * function-specific: stdout and stderr made (their first use builds the
 * streams), and Node's ES module loader run once over a file like a handler.
 */
export async function prepareNodeRuntime(): Promise<void> {
  void process.stdout;
  void process.stderr;
  await warmLoader();
  rehearsePatchConsole();
  await rehearseInvoke();
}

/**
 * One invoke of a no-op handler, decoded from an Invoke frame and answered on a
 * stand-in channel that only encodes the frames: the first run of the frame
 * decoder, the invoke path and the encoder (V8 compiling each function, Node's
 * Buffer methods included) happens here instead of in a cold start (~2 ms here).
 * What an invoke leaves behind (the logs' request id, the trace id) is reset.
 */
async function rehearseInvoke(): Promise<void> {
  let answered!: () => void;
  const done = new Promise<void>((resolve) => (answered = resolve));
  const standIn: InvokeChannel = {
    credit: new StreamCredit(),
    send(type, meta, payload = null) {
      encodeWithLogs('', type, meta, payload);
      answered();
    },
    flushLines: () => undefined,
    write: () => undefined,
    ref: () => undefined,
    unref: () => undefined,
  };
  const env: Environment = { functionVersion: '$LATEST', functionName: 'standby', memoryLimitInMB: '128', logGroupName: '/aws/lambda/standby', logStreamName: 'standby' };
  const fn: LoadedFunction = { handler: async () => null, isAsync: true, streaming: false, highWaterMark: undefined, env };
  const invoke = createInvoker(standIn, { dead: false, current: null, last: null, queue: [] }, fn);
  const meta: InvokeMeta = {
    requestId: '00000000-0000-0000-0000-000000000000',
    deadlineMs: Date.now() + 3000,
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:standby',
    traceId: 'Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0',
  };
  new FrameDecoder((f) => invoke(f.meta as unknown as InvokeMeta, f.payload)).push(encodeFrame(FrameType.Invoke, meta, '{}'));
  // What the Init frame's decode runs into first: a larger meta, an object inside.
  new FrameDecoder(() => undefined).push(encodeFrame(FrameType.Init, { family: 'nodejs', handler: 'index.handler', taskRoot: '/var/task', env: { AWS_REGION: 'us-east-1' } }));
  await done;
  clearRequestId();
  setTraceId(undefined);
}

// In parentheses: V8 compiles it when the module loads (at Standby), not at Init's call (~0.3 ms).
export const startNodeRuntime = (async function startNodeRuntime(ch: HostChannel, meta: InitMeta, started: number): Promise<RuntimeHandle | undefined> {
  // NODE_PATH came with the function's environment, after Node read it at startup.
  Module._initPaths?.();
  patchConsole(ch);

  let phase: 'init' | 'invoke' = 'init';
  const state: RuntimeState = { dead: false, current: null, last: null, queue: [] };

  /** Ends the runtime the way the RIC does: report, then process.exit(code). */
  const fatal = (error: unknown, code: number): void => {
    if (state.dead) return;
    state.dead = true;
    const body = toRapidResponse(error);
    if (phase === 'init') {
      ch.send(FrameType.InitError, JSON.stringify({ errorType: body.errorType }), JSON.stringify(body));
    } else {
      const inv = state.current ?? state.last;
      if (inv && !inv.posted) {
        inv.posted = true;
        ch.send(FrameType.Error, errorMeta(inv.id, body.errorType), JSON.stringify(body));
      }
    }
    ch.exit(code, null, code);
  };

  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    fatal(error, 129);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    fatal(error, 128);
  });
  process.on('beforeExit', () => {
    const inv = state.current;
    const action = inv?.onEmpty;
    if (inv && action) {
      inv.onEmpty = null;
      action();
    }
    // Whatever happened, never let the loop end under a live host stream.
    ch.ref();
  });
  // process.exit() from the function (or Node itself exiting): tell the host why.
  process.on('exit', (code) => ch.exitSync(code, null));

  let handler: Handler;
  let isAsync: boolean;
  let streaming: boolean;
  let highWaterMark: number | undefined;
  installAwsLambdaGlobal();
  installTraceIdVariable();
  const become = performance.now();
  try {
    handler = await loadHandler(meta.taskRoot, meta.handler);
    const hm = handlerMetadata(handler);
    isAsync = hm.isAsync;
    streaming = hm.streaming !== false;
    highWaterMark = hm.highWaterMark;
  } catch (err) {
    // Lambda's runtime rejects its top-level await here: an uncaught exception.
    logError('Uncaught Exception', err);
    fatal(err, 129);
    return undefined;
  }
  if (state.dead) return undefined;
  const loaded = performance.now();

  const env: Environment = {
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
  };

  phase = 'invoke';
  const now = performance.now();
  const initDurationMs = Math.round((now - started) * 1000) / 1000;
  const o = performance.timeOrigin;
  ch.send(FrameType.Ready, `{"initDurationMs":${initDurationMs},"at":{"received":${o + started},"become":${o + become},"handler":${o + loaded},"ready":${o + now}}}`);

  return {
    invoke: createInvoker(ch, state, { handler, isAsync, streaming, highWaterMark, env }),
    shutdown: () => undefined,
  };
});

/**
 * Lambda's invoke semantics for one loaded handler: the function that runs an
 * Invoke frame and answers on `ch`. Also run once at Standby on a stand-in channel
 * (rehearseInvoke), so a pooled sandbox's first real invoke is not the first run
 * of this code (V8 compiles the closures below on their first call).
 */
function createInvoker(ch: InvokeChannel, state: RuntimeState, fn: LoadedFunction): (m: InvokeMeta, payload: Buffer) => void {
  const finish = (inv: Invocation): void => {
    inv.posted = true;
    inv.onEmpty = null;
    if (state.current === inv) state.current = null;
    ch.ref();
    if (state.queue.length !== 0) {
      const [m, p] = state.queue.shift()!;
      setImmediate(() => invoke(m, p));
    }
  };

  const postResponse = (inv: Invocation, result: unknown): void => {
    if (inv.posted || state.dead) return;
    let body: string | undefined;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch {
      postError(inv, new Error('Unable to stringify response body'), true);
      return;
    }
    finish(inv);
    ch.send(FrameType.Response, requestMeta(inv.id), body ?? 'null');
  };

  const postError = (inv: Invocation, err: unknown, log: boolean): void => {
    if (inv.posted || state.dead) return;
    if (log) logError('Invoke Error', err);
    const body = toRapidResponse(err);
    let text: string;
    try {
      text = JSON.stringify(body);
    } catch {
      text = JSON.stringify({ errorType: String(body.errorType), errorMessage: String(body.errorMessage), trace: [] });
    }
    finish(inv);
    ch.send(FrameType.Error, errorMeta(inv.id, String(body.errorType)), text);
  };

  const complete = (inv: Invocation, result: unknown): void => {
    if (inv.completed) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    inv.completed = true;
    postResponse(inv, result);
  };

  /** A streamifyResponse handler: (event, responseStream, context), its bytes streamed to the host. */
  const invokeStreaming = (inv: Invocation, event: unknown, context: object): void => {
    const stream = new ResponseStream(ch, inv.id, fn.highWaterMark);
    const endOk = (): void => {
      if (inv.posted || state.dead) return;
      inv.completed = true;
      stream.begin();
      finish(inv);
      ch.send(FrameType.ResponseEnd, requestMeta(inv.id));
    };
    const endError = (err: unknown): void => {
      if (inv.posted || state.dead) return;
      inv.completed = true;
      if (!stream.isStarted) {
        postError(inv, err, true);
        return;
      }
      logError('Invoke Error', err);
      const body = toRapidResponse(err);
      finish(inv);
      ch.send(FrameType.ResponseEnd, errorMeta(inv.id, String(body.errorType)), JSON.stringify(body));
    };
    stream.on('finish', endOk);
    stream.on('error', endError);
    stream.on('close', () => {
      // destroy() without an error: the response ends where it is.
      if (!stream.errored) endOk();
    });
    inv.onEmpty = () => {
      if (fn.isAsync) endError(new NodeJsExit());
      else if (!stream.writableEnded) stream.end();
    };
    const result = (fn.handler as unknown as (e: unknown, s: ResponseStream, c: unknown) => unknown)(event, stream, context);
    if (isPromise(result)) {
      (result as Promise<unknown>).then(
        () => {
          if (!stream.writableEnded && !stream.destroyed) stream.end();
        },
        (err: unknown) => {
          endError(err);
          stream.destroy();
        },
      );
    }
  };

  function invoke(m: InvokeMeta, payload: Buffer): void {
    if (state.dead) return;
    if (state.current) {
      state.queue.push([m, payload]);
      return;
    }
    const id = m.requestId;
    const inv: Invocation = { id, finished: false, completed: false, posted: false, waitForEmpty: true, onEmpty: null };
    state.current = inv;
    state.last = inv;
    setRequestId(id);
    setTraceId(m.traceId || undefined);
    // From here the loop may run empty: the stream no longer keeps it alive.
    ch.unref();

    // Lambda's default: the loop ran empty and nothing answered.
    inv.onEmpty = () => {
      inv.completed = true;
      if (fn.isAsync) postError(inv, new NodeJsExit(), true);
      else postResponse(inv, null);
    };

    const done = (err?: unknown, result?: unknown): void => {
      if (inv.finished) return;
      inv.finished = true;
      inv.onEmpty = null;
      if (err !== undefined && err !== null) postError(inv, err, true);
      else complete(inv, result);
    };
    const callback = (err?: unknown, result?: unknown): void => {
      if (inv.finished) return;
      inv.finished = true;
      inv.onEmpty = null;
      if (err !== undefined && err !== null) postError(inv, err, true);
      else if (!inv.waitForEmpty) complete(inv, result);
      else inv.onEmpty = () => setImmediate(() => complete(inv, result));
    };
    const succeed = (result?: unknown): void => done(null, result);
    const fail = (err?: unknown): void => {
      if (err === undefined || err === null) done('handled');
      else done(err, null);
    };

    try {
      const event = JSON.parse(payload.toString('utf8')) as unknown;
      const deadline = m.deadlineMs;
      const context = {
        get callbackWaitsForEmptyEventLoop(): boolean {
          return inv.waitForEmpty;
        },
        set callbackWaitsForEmptyEventLoop(value: boolean) {
          inv.waitForEmpty = value;
        },
        succeed,
        fail,
        done,
        functionVersion: fn.env.functionVersion,
        functionName: fn.env.functionName,
        memoryLimitInMB: fn.env.memoryLimitInMB,
        logGroupName: fn.env.logGroupName,
        logStreamName: fn.env.logStreamName,
        clientContext: parseJson(m.clientContext, 'ClientContext'),
        identity: parseJson(m.cognitoIdentity, 'CognitoIdentity'),
        invokedFunctionArn: m.invokedFunctionArn,
        awsRequestId: id,
        getRemainingTimeInMillis(): number {
          return deadline - Date.now();
        },
      };
      if (fn.streaming) {
        invokeStreaming(inv, event, context);
        return;
      }
      const result = fn.handler(event, context, callback);
      if (isPromise(result)) {
        (result as Promise<unknown>).then(context.succeed, context.fail).catch(context.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  return invoke;
}
