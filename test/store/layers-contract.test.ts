// The layer store's contract, held by the embedded SQLite store and by
// PostgreSQL (cluster mode): publish/get/list/delete, version numbers per
// layer name that are never reused (also after deletes, as Lambda numbers
// them), distinct numbers for concurrent publishers in different processes
// (two stores on two pools), and code references from layers and functions.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LayerStore, LayerVersionRecord } from '../../src/control/layers.js';
import type { FunctionVersion } from '../../src/control/model.js';
import { openPostgres, type PostgresDb } from '../../src/store/postgres/db.js';
import { PgLayerStore } from '../../src/store/postgres/layers.js';
import { PgStateStore } from '../../src/store/postgres/state.js';
import { SqliteLayerStore } from '../../src/store/sqlite-layers.js';
import { SqliteStateStore } from '../../src/store/sqlite-state.js';
import type { StateStore } from '../../src/store/state.js';
import { freshDatabase } from '../helpers/postgres.js';
import { functionVersion } from '../helpers/records.js';

interface Backend {
  state: StateStore;
  /** The store under test. */
  layers: LayerStore;
  /** Another process's store on the same data (its own connection pool for PostgreSQL). */
  openOther(): Promise<LayerStore & { close(): Promise<void> }>;
  close(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = await mkdtemp(join(tmpdir(), 'kindling-layers-'));
  const path = join(dir, 'state.sqlite');
  // The state store first: layers consult its function_versions table.
  const state = new SqliteStateStore(path);
  const layers = new SqliteLayerStore(path);
  const others: SqliteLayerStore[] = [];
  return {
    state,
    layers,
    openOther: async () => {
      const s = new SqliteLayerStore(path);
      others.push(s);
      return s;
    },
    close: async () => {
      for (const s of others) await s.close();
      await layers.close();
      await state.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresBackend(): Promise<Backend> {
  const fresh = await freshDatabase();
  const dbs: PostgresDb[] = [openPostgres(fresh.url)];
  const state = await PgStateStore.open(dbs[0]!);
  const layers = await PgLayerStore.open(dbs[0]!);
  return {
    state,
    layers,
    openOther: async () => {
      const db = openPostgres(fresh.url, { max: 4 });
      dbs.push(db);
      return PgLayerStore.open(db);
    },
    close: async () => {
      await layers.close();
      await state.close();
      for (const db of dbs) await db.close();
      await fresh.drop();
    },
  };
}

const sha = (text: string): string => createHash('sha256').update(text).digest('base64');

const record = (layerName: string, version: number, code = `${layerName}-${version}`): LayerVersionRecord => ({
  layerName,
  version,
  description: `v${version} of ${layerName}`,
  licenseInfo: 'MIT',
  compatibleRuntimes: ['nodejs20.x', 'python3.12'],
  compatibleArchitectures: ['x86_64'],
  codeSha256: sha(code),
  codeSize: 100 + version,
  unzippedSize: 1000 + version,
  createdDate: '2024-01-31T12:00:00.000+0000',
});

const publish = (store: LayerStore, name: string, code?: string): Promise<LayerVersionRecord> => store.publish(name, (v) => record(name, v, code));

const usingLayer = (functionName: string, codeSha256: string, layerSha?: string): FunctionVersion =>
  functionVersion(functionName, {
    codeSha256,
    codeSize: 10,
    layers: layerSha ? ['arn:aws:lambda:us-east-1:000000000000:layer:used:1'] : [],
    ...(layerSha ? { layerCode: [{ arn: 'arn:aws:lambda:us-east-1:000000000000:layer:used:1', codeSha256: layerSha, codeSize: 1, unzippedSize: 1 }] } : {}),
    revisionId: '00000000-0000-4000-8000-000000000000',
  });

const backends: [string, () => Promise<Backend>][] = [
  ['sqlite', sqliteBackend],
  ['postgres', postgresBackend],
];

for (const [name, make] of backends) {
  describe(`layer store: ${name}`, () => {
    let b: Backend;
    before(async () => {
      b = await make();
    });
    after(async () => {
      await b.close();
    });

    test('publish numbers versions 1, 2, 3 per layer name and stores what build made', async () => {
      const first = await publish(b.layers, 'numbered');
      assert.deepEqual(first, record('numbered', 1));
      assert.equal((await publish(b.layers, 'numbered')).version, 2);
      // Another name counts on its own.
      assert.equal((await publish(b.layers, 'numbered-other')).version, 1);
      assert.equal((await publish(b.layers, 'numbered')).version, 3);
      assert.deepEqual(await b.layers.get('numbered', 1), record('numbered', 1));
      assert.deepEqual(await b.layers.get('numbered', 3), record('numbered', 3));
      assert.equal(await b.layers.get('numbered', 4), undefined);
      assert.equal(await b.layers.get('never-published', 1), undefined);
      // A record without optional members reads back without them.
      const bare = await b.layers.publish('bare', (v) => {
        const { licenseInfo: _omit, ...rest } = record('bare', v);
        return rest;
      });
      assert.equal('licenseInfo' in ((await b.layers.get('bare', bare.version)) ?? {}), false);
    });

    test('listVersions is newest first; listLayerNames lists names with versions, in order', async () => {
      for (const n of ['list-b', 'list-a', 'list-b', 'list-c', 'list-b']) await publish(b.layers, n);
      assert.deepEqual(
        (await b.layers.listVersions('list-b')).map((v) => v.version),
        [3, 2, 1],
      );
      assert.deepEqual(await b.layers.listVersions('list-b'), [record('list-b', 3), record('list-b', 2), record('list-b', 1)]);
      assert.deepEqual(await b.layers.listVersions('list-none'), []);
      const names = (await b.layers.listLayerNames()).filter((n) => n.startsWith('list-'));
      assert.deepEqual(names, ['list-a', 'list-b', 'list-c']);
      // Upper case sorts before lower case (byte order), as in SQLite.
      await publish(b.layers, 'list-Z');
      assert.deepEqual(
        (await b.layers.listLayerNames()).filter((n) => n.startsWith('list-')),
        ['list-Z', 'list-a', 'list-b', 'list-c'],
      );
      // A layer whose versions are all deleted is no longer listed.
      await b.layers.delete('list-a', 1);
      assert.deepEqual(
        (await b.layers.listLayerNames()).filter((n) => n.startsWith('list-')),
        ['list-Z', 'list-b', 'list-c'],
      );
    });

    test('delete returns the record once; version numbers are never reused, even of the newest or of every version', async () => {
      await publish(b.layers, 'deleted');
      await publish(b.layers, 'deleted');
      assert.deepEqual(await b.layers.delete('deleted', 2), record('deleted', 2));
      assert.equal(await b.layers.delete('deleted', 2), undefined);
      assert.equal(await b.layers.delete('deleted', 99), undefined);
      assert.equal(await b.layers.get('deleted', 2), undefined);
      assert.deepEqual(await b.layers.get('deleted', 1), record('deleted', 1));
      assert.equal((await publish(b.layers, 'deleted')).version, 3);
      await b.layers.delete('deleted', 1);
      await b.layers.delete('deleted', 3);
      assert.deepEqual(await b.layers.listVersions('deleted'), []);
      assert.equal((await publish(b.layers, 'deleted')).version, 4);
      assert.deepEqual(
        (await b.layers.listVersions('deleted')).map((v) => v.version),
        [4],
      );
    });

    test('concurrent publishers in two processes get distinct, gapless version numbers', async () => {
      const other = await b.openOther();
      const rounds = 15;
      const results = await Promise.all(
        Array.from({ length: rounds }, (_, i) => [publish(b.layers, 'raced', `a${i}`), publish(other, 'raced', `b${i}`)]).flat(),
      );
      const versions = results.map((r) => r.version).sort((x, y) => x - y);
      assert.deepEqual(
        versions,
        Array.from({ length: rounds * 2 }, (_, i) => i + 1),
      );
      // Each stored record is the one its publisher built.
      for (const r of results) assert.deepEqual(await other.get('raced', r.version), r);
      assert.equal((await b.layers.listVersions('raced')).length, rounds * 2);
      // And the numbering goes on from either store.
      assert.equal((await publish(other, 'raced')).version, rounds * 2 + 1);
      assert.equal((await publish(b.layers, 'raced')).version, rounds * 2 + 2);
    });

    test('a second store on the same data sees what the first wrote (migrations apply once)', async () => {
      await publish(b.layers, 'seen');
      const other = await b.openOther();
      assert.deepEqual(await other.get('seen', 1), record('seen', 1));
      assert.deepEqual(await other.delete('seen', 1), record('seen', 1));
      assert.equal(await b.layers.get('seen', 1), undefined);
    });

    test('isCodeReferenced: by a layer version, by a function version own code, by a function layer code', async () => {
      const layerCode = sha('referenced-layer');
      const v = await publish(b.layers, 'referenced', 'referenced-layer');
      assert.equal(v.codeSha256, layerCode);
      assert.equal(await b.layers.isCodeReferenced(layerCode), true);
      await b.layers.delete('referenced', v.version);
      assert.equal(await b.layers.isCodeReferenced(layerCode), false);

      const own = sha('function-own');
      const viaLayer = sha('function-layer');
      assert.equal(await b.layers.isCodeReferenced(own), false);
      assert.equal(await b.layers.isCodeReferenced(viaLayer), false);
      const fn = { functionName: 'uses-code', createdAt: '2024-01-31T12:00:00.000+0000', lastVersion: 0, tags: {} };
      assert.equal(await b.state.createFunction(fn, usingLayer('uses-code', own, viaLayer)), true);
      assert.equal(await b.layers.isCodeReferenced(own), true);
      assert.equal(await b.layers.isCodeReferenced(viaLayer), true);
      assert.equal(await b.layers.isCodeReferenced(sha('unrelated')), false);
      await b.state.deleteFunction('uses-code');
      assert.equal(await b.layers.isCodeReferenced(own), false);
      assert.equal(await b.layers.isCodeReferenced(viaLayer), false);
    });
  });
}
