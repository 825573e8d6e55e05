// The embedded event queue on SQLite (its own file, queue.sqlite, in WAL mode).
//
// Durability: an enqueue resolves only after its transaction is committed with
// synchronous=FULL (the WAL is fsync'd). Enqueues arriving together share one
// transaction and one fsync (group commit): they wait for the next turn of the
// event loop (or `groupCommitMs`), or until `maxBatch` are waiting, then all
// commit at once and all their promises resolve after the COMMIT.
//
// Everything else (receive, ack, retry, extend) commits with synchronous=NORMAL:
// the WAL is appended in order, so the next FULL commit (or checkpoint) makes
// them durable too, and losing one to a power cut only means the event is
// delivered again, which at-least-once delivery allows. A process crash loses
// nothing either way: the WAL is already in the operating system's hands.
import { EventEmitter } from 'node:events';
import type Database from 'better-sqlite3';
import type {
  AckOutcome,
  EventQueue,
  FailedEvent,
  NewEvent,
  QueuedEvent,
  QueueStats,
  ReceiveOptions,
  RetryUpdate,
} from '../async/queue.js';
import { migrate, openSqlite } from './sqlite-state.js';
import { toEvent, toFailed, type EventRow, type FailedRow } from './queue-rows.js';

const MIGRATIONS: string[] = [
  `CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     function_name TEXT NOT NULL,
     qualifier TEXT,
     request_id TEXT NOT NULL,
     payload BLOB NOT NULL,
     trace_id TEXT,
     enqueued_at INTEGER NOT NULL,
     -- visible to receivers from this time on (ms); while leased, when the lease lapses
     visible_at INTEGER NOT NULL,
     -- the current lease's token; NULL when not leased
     receipt TEXT,
     receive_count INTEGER NOT NULL DEFAULT 0,
     function_errors INTEGER NOT NULL DEFAULT 0,
     system_retries INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX events_visible ON events (visible_at, id);
   CREATE INDEX events_function ON events (function_name, visible_at);
   CREATE INDEX events_leased ON events (receipt) WHERE receipt IS NOT NULL;
   CREATE TABLE failed_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     function_name TEXT NOT NULL,
     qualifier TEXT,
     request_id TEXT NOT NULL,
     payload BLOB NOT NULL,
     trace_id TEXT,
     enqueued_at INTEGER NOT NULL,
     failed_at INTEGER NOT NULL,
     condition TEXT NOT NULL,
     record TEXT NOT NULL,
     error_type TEXT,
     error_message TEXT
   );
   CREATE INDEX failed_events_function ON failed_events (function_name, id);`,
];

export interface SqliteQueueOptions {
  /** Keep a group commit open this long for more enqueues, ms; 0 commits on the next turn of the event loop. */
  groupCommitMs?: number;
  /** Commit at once when this many enqueues are waiting. */
  maxBatch?: number;
  /** The clock (ms since the epoch); tests pass their own. */
  now?: () => number;
}


interface Pending {
  event: NewEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const parseReceipt = (receipt: string): [number, string] | undefined => {
  const i = receipt.indexOf(':');
  if (i <= 0) return undefined;
  const id = Number(receipt.slice(0, i));
  return Number.isSafeInteger(id) ? [id, receipt.slice(i + 1)] : undefined;
};

/** True for the SQLite errors of a data folder that cannot take writes: full, read-only, gone, failing. */
export function isStorageFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_FULL') ||
      code.startsWith('SQLITE_READONLY') ||
      code.startsWith('SQLITE_IOERR') ||
      code.startsWith('SQLITE_CANTOPEN') ||
      code.startsWith('SQLITE_CORRUPT') ||
      code.startsWith('SQLITE_NOTADB'))
  );
}

/** What to tell a client whose event the data folder could not take; undefined when `err` is not a storage failure. */
export function sqliteStorageFailure(err: unknown): string | undefined {
  if (!isStorageFailure(err)) return undefined;
  const code = String((err as { code?: unknown }).code ?? '');
  if (code.startsWith('SQLITE_FULL')) return 'Kindling could not store the event: the data folder is full.';
  if (code.startsWith('SQLITE_READONLY')) return 'Kindling could not store the event: the data folder is read-only.';
  return `Kindling could not store the event: the data folder cannot be written (${code}).`;
}

export class SqliteEventQueue implements EventQueue {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly insertBatch: (batch: Pending[], now: number) => void;
  private readonly now: () => number;
  private readonly groupCommitMs: number;
  private readonly maxBatch: number;
  private readonly events = new EventEmitter<{ visible: [] }>();
  private pending: Pending[] = [];
  private flushTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  /** Group commits so far and the events in them (for tests and the bench). */
  readonly commits = { transactions: 0, events: 0 };

  constructor(path: string, opts: SqliteQueueOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.groupCommitMs = opts.groupCommitMs ?? 0;
    this.maxBatch = opts.maxBatch ?? 512;
    this.db = openSqlite(path);
    migrate(this.db, MIGRATIONS);
    this.db.pragma('synchronous = NORMAL');
    const db = this.db;
    const returning = `id, function_name, qualifier, request_id, payload, trace_id, enqueued_at, receive_count, function_errors, system_retries, receipt`;
    this.stmt = {
      insert: db.prepare(
        `INSERT INTO events (function_name, qualifier, request_id, payload, trace_id, enqueued_at, visible_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      receive: db.prepare<[number, number, string, number], EventRow>(
        `UPDATE events SET visible_at = ?, receive_count = receive_count + 1, receipt = lower(hex(randomblob(8)))
         WHERE id IN (
           SELECT id FROM events WHERE visible_at <= ? AND function_name NOT IN (SELECT value FROM json_each(?))
           ORDER BY visible_at, id LIMIT ?
         )
         RETURNING ${returning}`,
      ),
      visibleOf: db.prepare<[string, number, number], { id: number; visible_at: number }>(
        'SELECT id, visible_at FROM events WHERE function_name = ? AND visible_at <= ? ORDER BY visible_at, id LIMIT ?',
      ),
      leaseIds: db.prepare<[number, string], EventRow>(
        `UPDATE events SET visible_at = ?, receive_count = receive_count + 1, receipt = lower(hex(randomblob(8)))
         WHERE id IN (SELECT value FROM json_each(?))
         RETURNING ${returning}`,
      ),
      counts: db.prepare<[], { function_name: string; n: number }>('SELECT function_name, COUNT(*) AS n FROM events GROUP BY function_name'),
      extend: db.prepare('UPDATE events SET visible_at = ? WHERE id = ? AND receipt = ?'),
      remove: db.prepare<[number, string], Omit<FailedRow, 'id' | 'failed_at' | 'condition' | 'record' | 'error_type' | 'error_message'>>(
        `DELETE FROM events WHERE id = ? AND receipt = ?
         RETURNING function_name, qualifier, request_id, payload, trace_id, enqueued_at`,
      ),
      retry: db.prepare(
        `UPDATE events SET visible_at = ?, receipt = NULL, function_errors = ?, system_retries = ?
         WHERE id = ? AND receipt = ?`,
      ),
      release: db.prepare(
        `UPDATE events SET visible_at = ?, receipt = NULL, receive_count = MAX(receive_count - 1, 0)
         WHERE id = ? AND receipt = ?`,
      ),
      recover: db.prepare('UPDATE events SET visible_at = MIN(visible_at, ?), receipt = NULL WHERE receipt IS NOT NULL'),
      nextVisible: db.prepare<[number], { at: number | null }>('SELECT MIN(visible_at) AS at FROM events WHERE visible_at > ?'),
      statsAll: db.prepare<[number, number, number], { visible: number; in_flight: number; delayed: number }>(
        `SELECT
           COALESCE(SUM(visible_at <= ?), 0) AS visible,
           COALESCE(SUM(visible_at > ? AND receipt IS NOT NULL), 0) AS in_flight,
           COALESCE(SUM(visible_at > ? AND receipt IS NULL), 0) AS delayed
         FROM events`,
      ),
      statsOne: db.prepare<[number, number, number, string], { visible: number; in_flight: number; delayed: number }>(
        `SELECT
           COALESCE(SUM(visible_at <= ?), 0) AS visible,
           COALESCE(SUM(visible_at > ? AND receipt IS NOT NULL), 0) AS in_flight,
           COALESCE(SUM(visible_at > ? AND receipt IS NULL), 0) AS delayed
         FROM events WHERE function_name = ?`,
      ),
      failedCountAll: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM failed_events'),
      failedCountOne: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM failed_events WHERE function_name = ?'),
      insertFailed: db.prepare(
        `INSERT INTO failed_events (function_name, qualifier, request_id, payload, trace_id, enqueued_at, failed_at, condition, record, error_type, error_message)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      listFailed: db.prepare<[string, number, number], FailedRow>(
        'SELECT * FROM failed_events WHERE function_name = ? AND id > ? ORDER BY id LIMIT ?',
      ),
      allFailed: db.prepare<[string], FailedRow>('SELECT * FROM failed_events WHERE function_name = ? ORDER BY id'),
      oneFailed: db.prepare<[string, number], FailedRow>('SELECT * FROM failed_events WHERE function_name = ? AND id = ?'),
      deleteFailed: db.prepare('DELETE FROM failed_events WHERE id = ?'),
    };
    const insertOne = (e: NewEvent, now: number) =>
      this.stmt.insert.run(
        e.functionName,
        e.qualifier ?? null,
        e.requestId,
        e.payload,
        e.traceId ?? null,
        e.enqueuedAt ?? now,
        now + Math.max(0, e.delayMs ?? 0),
      );
    this.insertOne = insertOne;
    this.insertBatch = db.transaction((batch: Pending[], now: number) => {
      for (const p of batch) insertOne(p.event, now);
    });
    for (const r of this.stmt.counts.all()) this.rows.set(r.function_name, r.n);
  }

  /**
   * Events per function (visible, leased or delayed), kept in step with every
   * committed insert and delete: this process alone writes the file (the data
   * folder's lock). It lets a receive that leaves functions out look only at the others.
   */
  private readonly rows = new Map<string, number>();

  private counted(functionName: string, delta: number): void {
    const n = (this.rows.get(functionName) ?? 0) + delta;
    if (n > 0) this.rows.set(functionName, n);
    else this.rows.delete(functionName);
  }

  private readonly insertOne: (e: NewEvent, now: number) => void;

  private checkOpen(): void {
    if (this.closed) throw new Error('The event queue is closed.');
  }

  enqueue(event: NewEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('The event queue is closed.'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ event, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (this.flushTimer === undefined) {
        this.flushTimer = this.groupCommitMs > 0 ? setTimeout(() => this.flush(), this.groupCommitMs) : setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every waiting enqueue in one durable transaction. */
  private flush(): void {
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer as NodeJS.Timeout);
      clearImmediate(this.flushTimer as NodeJS.Immediate);
      this.flushTimer = undefined;
    }
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    try {
      this.durably(() => this.insertBatch(batch, this.now()));
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    this.commits.transactions++;
    this.commits.events += batch.length;
    for (const p of batch) this.counted(p.event.functionName, 1);
    for (const p of batch) p.resolve();
    this.events.emit('visible');
  }

  /** Runs a write with synchronous=FULL: its COMMIT returns after the fsync. */
  private durably<T>(fn: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return fn();
    } finally {
      try {
        this.db.pragma('synchronous = NORMAL');
      } catch {
        // a failing disk fails this too; the next durable write sets it again
      }
    }
  }

  async receive(opts: ReceiveOptions): Promise<QueuedEvent[]> {
    this.checkOpen();
    if (opts.max <= 0) return [];
    const now = this.now();
    const exclude = new Set(opts.exclude ?? []);
    let rows: EventRow[];
    if (exclude.size === 0) {
      rows = this.stmt.receive.all(now + opts.visibilityMs, now, '[]', opts.max);
    } else {
      // Scanning past a left-out function's backlog would cost a row per event it has
      // queued: look at each other function through its own index range instead.
      const candidates: { id: number; visible_at: number }[] = [];
      for (const name of this.rows.keys()) {
        if (!exclude.has(name)) candidates.push(...this.stmt.visibleOf.all(name, now, opts.max));
      }
      if (candidates.length === 0) return [];
      candidates.sort((a, b) => a.visible_at - b.visible_at || a.id - b.id);
      const ids = candidates.slice(0, opts.max).map((c) => c.id);
      rows = this.stmt.leaseIds.all(now + opts.visibilityMs, JSON.stringify(ids));
    }
    rows.sort((a, b) => a.id - b.id);
    return rows.map(toEvent);
  }

  async extend(receipt: string, visibilityMs: number): Promise<boolean> {
    this.checkOpen();
    const r = parseReceipt(receipt);
    if (!r) return false;
    return this.stmt.extend.run(this.now() + visibilityMs, r[0], r[1]).changes === 1;
  }

  async ack(receipt: string, outcome: AckOutcome = {}): Promise<boolean> {
    this.checkOpen();
    const r = parseReceipt(receipt);
    if (!r) return false;
    const now = this.now();
    const removed = this.db.transaction(() => {
      const row = this.stmt.remove.get(r[0], r[1]);
      if (!row) return undefined;
      if (outcome.forward) this.insertOne(outcome.forward, now);
      if (outcome.failed) {
        const f = outcome.failed;
        this.stmt.insertFailed.run(
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
        );
      }
      return row;
    })();
    if (!removed) return false;
    this.counted(removed.function_name, -1);
    if (outcome.forward) {
      this.counted(outcome.forward.functionName, 1);
      this.events.emit('visible');
    }
    return true;
  }

  async retry(receipt: string, update: RetryUpdate): Promise<boolean> {
    this.checkOpen();
    const r = parseReceipt(receipt);
    if (!r) return false;
    const at = this.now() + Math.max(0, update.delayMs);
    return this.stmt.retry.run(at, update.functionErrors, update.systemRetries, r[0], r[1]).changes === 1;
  }

  async release(receipt: string): Promise<boolean> {
    this.checkOpen();
    const r = parseReceipt(receipt);
    if (!r) return false;
    const released = this.stmt.release.run(this.now(), r[0], r[1]).changes === 1;
    if (released) this.events.emit('visible');
    return released;
  }

  async recover(): Promise<number> {
    this.checkOpen();
    const n = this.stmt.recover.run(this.now()).changes;
    if (n > 0) this.events.emit('visible');
    return n;
  }

  async nextVisibleAt(): Promise<number | undefined> {
    this.checkOpen();
    return this.stmt.nextVisible.get(this.now())?.at ?? undefined;
  }

  async stats(functionName?: string): Promise<QueueStats> {
    this.checkOpen();
    const now = this.now();
    const row = functionName === undefined ? this.stmt.statsAll.get(now, now, now)! : this.stmt.statsOne.get(now, now, now, functionName)!;
    const failed = functionName === undefined ? this.stmt.failedCountAll.get()!.n : this.stmt.failedCountOne.get(functionName)!.n;
    return { visible: row.visible, inFlight: row.in_flight, delayed: row.delayed, failed };
  }

  async listFailed(functionName: string, opts: { after?: string; limit: number }): Promise<FailedEvent[]> {
    this.checkOpen();
    const after = opts.after !== undefined && /^\d+$/.test(opts.after) ? Number(opts.after) : 0;
    return this.stmt.listFailed.all(functionName, after, opts.limit).map(toFailed);
  }

  async redrive(functionName: string, ids?: string[]): Promise<number> {
    this.checkOpen();
    const now = this.now();
    const n = this.durably(() =>
      this.db.transaction(() => {
        const rows =
          ids === undefined
            ? this.stmt.allFailed.all(functionName)
            : ids.flatMap((id) => {
                const row = /^\d+$/.test(id) ? this.stmt.oneFailed.get(functionName, Number(id)) : undefined;
                return row ? [row] : [];
              });
        for (const row of rows) {
          this.insertOne(
            {
              functionName: row.function_name,
              ...(row.qualifier !== null ? { qualifier: row.qualifier } : {}),
              requestId: row.request_id,
              payload: row.payload,
              ...(row.trace_id !== null ? { traceId: row.trace_id } : {}),
              enqueuedAt: now,
            },
            now,
          );
          this.stmt.deleteFailed.run(row.id);
        }
        return rows.length;
      })(),
    );
    if (n > 0) this.counted(functionName, n);
    if (n > 0) this.events.emit('visible');
    return n;
  }

  onVisible(listener: () => void): () => void {
    this.events.on('visible', listener);
    return () => this.events.off('visible', listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.events.removeAllListeners();
    if (this.db.open) this.db.close();
  }
}

