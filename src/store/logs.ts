// Functions' logs (Kindling's CloudWatch Logs): every line a function writes,
// kept per function and log stream, written in batches off the hot path.
import type Database from 'better-sqlite3';
import type { FunctionLogSink } from '../host/sandbox.js';
import { migrate, openSqlite } from './sqlite-state.js';

export interface LogEvent {
  id: number;
  functionName: string;
  logStream: string;
  timestamp: number;
  message: string;
}

export interface LogQuery {
  functionName: string;
  startTime?: number;
  endTime?: number;
  /** Texts that must all appear in the message. */
  terms?: string[];
  /** Only events after this id (pagination and --follow). */
  afterId?: number;
  limit: number;
}

const MIGRATIONS = [
  `CREATE TABLE log_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     function_name TEXT NOT NULL,
     log_stream TEXT NOT NULL,
     ts INTEGER NOT NULL,
     message TEXT NOT NULL
   );
   CREATE INDEX log_events_fn_ts ON log_events (function_name, ts);`,
];

/** Where functions' logs go and are read back: SQLite here, PostgreSQL in cluster mode (postgres/logs.ts). */
export interface LogStore extends FunctionLogSink {
  /**
   * Buffers the text's lines (never blocks, never throws); they are written within FLUSH_EVERY_MS.
   * `timestamp` (ms) is when they were written, when that was elsewhere (a worker host); now otherwise.
   */
  append(functionName: string, logStream: string, text: string, timestamp?: number): void;
  /** Writes what is buffered now. */
  flush(): Promise<void>;
  /** Events in id order (the order they were written); flushes this process's buffer first. */
  query(q: LogQuery): Promise<LogEvent[]>;
  /** Drops events older than the retention window; resolves to how many. */
  expire(olderThanMs: number): Promise<number>;
  /** Flushes, then stops. */
  close(): Promise<void>;
}

export const FLUSH_EVERY_MS = 100;
export const FLUSH_AT_EVENTS = 2000;

/** The non-empty lines of `text` (a chunk of whole lines). */
export function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end > start) lines.push(text.slice(start, end));
    start = end + 1;
  }
  return lines;
}

export class SqliteLogStore implements LogStore {
  private readonly db: Database.Database;
  private buffer: [string, string, number, string][] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly insert;
  private readonly flushTx;

  constructor(path: string) {
    this.db = openSqlite(path);
    // Logs may lose the last instant on power loss; they never corrupt.
    this.db.pragma('synchronous = NORMAL');
    migrate(this.db, MIGRATIONS);
    this.insert = this.db.prepare('INSERT INTO log_events (function_name, log_stream, ts, message) VALUES (?, ?, ?, ?)');
    this.flushTx = this.db.transaction((rows: [string, string, number, string][]) => {
      for (const r of rows) this.insert.run(r);
    });
  }

  append(functionName: string, logStream: string, text: string, timestamp?: number): void {
    const now = timestamp ?? Date.now();
    for (const line of splitLines(text)) this.buffer.push([functionName, logStream, now, line]);
    if (this.buffer.length >= FLUSH_AT_EVENTS) this.flushQuietly();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flushQuietly(), FLUSH_EVERY_MS);
      this.timer.unref();
    }
  }

  async flush(): Promise<void> {
    this.flushNow();
  }

  /** From append and the timer: a failed write (disk full) loses that batch rather than a function's invocation or the process. */
  private flushQuietly(): void {
    try {
      this.flushNow();
    } catch {
      // the batch is lost; later lines are tried again
    }
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0 || !this.db.open) return;
    const rows = this.buffer;
    this.buffer = [];
    this.flushTx(rows);
  }

  async query(q: LogQuery): Promise<LogEvent[]> {
    this.flushNow();
    const where = ['function_name = ?'];
    const args: (string | number)[] = [q.functionName];
    if (q.startTime !== undefined) (where.push('ts >= ?'), args.push(q.startTime));
    if (q.endTime !== undefined) (where.push('ts <= ?'), args.push(q.endTime));
    if (q.afterId !== undefined) (where.push('id > ?'), args.push(q.afterId));
    for (const t of q.terms ?? []) (where.push('instr(message, ?) > 0'), args.push(t));
    args.push(q.limit);
    const rows = this.db
      .prepare<(string | number)[], { id: number; function_name: string; log_stream: string; ts: number; message: string }>(
        `SELECT id, function_name, log_stream, ts, message FROM log_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`,
      )
      .all(...args);
    return rows.map((r) => ({ id: r.id, functionName: r.function_name, logStream: r.log_stream, timestamp: r.ts, message: r.message }));
  }

  /** Drops events older than the retention window. */
  async expire(olderThanMs: number): Promise<number> {
    this.flushNow();
    return this.db.prepare('DELETE FROM log_events WHERE ts < ?').run(Date.now() - olderThanMs).changes;
  }

  async close(): Promise<void> {
    this.flushNow();
    if (this.db.open) this.db.close();
  }
}
