// A cluster's shared secrets: the root access key (unless the environment
// gives one) and the server secret that signs code download links. The first
// process to start makes them; every other one reads the same, so a request
// signed for one frontend is good at all of them.
import type { AccessKey } from '../../credentials.js';
import { migrateComponent, type PostgresDb } from './db.js';

const MIGRATIONS = [`CREATE TABLE cluster_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)`];

export interface ClusterSecrets {
  rootKey: AccessKey;
  serverSecret: Buffer;
  /** True when this process made the root key. */
  createdRootKey: boolean;
}

export async function clusterSecrets(db: PostgresDb, fresh: { rootKey: AccessKey; serverSecret: Buffer }): Promise<ClusterSecrets> {
  await migrateComponent(db, 'cluster_secrets', MIGRATIONS);
  const offered = { root_key: JSON.stringify(fresh.rootKey), server_secret: fresh.serverSecret.toString('base64') };
  const inserted = await db.pool.query<{ name: string }>(
    `INSERT INTO cluster_secrets (name, value) VALUES ('root_key', $1), ('server_secret', $2) ON CONFLICT (name) DO NOTHING RETURNING name`,
    [offered.root_key, offered.server_secret],
  );
  const rows = await db.pool.query<{ name: string; value: string }>('SELECT name, value FROM cluster_secrets');
  const byName = new Map(rows.rows.map((r) => [r.name, r.value]));
  const root = JSON.parse(byName.get('root_key')!) as AccessKey;
  return {
    rootKey: { accessKeyId: root.accessKeyId, secretAccessKey: root.secretAccessKey },
    serverSecret: Buffer.from(byName.get('server_secret')!, 'base64'),
    createdRootKey: inserted.rows.some((r) => r.name === 'root_key'),
  };
}
