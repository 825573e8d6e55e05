// The protocol between a cluster frontend (`kindling up --role frontend
// --manager URL`) and its Worker Manager: the manager admits each invoke
// against the cluster's concurrency limits and leases it a sandbox on a worker
// host; the frontend then runs the invoke on the worker directly (the worker's
// sandbox API, protocol.ts) and hands the lease back. Both ends import this
// file only. SigV4-signed with the root key, as worker hosts' calls are:
//
//   POST {FRONTENDS_PATH}                           RegisterFrontendRequest → RegisterFrontendResponse
//   POST {FRONTENDS_PATH}/{id}/heartbeat            FrontendHeartbeatRequest → FrontendHeartbeatResponse (404: register again)
//   POST {FRONTENDS_PATH}/{id}/leases               AcquireLeaseRequest → 200 LeaseGrant
//                                                   (refused: Lambda's error, e.g. 429 TooManyRequestsException;
//                                                   Init failed: 422 InitFailureBody)
//   POST {FRONTENDS_PATH}/{id}/leases/return        ReturnLeasesRequest → 204
//   POST {FRONTENDS_PATH}/{id}/provisioned          ProvisionRequest → 204 (a pool's target, or its release)
//
// At most two calls per invoke (acquire, then return; under load a return rides
// on the next acquire), neither touching the database: the manager keeps
// admission and sandboxes in memory.
import type { FunctionVersion } from '../../control/model.js';
import type { SandboxIdentity } from '../../host/sandbox.js';
import type { ProvisionedStatus } from '../manager.js';

export const FRONTENDS_PATH = '/kindling/2024-01-01/frontends';

/** How often a frontend heartbeats, and how long the manager waits before declaring it dead. */
export const FRONTEND_HEARTBEAT_INTERVAL_MS = 1000;
export const FRONTEND_DEAD_AFTER_MS = 5000;

export interface RegisterFrontendRequest {
  /** The frontend's own address (for operators' lists); not used to call it. */
  url: string;
}

export interface RegisterFrontendResponse {
  frontendId: string;
  heartbeatIntervalMs: number;
  deadAfterMs: number;
}

export interface FrontendHeartbeatRequest {
  /** Invokes admitted for this frontend and not yet ended. */
  invocations: number;
}

export interface FrontendHeartbeatResponse {
  /** Provisioned-concurrency pools by config id, as the manager keeps them (Get/List report these). */
  provisioned: Record<string, ProvisionedStatus>;
}

export interface AcquireLeaseRequest {
  /** One invoke: admitted on its first acquire, counted out when returned with `end`. */
  invocationId: string;
  fn: FunctionVersion;
  /** Leases handed back first: this invocation's earlier attempts', and other invokes' not yet returned. */
  returns?: LeaseReturn[];
  /** Other invocations that are over, counted out before this one is admitted. */
  ended?: string[];
}

export interface LeaseGrant {
  leaseId: string;
  /** True when this lease paid for Init. */
  cold: boolean;
  identity: SandboxIdentity;
  /** The worker host that has the sandbox, and how to reach its sandbox API. */
  host: { id: string; url: string; token: string };
}

export interface LeaseReturn {
  leaseId: string;
  /** The sandbox may run another invoke. */
  reusable: boolean;
  /** The frontend could not connect to the sandbox's worker host (likely gone: lease none of its sandboxes until it heartbeats again). */
  unreachable?: boolean;
}

export interface ReturnLeasesRequest {
  returns: LeaseReturn[];
  /** Invocations that are over: their concurrency is counted out. */
  ended: string[];
}

export interface ProvisionRequest {
  /** The config's pool id (function and qualifier). */
  id: string;
  /** With fn and n: keep n sandboxes of fn initialized; without: release the pool. */
  fn?: FunctionVersion;
  n?: number;
}
