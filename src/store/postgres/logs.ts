// Functions' logs on PostgreSQL (cluster mode), with SqliteLogStore's
// semantics: appends are buffered in memory and written every FLUSH_EVERY_MS
// (or at FLUSH_AT_EVENTS lines) as one multi-row INSERT, so a function writing
// logs never waits for the database. While the database is unreachable the
// lines stay buffered (up to BUFFER_CAP; past it the oldest are dropped and
// counted) and the write is tried again, backing off up to RETRY_MAX_MS.
import { FLUSH_AT_EVENTS, FLUSH_EVERY_MS, splitLines, type LogEvent, type LogQuery, type LogStore } from '../logs.js';
import { migrateComponent, type PostgresDb } from './db.js';

const MIGRATIONS = [
  `CREATE TABLE log_events (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     function_name TEXT NOT NULL,
     log_stream TEXT NOT NULL,
     ts BIGINT NOT NULL,
     message TEXT NOT NULL
   );
   CREATE INDEX log_events_fn_id ON log_events (function_name, id);
   CREATE INDEX log_events_fn_ts ON log_events (function_name, ts);
   -- For expiry across all functions: rows arrive in time order, so a BRIN index is tiny and cheap to keep.
   CREATE INDEX log_events_ts ON log_events USING brin (ts);`,
];

/** Lines kept while the database is away; past this the oldest go. */
export const BUFFER_CAP = 50_000;
/** Lines per INSERT when catching up after an outage. */
const BATCH = 5000;
const RETRY_MAX_MS = 2000;
/** One process at a time expires (each frontend runs the hourly expiry). */
const EXPIRE_LOCK = 7361727;
/**
 * Inserts take turns, holding this until COMMIT: ids then become visible in id order across
 * processes, so a reader paging or following with afterId never skips a batch that committed
 * late with lower ids. A batch takes milliseconds, one per process per FLUSH_EVERY_MS.
 */
const INSERT_LOCK = 7361728;

interface Line {
  functionName: string;
  logStream: string;
  ts: number;
  message: string;
}

// PostgreSQL text cannot hold NUL; a line with one would otherwise fail its whole batch forever.
const clean = (s: string): string => (s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s);

/** Errors that the same rows would meet again (bad data, schema, constraints): retrying cannot help. */
const isPermanent = (err: unknown): boolean => /^(22|23|42)/.test((err as { code?: string } | undefined)?.code ?? '');

export class PgLogStore implements LogStore {
  private buffer: Line[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The write running now; flushes run one at a time, so ids keep this process's order. */
  private writing: Promise<void> | undefined;
  private failures = 0;
  private dropped = 0;
  private closed = false;

  private constructor(
    private readonly db: PostgresDb,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** The database is the caller's: close() leaves it open. `onError` hears of failed background writes. */
  static async open(db: PostgresDb, opts: { onError?: (err: unknown) => void } = {}): Promise<PgLogStore> {
    await migrateComponent(db, 'log_events', MIGRATIONS);
    return new PgLogStore(db, opts.onError ?? (() => {}));
  }

  /** Lines dropped so far (buffer over BUFFER_CAP while the database was away, or rejected by it). */
  get droppedLines(): number {
    return this.dropped;
  }

  /** Lines waiting to be written. */
  get bufferedLines(): number {
    return this.buffer.length;
  }

  append(functionName: string, logStream: string, text: string, timestamp?: number): void {
    if (this.closed) return;
    const ts = timestamp ?? Date.now();
    for (const line of splitLines(text)) this.buffer.push({ functionName: clean(functionName), logStream: clean(logStream), ts, message: clean(line) });
    this.trim();
    if (this.buffer.length >= FLUSH_AT_EVENTS && this.failures === 0) this.kick();
    else this.schedule(FLUSH_EVERY_MS);
  }

  private trim(): void {
    const over = this.buffer.length - BUFFER_CAP;
    if (over > 0) {
      this.buffer.splice(0, over);
      this.dropped += over;
    }
  }

  private schedule(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
    this.timer.unref();
  }

  /** A background write, unless one is running (it looks at the buffer again when it ends). */
  private kick(): void {
    if (this.writing) return;
    this.flush().catch(this.onError);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const run = (this.writing ?? Promise.resolve()).catch(() => {}).then(() => this.writeBuffered());
    this.writing = run;
    const done = (): void => {
      if (this.writing === run) this.writing = undefined;
      if (this.buffer.length > 0) this.schedule(this.failures === 0 ? FLUSH_EVERY_MS : Math.min(FLUSH_EVERY_MS * 2 ** this.failures, RETRY_MAX_MS));
    };
    run.then(
      () => {
        this.failures = 0;
        done();
      },
      () => {
        this.failures++;
        done();
      },
    );
    return run;
  }

  private async writeBuffered(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, BATCH);
      try {
        await this.db.transaction(async (c) => {
          await c.query('SELECT pg_advisory_xact_lock($1)', [INSERT_LOCK]);
          await c.query(
            `INSERT INTO log_events (function_name, log_stream, ts, message)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])`,
            [batch.map((l) => l.functionName), batch.map((l) => l.logStream), batch.map((l) => l.ts), batch.map((l) => l.message)],
          );
        });
      } catch (err) {
        if (isPermanent(err)) {
          this.dropped += batch.length;
          this.onError(err);
          continue;
        }
        // Back in front, in order; lines appended meanwhile stay behind them.
        this.buffer = batch.concat(this.buffer);
        this.trim();
        throw err;
      }
    }
  }

  async query(q: LogQuery): Promise<LogEvent[]> {
    await this.flush();
    const where = ['function_name = $1'];
    const args: (string | number)[] = [q.functionName];
    const arg = (v: string | number): string => `$${args.push(v)}`;
    if (q.startTime !== undefined) where.push(`ts >= ${arg(q.startTime)}`);
    if (q.endTime !== undefined) where.push(`ts <= ${arg(q.endTime)}`);
    if (q.afterId !== undefined) where.push(`id > ${arg(q.afterId)}`);
    for (const t of q.terms ?? []) where.push(`strpos(message, ${arg(t)}) > 0`);
    const limit = arg(q.limit);
    const r = await this.db.pool.query<{ id: number; function_name: string; log_stream: string; ts: number; message: string }>(
      `SELECT id, function_name, log_stream, ts, message FROM log_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${limit}`,
      args,
    );
    return r.rows.map((row) => ({ id: row.id, functionName: row.function_name, logStream: row.log_stream, timestamp: row.ts, message: row.message }));
  }

  /** Drops events older than the retention window; 0 when another process is expiring right now. */
  async expire(olderThanMs: number): Promise<number> {
    await this.flush();
    return this.db.transaction(async (c) => {
      const lock = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [EXPIRE_LOCK]);
      if (!lock.rows[0]?.ok) return 0;
      const r = await c.query('DELETE FROM log_events WHERE ts < $1', [Date.now() - olderThanMs]);
      return r.rowCount ?? 0;
    });
  }

  /** Writes what is buffered (once; lines still unwritten when the database is away are lost and counted). */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } catch (err) {
      this.onError(err);
    }
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dropped += this.buffer.length;
    this.buffer = [];
  }
}
