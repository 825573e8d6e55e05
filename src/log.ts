// Kindling's own log (not functions' logs): structured, to stderr.
import { pino } from 'pino';

export type Logger = pino.Logger;

export const createLogger = (level = process.env.KINDLING_LOG_LEVEL ?? 'info'): Logger =>
  pino({ level, base: { service: 'kindling' } }, pino.destination(2));
