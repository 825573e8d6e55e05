// The pieces of the microvm driver that need no VM: how a package becomes Files
// frames (and back), which paths the guest accepts, and the guest's module order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { safeRelative } from '../../src/guest/vm.js';
import { encodeFrame, FrameDecoder, FrameType, type FilesMeta } from '../../src/guest/protocol.js';
import { filesFrames } from '../../src/sandbox/microvm/files.js';
import { moduleLoadOrder } from '../../src/sandbox/microvm/image.js';

interface Rebuilt {
  dirs: Map<string, number>;
  files: Map<string, { mode: number; data: Buffer }>;
  links: Map<string, string>;
}

/** What the guest would write: the same walk receiveFiles does, into memory. */
function rebuild(frames: { meta: FilesMeta; payload: Buffer }[]): Rebuilt {
  const out: Rebuilt = { dirs: new Map(), files: new Map(), links: new Map() };
  let last: string | undefined;
  for (const { meta, payload } of frames) {
    let at = 0;
    for (const e of meta.entries) {
      assert.ok(safeRelative(e.p), e.p);
      if (e.t === 'd') out.dirs.set(e.p, e.m);
      else if (e.t === 'l') out.links.set(e.p, e.l!);
      else {
        const part = payload.subarray(at, at + (e.s ?? 0));
        at += e.s ?? 0;
        if (e.a === 1) {
          assert.equal(last, e.p, 'an append continues the file before it');
          const f = out.files.get(e.p)!;
          f.data = Buffer.concat([f.data, part]);
        } else out.files.set(e.p, { mode: e.m, data: Buffer.from(part) });
        last = e.p;
      }
    }
    assert.equal(at, payload.length, 'every payload byte belongs to an entry');
  }
  return out;
}

test('a package becomes Files frames that rebuild it exactly, big files split across frames', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kindling-files-'));
  try {
    const big = randomBytes(300_000);
    mkdirSync(path.join(dir, 'a/b'), { recursive: true });
    writeFileSync(path.join(dir, 'index.mjs'), 'export const handler = 1;', { mode: 0o644 });
    writeFileSync(path.join(dir, 'bootstrap'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(path.join(dir, 'a/b/big.bin'), big);
    writeFileSync(path.join(dir, 'a/empty'), '');
    symlinkSync('b/big.bin', path.join(dir, 'a/link'));
    const frames = [];
    for await (const f of filesFrames(dir, '/var/task', 64 * 1024)) frames.push(f);
    assert.ok(frames.length >= 5, `${frames.length} frames`);
    for (const f of frames) {
      assert.equal(f.meta.root, '/var/task');
      assert.ok(f.payload.length <= 64 * 1024);
    }
    // Through the wire format and back.
    const decoded: { meta: FilesMeta; payload: Buffer }[] = [];
    const decoder = new FrameDecoder((fr) => decoded.push({ meta: fr.meta as unknown as FilesMeta, payload: fr.payload }));
    for (const f of frames) decoder.push(encodeFrame(FrameType.Files, f.meta, f.payload));
    const r = rebuild(decoded);
    assert.deepEqual([...r.dirs.keys()].sort(), ['a', 'a/b']);
    assert.deepEqual(r.links.get('a/link'), 'b/big.bin');
    assert.equal(r.files.get('index.mjs')!.data.toString(), 'export const handler = 1;');
    assert.equal(r.files.get('bootstrap')!.mode, 0o755);
    assert.equal(r.files.get('index.mjs')!.mode, 0o644);
    assert.equal(r.files.get('a/empty')!.data.length, 0);
    assert.ok(r.files.get('a/b/big.bin')!.data.equals(big));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the guest refuses paths that leave its code folder', () => {
  for (const p of ['../etc/passwd', 'a/../../x', '/etc/shadow', '', 'a//b', 'a/', 'x\0y', '..']) assert.equal(safeRelative(p), false, JSON.stringify(p));
  for (const p of ['index.mjs', 'a/b/c.txt', 'node_modules/.bin/x', '...', 'a..b']) assert.equal(safeRelative(p), true, p);
});

test("the guest's kernel modules load dependencies first", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kindling-modules-'));
  try {
    writeFileSync(
      path.join(dir, 'modules.dep'),
      [
        'kernel/fs/ext4/ext4.ko.xz: kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz',
        'kernel/fs/mbcache.ko.xz:',
        'kernel/fs/jbd2/jbd2.ko.xz:',
        'kernel/lib/crc16.ko.xz:',
        'kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz',
        'kernel/drivers/virtio/virtio_ring.ko.xz:',
        'kernel/drivers/virtio/virtio.ko.xz:',
        'kernel/drivers/virtio/virtio_mmio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz',
        '',
      ].join('\n'),
    );
    const order = moduleLoadOrder(dir, ['virtio_mmio', 'virtio_blk', 'ext4']).map((f) => path.basename(f).replace(/\.ko.*$/, ''));
    assert.deepEqual(order, ['virtio_ring', 'virtio', 'virtio_mmio', 'virtio_blk', 'mbcache', 'jbd2', 'crc16', 'ext4']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
