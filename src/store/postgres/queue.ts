// The internal event queue on PostgreSQL (cluster mode): the same semantics as
// the embedded SQLite queue (src/store/sqlite-queue.ts), for several Kindling
// processes sharing one database.
//
// - receive leases with FOR UPDATE SKIP LOCKED in one statement, so concurrent
//   pollers in any process never get the same event; each delivery gets a new
//   random receipt, so a stale lease can neither ack, extend, retry nor release.
// - enqueue is one INSERT, resolved after its COMMIT (durable with PostgreSQL's
//   default synchronous_commit); no group commit: PostgreSQL batches WAL flushes
//   of concurrent commits itself.
// - Times are epoch ms from each process's clock (`now`), so the processes'
//   clocks must agree to well under a lease (NTP does).
// - onVisible also fires for events other processes made visible: writes that
//   make events visible NOTIFY a channel in the same transaction, and a
//   dedicated connection LISTENs on it (reconnected when it drops).
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type {
  AckOutcome,
  EventQueue,
  FailedEvent,
  NewEvent,
  QueuedEvent,
  QueueStats,
  ReceiveOptions,
  RetryUpdate,
} from '../../async/queue.js';
import { isConnectionFailure, migrateComponent, type PostgresDb, type Queryable } from './db.js';
import { PgListener } from './listener.js';
import { toEvent, toFailed, type EventRow, type FailedRow } from '../queue-rows.js';

export const VISIBLE_CHANNEL = 'kindling_async_visible';

const MIGRATIONS: string[] = [
  `CREATE TABLE async_events (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     function_name TEXT NOT NULL,
     qualifier TEXT,
     request_id TEXT NOT NULL,
     payload BYTEA NOT NULL,
     trace_id TEXT,
     enqueued_at BIGINT NOT NULL,
     -- visible to receivers from this time on (ms); while leased, when the lease lapses
     visible_at BIGINT NOT NULL,
     -- the current lease's token; NULL when not leased
     receipt UUID,
     receive_count INTEGER NOT NULL DEFAULT 0,
     function_errors INTEGER NOT NULL DEFAULT 0,
     system_retries INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX async_events_visible ON async_events (visible_at, id);
   CREATE INDEX async_events_function ON async_events (function_name, visible_at, id);
   CREATE TABLE async_failed_events (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     function_name TEXT NOT NULL,
     qualifier TEXT,
     request_id TEXT NOT NULL,
     payload BYTEA NOT NULL,
     trace_id TEXT,
     enqueued_at BIGINT NOT NULL,
     failed_at BIGINT NOT NULL,
     condition TEXT NOT NULL,
     record TEXT NOT NULL,
     error_type TEXT,
     error_message TEXT
   );
   CREATE INDEX async_failed_events_function ON async_failed_events (function_name, id);`,
];

export interface PgQueueOptions {
  /** The clock (ms since the epoch); tests pass their own. */
  now?: () => number;
}


const RETURNING = `e.id, e.function_name, e.qualifier, e.request_id, e.payload, e.trace_id, e.enqueued_at, e.receive_count, e.function_errors, e.system_retries, e.receipt`;
const MAX_BIGINT = 2n ** 63n - 1n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An id in text as PostgreSQL's BIGINT takes it; undefined when it cannot name a row. */
const bigintId = (s: string): string | undefined => (/^\d{1,19}$/.test(s) && BigInt(s) <= MAX_BIGINT ? s : undefined);

const parseReceipt = (receipt: string): [string, string] | undefined => {
  const i = receipt.indexOf(':');
  if (i <= 0) return undefined;
  const id = bigintId(receipt.slice(0, i));
  const token = receipt.slice(i + 1);
  // Checked here: a malformed token would make PostgreSQL fail the query instead of matching nothing.
  return id !== undefined && UUID.test(token) ? [id, token] : undefined;
};

const PG_STORAGE_CODES = new Set(['53000', '53100', '53200', '53300', '25006']);

/** True for the PostgreSQL errors of a database that cannot take writes now: unreachable, disk full, out of memory, read-only. */
export function isPgStorageFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (
    (typeof code === 'string' && PG_STORAGE_CODES.has(code)) ||
    isConnectionFailure(err) ||
    // pg.Pool's own wording when no connection could be made in time
    /timeout exceeded when trying to connect/i.test(String((err as Error | undefined)?.message ?? ''))
  );
}

/** What to tell a client whose event the database could not take; undefined when `err` is not a storage failure. */
export function pgStorageFailure(err: unknown): string | undefined {
  if (!isPgStorageFailure(err)) return undefined;
  const code = String((err as { code?: unknown }).code ?? '');
  if (code === '53100') return 'Kindling could not store the event: the database disk is full.';
  if (code === '25006') return 'Kindling could not store the event: the database is read-only.';
  if (code.startsWith('53')) return `Kindling could not store the event: the database is out of resources (${code}).`;
  return 'Kindling could not store the event: the database cannot be reached.';
}

export class PgEventQueue implements EventQueue {
  private readonly now: () => number;
  private readonly events = new EventEmitter<{ visible: [] }>();
  /** Sent with this object's NOTIFYs: its own are ignored (it told its listeners already). */
  private readonly instance = randomUUID();
  private readonly inFlight = new Set<Promise<unknown>>();
  private listener: PgListener | undefined;
  private emitScheduled = false;
  private closed = false;

  /** Use `PgEventQueue.open` (it migrates and starts listening). The caller keeps owning `db` and closes it after the queue. */
  constructor(
    private readonly db: PostgresDb,
    opts: PgQueueOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Migrates the schema (component 'async_queue') and connects the LISTEN connection. */
  static async open(db: PostgresDb, opts: PgQueueOptions = {}): Promise<PgEventQueue> {
    await migrateComponent(db, 'async_queue', MIGRATIONS);
    const queue = new PgEventQueue(db, opts);
    await queue.listen();
    return queue;
  }

  private async listen(): Promise<void> {
    const listener = new PgListener(this.db.url, [VISIBLE_CHANNEL], {
      notification: (_channel, payload) => {
        if (payload !== this.instance) this.emitSoon();
      },
      // Other processes' NOTIFYs while the connection was down are lost: look again.
      reconnected: () => this.emitSoon(),
    });
    await listener.start();
    this.listener = listener;
  }

  /** One wake-up for every notification of a turn of the event loop. */
  private emitSoon(): void {
    if (this.emitScheduled || this.closed) return;
    this.emitScheduled = true;
    setImmediate(() => {
      this.emitScheduled = false;
      if (!this.closed) this.emit();
    });
  }

  private emit(): void {
    try {
      this.events.emit('visible');
    } catch {
      // a listener's failure must not fail the write that made events visible
    }
  }

  // --- queries ---------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new Error('The event queue is closed.');
  }

  /** Runs `fn` counted as in flight, so that close() can wait for it. */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    this.checkOpen();
    const p = fn();
    this.inFlight.add(p);
    try {
      return await p;
    } finally {
      this.inFlight.delete(p);
    }
  }

  private insertValues(e: NewEvent, now: number): unknown[] {
    return [
      e.functionName,
      e.qualifier ?? null,
      e.requestId,
      e.payload,
      e.traceId ?? null,
      e.enqueuedAt ?? now,
      now + Math.max(0, e.delayMs ?? 0),
    ];
  }

  /** INSERT of one event and its NOTIFY, in one statement (one implicit transaction). */
  private insertAndNotify(q: Queryable, e: NewEvent, now: number) {
    return q.query({
      name: 'kq_enqueue',
      text: `WITH i AS (
               INSERT INTO async_events (function_name, qualifier, request_id, payload, trace_id, enqueued_at, visible_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING 1
             )
             SELECT pg_notify($8, $9) FROM i`,
      values: [...this.insertValues(e, now), VISIBLE_CHANNEL, this.instance],
    });
  }

  private notify(q: Queryable) {
    return q.query({ name: 'kq_notify', text: 'SELECT pg_notify($1, $2)', values: [VISIBLE_CHANNEL, this.instance] });
  }

  enqueue(event: NewEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('The event queue is closed.'));
    return this.run(async () => {
      await this.insertAndNotify(this.db.pool, event, this.now());
      this.emit();
    });
  }

  receive(opts: ReceiveOptions): Promise<QueuedEvent[]> {
    return this.run(async () => {
      if (opts.max <= 0) return [];
      const now = this.now();
      const exclude = [...new Set(opts.exclude ?? [])];
      let rows: EventRow[];
      if (exclude.length === 0) {
        rows = (
          await this.db.pool.query<EventRow>({
            name: 'kq_receive',
            text: `WITH picked AS MATERIALIZED (
                     SELECT id FROM async_events WHERE visible_at <= $1
                     ORDER BY visible_at, id LIMIT $2
                     FOR UPDATE SKIP LOCKED
                   )
                   UPDATE async_events e
                   SET visible_at = $3, receive_count = e.receive_count + 1, receipt = gen_random_uuid()
                   FROM picked WHERE e.id = picked.id
                   RETURNING ${RETURNING}`,
            values: [now, opts.max, now + opts.visibilityMs],
          })
        ).rows;
      } else {
        // Scanning past a left-out function's backlog would cost a row per event it has queued:
        // walk the distinct function names by index (a skip scan), take the oldest visible events
        // of each other function by its own index range, then lock the oldest of those.
        rows = (
          await this.db.pool.query<EventRow>({
            name: 'kq_receive_excluding',
            text: `WITH RECURSIVE fns(name) AS (
                     (SELECT function_name FROM async_events ORDER BY function_name LIMIT 1)
                     UNION ALL
                     SELECT (SELECT e.function_name FROM async_events e WHERE e.function_name > fns.name ORDER BY e.function_name LIMIT 1)
                     FROM fns WHERE fns.name IS NOT NULL
                   ),
                   candidates AS MATERIALIZED (
                     SELECT c.id, c.visible_at FROM fns CROSS JOIN LATERAL (
                       SELECT e.id, e.visible_at FROM async_events e
                       WHERE e.function_name = fns.name AND e.visible_at <= $1
                       ORDER BY e.visible_at, e.id LIMIT $2
                     ) c
                     WHERE fns.name IS NOT NULL AND NOT (fns.name = ANY($4::text[]))
                     ORDER BY c.visible_at, c.id LIMIT $2
                   ),
                   picked AS MATERIALIZED (
                     -- visible_at is checked again on the locked row: another receiver may have leased it since
                     SELECT e.id FROM async_events e
                     WHERE e.id IN (SELECT id FROM candidates) AND e.visible_at <= $1
                     FOR UPDATE OF e SKIP LOCKED
                   )
                   UPDATE async_events e
                   SET visible_at = $3, receive_count = e.receive_count + 1, receipt = gen_random_uuid()
                   FROM picked WHERE e.id = picked.id
                   RETURNING ${RETURNING}`,
            values: [now, opts.max, now + opts.visibilityMs, exclude],
          })
        ).rows;
      }
      rows.sort((a, b) => a.id - b.id);
      return rows.map(toEvent);
    });
  }

  extend(receipt: string, visibilityMs: number): Promise<boolean> {
    return this.run(async () => {
      const r = parseReceipt(receipt);
      if (!r) return false;
      const res = await this.db.pool.query({
        name: 'kq_extend',
        text: 'UPDATE async_events SET visible_at = $1 WHERE id = $2 AND receipt = $3',
        values: [this.now() + visibilityMs, r[0], r[1]],
      });
      return res.rowCount === 1;
    });
  }

  ack(receipt: string, outcome: AckOutcome = {}): Promise<boolean> {
    return this.run(async () => {
      const r = parseReceipt(receipt);
      if (!r) return false;
      const now = this.now();
      if (!outcome.forward && !outcome.failed) {
        const res = await this.db.pool.query({
          name: 'kq_ack',
          text: 'DELETE FROM async_events WHERE id = $1 AND receipt = $2',
          values: r,
        });
        return res.rowCount === 1;
      }
      const removed = await this.db.transaction(async (c) => {
        const row = (
          await c.query<Omit<FailedRow, 'id' | 'failed_at' | 'condition' | 'record' | 'error_type' | 'error_message'>>({
            name: 'kq_remove',
            text: `DELETE FROM async_events WHERE id = $1 AND receipt = $2
                   RETURNING function_name, qualifier, request_id, payload, trace_id, enqueued_at`,
            values: r,
          })
        ).rows[0];
        if (!row) return false;
        if (outcome.forward) await this.insertAndNotify(c, outcome.forward, now);
        if (outcome.failed) {
          const f = outcome.failed;
          await c.query({
            name: 'kq_insert_failed',
            text: `INSERT INTO async_failed_events (function_name, qualifier, request_id, payload, trace_id, enqueued_at, failed_at, condition, record, error_type, error_message)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
            values: [
              row.function_name,
              row.qualifier,
              row.request_id,
              row.payload,
              row.trace_id,
              row.enqueued_at,
              now,
              f.condition,
              f.record,
              f.errorType ?? null,
              f.errorMessage ?? null,
            ],
          });
        }
        return true;
      });
      if (removed && outcome.forward) this.emit();
      return removed;
    });
  }

  retry(receipt: string, update: RetryUpdate): Promise<boolean> {
    return this.run(async () => {
      const r = parseReceipt(receipt);
      if (!r) return false;
      const at = this.now() + Math.max(0, update.delayMs);
      // NOTIFY too: other processes' pollers then recompute when to look next.
      const res = await this.db.pool.query({
        name: 'kq_retry',
        text: `WITH u AS (
                 UPDATE async_events SET visible_at = $1, receipt = NULL, function_errors = $2, system_retries = $3
                 WHERE id = $4 AND receipt = $5 RETURNING 1
               )
               SELECT pg_notify($6, $7) FROM u`,
        values: [at, update.functionErrors, update.systemRetries, r[0], r[1], VISIBLE_CHANNEL, this.instance],
      });
      return res.rowCount === 1;
    });
  }

  release(receipt: string): Promise<boolean> {
    return this.run(async () => {
      const r = parseReceipt(receipt);
      if (!r) return false;
      const res = await this.db.pool.query({
        name: 'kq_release',
        text: `WITH u AS (
                 UPDATE async_events SET visible_at = $1, receipt = NULL, receive_count = GREATEST(receive_count - 1, 0)
                 WHERE id = $2 AND receipt = $3 RETURNING 1
               )
               SELECT pg_notify($4, $5) FROM u`,
        values: [this.now(), r[0], r[1], VISIBLE_CHANNEL, this.instance],
      });
      const released = res.rowCount === 1;
      if (released) this.emit();
      return released;
    });
  }

  /**
   * Unlike the embedded queue's, this resets no lease: other live processes share the
   * queue, and a lease cannot tell a crashed holder from a running one. A lease of a
   * process that stopped lapses by itself (visible_at is its end), so this only
   * counts the events visible now, and wakes this process's pollers for them.
   */
  recover(): Promise<number> {
    return this.run(async () => {
      const res = await this.db.pool.query<{ n: number }>({
        name: 'kq_recover',
        text: 'SELECT count(*) AS n FROM async_events WHERE visible_at <= $1',
        values: [this.now()],
      });
      const n = res.rows[0]?.n ?? 0;
      if (n > 0) this.emit();
      return n;
    });
  }

  nextVisibleAt(): Promise<number | undefined> {
    return this.run(async () => {
      const res = await this.db.pool.query<{ at: number | null }>({
        name: 'kq_next_visible',
        text: 'SELECT MIN(visible_at) AS at FROM async_events WHERE visible_at > $1',
        values: [this.now()],
      });
      return res.rows[0]?.at ?? undefined;
    });
  }

  stats(functionName?: string): Promise<QueueStats> {
    return this.run(async () => {
      const now = this.now();
      const counts = `count(*) FILTER (WHERE visible_at <= $1) AS visible,
                      count(*) FILTER (WHERE visible_at > $1 AND receipt IS NOT NULL) AS in_flight,
                      count(*) FILTER (WHERE visible_at > $1 AND receipt IS NULL) AS delayed`;
      type Row = { visible: number; in_flight: number; delayed: number; failed: number };
      const res =
        functionName === undefined
          ? await this.db.pool.query<Row>({
              name: 'kq_stats_all',
              text: `SELECT ${counts}, (SELECT count(*) FROM async_failed_events) AS failed FROM async_events`,
              values: [now],
            })
          : await this.db.pool.query<Row>({
              name: 'kq_stats_one',
              text: `SELECT ${counts}, (SELECT count(*) FROM async_failed_events WHERE function_name = $2) AS failed
                     FROM async_events WHERE function_name = $2`,
              values: [now, functionName],
            });
      const row = res.rows[0]!;
      return { visible: row.visible, inFlight: row.in_flight, delayed: row.delayed, failed: row.failed };
    });
  }

  listFailed(functionName: string, opts: { after?: string; limit: number }): Promise<FailedEvent[]> {
    return this.run(async () => {
      let after = '0';
      if (opts.after !== undefined && /^\d+$/.test(opts.after)) {
        const id = bigintId(opts.after);
        if (id === undefined) return []; // past every id there can be
        after = id;
      }
      const res = await this.db.pool.query<FailedRow>({
        name: 'kq_list_failed',
        text: 'SELECT * FROM async_failed_events WHERE function_name = $1 AND id > $2 ORDER BY id LIMIT $3',
        values: [functionName, after, Math.max(0, opts.limit)],
      });
      return res.rows.map(toFailed);
    });
  }

  redrive(functionName: string, ids?: string[]): Promise<number> {
    return this.run(async () => {
      const now = this.now();
      const only = ids?.flatMap((id) => bigintId(id) ?? []);
      if (only !== undefined && only.length === 0) return 0;
      const n = await this.db.transaction(async (c) => {
        // Deleted and inserted in one statement: two processes redriving at once move each event once.
        const res = await c.query<{ n: number }>({
          text: `WITH d AS (
                   DELETE FROM async_failed_events
                   WHERE function_name = $1 ${only !== undefined ? 'AND id = ANY($3::bigint[])' : ''}
                   RETURNING *
                 ),
                 i AS (
                   INSERT INTO async_events (function_name, qualifier, request_id, payload, trace_id, enqueued_at, visible_at)
                   SELECT function_name, qualifier, request_id, payload, trace_id, $2, $2 FROM d ORDER BY id
                   RETURNING 1
                 )
                 SELECT count(*) AS n FROM i`,
          values: only !== undefined ? [functionName, now, only] : [functionName, now],
        });
        const count = res.rows[0]?.n ?? 0;
        if (count > 0) await this.notify(c);
        return count;
      });
      if (n > 0) this.emit();
      return n;
    });
  }

  onVisible(listener: () => void): () => void {
    this.events.on('visible', listener);
    return () => this.events.off('visible', listener);
  }

  /** Refuses new calls, waits for those in flight, and stops listening. The PostgresDb stays open (its owner closes it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    this.events.removeAllListeners();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.close();
  }
}

