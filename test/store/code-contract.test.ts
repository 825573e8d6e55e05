// The code store's contract, held by the embedded folder and by an S3 bucket
// (through @aws-sdk/client-s3 against a real S3-protocol server): content
// addressing, idempotent puts, streams, absent keys, deletes, key checks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CodeStore } from '../../src/store/code.js';
import { FsCodeStore } from '../../src/store/fs-code.js';
import { parseS3Url, S3CodeStore } from '../../src/store/s3-code.js';
import { S3_CREDENTIALS, startS3, type RunningS3 } from '../helpers/s3.js';

let s3: RunningS3;
let dir: string;
before(async () => {
  s3 = await startS3();
  dir = await mkdtemp(join(tmpdir(), 'kindling-code-'));
});
after(async () => {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

const backends: [string, () => CodeStore][] = [
  ['folder', () => new FsCodeStore(join(dir, 'code'))],
  ['s3', () => new S3CodeStore(parseS3Url(s3.codeUrl('packages')), { credentials: S3_CREDENTIALS })],
];

for (const [name, make] of backends) {
  describe(`code store: ${name}`, () => {
    test('a package is stored under its SHA-256 and read back whole, as a buffer and as a stream', async () => {
      const store = make();
      const zip = Buffer.from(`PK\u0003\u0004 ${name} ${'x'.repeat(100_000)}`);
      const digest = createHash('sha256').update(zip).digest();
      const stored = await store.put(zip);
      assert.deepEqual(stored, { sha256Hex: digest.toString('hex'), sha256Base64: digest.toString('base64'), size: zip.length });
      assert.deepEqual(await store.get(stored.sha256Hex), zip);
      const opened = await store.open(stored.sha256Hex);
      assert.ok(opened);
      assert.equal(opened.size, zip.length);
      const chunks: Buffer[] = [];
      for await (const c of opened.stream) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), zip);
      // The same bytes again: the same key, nothing changes.
      assert.deepEqual(await store.put(zip), stored);
      assert.deepEqual(await store.get(stored.sha256Hex), zip);
    });

    test('absent keys read as undefined; delete removes and is idempotent; a bad key is refused', async () => {
      const store = make();
      const absent = createHash('sha256').update(`nothing ${name}`).digest('hex');
      assert.equal(await store.get(absent), undefined);
      assert.equal(await store.open(absent), undefined);
      const stored = await store.put(Buffer.from(`delete me ${name}`));
      await store.delete(stored.sha256Hex);
      assert.equal(await store.get(stored.sha256Hex), undefined);
      await store.delete(stored.sha256Hex);
      await assert.rejects(store.get('../../etc/passwd'), /not a SHA-256/);
    });

    test('concurrent puts of many packages each land under their own key', async () => {
      const store = make();
      const zips = Array.from({ length: 20 }, (_, i) => Buffer.from(`package ${i} of ${name}`));
      const stored = await Promise.all(zips.map((z) => store.put(z)));
      for (let i = 0; i < zips.length; i++) assert.deepEqual(await store.get(stored[i]!.sha256Hex), zips[i]);
    });
  });
}

test('s3:// URLs: bucket, prefix, endpoint and region; anything else is refused with what to write', () => {
  assert.deepEqual(parseS3Url('s3://b'), { bucket: 'b', prefix: '' });
  assert.deepEqual(parseS3Url('s3://b/some/prefix/?endpoint=http%3A%2F%2F127.0.0.1%3A9100&region=eu-west-1'), {
    bucket: 'b',
    prefix: 'some/prefix',
    endpoint: 'http://127.0.0.1:9100',
    region: 'eu-west-1',
  });
  assert.throws(() => parseS3Url('s3:///nobucket'), /with a bucket/);
  assert.throws(() => parseS3Url('s3://b?endpoint=ftp://x'), /http\(s\) URL/);
});

test('a package that comes back from S3 not matching its key is refused', async () => {
  const store = new S3CodeStore(parseS3Url(s3.codeUrl('torn')), { credentials: S3_CREDENTIALS });
  const good = await store.put(Buffer.from('the real package'));
  // Another writer (or a fault) put other bytes under the key.
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
  await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `torn/${good.sha256Hex.slice(0, 2)}/${good.sha256Hex}.zip`, Body: Buffer.from('other bytes') }));
  raw.destroy();
  await assert.rejects(store.get(good.sha256Hex), /does not match its SHA-256/);
});
