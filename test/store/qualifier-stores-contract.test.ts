// The per-qualifier stores' contract (event invoke configs, function URL
// configs, provisioned concurrency configs), held by the embedded SQLite
// stores and by PostgreSQL (cluster mode): one record per function qualifier,
// in byte order, paged, refused once the function is gone, and cascading away
// with the function.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EventConfigStore, EventInvokeConfig } from '../../src/async/event-config.js';
import type { FunctionVersion } from '../../src/control/model.js';
import { LATEST } from '../../src/control/model.js';
import type { FunctionUrlRecord, FunctionUrlStore } from '../../src/control/urls.js';
import { openPostgres, type PostgresDb } from '../../src/store/postgres/db.js';
import { PgEventConfigStore } from '../../src/store/postgres/event-config.js';
import { PgFunctionUrlStore } from '../../src/store/postgres/function-urls.js';
import { PgProvisionedConfigStore } from '../../src/store/postgres/provisioned.js';
import { PgStateStore } from '../../src/store/postgres/state.js';
import type { ProvisionedConfigRecord, ProvisionedConfigStore } from '../../src/store/provisioned.js';
import { SqliteEventConfigStore } from '../../src/store/sqlite-event-config.js';
import { SqliteFunctionUrlStore } from '../../src/store/sqlite-function-urls.js';
import { SqliteProvisionedConfigStore } from '../../src/store/sqlite-provisioned.js';
import { SqliteStateStore } from '../../src/store/sqlite-state.js';
import type { StateStore } from '../../src/store/state.js';
import { freshDatabase } from '../helpers/postgres.js';

let dir: string;
const cleanups: (() => Promise<void>)[] = [];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kindling-qualifiers-'));
});
after(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await rm(dir, { recursive: true, force: true });
});

interface Stores {
  state: StateStore;
  events: EventConfigStore;
  urls: FunctionUrlStore;
  provisioned: ProvisionedConfigStore;
}

/** Closes what a backend opened, last first (the stores before their database). */
function closing<T extends { close(): Promise<void> | void }>(x: T): T {
  cleanups.push(async () => x.close());
  return x;
}

let files = 0;
let pgDb: PostgresDb | undefined;
const backends: [string, () => Promise<Stores>][] = [
  [
    'sqlite',
    async () => {
      const path = join(dir, `state-${++files}.sqlite`);
      // The state store first: the qualifier tables refer to its functions.
      const state = closing(new SqliteStateStore(path));
      return {
        state,
        events: closing(new SqliteEventConfigStore(path)),
        urls: closing(new SqliteFunctionUrlStore(path)),
        provisioned: closing(new SqliteProvisionedConfigStore(path)),
      };
    },
  ],
  [
    'postgres',
    async () => {
      const fresh = await freshDatabase();
      cleanups.push(fresh.drop);
      const db = closing(openPostgres(fresh.url));
      pgDb = db;
      const state = closing(await PgStateStore.open(db));
      return {
        state,
        events: closing(await PgEventConfigStore.open(db)),
        urls: closing(await PgFunctionUrlStore.open(db)),
        provisioned: closing(await PgProvisionedConfigStore.open(db)),
      };
    },
  ],
];

function latest(name: string): FunctionVersion {
  return {
    functionName: name,
    version: LATEST,
    description: '',
    runtime: 'nodejs20.x',
    role: 'arn:aws:iam::123456789012:role/r',
    handler: 'index.handler',
    timeout: 3,
    memorySize: 128,
    ephemeralStorageMb: 512,
    architectures: ['x86_64'],
    tracingMode: 'PassThrough',
    logging: { logFormat: 'Text', logGroup: `/aws/lambda/${name}` },
    codeSha256: 'sha',
    codeSize: 1,
    packageType: 'Zip',
    layers: [],
    lastModified: '2024-01-31T12:00:00.000+0000',
    revisionId: `rev-${name}`,
    state: 'Active',
    lastUpdateStatus: 'Successful',
  };
}

async function createFunction(state: StateStore, name: string): Promise<void> {
  assert.equal(await state.createFunction({ functionName: name, createdAt: '2024-01-31T12:00:00.000+0000', lastVersion: 0, tags: {} }, latest(name)), true);
}

const eventConfig = (functionName: string, qualifier: string, extra: Partial<EventInvokeConfig> = {}): EventInvokeConfig => ({
  functionName,
  qualifier,
  maximumRetryAttempts: 1,
  maximumEventAgeInSeconds: 600,
  onFailure: `arn:aws:lambda:us-east-1:123456789012:function:dlq-${qualifier}`,
  lastModified: 1_706_702_400_123,
  ...extra,
});

const provisionedConfig = (functionName: string, qualifier: string, requested = 2): ProvisionedConfigRecord => ({
  functionName,
  qualifier,
  requested,
  lastModified: '2024-01-31T12:00:00+0000',
});

const urlConfig = (functionName: string, qualifier: string, urlId: string, extra: Partial<FunctionUrlRecord> = {}): FunctionUrlRecord => ({
  functionName,
  qualifier,
  urlId,
  authType: 'NONE',
  cors: { AllowOrigins: ['*'], MaxAge: 60 },
  creationTime: '2024-01-31T12:00:00.000000Z',
  lastModifiedTime: '2024-01-31T12:00:00.000000Z',
  ...extra,
});

const qualifiers = (rs: { qualifier: string }[]): string[] => rs.map((r) => r.qualifier);

for (const [name, open] of backends) {
  describe(`qualifier stores: ${name}`, () => {
    test('event invoke configs: put replaces, get, list in byte order ($LATEST first) with pages, delete', async () => {
      const { state, events } = await open();
      await createFunction(state, 'f');
      await createFunction(state, 'g');
      for (const q of ['live', '1', LATEST, 'Zed', '10', '2']) assert.equal(await events.put(eventConfig('f', q)), true);
      assert.equal(await events.put(eventConfig('g', LATEST)), true);
      const replaced = eventConfig('f', 'live', { maximumRetryAttempts: 0, onSuccess: 'arn:aws:lambda:us-east-1:123456789012:function:ok', lastModified: 1 });
      delete replaced.onFailure;
      assert.equal(await events.put(replaced), true);
      assert.equal(JSON.stringify(await events.get('f', 'live')), JSON.stringify(replaced));
      assert.deepEqual(await events.get('f', LATEST), eventConfig('f', LATEST));
      assert.equal(await events.get('f', 'nope'), undefined);
      assert.equal(await events.get('nope', LATEST), undefined);
      const order = [LATEST, '1', '10', '2', 'Zed', 'live'];
      assert.deepEqual(qualifiers(await events.list('f', { limit: 100 })), order);
      assert.deepEqual(qualifiers(await events.list('f', { limit: 2 })), [LATEST, '1']);
      assert.deepEqual(qualifiers(await events.list('f', { after: '1', limit: 3 })), ['10', '2', 'Zed']);
      assert.deepEqual(qualifiers(await events.list('f', { after: 'live', limit: 3 })), []);
      assert.deepEqual(qualifiers(await events.list('g', { limit: 100 })), [LATEST]);
      assert.equal(await events.delete('f', '2'), true);
      assert.equal(await events.delete('f', '2'), false);
      assert.equal(await events.get('f', '2'), undefined);
      assert.deepEqual(qualifiers(await events.list('f', { limit: 100 })), [LATEST, '1', '10', 'Zed', 'live']);
      // No such function: refused.
      assert.equal(await events.put(eventConfig('ghost', LATEST)), false);
      assert.equal(await events.get('ghost', LATEST), undefined);
    });

    test('event invoke configs: paging through many, each once', async () => {
      const { state, events } = await open();
      await createFunction(state, 'f');
      const all = Array.from({ length: 23 }, (_, i) => `alias-${String(i).padStart(2, '0')}`);
      await Promise.all(all.map((q) => events.put(eventConfig('f', q))));
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await events.list('f', { ...(after !== undefined ? { after } : {}), limit: 10 });
        seen.push(...qualifiers(page));
        if (page.length < 10) break;
        after = page[page.length - 1]!.qualifier;
      }
      assert.deepEqual(seen, all);
    });

    test('provisioned configs: put replaces, get, list one function or all (by function, then qualifier), delete', async () => {
      const { state, provisioned } = await open();
      for (const n of ['b', 'A', 'a']) await createFunction(state, n);
      for (const [f, q] of [['b', 'live'], ['a', '2'], ['A', '1'], ['a', '10'], ['a', 'Beta']] as const) {
        assert.equal(await provisioned.put(provisionedConfig(f, q)), true);
      }
      assert.equal(await provisioned.put(provisionedConfig('a', '2', 7)), true);
      assert.deepEqual(await provisioned.get('a', '2'), provisionedConfig('a', '2', 7));
      assert.equal(await provisioned.get('a', '3'), undefined);
      assert.deepEqual(qualifiers(await provisioned.list('a')), ['10', '2', 'Beta']);
      assert.deepEqual(
        (await provisioned.list()).map((c) => `${c.functionName}/${c.qualifier}`),
        ['A/1', 'a/10', 'a/2', 'a/Beta', 'b/live'],
      );
      assert.equal(await provisioned.delete('a', '10'), true);
      assert.equal(await provisioned.delete('a', '10'), false);
      assert.deepEqual(qualifiers(await provisioned.list('a')), ['2', 'Beta']);
      assert.deepEqual(await provisioned.list('ghost'), []);
      assert.equal(await provisioned.put(provisionedConfig('ghost', '1')), false);
      assert.equal(await provisioned.get('ghost', '1'), undefined);
    });

    test('function URL configs: create once per qualifier, get by function or url id, update, list, delete', async () => {
      const { state, urls } = await open();
      await createFunction(state, 'f');
      await createFunction(state, 'g');
      const unqualified = urlConfig('f', '', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1');
      const live = urlConfig('f', 'live', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2', { invokeMode: 'RESPONSE_STREAM' });
      assert.equal(await urls.create(live), true);
      assert.equal(await urls.create(unqualified), true);
      assert.equal(await urls.create(urlConfig('g', '', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1')), true);
      // The qualifier has one already: refused, the first stays.
      assert.equal(await urls.create(urlConfig('f', 'live', 'ccccccccccccccccccccccccccccccc1')), false);
      assert.equal(JSON.stringify(await urls.get('f', 'live')), JSON.stringify(live));
      assert.equal(await urls.getByUrlId('ccccccccccccccccccccccccccccccc1'), undefined);
      assert.deepEqual(await urls.getByUrlId(unqualified.urlId), unqualified);
      assert.deepEqual(await urls.getByUrlId(live.urlId), live);
      assert.equal(await urls.getByUrlId('nothing'), undefined);
      assert.deepEqual(qualifiers(await urls.list('f')), ['', 'live']);
      const updated = { ...live, authType: 'AWS_IAM' as const, lastModifiedTime: '2024-02-01T00:00:00.000000Z' };
      delete updated.cors;
      await urls.update(updated);
      assert.deepEqual(await urls.get('f', 'live'), updated);
      assert.deepEqual(await urls.getByUrlId(live.urlId), updated);
      assert.equal(await urls.delete('f', 'live'), true);
      assert.equal(await urls.delete('f', 'live'), false);
      assert.equal(await urls.get('f', 'live'), undefined);
      assert.equal(await urls.getByUrlId(live.urlId), undefined);
      assert.deepEqual(qualifiers(await urls.list('f')), ['']);
      assert.equal(await urls.create(urlConfig('ghost', '', 'ddddddddddddddddddddddddddddddd1')), false);
      assert.equal(await urls.getByUrlId('ddddddddddddddddddddddddddddddd1'), undefined);
    });

    test("deleteFunction takes every qualifier table's rows with it; writes after it are refused", async () => {
      const { state, events, urls, provisioned } = await open();
      await createFunction(state, 'f');
      await createFunction(state, 'keep');
      for (const n of ['f', 'keep']) {
        assert.equal(await events.put(eventConfig(n, LATEST)), true);
        assert.equal(await events.put(eventConfig(n, 'live')), true);
        assert.equal(await provisioned.put(provisionedConfig(n, '1')), true);
        assert.equal(await urls.create(urlConfig(n, '', `url-of-${n}`)), true);
      }
      await state.deleteFunction('f');
      assert.deepEqual(await events.list('f', { limit: 100 }), []);
      assert.equal(await events.get('f', LATEST), undefined);
      assert.deepEqual(await provisioned.list('f'), []);
      assert.equal(await provisioned.get('f', '1'), undefined);
      assert.deepEqual(await urls.list('f'), []);
      assert.equal(await urls.get('f', ''), undefined);
      assert.equal(await urls.getByUrlId('url-of-f'), undefined);
      // The other function keeps its rows.
      assert.deepEqual(qualifiers(await events.list('keep', { limit: 100 })), [LATEST, 'live']);
      assert.deepEqual((await provisioned.list()).map((c) => c.functionName), ['keep']);
      assert.deepEqual(await urls.getByUrlId('url-of-keep'), urlConfig('keep', '', 'url-of-keep'));
      // A writer that checked the function before it went: refused, nothing lands.
      assert.equal(await events.put(eventConfig('f', LATEST)), false);
      assert.equal(await provisioned.put(provisionedConfig('f', '1')), false);
      assert.equal(await urls.create(urlConfig('f', '', 'url-of-f')), false);
      assert.deepEqual(await events.list('f', { limit: 100 }), []);
      assert.deepEqual(await provisioned.list('f'), []);
      assert.equal(await urls.getByUrlId('url-of-f'), undefined);
      // A new function of that name starts with none.
      await createFunction(state, 'f');
      assert.deepEqual(await events.list('f', { limit: 100 }), []);
      assert.deepEqual(await urls.list('f'), []);
    });
  });
}

test('postgres: the url id lookup is indexed, and the stores leave the database open', async () => {
  const [, open] = backends[1]!;
  const stores = await open();
  const db = pgDb!;
  await createFunction(stores.state, 'f');
  assert.equal(await stores.urls.create(urlConfig('f', '', 'indexed-url-id')), true);
  const client = await db.pool.connect();
  try {
    // Without sequential scans on offer, the planner shows what index there is.
    await client.query('SET enable_seqscan = off');
    const plan = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT data FROM function_url_configs WHERE url_id = $1`, ['indexed-url-id']);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(text, /Index (Only )?Scan|Bitmap Index Scan/);
    assert.match(text, /url_id/);
  } finally {
    client.release();
  }
  await stores.events.close();
  await stores.provisioned.close();
  await stores.state.close();
  assert.deepEqual(await stores.urls.getByUrlId('indexed-url-id'), urlConfig('f', '', 'indexed-url-id'));
  assert.equal((await db.pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n, 1);
});
