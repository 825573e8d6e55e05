// Init's unpacking refuses every way a package could escape its folder or fill the disk.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import yazl from 'yazl';
import { entryTarget, unpackZip, UnsafePackageError } from '../../src/host/unpack.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kindling-unpack-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

type Entry = { name: string; data?: Buffer | string; mode?: number; link?: string };

/** A zip written by hand-picked entries; yazl refuses some bad names, so those are patched in after. */
async function zipFile(entries: Entry[], patch?: (zip: Buffer) => Buffer): Promise<string> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.link !== undefined) zip.addBuffer(Buffer.from(e.link), e.name, { mode: 0o120777 });
    else zip.addBuffer(Buffer.from(e.data ?? ''), e.name, { mode: e.mode ?? 0o100644 });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  let bytes: Buffer = Buffer.concat(chunks);
  if (patch) bytes = patch(bytes);
  const path = join(work, `${Math.random().toString(36).slice(2)}.zip`);
  await writeFile(path, bytes);
  return path;
}

/** Replaces every occurrence of a same-length name in the zip's headers. */
const rename = (from: string, to: string) => (zip: Buffer): Buffer => {
  assert.equal(from.length, to.length);
  const out = Buffer.from(zip);
  let i = out.indexOf(from);
  while (i !== -1) {
    out.write(to, i);
    i = out.indexOf(from, i + 1);
  }
  return out;
};

const target = () => join(work, `out-${Math.random().toString(36).slice(2)}`);

test('a normal package unpacks with its files, folders, modes and inner links', async () => {
  const zip = await zipFile([
    { name: 'index.mjs', data: 'export const handler = 1;' },
    { name: 'lib/util.js', data: 'module.exports = 2;' },
    { name: 'bootstrap', data: '#!/bin/sh\n', mode: 0o100755 },
    { name: 'lib/alias.js', link: 'util.js' },
  ]);
  const out = target();
  const r = await unpackZip(zip, out);
  assert.equal(r.files, 4);
  assert.equal(readFileSync(join(out, 'lib/util.js'), 'utf8'), 'module.exports = 2;');
  assert.ok((statSync(join(out, 'bootstrap')).mode & 0o111) !== 0, 'bootstrap stays executable');
  assert.ok((statSync(join(out, 'index.mjs')).mode & 0o111) === 0);
  assert.ok(lstatSync(join(out, 'lib/alias.js')).isSymbolicLink());
  assert.equal(readlinkSync(join(out, 'lib/alias.js')), 'util.js');
});

test('entry names with .. or absolute paths are refused', async () => {
  const root = '/srv/pkg';
  // Any `..` component is refused, even one that would stay inside.
  for (const bad of ['../etc/passwd', 'a/../../b', 'a/b/../c.js', '/etc/passwd', 'C:/x', 'a\\..\\..\\b']) {
    assert.throws(() => entryTarget(root, bad), UnsafePackageError, bad);
  }
  assert.equal(entryTarget(root, 'a/./b/c.js'), '/srv/pkg/a/b/c.js');
  const zip = await zipFile([{ name: 'xx/evil.txt', data: 'pwned' }], rename('xx/evil.txt', '../evil.txt'));
  const out = target();
  await assert.rejects(unpackZip(zip, out), UnsafePackageError);
  assert.equal(existsSync(join(out, '..', 'evil.txt')), false);
  const abs = await zipFile([{ name: 'tmp/kindling-abs', data: 'pwned' }], rename('tmp/kindling-abs', '/tmp/kindling-ab'));
  await assert.rejects(unpackZip(abs, target()), UnsafePackageError);
  assert.equal(existsSync('/tmp/kindling-ab'), false);
});

test('links that leave the package are refused, and nothing is written through them', async () => {
  for (const link of ['/etc', '../../..', 'a/../../outside']) {
    const zip = await zipFile([
      { name: 'escape', link },
      { name: 'escape2/file.txt', data: 'x' },
    ]);
    await assert.rejects(unpackZip(zip, target()), UnsafePackageError, link);
  }
});

test('expansion past the unzipped limit is stopped on real bytes, not the directory’s claims', async () => {
  const zip = await zipFile([{ name: 'zeros.bin', data: Buffer.alloc(3 * 1024 * 1024) }]);
  await assert.rejects(unpackZip(zip, target(), 1024 * 1024), /Unzipped size must be smaller than 1048576 bytes/);
  const ok = await unpackZip(zip, target(), 4 * 1024 * 1024);
  assert.equal(ok.bytes, 3 * 1024 * 1024);
});

test('duplicate names keep the first copy', async () => {
  const zip = await zipFile([{ name: 'dup.txt', data: 'first' }, { name: 'dup.txt', data: 'second' }]);
  const out = target();
  await unpackZip(zip, out);
  assert.equal(readFileSync(join(out, 'dup.txt'), 'utf8'), 'first');
});
