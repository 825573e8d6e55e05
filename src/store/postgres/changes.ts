// Function changes between the processes of a cluster: what one frontend's
// control plane changes (code, configuration, aliases, concurrency, deletes)
// reaches every other one, which drops what it cached and retires sandboxes
// running the old version, as it does for its own changes.
import { randomUUID } from 'node:crypto';
import type { FunctionChange } from '../../control/functions.js';
import type { PostgresDb } from './db.js';
import { notify, PgListener } from './listener.js';

const CHANNEL = 'kindling_function_changes';
/** NOTIFY payloads must stay under 8000 bytes; names and versions are far shorter. */
const KINDS = new Set(['created', 'updated', 'deleted', 'configured']);

export interface ChangeFeedHandlers {
  /** A change made by another process. */
  remote(change: FunctionChange): void;
  /** Notifications may have been missed (the connection dropped): drop every cache. */
  resync(): void;
}

export class PgChangeFeed {
  /** This process's id in payloads, so its own changes are not applied twice. */
  private readonly origin = randomUUID();
  private readonly listener: PgListener;

  private constructor(
    private readonly db: PostgresDb,
    handlers: ChangeFeedHandlers,
    private readonly onPublishError: (err: unknown) => void,
  ) {
    this.listener = new PgListener(db.url, [CHANNEL], {
      notification: (_channel, payload) => {
        let msg: { o?: unknown; k?: unknown; f?: unknown; v?: unknown };
        try {
          msg = JSON.parse(payload) as typeof msg;
        } catch {
          return;
        }
        if (msg.o === this.origin || typeof msg.f !== 'string' || typeof msg.v !== 'string' || !KINDS.has(msg.k as string)) return;
        handlers.remote({ kind: msg.k as FunctionChange['kind'], functionName: msg.f, version: msg.v, remote: true });
      },
      reconnected: () => handlers.resync(),
    });
  }

  static async open(db: PostgresDb, handlers: ChangeFeedHandlers, onPublishError: (err: unknown) => void): Promise<PgChangeFeed> {
    const feed = new PgChangeFeed(db, handlers, onPublishError);
    await feed.listener.start();
    return feed;
  }

  /** Tells the other processes. The change is committed already; a NOTIFY that fails here means PostgreSQL went away, and the others resync when their listeners reconnect. */
  publish(change: FunctionChange): void {
    if (change.remote) return;
    const payload = JSON.stringify({ o: this.origin, k: change.kind, f: change.functionName, v: change.version });
    notify(this.db.pool, CHANNEL, payload).catch(this.onPublishError);
  }

  async close(): Promise<void> {
    await this.listener.close();
  }
}
