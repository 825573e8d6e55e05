// What the agent knows before it becomes the function: read at startup, before Init
// replaces process.env with the function's environment. Imported first by agent.ts.
import type { InvokeMeta } from './protocol.js';

/** The PATH this agent was started with (the function's own PATH may differ). */
export const BOOT_PATH = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
/** An interpreter the host may name for python functions (in the agent's own environment). */
export const BOOT_PYTHON = process.env.KINDLING_PYTHON || undefined;
/** Set by the micro-VM's init: this agent is snapshotted once booted, and restored per sandbox. */
export const BOOT_IN_VM = process.env.KINDLING_VM === '1';
/** Set by a sandbox pool: started before its function is known; load this runtime family, then say Standby. */
export const BOOT_STANDBY = process.env.KINDLING_STANDBY || undefined;
/** A pooled python agent: the environment to start its interpreter with ahead of the function (KINDLING_STANDBY_ENV, JSON). */
export const BOOT_STANDBY_ENV = standbyEnv(process.env.KINDLING_STANDBY_ENV);
/** A pooled provided/python agent: the Runtime API address its Init will ask for (the driver's fixed one), to listen on ahead. */
export const BOOT_STANDBY_RUNTIME_API = process.env.KINDLING_STANDBY_RUNTIME_API || undefined;

function standbyEnv(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined;
  try {
    const env = JSON.parse(text) as unknown;
    if (typeof env !== 'object' || env === null || Array.isArray(env)) return undefined;
    return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return undefined;
  }
}

export type InvokeHandler = (meta: InvokeMeta, payload: Buffer) => void;

/** What a runtime family gives back once started: how to run an invoke, how to stop. */
export interface RuntimeHandle {
  invoke: InvokeHandler;
  /** The host is gone: stop everything now (kill child processes). */
  shutdown(): void;
}
