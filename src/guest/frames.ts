// Hot-path frame encoding for the guest: the same wire format as protocol.ts's
// encodeFrame (u32 BE length of the rest | u8 type | u32 BE meta length | meta | payload),
// but built in ONE buffer allocation, from a ready meta JSON string, and with the
// pending log text of the invoke as a Log frame in front of the result frame, so a
// result and the logs before it leave in a single socket write.
import { FrameType } from './protocol.js';

const HEADER = 9;

export type Payload = string | Buffer | readonly Buffer[] | null;

function payloadLength(payload: Payload): number {
  if (payload === null) return 0;
  if (typeof payload === 'string') return Buffer.byteLength(payload);
  if (Buffer.isBuffer(payload)) return payload.length;
  let n = 0;
  for (const b of payload as readonly Buffer[]) n += b.length;
  return n;
}

function writeHeader(out: Buffer, at: number, type: number, metaLen: number, payloadLen: number): number {
  out.writeUInt32BE(5 + metaLen + payloadLen, at);
  out[at + 4] = type;
  out.writeUInt32BE(metaLen, at + 5);
  return at + HEADER;
}

/**
 * One buffer with: a Log frame of `logText` (when not empty), then a frame of `type`
 * with `meta` (a JSON object text, or '' for none) and `payload`.
 */
export function encodeWithLogs(logText: string, type: number, meta: string, payload: Payload): Buffer {
  const logLen = logText.length === 0 ? 0 : Buffer.byteLength(logText);
  const logFrame = logLen === 0 ? 0 : HEADER + logLen;
  const metaLen = meta.length === 0 ? 0 : Buffer.byteLength(meta);
  const payloadLen = payloadLength(payload);
  const out = Buffer.allocUnsafe(logFrame + HEADER + metaLen + payloadLen);
  let at = 0;
  if (logLen !== 0) {
    at = writeHeader(out, 0, FrameType.Log, 0, logLen);
    at += out.write(logText, at, 'utf8');
  }
  at = writeHeader(out, at, type, metaLen, payloadLen);
  if (metaLen !== 0) at += out.write(meta, at, 'utf8');
  if (payload === null) return out;
  if (typeof payload === 'string') out.write(payload, at, 'utf8');
  else if (Buffer.isBuffer(payload)) payload.copy(out, at);
  else for (const b of payload as readonly Buffer[]) at += b.copy(out, at);
  return out;
}

/** A Log frame (meta {}, sent as an empty meta) of whole lines. */
export function encodeLog(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const out = Buffer.allocUnsafe(HEADER + len);
  writeHeader(out, 0, FrameType.Log, 0, len);
  out.write(text, HEADER, 'utf8');
  return out;
}

/** `{"requestId":"…"}` */
export const requestMeta = (requestId: string): string => `{"requestId":${JSON.stringify(requestId)}}`;

/** `{"requestId":"…","errorType":"…"}` */
export const errorMeta = (requestId: string, errorType: string): string =>
  `{"requestId":${JSON.stringify(requestId)},"errorType":${JSON.stringify(errorType)}}`;
