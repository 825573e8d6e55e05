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
import { BOOT_IN_VM, BOOT_STANDBY, BOOT_STANDBY_ENV, BOOT_STANDBY_RUNTIME_API, type RuntimeHandle } from './boot.js';
import { performance } from 'node:perf_hooks';
import { HostChannel } from './channel.js';
import { FrameType, type ClockMeta, type CreditMeta, type FilesMeta, type Frame, type InitMeta, type InvokeMeta, type PrepareMeta } from './protocol.js';
import { prepare, receiveFiles, setClock, vmFailure } from './vm.js';

let runtime: RuntimeHandle | undefined;
/** The Node.js runtime, loaded and prepared at Standby (Init then needs no import). */
let nodeRuntime: typeof import('./node-runtime.js') | undefined;
/** The provided/python runtime, loaded at Standby the same way (an import() of a loaded module still costs a few loader turns). */
let childRuntime: typeof import('./child-runtime.js') | undefined;
let initStarted = false;
const early: Frame[] = [];

function onHostGone(): void {
  try {
    runtime?.shutdown();
  } finally {
    process.exit(0);
  }
}

// onFrame, becomeFunction and init in parentheses: V8 compiles them as the agent loads,
// not on a cold start's Init (lazily compiled, they were ~0.3 ms of it).
const onFrame = (function onFrame(frame: Frame): void {
  if (frame.type === FrameType.Invoke) {
    if (runtime) runtime.invoke(frame.meta as unknown as InvokeMeta, frame.payload);
    else early.push(frame);
  } else if (frame.type === FrameType.Credit) {
    const m = frame.meta as unknown as CreditMeta;
    channel.credit.grant(String(m.requestId), Number(m.bytes));
  } else if (frame.type === FrameType.Init) {
    if (initStarted) return;
    initStarted = true;
    void init(frame.meta as unknown as InitMeta);
  } else if (BOOT_IN_VM && frame.type === FrameType.Files) {
    // Synchronous, so the code is in place before the Init frame behind it is handled.
    receiveFiles(frame.meta as unknown as FilesMeta, frame.payload);
  } else if (BOOT_IN_VM && frame.type === FrameType.Prepare) {
    prepare(frame.meta as unknown as PrepareMeta);
    channel.send(FrameType.Prepared, '');
  } else if (BOOT_IN_VM && frame.type === FrameType.Clock) {
    setClock(frame.meta as unknown as ClockMeta);
  }
});

const channel = new HostChannel(3, onFrame, onHostGone);

function initError(errorType: string, errorMessage: string): void {
  channel.send(FrameType.InitError, JSON.stringify({ errorType }), JSON.stringify({ errorType, errorMessage }));
  channel.exit(null, null, 1);
}

const becomeFunction = (function becomeFunction(meta: InitMeta): void {
  // Replaced whole, touching only what differs: each write is a setenv, and TZ's resets the time zone.
  const env = meta.env ?? {};
  for (const key of Object.keys(process.env)) if (!Object.hasOwn(env, key)) delete process.env[key];
  for (const [key, value] of Object.entries(env)) if (process.env[key] !== value) process.env[key] = value;
  // What every runtime reads, when the host did not set them itself.
  if (process.env._HANDLER === undefined) process.env._HANDLER = meta.handler;
  if (process.env.LAMBDA_TASK_ROOT === undefined) process.env.LAMBDA_TASK_ROOT = meta.taskRoot;
  process.chdir(meta.taskRoot);
});

const init = (async function init(meta: InitMeta): Promise<void> {
  const started = performance.now();
  const vm = BOOT_IN_VM ? vmFailure() : undefined;
  if (vm !== undefined) {
    initError('Runtime.Unknown', vm);
    return;
  }
  try {
    becomeFunction(meta);
  } catch (err) {
    initError('Runtime.InvalidWorkingDir', `Couldn't change to the function's folder ${meta.taskRoot}: ${(err as Error).message}`);
    return;
  }
  let handle: RuntimeHandle | undefined;
  if (meta.family === 'nodejs') {
    const { startNodeRuntime } = nodeRuntime ?? (await import('./node-runtime.js'));
    handle = await startNodeRuntime(channel, meta, started);
  } else if (meta.family === 'provided' || meta.family === 'python') {
    const { startChildRuntime } = childRuntime ?? (await import('./child-runtime.js'));
    handle = await startChildRuntime(channel, meta, started);
  } else {
    initError('Runtime.InvalidRuntime', `Unsupported runtime family '${meta.family}'`);
    return;
  }
  if (!handle) return;
  runtime = handle;
  for (const f of early.splice(0)) handle.invoke(f.meta as unknown as InvokeMeta, f.payload);
});

if (BOOT_STANDBY !== undefined && !BOOT_IN_VM) {
  // A pooled sandbox: what Init would import is loaded now, while no function waits.
  // (Nothing of it reads the environment, which Init replaces.)
  // python: the interpreter too, started with the environment the host expects (python-standby.ts).
  const loading =
    BOOT_STANDBY === 'nodejs'
      ? import('./node-runtime.js').then(async (m) => {
          await m.prepareNodeRuntime();
          nodeRuntime = m;
        })
      : import('./child-runtime.js').then(async (m) => {
          // An Init that came first (a sandbox taken while starting) runs without them.
          if ((BOOT_STANDBY === 'python' || BOOT_STANDBY === 'provided') && !initStarted) await m.prestartChildRuntime(channel, BOOT_STANDBY, BOOT_STANDBY_ENV, BOOT_STANDBY_RUNTIME_API);
          childRuntime = m;
        });
  void loading.then(() => {
    if (!initStarted) channel.send(FrameType.Standby, '');
  });
}

if (BOOT_IN_VM) {
  // Load both runtimes before the snapshot is taken, so no restore pays for it; then
  // tell the host (on the console) that this VM can be snapshotted.
  void Promise.all([import('./node-runtime.js'), import('./child-runtime.js')]).then(() => {
    process.stdout.write('kindling-agent: waiting\n');
  });
}
