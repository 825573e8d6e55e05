// The PostgreSQL connection every cluster-mode store shares: one pg.Pool per
// process, schema migrations per component, and transactions that retry when
// PostgreSQL asks them to (serialization failures, deadlocks).
import pg from 'pg';

export type Queryable = pg.Pool | pg.PoolClient;

/** One pool per state URL in a process: the stores of one Kindling share it. */
export interface PostgresDb {
  readonly url: string;
  readonly pool: pg.Pool;
  /** Runs `fn` in a transaction (BEGIN ... COMMIT), retried on 40001/40P01. */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// BIGINT (int8) columns hold epoch milliseconds and counters: read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

/** True for errors that mean the database could not be reached or went away (retry later, not a bad request). */
export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'ENOENT'].includes(code) ||
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin shutdown
    code === '57P02' || // crash shutdown
    code === '57P03' || // cannot connect now
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(String((err as Error)?.message ?? ''))
  );
}

export function openPostgres(url: string, opts: { max?: number; applicationName?: string } = {}): PostgresDb {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'kindling',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  // An idle client losing its connection (PostgreSQL restarted) must not crash the process;
  // the pool drops it and the next query connects again.
  pool.on('error', () => {});
  return {
    url,
    pool,
    async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const out = await fn(client);
          await client.query('COMMIT');
          client.release();
          return out;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          client.release(isConnectionFailure(err) ? (err as Error) : undefined);
          if (attempt < MAX_ATTEMPTS && RETRYABLE.has((err as { code?: string }).code ?? '')) continue;
          throw err;
        }
      }
    },
    close: () => pool.end(),
  };
}

const pools = new Map<string, { db: PostgresDb; users: number }>();

/** The process's shared pool for `url`; each caller closes its own handle, the pool ends with the last. */
export function sharedPostgres(url: string): PostgresDb {
  let entry = pools.get(url);
  if (!entry) {
    entry = { db: openPostgres(url), users: 0 };
    pools.set(url, entry);
  }
  entry.users++;
  const { db } = entry;
  let closed = false;
  return {
    url,
    pool: db.pool,
    transaction: (fn) => db.transaction(fn),
    close: async () => {
      if (closed) return;
      closed = true;
      const e = pools.get(url);
      if (!e) return;
      if (--e.users === 0) {
        pools.delete(url);
        await e.db.close();
      }
    },
  };
}

/**
 * Applies a component's migrations (index i is schema version i + 1) once, under an
 * advisory lock, so that several Kindling processes starting together do not race.
 */
export async function migrateComponent(db: PostgresDb, component: string, migrations: string[]): Promise<void> {
  await db.transaction(async (c) => {
    // One lock for all components: CREATE TABLE IF NOT EXISTS itself races without it.
    await c.query('SELECT pg_advisory_xact_lock(7361726)');
    await c.query('CREATE TABLE IF NOT EXISTS kindling_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    const row = await c.query<{ version: number }>('SELECT version FROM kindling_schema WHERE component = $1', [component]);
    const current = row.rows[0]?.version ?? 0;
    for (let i = current; i < migrations.length; i++) await c.query(migrations[i]!);
    if (current < migrations.length) {
      await c.query(
        'INSERT INTO kindling_schema (component, version) VALUES ($1, $2) ON CONFLICT (component) DO UPDATE SET version = excluded.version',
        [component, migrations.length],
      );
    }
  });
}

/** A state URL names PostgreSQL. */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);
