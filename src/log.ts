// Kindling's own log (not functions' logs): structured, to stderr.
import { pino } from 'pino';

export type Logger = pino.Logger;

/** Never logged: signatures, session tokens, secrets (wherever a logged object carries them). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-amz-security-token"]',
  'headers.authorization',
  'headers["x-amz-security-token"]',
  'authorization',
  'secretAccessKey',
  'SecretAccessKey',
  '*.secretAccessKey',
  '*.SecretAccessKey',
  '*.secret',
  'secret',
];

export const createLogger = (level = process.env.KINDLING_LOG_LEVEL ?? 'info'): Logger =>
  pino({ level, base: { service: 'kindling' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination(2));
