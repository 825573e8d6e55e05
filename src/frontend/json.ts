// JSON request bodies of the control-plane API.
import { isUtf8 } from 'node:buffer';
import { serializationError } from '../errors.js';

export function parseJsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  if (!isUtf8(body)) throw serializationError('Could not parse the request body as JSON: it is not UTF-8 text.');
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw serializationError(`Could not parse the request body as JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw serializationError('The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}
