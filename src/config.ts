// Server-wide settings of one Kindling deployment.
import type { SandboxChoice } from './sandbox/select.js';

export interface KindlingConfig {
  host: string;
  port: number;
  dataDir: string;
  /** Cluster mode's state store and queue (postgres://...); undefined: SQLite files in dataDir. */
  stateUrl?: string;
  /** Cluster mode's code store (s3://bucket[/prefix]); undefined: the code folder in dataDir. */
  codeUrl?: string;
  region: string;
  accountId: string;
  /** How long an idle warm sandbox is kept before it is reaped, ms. */
  sandboxIdleMs: number;
  /** Memory the embedded worker host offers to sandboxes, MB. */
  hostMemoryMb: number;
  /** Sandbox driver: namespace (isolated), microvm (a VM each), process (none), auto (namespace when it can run). */
  sandbox?: SandboxChoice;
  /** Keep a pool of generic sandboxes for fast cold starts (default true; $KINDLING_SANDBOX_POOL=off, --no-sandbox-pool turn it off). */
  sandboxPool?: boolean;
  /** The micro-VM guest image and its snapshots (default $KINDLING_MICROVM_DIR or <data>/microvm). */
  microvmDir?: string;
  /** The account's concurrent executions limit. */
  accountConcurrency: number;
  /** Multiplies asynchronous invocation's retry delays and maximum event age (default $KINDLING_ASYNC_TIME_SCALE or 1). */
  asyncTimeScale?: number;
  /** Days function log events are kept (default 7; fractions allowed). */
  logRetentionDays?: number;
  /** Requests per second per access key (default 10,000). */
  rateLimit?: number;
  /** The whole request (headers and body) must arrive within this, ms (default 300,000). */
  requestTimeoutMs?: number;
  /** The request's headers must arrive within this, ms (default 20,000). */
  headersTimeoutMs?: number;
  /**
   * all (the default): every part here, sandboxes on this machine's own worker host too.
   * manager: no worker host here; sandboxes run only on hosts that join (`kindling worker --join`).
   * frontend: the API only; its manager (managerUrl) admits invokes and leases sandboxes.
   */
  role?: KindlingRole;
  /** Role frontend: the Worker Manager's URL (a `kindling up --role manager|all`). */
  managerUrl?: string;
}

export const KINDLING_ROLES = ['all', 'manager', 'frontend'] as const;
export type KindlingRole = (typeof KINDLING_ROLES)[number];

export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;

export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_ACCOUNT_ID = '000000000000';
export const DEFAULT_PORT = 9000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_SANDBOX_IDLE_MS = 10 * 60 * 1000;
export const DEFAULT_LOG_RETENTION_DAYS = 7;

/** $KINDLING_SANDBOX_POOL: off (0, false, no) disables the pool of generic sandboxes. */
export const envSandboxPool = (): boolean => !/^(off|0|false|no)$/i.test(process.env.KINDLING_SANDBOX_POOL ?? '');
export const envMicrovmDir = (): string | undefined => process.env.KINDLING_MICROVM_DIR || undefined;
export const envRegion = (): string => process.env.KINDLING_REGION ?? DEFAULT_REGION;
export const envAccountId = (): string => process.env.KINDLING_ACCOUNT_ID ?? DEFAULT_ACCOUNT_ID;

import { totalmem } from 'node:os';

/** The embedded host offers 80% of the machine's memory to sandboxes. */
export const defaultHostMemoryMb = (): number => Math.floor((totalmem() / 1048576) * 0.8);
