// Crafted deployment packages, end to end: CreateFunction and Invoke against
// `kindling up` on its default sandbox driver (namespace when root). Each is
// refused with a clear error at CreateFunction or at Init, writes nothing
// outside the package, and leaves the host's disk as it was; the ones that
// are merely odd (100,000 entries, repeated names) are accepted and run.
// (test/host/unpack.test.ts covers unpackZip itself.)
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import yazl from 'yazl';
import { lambdaClient, makeZeroZip, rejection, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';

const HANDLER = 'export const handler = async () => "ran";\n';
const MTIME = new Date('2024-01-01T00:00:00Z');

function zipOf(entries: { name: string; data: string | Buffer; mode?: number }[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) zip.addBuffer(Buffer.from(e.data), e.name, { mtime: MTIME, mode: e.mode ?? 0o100644 });
  zip.end();
  return collect(zip.outputStream);
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Replaces every occurrence of a name (same length) in the local and central headers: names yazl itself refuses to write. */
function renamed(zip: Buffer, from: string, to: string): Buffer {
  assert.equal(from.length, to.length);
  const out = Buffer.from(zip);
  const f = Buffer.from(from);
  for (let i = out.indexOf(f); i !== -1; i = out.indexOf(f, i + 1)) out.write(to, i);
  return out;
}

/** Rewrites the central directory's uncompressed size of every entry: a zip that lies about how large it is. */
function lyingSizes(zip: Buffer, claimed: number): Buffer {
  const out = Buffer.from(zip);
  const eocd = out.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const entries = out.readUInt16LE(eocd + 10);
  let p = out.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i++) {
    assert.equal(out.readUInt32LE(p), 0x02014b50);
    out.writeUInt32LE(claimed, p + 24);
    p += 46 + out.readUInt16LE(p + 28) + out.readUInt16LE(p + 30) + out.readUInt16LE(p + 32);
  }
  return out;
}

async function diskUse(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await diskUse(p);
    else if (e.isFile()) total += (await stat(p)).size;
  }
  return total;
}

describe('crafted zips through CreateFunction and Invoke', () => {
  let server: KindlingServer;
  let lambda: LambdaClient;
  before(async () => {
    server = await startKindling();
    lambda = lambdaClient(server.url);
  });
  after(() => server.dispose());

  const create = (FunctionName: string, ZipFile: Buffer, Handler = 'index.handler') =>
    lambda.send(new CreateFunctionCommand({ FunctionName, Runtime: 'nodejs20.x', Handler, Role: ROLE, Timeout: 60, Code: { ZipFile } }));
  /** The invoke's result; a refusal (InvalidZipFileException, 502 as on Lambda) as an error with its message. */
  const invoke = async (FunctionName: string) => {
    try {
      const out = await lambda.send(new InvokeCommand({ FunctionName, Payload: Buffer.from('{}') }));
      return { error: out.FunctionError, payload: Buffer.from(out.Payload ?? []).toString() };
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      assert.equal(e.name, 'InvalidZipFileException', `${e.name}: ${e.message}`);
      assert.equal(e.$metadata?.httpStatusCode, 502);
      return { error: e.name, payload: e.message };
    }
  };

  test('a zip bomb (300 MB of zeros in a few hundred KB) is refused at CreateFunction with Lambda\'s message', { timeout: 120_000 }, async () => {
    const bomb = await makeZeroZip('bomb.bin', 300 * 1024 * 1024);
    assert.ok(bomb.length < 2 * 1024 * 1024, `${bomb.length} bytes zipped`);
    const err = await rejection(create('bomb', bomb));
    assert.equal(err.name, 'InvalidParameterValueException', err.message);
    assert.match(err.message, /Unzipped size must be smaller than 262144000 bytes/);
  });

  test('a zip whose central directory lies about its sizes: accepted, refused at Init, the host disk untouched', { timeout: 120_000 }, async () => {
    const before = await diskUse(server.dataDir);
    const liar = lyingSizes(
      await collectZip([
        { name: 'index.mjs', data: Buffer.from(HANDLER) },
        { name: 'big.bin', stream: 300 * 1024 * 1024 },
      ]),
      1000,
    );
    await create('liar', liar);
    const out = await invoke('liar');
    assert.ok(out.error, `the invoke succeeded: ${out.payload}`);
    assert.match(out.payload, /unzip|package|bytes|size|stream/i, out.payload);
    const grown = (await diskUse(server.dataDir)) - before;
    assert.ok(grown < 20 * 1024 * 1024, `the data folder grew by ${grown} bytes`);
  });

  test('entries named with .. or an absolute path are refused; nothing is written outside', { timeout: 60_000 }, async () => {
    const marker = `kindling-escape-${process.pid}`;
    const dotdot = renamed(await zipOf([{ name: 'index.mjs', data: HANDLER }, { name: `xx/xx/${marker}`, data: 'escaped' }]), 'xx/xx/', '../../');
    const absolute = renamed(await zipOf([{ name: 'index.mjs', data: HANDLER }, { name: `Xtmp/${marker}`, data: 'escaped' }]), `Xtmp/${marker}`, `/tmp/${marker}`);
    for (const [name, zip] of [['dotdot', dotdot], ['absolute', absolute]] as const) {
      let refused = '';
      try {
        await create(name, zip);
        const out = await invoke(name);
        assert.ok(out.error, `${name}: the invoke succeeded: ${out.payload}`);
        refused = out.payload;
      } catch (err) {
        refused = `${(err as Error).name}: ${(err as Error).message}`;
      }
      assert.match(refused, /path|leaves|unzip|zip/i, `${name}: ${refused}`);
    }
    assert.ok(!existsSync(`/tmp/${marker}`), 'a file was written outside the package');
    assert.ok(!existsSync(join(server.dataDir, '..', marker)));
  });

  test('symlinks leaving the package are refused at Init', { timeout: 60_000 }, async () => {
    for (const [name, target] of [['abslink', '/etc'], ['rellink', '../../../../../../etc']] as const) {
      const zip = await zipOf([
        { name: 'index.mjs', data: 'import { readFileSync } from "node:fs";\nexport const handler = async () => readFileSync(new URL("./out/passwd", import.meta.url), "utf8");\n' },
        { name: 'out', data: target, mode: 0o120777 },
      ]);
      await create(name, zip);
      const out = await invoke(name);
      assert.ok(out.error, `${name}: the invoke succeeded: ${out.payload.slice(0, 200)}`);
      assert.match(out.payload, /points outside the package|link/i, `${name}: ${out.payload}`);
    }
  });

  test('100,000 entries: accepted and run, or refused with a clear error; no hang', { timeout: 300_000 }, async (t) => {
    const entries = [{ name: 'index.mjs', data: 'import { readdirSync } from "node:fs";\nexport const handler = async () => readdirSync(new URL("./f", import.meta.url)).length;\n' }];
    for (let i = 0; i < 100_000; i++) entries.push({ name: `f/${i}`, data: '' });
    const zip = storedZip(entries);
    const t0 = performance.now();
    let outcome: string;
    try {
      await create('many', zip);
      const out = await invoke('many');
      outcome = out.error ? `refused at Init: ${out.payload}` : `ran: ${out.payload}`;
      if (!out.error) assert.equal(out.payload, '100000');
      else assert.match(out.payload, /\w{6,}/);
    } catch (err) {
      outcome = `refused at CreateFunction: ${(err as Error).name}: ${(err as Error).message}`;
      assert.match((err as Error).message, /\w{6,}/);
    }
    t.diagnostic(`100,000 entries (${zip.length} bytes zipped): ${outcome.slice(0, 200)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });

  test('a name given twice: the first copy wins, every time', { timeout: 60_000 }, async () => {
    const zip = await zipOf([
      { name: 'index.mjs', data: 'export const handler = async () => "first";\n' },
      { name: 'index.mjs', data: 'export const handler = async () => "second";\n' },
    ]);
    await create('dup', zip);
    assert.deepEqual(await invoke('dup'), { error: undefined, payload: '"first"' });
  });
});

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (b: Buffer): number => {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};

/** A zip of stored (uncompressed) entries, written directly: yazl takes minutes over 100,000 entries. */
function storedZip(entries: { name: string; data: string }[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const data = Buffer.from(e.data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(0x0314, 4); // made by Unix, so the mode below counts
    cd.writeUInt16LE(20, 6);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    cd.writeUInt32LE(offset, 42);
    parts.push(local, name, data);
    central.push(cd, name);
    offset += 30 + name.length + data.length;
  }
  const cdBuf = Buffer.concat(central);
  // More than 65,535 entries: the count lives in a zip64 end record.
  const z64 = Buffer.alloc(56 + 20);
  z64.writeUInt32LE(0x06064b50, 0);
  z64.writeBigUInt64LE(44n, 4);
  z64.writeUInt16LE(45, 12);
  z64.writeUInt16LE(45, 14);
  z64.writeBigUInt64LE(BigInt(entries.length), 24);
  z64.writeBigUInt64LE(BigInt(entries.length), 32);
  z64.writeBigUInt64LE(BigInt(cdBuf.length), 40);
  z64.writeBigUInt64LE(BigInt(offset), 48);
  z64.writeUInt32LE(0x07064b50, 56);
  z64.writeBigUInt64LE(BigInt(offset + cdBuf.length), 64);
  z64.writeUInt32LE(1, 72);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(cdBuf.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, z64, eocd]);
}

/** A zip of buffers and streamed zero entries (`stream`: their size). */
function collectZip(entries: ({ name: string; data: Buffer } | { name: string; stream: number })[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if ('data' in e) zip.addBuffer(e.data, e.name, { mtime: MTIME, mode: 0o100644 });
    else {
      const chunk = Buffer.alloc(1024 * 1024);
      const size = e.stream;
      zip.addReadStream(
        Readable.from(
          (function* () {
            for (let left = size; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
          })(),
        ),
        e.name,
        { mtime: MTIME, size, compress: true },
      );
    }
  }
  zip.end();
  return collect(zip.outputStream);
}
