// The protocol between a Worker Manager (in `kindling up`) and the worker
// hosts that join it (`kindling worker --join URL`), as Lambda's workers talk
// to its Worker Manager and Placement Service. Both ends import this file only.
//
// Worker → manager: Kindling's own API paths, SigV4-signed with the root key
// (the manager accepts the root principal only):
//   POST {HOSTS_PATH}                              register (RegisterHostRequest → RegisterHostResponse)
//   POST {HOSTS_PATH}/{hostId}/heartbeat           HeartbeatRequest → HeartbeatResponse (404: register again)
//   POST {HOSTS_PATH}/{hostId}/logs                LogBatch → 204 (function log lines, for the log store)
//   GET  {HOSTS_PATH}/{hostId}/code/{sha256Hex}    the code package's zip (Init's download from the code store)
// Operators (kindling host ...):
//   GET  {HOSTS_PATH}                              ListHostsResponse
//   POST {HOSTS_PATH}/{hostId}/drain               no new sandboxes there; idle ones retired; busy ones finish
//
// Manager → worker, at the URL the worker registered, with
// `Authorization: Bearer <token>` (the token the worker registered):
//   POST   /sandboxes                  CreateSandboxRequest → 201 CreateSandboxResponse
//                                      (Init failed: 422 InitFailureBody)
//   POST   /sandboxes/{id}/invoke      header INVOKE_HEADER: JSON InvokeRequestMeta; body: the payload
//                                      → 200, a body of frames (see below); 404: no such sandbox (it died)
//   DELETE /sandboxes/{id}?how=kill|destroy  → 204
//
// An invoke's response body is a sequence of frames, `u8 kind | u32 length
// (big-endian) | bytes`: for a streamed response START (its content type,
// UTF-8) and CHUNKs as the function writes them, then always one RESULT
// (`u32 meta length | JSON InvokeResultMeta | the result's payload bytes`).
// A body that ends before RESULT means the worker went away mid-invoke.
import type { FunctionVersion } from '../../control/model.js';
import type { CreateSandboxOptions } from '../../placement/placement.js';
import type { SandboxSettings } from '../../sandbox/function-tags.js';
import type { SandboxIdentity, SandboxInvoke, SandboxResult } from '../../host/sandbox.js';

export const HOSTS_PATH = '/kindling/2024-01-01/hosts';
export const INVOKE_HEADER = 'x-kindling-invoke';

/** How often a worker heartbeats, and how long the manager waits before declaring it dead. */
export const HEARTBEAT_INTERVAL_MS = 1000;
export const DEAD_AFTER_MS = 3000;

export interface RegisterHostRequest {
  /** Kept across a worker's restarts (its data folder); the manager makes one when absent. */
  hostId?: string;
  /** Where the manager reaches the worker's sandbox API, e.g. http://10.0.0.5:9100. */
  url: string;
  /** Bearer token the manager sends on every call to the worker. */
  token: string;
  memoryMb: number;
  /** Sandbox drivers this worker runs (its default first). */
  drivers: string[];
}

export interface RegisterHostResponse {
  hostId: string;
  heartbeatIntervalMs: number;
  deadAfterMs: number;
}

export interface HeartbeatRequest {
  /** Ids of every sandbox alive on the worker. */
  sandboxes: string[];
  /** Sandboxes that ended since the last heartbeat, and why (crash, OOM, reaped by the driver). */
  ended: { id: string; reason: string }[];
  /** Hex SHA-256 of every code package in the worker's cache (placement prefers these hosts). */
  cachedCode: string[];
}

export interface HeartbeatResponse {
  draining: boolean;
}

export interface LogBatch {
  /** `timestamp`: when the function wrote the line (ms since the epoch, the worker's clock). */
  lines: { functionName: string; logStream: string; text: string; timestamp?: number }[];
}

export interface HostInfo {
  hostId: string;
  url: string;
  memoryMb: number;
  reservedMb: number;
  sandboxes: number;
  state: 'live' | 'draining' | 'dead';
  lastHeartbeatMs: number;
  /** This manager's own in-process host (role all). */
  local: boolean;
}

export interface ListHostsResponse {
  hosts: HostInfo[];
}

export interface CreateSandboxRequest {
  fn: FunctionVersion;
  options: CreateSandboxOptions;
  /** The function's sandbox settings (its kindling:* tags), read by the manager at this cold start. */
  settings: SandboxSettings;
}

export interface CreateSandboxResponse {
  identity: SandboxIdentity;
}

export interface InitFailureBody {
  errorType: string;
  /** base64 of Lambda's error body. */
  body: string;
  logs: string;
  durationMs: number;
}

/** SandboxInvoke without the payload (the request body) and the sink (frames), plus whether to stream. */
export type InvokeRequestMeta = Omit<SandboxInvoke, 'payload' | 'stream'> & { stream: boolean };

/** SandboxResult without its payload (the RESULT frame's bytes). */
export type InvokeResultMeta = Omit<SandboxResult, 'payload'>;

export const enum FrameKind {
  Start = 1,
  Chunk = 2,
  Result = 3,
}

export function encodeInvokeFrame(kind: FrameKind, bytes: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt8(kind, 0);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

export function encodeResultFrame(result: SandboxResult): Buffer {
  const { payload, ...meta } = result;
  const json = Buffer.from(JSON.stringify(meta satisfies InvokeResultMeta));
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(json.length, 0);
  return encodeInvokeFrame(FrameKind.Result, Buffer.concat([len, json, payload]));
}

export function decodeResultFrame(bytes: Buffer): SandboxResult {
  const metaLength = bytes.readUInt32BE(0);
  const meta = JSON.parse(bytes.subarray(4, 4 + metaLength).toString('utf8')) as InvokeResultMeta;
  return { ...meta, payload: Buffer.from(bytes.subarray(4 + metaLength)) };
}

/** Splits a response body into frames as its bytes arrive. */
export class InvokeFrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (kind: FrameKind, bytes: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + length) return;
      const kind = this.buffered.readUInt8(0) as FrameKind;
      const bytes = this.buffered.subarray(5, 5 + length);
      this.buffered = this.buffered.subarray(5 + length);
      this.onFrame(kind, bytes);
    }
  }
}
