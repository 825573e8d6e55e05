// LISTEN on PostgreSQL channels over one dedicated connection that comes back
// by itself: when PostgreSQL restarts or the network drops, the listener
// reconnects with backoff and says so (notifications sent meanwhile are lost,
// so whoever caches must reload then).
import pg from 'pg';

export interface ListenerHandlers {
  notification(channel: string, payload: string): void;
  /** Called after a reconnect (not after the first connect): reload what notifications keep current. */
  reconnected?(): void;
}

const BACKOFF_MS = [100, 250, 500, 1000, 2000, 5000];
const CHANNEL = /^[a-z_][a-z0-9_]*$/;

export class PgListener {
  private client: pg.Client | undefined;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly channels: string[],
    private readonly handlers: ListenerHandlers,
  ) {
    for (const c of channels) if (!CHANNEL.test(c)) throw new Error(`not a channel name: ${c}`);
  }

  /** Resolves once listening (rejects when the first connection fails). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'kindling-listener', keepAlive: true, connectionTimeoutMillis: 10_000 });
    client.on('notification', (n) => {
      if (n.payload !== undefined) this.handlers.notification(n.channel, n.payload);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    await client.connect();
    for (const c of this.channels) await client.query(`LISTEN ${c}`);
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
  }

  private lost(client: pg.Client): void {
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.retry();
  }

  private retry(): void {
    if (this.closed || this.timer) return;
    const delay = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]!;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect().then(
        () => {
          this.attempt = 0;
          if (!this.closed) this.handlers.reconnected?.();
        },
        () => this.retry(),
      );
    }, delay);
    this.timer.unref();
  }

  /** True while a connection is listening. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }
}

/** NOTIFY with a payload (pg_notify binds it as a parameter, so any text is safe); in a transaction it is sent at COMMIT. */
export async function notify(q: pg.Pool | pg.PoolClient, channel: string, payload: string): Promise<void> {
  await q.query('SELECT pg_notify($1, $2)', [channel, payload]);
}
