// InvokeWithResponseStream's body: AWS event stream messages (application/vnd.amazon.eventstream),
// encoded with the codec the AWS SDK decodes them with. Each message: prelude (total length,
// headers length, prelude CRC32), headers (:event-type, :content-type, :message-type), payload,
// message CRC32. The events are botocore's InvokeWithResponseStreamResponseEvent:
// PayloadChunk {Payload: blob, the event payload} and InvokeComplete {ErrorCode, ErrorDetails, LogResult} (JSON).
import { EventStreamCodec } from '@smithy/core/event-streams';

const codec = new EventStreamCodec(
  (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
  (text: string) => Buffer.from(text, 'utf8'),
);

const EVENT = { type: 'string', value: 'event' } as const;

function message(eventType: string, contentType: string, body: Uint8Array): Buffer {
  const out = codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: contentType },
      ':message-type': EVENT,
    },
    body,
  });
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** A PayloadChunk event carrying `bytes`. */
export const payloadChunk = (bytes: Uint8Array): Buffer => message('PayloadChunk', 'application/octet-stream', bytes);

export interface InvokeComplete {
  ErrorCode?: string;
  ErrorDetails?: string;
  LogResult?: string;
}

/** The InvokeComplete event that ends every stream. */
export const invokeComplete = (c: InvokeComplete): Buffer => message('InvokeComplete', 'application/json', Buffer.from(JSON.stringify(c)));

/** Splits Lambda's error body ({errorType, errorMessage, ...}) into InvokeComplete's ErrorCode and ErrorDetails. */
export function completeForError(errorType: string | undefined, body: Buffer): InvokeComplete {
  let details = body.toString('utf8');
  let code = errorType;
  try {
    const parsed = JSON.parse(details) as { errorType?: unknown; errorMessage?: unknown } | null;
    if (parsed && typeof parsed === 'object') {
      if (typeof parsed.errorMessage === 'string') details = parsed.errorMessage;
      if (code === undefined && typeof parsed.errorType === 'string') code = parsed.errorType;
    }
  } catch {
    // Not JSON: the body as text.
  }
  return { ErrorCode: code ?? 'Unhandled', ErrorDetails: details };
}
