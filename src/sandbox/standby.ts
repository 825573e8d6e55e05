// Watches a generic sandbox's host-guest stream for the agent's Standby frame
// (it sends nothing else before Init), then lets go of the stream, so the
// Sandbox that takes it later is its only reader.
import type { Duplex } from 'node:stream';
import { FrameDecoder, FrameType } from '../guest/protocol.js';

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
    if (f.type === FrameType.Standby) finish(true);
  });
  const onData = (chunk: Buffer): void => {
    if (!over) decoder.push(chunk);
  };
  const onClose = (): void => finish(false);
  stream.on('data', onData);
  stream.on('close', onClose);
  return { done, stop: () => finish(false) };
}
