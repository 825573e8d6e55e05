// The state store's contract, held by the embedded SQLite store and by
// PostgreSQL (cluster mode): functions, versions and aliases with their
// revision preconditions, version numbers handed out once even to publishers
// racing from two processes (two pools), list orders and pages, and a
// function's rows going with it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AliasRecord, FunctionRecord, FunctionVersion } from '../../src/control/model.js';
import { LATEST } from '../../src/control/model.js';
import { openPostgres } from '../../src/store/postgres/db.js';
import { PgStateStore } from '../../src/store/postgres/state.js';
import { SqliteStateStore } from '../../src/store/sqlite-state.js';
import type { StateStore } from '../../src/store/state.js';
import { freshDatabase } from '../helpers/postgres.js';
import { functionVersion } from '../helpers/records.js';

let dir: string;
const cleanups: (() => Promise<void>)[] = [];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kindling-state-'));
});
after(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await rm(dir, { recursive: true, force: true });
});

interface Opened {
  store: StateStore;
  /** Another handle on the same database: another connection (SQLite), another pool as another process has (PostgreSQL). */
  other(): Promise<StateStore>;
}

let files = 0;
const backends: [string, () => Promise<Opened>][] = [
  [
    'sqlite',
    async () => {
      const path = join(dir, `state-${++files}.sqlite`);
      const open = async (): Promise<StateStore> => {
        const s = new SqliteStateStore(path);
        cleanups.push(() => s.close());
        return s;
      };
      return { store: await open(), other: open };
    },
  ],
  [
    'postgres',
    async () => {
      const fresh = await freshDatabase();
      cleanups.push(fresh.drop);
      const open = async (): Promise<StateStore> => {
        const db = openPostgres(fresh.url, { max: 4 });
        cleanups.push(() => db.close());
        const s = await PgStateStore.open(db);
        cleanups.push(() => s.close());
        return s;
      };
      return { store: await open(), other: open };
    },
  ],
];

const fnRecord = (name: string, extra: Partial<FunctionRecord> = {}): FunctionRecord => ({
  functionName: name,
  createdAt: '2024-01-31T12:00:00.000+0000',
  lastVersion: 0,
  tags: { team: 'blue', 'ünïcode': '✓ "quoted"' },
  ...extra,
});

function versionRecord(name: string, version: string, extra: Partial<FunctionVersion> = {}): FunctionVersion {
  return functionVersion(name, {
    version,
    description: `v ${version}`,
    role: 'arn:aws:iam::123456789012:role/r',
    environment: { Z_LAST: '1', A_FIRST: 'line\nbreak' },
    codeSha256: `sha-${name}`,
    codeSize: 1000,
    ...extra,
  });
}

const aliasRecord = (functionName: string, name: string, extra: Partial<AliasRecord> = {}): AliasRecord => ({
  functionName,
  name,
  functionVersion: '1',
  description: '',
  revisionId: randomUUID(),
  ...extra,
});

async function create(store: StateStore, name: string, fn: Partial<FunctionRecord> = {}, latest: Partial<FunctionVersion> = {}): Promise<FunctionVersion> {
  const v = versionRecord(name, LATEST, latest);
  assert.equal(await store.createFunction(fnRecord(name, fn), v), true);
  return v;
}

/** What a page of versions names: function/version. */
const keys = (vs: FunctionVersion[]): string[] => vs.map((v) => `${v.functionName}/${v.version}`);

for (const [name, open] of backends) {
  describe(`state store: ${name}`, () => {
    test('functions are created once, read back exactly as written, and replaced', async () => {
      const { store } = await open();
      const fn = fnRecord('f', { reservedConcurrency: 3, policies: { '': { revisionId: 'r1', statements: [{ Sid: 'a', Effect: 'Allow' }] } } });
      const latest = versionRecord('f', LATEST, { layerCode: [{ arn: 'arn:l:1', codeSha256: 'x', codeSize: 1, unzippedSize: 2 }], unzippedSize: 4000 });
      assert.equal(await store.createFunction(fn, latest), true);
      // Key order and all: what was written is what comes back.
      assert.equal(JSON.stringify(await store.getFunction('f')), JSON.stringify(fn));
      assert.equal(JSON.stringify(await store.getVersion('f', LATEST)), JSON.stringify(latest));
      // The name is taken: nothing of the second create lands.
      assert.equal(await store.createFunction(fnRecord('f', { tags: {} }), versionRecord('f', LATEST, { description: 'other' })), false);
      assert.deepEqual(await store.getFunction('f'), fn);
      assert.deepEqual(await store.getVersion('f', LATEST), latest);
      const replaced = { ...fn, tags: { only: 'this' } };
      delete replaced.reservedConcurrency;
      await store.putFunction(replaced);
      assert.deepEqual(await store.getFunction('f'), replaced);
      assert.equal(await store.getFunction('nope'), undefined);
      assert.equal(await store.getVersion('f', '1'), undefined);
      // Putting an absent function creates nothing.
      await store.putFunction(fnRecord('ghost'));
      assert.equal(await store.getFunction('ghost'), undefined);
    });

    test('two processes creating the same name: exactly one wins', async () => {
      const { store, other } = await open();
      const second = await other();
      for (let i = 0; i < 5; i++) {
        const n = `race-${i}`;
        const results = await Promise.all([
          store.createFunction(fnRecord(n), versionRecord(n, LATEST, { description: 'one' })),
          second.createFunction(fnRecord(n), versionRecord(n, LATEST, { description: 'two' })),
        ]);
        assert.deepEqual([...results].sort(), [false, true]);
        const winner = results[0] ? 'one' : 'two';
        assert.equal((await store.getVersion(n, LATEST))?.description, winner);
      }
    });

    test('putVersion writes only over the expected revision (undefined: only a new version)', async () => {
      const { store, other } = await open();
      const latest = await create(store, 'f');
      // A new version: only when absent.
      const v1 = versionRecord('f', '1');
      assert.equal(await store.putVersion(v1, undefined), true);
      assert.equal(await store.putVersion(versionRecord('f', '1', { description: 'again' }), undefined), false);
      assert.deepEqual(await store.getVersion('f', '1'), v1);
      // Over a revision: only the stored one.
      const next = { ...latest, description: 'next', codeSha256: 'sha-next', codeSize: 7, revisionId: randomUUID() };
      assert.equal(await store.putVersion(next, 'not-the-revision'), false);
      assert.equal(await store.putVersion(next, undefined), false);
      assert.deepEqual(await store.getVersion('f', LATEST), latest);
      assert.equal(await store.putVersion(next, latest.revisionId), true);
      assert.equal(JSON.stringify(await store.getVersion('f', LATEST)), JSON.stringify(next));
      assert.equal(await store.isCodeReferenced('sha-next'), true);
      assert.equal(await store.putVersion({ ...next, revisionId: randomUUID() }, latest.revisionId), false);
      // An expected revision of a version that does not exist: nothing to write over.
      assert.equal(await store.putVersion(versionRecord('f', '9'), 'whatever'), false);
      assert.equal(await store.getVersion('f', '9'), undefined);
      // No function: no version.
      assert.equal(await store.putVersion(versionRecord('ghost', LATEST), undefined), false);
      assert.equal(await store.putVersion(versionRecord('ghost', LATEST), 'r'), false);
      assert.equal(await store.getVersion('ghost', LATEST), undefined);
      // Writers in two processes with the same expectation: one of them.
      const second = await other();
      for (let i = 0; i < 5; i++) {
        const current = (await store.getVersion('f', LATEST))!;
        const a = { ...current, description: `a${i}`, revisionId: randomUUID() };
        const b = { ...current, description: `b${i}`, revisionId: randomUUID() };
        const results = await Promise.all([store.putVersion(a, current.revisionId), second.putVersion(b, current.revisionId)]);
        assert.deepEqual([...results].sort(), [false, true]);
        assert.deepEqual(await second.getVersion('f', LATEST), results[0] ? a : b);
      }
    });

    test('publishVersion bumps lastVersion and writes the version, only from the expected lastVersion', async () => {
      const { store } = await open();
      await create(store, 'f');
      const fn = (await store.getFunction('f'))!;
      const v1 = versionRecord('f', '1');
      assert.equal(await store.publishVersion({ ...fn, lastVersion: 1 }, v1), true);
      assert.equal((await store.getFunction('f'))?.lastVersion, 1);
      assert.deepEqual(await store.getVersion('f', '1'), v1);
      // A publisher that read lastVersion 0 lost: nothing of it lands.
      assert.equal(await store.publishVersion({ ...fn, lastVersion: 1, tags: { stale: 'yes' } }, versionRecord('f', '1', { description: 'stale' })), false);
      assert.deepEqual(await store.getVersion('f', '1'), v1);
      assert.deepEqual((await store.getFunction('f'))?.tags, fn.tags);
      assert.equal(await store.publishVersion({ ...fn, lastVersion: 3 }, versionRecord('f', '3')), false);
      assert.equal(await store.publishVersion(fnRecord('ghost', { lastVersion: 1 }), versionRecord('ghost', '1')), false);
      assert.equal(await store.getFunction('ghost'), undefined);
      assert.equal(await store.getVersion('ghost', '1'), undefined);
    });

    test('publishers racing through two processes get distinct numbers 1..N, each version its own', async () => {
      const { store, other } = await open();
      const second = await other();
      await create(store, 'f');
      const N = 16;
      const publish = async (s: StateStore, who: string): Promise<number> => {
        for (;;) {
          const fn = (await s.getFunction('f'))!;
          const n = fn.lastVersion + 1;
          if (await s.publishVersion({ ...fn, lastVersion: n }, versionRecord('f', String(n), { description: who }))) return n;
        }
      };
      const numbers = await Promise.all(Array.from({ length: N }, (_, i) => publish(i % 2 === 0 ? store : second, `publisher ${i}`)));
      assert.deepEqual([...numbers].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1));
      assert.equal((await store.getFunction('f'))?.lastVersion, N);
      // Version k is the one its winner wrote: no publisher overwrote another's.
      for (let i = 0; i < N; i++) assert.equal((await second.getVersion('f', String(numbers[i])))?.description, `publisher ${i}`);
      assert.equal((await store.listVersions('f')).length, N + 1);
    });

    test('listVersions: $LATEST first, then by number (2 before 10), only the one function', async () => {
      const { store } = await open();
      await create(store, 'f');
      await create(store, 'g');
      for (const v of ['10', '2', '1']) assert.equal(await store.putVersion(versionRecord('f', v), undefined), true);
      assert.equal(await store.putVersion(versionRecord('g', '3'), undefined), true);
      assert.deepEqual(keys(await store.listVersions('f')), ['f/$LATEST', 'f/1', 'f/2', 'f/10']);
      assert.deepEqual(keys(await store.listVersions('g')), ['g/$LATEST', 'g/3']);
      assert.deepEqual(await store.listVersions('ghost'), []);
      await store.deleteVersion('f', '2');
      assert.deepEqual(keys(await store.listVersions('f')), ['f/$LATEST', 'f/1', 'f/10']);
      assert.equal(await store.getVersion('f', '2'), undefined);
    });

    test('listFunctionVersions pages in key order (names byte-ordered) after a marker', async () => {
      const { store } = await open();
      // Byte order: 'B' < 'a'; '-' < '_' < 'l'.
      for (const n of ['alpha', 'a_b', 'Beta', 'a-b']) await create(store, n);
      for (const v of ['10', '1', '2']) assert.equal(await store.putVersion(versionRecord('a_b', v), undefined), true);
      const names = ['Beta', 'a-b', 'a_b', 'alpha'];
      assert.deepEqual(keys(await store.listFunctionVersions({ limit: 100, allVersions: false })), names.map((n) => `${n}/$LATEST`));
      assert.deepEqual(keys(await store.listFunctionVersions({ limit: 2, allVersions: false })), ['Beta/$LATEST', 'a-b/$LATEST']);
      assert.deepEqual(keys(await store.listFunctionVersions({ after: { functionName: 'a-b', version: LATEST }, limit: 10, allVersions: false })), [
        'a_b/$LATEST',
        'alpha/$LATEST',
      ]);
      const all = ['Beta/$LATEST', 'a-b/$LATEST', 'a_b/$LATEST', 'a_b/1', 'a_b/2', 'a_b/10', 'alpha/$LATEST'];
      assert.deepEqual(keys(await store.listFunctionVersions({ limit: 100, allVersions: true })), all);
      assert.deepEqual(keys(await store.listFunctionVersions({ after: { functionName: 'a_b', version: '2' }, limit: 100, allVersions: true })), [
        'a_b/10',
        'alpha/$LATEST',
      ]);
      // Page by page, each page after the last one's key: every version once, in order.
      const paged: string[] = [];
      let marker: FunctionVersion | undefined;
      for (;;) {
        const page = await store.listFunctionVersions({ ...(marker ? { after: { functionName: marker.functionName, version: marker.version } } : {}), limit: 2, allVersions: true });
        paged.push(...keys(page));
        if (page.length < 2) break;
        marker = page[page.length - 1];
      }
      assert.deepEqual(paged, all);
      assert.deepEqual(await store.listFunctionVersions({ after: { functionName: 'alpha', version: LATEST }, limit: 10, allVersions: true }), []);
    });

    test('aliases are written only over the expected revision, listed by name, deleted', async () => {
      const { store, other } = await open();
      await create(store, 'f');
      const live = aliasRecord('f', 'live', { additionalVersionWeights: { '2': 0.25 }, description: 'the live one' });
      assert.equal(await store.putAlias(live, undefined), true);
      assert.equal(JSON.stringify(await store.getAlias('f', 'live')), JSON.stringify(live));
      assert.equal(await store.putAlias(aliasRecord('f', 'live'), undefined), false);
      const moved = { ...live, functionVersion: '2', revisionId: randomUUID() };
      assert.equal(await store.putAlias(moved, 'wrong'), false);
      assert.deepEqual(await store.getAlias('f', 'live'), live);
      assert.equal(await store.putAlias(moved, live.revisionId), true);
      assert.deepEqual(await store.getAlias('f', 'live'), moved);
      assert.equal(await store.putAlias(aliasRecord('f', 'absent'), 'r'), false);
      assert.equal(await store.putAlias(aliasRecord('ghost', 'live'), undefined), false);
      assert.equal(await store.getAlias('ghost', 'live'), undefined);
      assert.equal(await store.putAlias(aliasRecord('f', 'beta'), undefined), true);
      assert.equal(await store.putAlias(aliasRecord('f', 'Zeta'), undefined), true);
      assert.deepEqual((await store.listAliases('f')).map((a) => a.name), ['Zeta', 'beta', 'live']);
      // Two processes moving the alias from the same revision: one of them.
      const second = await other();
      for (let i = 0; i < 5; i++) {
        const current = (await store.getAlias('f', 'live'))!;
        const a = { ...current, description: `a${i}`, revisionId: randomUUID() };
        const b = { ...current, description: `b${i}`, revisionId: randomUUID() };
        const results = await Promise.all([store.putAlias(a, current.revisionId), second.putAlias(b, current.revisionId)]);
        assert.deepEqual([...results].sort(), [false, true]);
        assert.deepEqual(await second.getAlias('f', 'live'), results[0] ? a : b);
      }
      await store.deleteAlias('f', 'beta');
      assert.equal(await store.getAlias('f', 'beta'), undefined);
      assert.deepEqual((await store.listAliases('f')).map((a) => a.name), ['Zeta', 'live']);
      assert.deepEqual(await store.listAliases('ghost'), []);
    });

    test('isCodeReferenced: while any version of any function holds the code', async () => {
      const { store } = await open();
      await create(store, 'f', {}, { codeSha256: 'shared' });
      assert.equal(await store.putVersion(versionRecord('f', '1', { codeSha256: 'shared' }), undefined), true);
      await create(store, 'g', {}, { codeSha256: 'g-only' });
      assert.equal(await store.isCodeReferenced('shared'), true);
      assert.equal(await store.isCodeReferenced('g-only'), true);
      assert.equal(await store.isCodeReferenced('nobody'), false);
      await store.deleteVersion('f', '1');
      assert.equal(await store.isCodeReferenced('shared'), true);
      await store.deleteFunction('f');
      assert.equal(await store.isCodeReferenced('shared'), false);
      assert.equal(await store.isCodeReferenced('g-only'), true);
    });

    test('listReservations: the functions that reserve concurrency (zero included), and how much', async () => {
      const { store } = await open();
      assert.deepEqual(await store.listReservations(), []);
      await create(store, 'five', { reservedConcurrency: 5 });
      await create(store, 'zero', { reservedConcurrency: 0 });
      await create(store, 'none');
      const sorted = async () => (await store.listReservations()).sort((a, b) => a.functionName.localeCompare(b.functionName));
      assert.deepEqual(await sorted(), [
        { functionName: 'five', reserved: 5 },
        { functionName: 'zero', reserved: 0 },
      ]);
      await store.putFunction(fnRecord('none', { reservedConcurrency: 1000 }));
      const { reservedConcurrency: _dropped, ...unreserved } = (await store.getFunction('five'))!;
      await store.putFunction(unreserved);
      assert.deepEqual(await sorted(), [
        { functionName: 'none', reserved: 1000 },
        { functionName: 'zero', reserved: 0 },
      ]);
    });

    test('usage: code bytes of every version, and the number of functions', async () => {
      const { store } = await open();
      assert.deepEqual(await store.usage(), { totalCodeSize: 0, functionCount: 0 });
      await create(store, 'f', {}, { codeSize: 3_000_000_000 });
      assert.equal(await store.putVersion(versionRecord('f', '1', { codeSize: 250 }), undefined), true);
      await create(store, 'g', {}, { codeSize: 50 });
      // Past 2^31: sums stay exact numbers.
      assert.deepEqual(await store.usage(), { totalCodeSize: 3_000_000_300, functionCount: 2 });
      await store.deleteFunction('f');
      assert.deepEqual(await store.usage(), { totalCodeSize: 50, functionCount: 1 });
    });

    test('deleteFunction takes its versions and aliases with it; the name can be used again', async () => {
      const { store } = await open();
      await create(store, 'f', {}, { codeSha256: 'f-code' });
      await create(store, 'keep');
      assert.equal(await store.putVersion(versionRecord('f', '1', { codeSha256: 'f-code' }), undefined), true);
      assert.equal(await store.putAlias(aliasRecord('f', 'live'), undefined), true);
      assert.equal(await store.putAlias(aliasRecord('keep', 'live'), undefined), true);
      await store.deleteFunction('f');
      assert.equal(await store.getFunction('f'), undefined);
      assert.equal(await store.getVersion('f', LATEST), undefined);
      assert.equal(await store.getVersion('f', '1'), undefined);
      assert.deepEqual(await store.listVersions('f'), []);
      assert.equal(await store.getAlias('f', 'live'), undefined);
      assert.deepEqual(await store.listAliases('f'), []);
      assert.equal(await store.isCodeReferenced('f-code'), false);
      assert.deepEqual(keys(await store.listFunctionVersions({ limit: 10, allVersions: true })), ['keep/$LATEST']);
      // The other function is untouched.
      assert.ok(await store.getAlias('keep', 'live'));
      // Deleting again is harmless; a new function of that name starts empty.
      await store.deleteFunction('f');
      await create(store, 'f');
      assert.deepEqual(keys(await store.listVersions('f')), ['f/$LATEST']);
      assert.deepEqual(await store.listAliases('f'), []);
    });
  });
}

for (const [name, open] of backends) {
  test(`${name}: a stale putFunction does not move lastVersion back (no version number is handed out twice)`, async () => {
    const { store, other } = await open();
    const second = await other();
    await create(store, 'f');
    const stale = (await second.getFunction('f'))!;
    const fn = (await store.getFunction('f'))!;
    assert.equal(await store.publishVersion({ ...fn, lastVersion: 1 }, versionRecord('f', '1', { description: 'first' })), true);
    // Another process tags the function from the record it read before the publish.
    await second.putFunction({ ...stale, tags: { new: 'tag' } });
    const now = (await store.getFunction('f'))!;
    assert.deepEqual(now.tags, { new: 'tag' });
    assert.equal(now.lastVersion, 1);
    assert.equal(await store.publishVersion({ ...now, lastVersion: 1 }, versionRecord('f', '1', { description: 'overwrite' })), false);
    assert.equal((await store.getVersion('f', '1'))?.description, 'first');
  });
}
