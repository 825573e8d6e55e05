// The guest agent: the first and only program the host starts in a sandbox
// (`node dist/src/guest/agent.js`, fd 3 = the host-guest stream).
//
// It waits for Init, becomes the function (environment, working folder) and then
// runs it one of two ways:
// - nodejs: in this very process (node-runtime.ts), with no HTTP on the hot path;
// - provided, python: serves the Lambda Runtime API over HTTP (runtime-api.ts) and
//   starts the runtime as a child process (child-runtime.ts).
// It imports nothing of the platform but protocol.ts: it also runs inside micro-VMs.
// First: boot.ts reads the agent's own environment before Init replaces it.
import './boot.js';
import type { RuntimeHandle } from './boot.js';
import { performance } from 'node:perf_hooks';
import { HostChannel } from './channel.js';
import { FrameType, type Frame, type InitMeta, type InvokeMeta } from './protocol.js';

let runtime: RuntimeHandle | undefined;
let initStarted = false;
const early: Frame[] = [];

function onHostGone(): void {
  try {
    runtime?.shutdown();
  } finally {
    process.exit(0);
  }
}

function onFrame(frame: Frame): void {
  if (frame.type === FrameType.Invoke) {
    if (runtime) runtime.invoke(frame.meta as unknown as InvokeMeta, frame.payload);
    else early.push(frame);
  } else if (frame.type === FrameType.Init) {
    if (initStarted) return;
    initStarted = true;
    void init(frame.meta as unknown as InitMeta);
  }
}

const channel = new HostChannel(3, onFrame, onHostGone);

function initError(errorType: string, errorMessage: string): void {
  channel.send(FrameType.InitError, JSON.stringify({ errorType }), JSON.stringify({ errorType, errorMessage }));
  channel.exit(null, null, 1);
}

function becomeFunction(meta: InitMeta): void {
  for (const key of Object.keys(process.env)) delete process.env[key];
  for (const [key, value] of Object.entries(meta.env ?? {})) process.env[key] = value;
  // What every runtime reads, when the host did not set them itself.
  if (process.env._HANDLER === undefined) process.env._HANDLER = meta.handler;
  if (process.env.LAMBDA_TASK_ROOT === undefined) process.env.LAMBDA_TASK_ROOT = meta.taskRoot;
  process.chdir(meta.taskRoot);
}

async function init(meta: InitMeta): Promise<void> {
  const started = performance.now();
  try {
    becomeFunction(meta);
  } catch (err) {
    initError('Runtime.InvalidWorkingDir', `Couldn't change to the function's folder ${meta.taskRoot}: ${(err as Error).message}`);
    return;
  }
  let handle: RuntimeHandle | undefined;
  if (meta.family === 'nodejs') {
    const { startNodeRuntime } = await import('./node-runtime.js');
    handle = await startNodeRuntime(channel, meta, started);
  } else if (meta.family === 'provided' || meta.family === 'python') {
    const { startChildRuntime } = await import('./child-runtime.js');
    handle = await startChildRuntime(channel, meta, started);
  } else {
    initError('Runtime.InvalidRuntime', `Unsupported runtime family '${meta.family}'`);
    return;
  }
  if (!handle) return;
  runtime = handle;
  for (const f of early.splice(0)) handle.invoke(f.meta as unknown as InvokeMeta, f.payload);
}
