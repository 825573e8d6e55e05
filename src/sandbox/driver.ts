// Sandboxes behind one interface (Lambda's Firecracker + jailer): a driver
// starts the guest agent in isolation and hands back the host-guest stream.
import type { Duplex, Readable } from 'node:stream';

export type DriverName = 'process' | 'namespace' | 'microvm';

export interface SandboxLaunch {
  id: string;
  memoryMb: number;
  ephemeralStorageMb: number;
  /** The unpacked package on the host. */
  taskRoot: string;
  /** The function's layers merged into one folder on the host, seen read-only at /opt; absent: an empty /opt. */
  opt?: string;
  /** Node.js flags for the guest agent (heap limits). */
  nodeFlags: string[];
  /**
   * The function's network (namespace driver): 'default' = outbound to the world
   * through NAT, never to the host or other sandboxes; 'none' = loopback only.
   * Drivers without network isolation ignore it. Default: the driver's own default.
   */
  network?: 'default' | 'none';
}

/**
 * V8's tier-up budget for the guest (bytecode executed before a function is optimised;
 * V8's default is 67584). A sandbox runs one invoke at a time, so at tens of invokes a
 * second each, the per-invoke path (the agent's and Node's stream code) stayed in
 * baseline code for its first 10-20 s: 50 sandboxes under load spent ~170 µs of CPU per
 * invoke, against ~60-100 µs once optimised. A quarter of the budget gets there sooner.
 */
export const GUEST_INTERRUPT_BUDGET = 16_384;

/** The guest agent's Node.js flags for a memory size: a heap that leaves room for the rest, and the tier-up budget. */
export function nodeFlagsFor(memoryMb: number): string[] {
  return [`--max-old-space-size=${Math.max(16, Math.floor(memoryMb * 0.9))}`, `--interrupt-budget=${GUEST_INTERRUPT_BUDGET}`];
}

export interface SandboxExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SandboxProcess {
  readonly pid: number;
  /** The host-guest stream (src/guest/protocol.ts frames). */
  readonly stream: Duplex;
  /** The agent's own stdout and stderr: crash output that never became a Log frame. */
  readonly output: Readable[];
  readonly exited: Promise<SandboxExit>;
  /** The package folder as the guest sees it (LAMBDA_TASK_ROOT). */
  readonly taskRootInGuest: string;
  /** Where the guest serves the Runtime API. */
  readonly runtimeApiListen: string;
  /** Kindling's runtime folder as the guest sees it (LAMBDA_RUNTIME_DIR); absent: the host's own path. */
  readonly runtimeDirInGuest?: string;
  /** The layers folder as the guest sees it; absent: /opt. */
  readonly optDirInGuest?: string;
  /** Resident memory of the sandbox, MB: now and at its peak. */
  memory(): { currentMb: number; peakMb: number };
  /** The peak alone, for the REPORT line after every invoke (cheaper than memory() where it can be). */
  peakMemoryMb?(): number;
  /** True when the kernel or driver killed it for exceeding its memory. */
  oomKilled(): boolean;
  kill(): void;
}

/** A sandbox started before its function is known (for a pool): everything of SandboxLaunch but the code. */
export interface GenericLaunch {
  id: string;
  memoryMb: number;
  ephemeralStorageMb: number;
  nodeFlags: string[];
  network?: 'default' | 'none';
  /** The runtime family the agent loads while it waits (nodejs, python, provided). */
  family: string;
  /**
   * The environment its function's runtime process will most likely start with (Lambda's
   * extendable variables at the driver's genericPaths): a python agent starts its
   * interpreter ahead with it, and uses it at Init only if the function's agrees.
   */
  runtimeEnv?: Record<string, string>;
}

/** A function's code as the host has it: what a generic sandbox is handed on demand. */
export interface FunctionCode {
  /** The unpacked package on the host. */
  taskRoot: string;
  /** The merged layers on the host; absent: an empty /opt. */
  opt?: string;
}

/** A generic sandbox: isolated and its agent started, waiting for a function. */
export interface GenericSandbox {
  readonly id: string;
  readonly pid: number;
  readonly exited: Promise<SandboxExit>;
  /** Resolves once the agent waits for Init (Standby); it may be attached before. */
  readonly standby: Promise<void>;
  /** False once it ended (or was killed): never attach it then. */
  alive(): boolean;
  /** Makes the code visible inside, read-only and without copying it; once. Rejects when it cannot (kill it then). */
  attach(code: FunctionCode): Promise<SandboxProcess>;
  kill(): void;
}

export interface SandboxDriver {
  readonly name: DriverName;
  /** Whether the driver enforces memory itself (cgroups); the host polls otherwise. */
  readonly enforcesMemory: boolean;
  launch(spec: SandboxLaunch): Promise<SandboxProcess>;
  /** Starts a generic sandbox (absent: the driver cannot, and its sandboxes are never pooled). */
  launchGeneric?(spec: GenericLaunch): Promise<GenericSandbox>;
  /** Where every generic sandbox's function will see its code, runtimes and layers (absent: it depends on the function). */
  readonly genericPaths?: { taskRoot: string; runtimeDir: string; optDir: string };
  /** Removes what earlier runs left behind (after a crash of Kindling). */
  cleanup(): Promise<void>;
}
