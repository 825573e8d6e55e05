// PostgreSQL for the cluster-mode tests: the machine's server (Debian's
// PostgreSQL 15, started here when it is stopped, with a superuser role for
// root over the local socket), and a fresh database per caller, dropped after.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Where the admin connection goes: $KINDLING_TEST_POSTGRES, or the local socket as root. */
export const ADMIN_URL = process.env.KINDLING_TEST_POSTGRES ?? 'postgresql://root@localhost/postgres?host=/var/run/postgresql';

let ready: Promise<void> | undefined;

async function tryConnect(): Promise<unknown> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Starts the local server and makes the root role when they are missing (as .ci/run does). */
async function ensureServer(): Promise<void> {
  let err = await tryConnect();
  if (!err) return;
  if (process.env.KINDLING_TEST_POSTGRES) throw new Error(`cannot reach $KINDLING_TEST_POSTGRES (${ADMIN_URL}): ${String(err)}`);
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED') {
    execFileSync('pg_ctlcluster', ['15', 'main', 'start'], { stdio: 'pipe' });
    err = await tryConnect();
    if (!err) return;
  }
  if ((err as { code?: string }).code === '28000' || /role "root" does not exist/.test(String(err))) {
    execFileSync('runuser', ['-u', 'postgres', '--', 'psql', '-qc', 'CREATE ROLE root SUPERUSER LOGIN'], { stdio: 'pipe' });
    err = await tryConnect();
    if (!err) return;
  }
  throw new Error(`PostgreSQL is not reachable at ${ADMIN_URL} (start it with: pg_ctlcluster 15 main start): ${String(err)}`);
}

let n = 0;

/** A new empty database; `drop` removes it (closing what still holds connections). */
export async function freshDatabase(prefix = 'kindling_test'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  ready ??= ensureServer();
  await ready;
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${++n}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A PostgreSQL server of a test's own (initdb in a temporary folder, Unix socket only), which the test may stop and start. */
export interface PrivatePostgres {
  /** The `postgres` database, as superuser root. */
  url: string;
  stop(): void;
  start(): void;
  /** Stops the server and removes its files. */
  destroy(): Promise<void>;
}

/**
 * Its own server, so that restarting it cannot disturb the other tests that
 * share the machine's cluster. Runs as the postgres user (initdb refuses root).
 */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'kindling-pg-'));
  execFileSync('chown', ['postgres:postgres', dir]);
  const data = join(dir, 'data');
  // A port number names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
  const port = 20_000 + (process.pid % 20_000);
  const asPostgres = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { stdio: 'pipe' });
  asPostgres('initdb', ['-D', data, '-U', 'root', '-A', 'trust', '--no-sync']);
  const start = () =>
    asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-o', `-c listen_addresses='' -k ${dir} -p ${port} -c fsync=off`, 'start']);
  const stop = () => asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  start();
  return {
    url: `postgresql://root@localhost:${port}/postgres?host=${dir}`,
    stop,
    start,
    destroy: async () => {
      try {
        stop();
      } catch {
        // already stopped
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
