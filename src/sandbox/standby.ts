// Watches a generic sandbox's host-guest stream for the agent's Standby frame
// (it sends nothing else before Init), then lets go of the stream, so the
// Sandbox that takes it later is its only reader. At Standby it sends the agent a
// Warmup frame, so the agent's first read of the stream is not the cold start's Init.
import type { Duplex } from 'node:stream';
import { encodeFrame, FrameDecoder, FrameType } from '../guest/protocol.js';

const WARMUP = encodeFrame(FrameType.Warmup, undefined);

export interface StandbyWatch {
  /** True at Standby; false when the stream ended or the watch was stopped first. */
  readonly done: Promise<boolean>;
  stop(): void;
}

export function watchStandby(stream: Duplex): StandbyWatch {
  let settle: (ok: boolean) => void = () => undefined;
  const done = new Promise<boolean>((resolve) => (settle = resolve));
  let over = false;
  const finish = (ok: boolean): void => {
    if (over) return;
    over = true;
    stream.off('data', onData);
    stream.off('close', onClose);
    settle(ok);
  };
  const decoder = new FrameDecoder((f) => {
    if (f.type !== FrameType.Standby) return;
    if (stream.writable) stream.write(WARMUP);
    finish(true);
  });
  const onData = (chunk: Buffer): void => {
    if (!over) decoder.push(chunk);
  };
  const onClose = (): void => finish(false);
  stream.on('data', onData);
  stream.on('close', onClose);
  // A pooled sandbox that dies makes its stream fail (EPIPE on the Warmup, ECONNRESET):
  // its exit is what the pool goes by, and an unheard stream error would end this process.
  stream.on('error', () => undefined);
  return { done, stop: () => finish(false) };
}
