// Unpacks a deployment package into a folder, refusing anything that could
// escape it: absolute paths, `..`, links that leave the root, and expansion
// past Lambda's unzipped limit (counted on the bytes really written, since a
// zip's directory can lie).
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, normalize, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import yauzl from 'yauzl';
import { UNZIPPED_MAX_BYTES } from '../limits.js';

export class UnsafePackageError extends Error {
  override name = 'UnsafePackageError';
}

/** Entries up to this size are buffered and written concurrently, PARALLEL_WRITES at a time. */
const SMALL_FILE_BYTES = 1024 * 1024;
const PARALLEL_WRITES = 32;

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

/** The path an entry names inside root, or an error when it would leave root. */
export function entryTarget(root: string, fileName: string): string {
  if (fileName.includes('\0')) throw new UnsafePackageError(`entry name has a NUL byte: ${JSON.stringify(fileName)}`);
  const name = fileName.replace(/\\/g, '/');
  if (name.startsWith('/') || isAbsolute(name) || /^[a-zA-Z]:/.test(name)) {
    throw new UnsafePackageError(`entry has an absolute path: ${fileName}`);
  }
  if (name.split('/').includes('..')) throw new UnsafePackageError(`entry leaves the package: ${fileName}`);
  const target = resolve(root, normalize(name));
  if (target !== root && !target.startsWith(root + sep)) throw new UnsafePackageError(`entry leaves the package: ${fileName}`);
  return target;
}

export async function unpackZip(zip: string | Buffer, root: string, maxBytes = UNZIPPED_MAX_BYTES): Promise<{ bytes: number; files: number }> {
  // Read whole (packages are at most 50 MB zipped): an fs round trip per entry made 100,000 entries take a minute.
  // A buffer already in memory (the code cache's) is used as it is, not written out and read back.
  const data = typeof zip === 'string' ? await readFile(zip) : zip;
  const archive = await new Promise<yauzl.ZipFile>((ok, fail) =>
    yauzl.fromBuffer(data, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false, decodeStrings: true }, (err, z) =>
      err || !z ? fail(err ?? new Error('unreadable zip')) : ok(z),
    ),
  );
  const made = mkdir(root, { recursive: true });
  await made;
  let bytes = 0;
  let files = 0;
  const seen = new Set<string>();
  const links: { target: string; link: string }[] = [];
  // Small files are read in turn but written several at a time: one fs round trip after another made
  // a package of 100,000 small files take over a minute.
  // The root is made: its files need no mkdir of their own (one fs round trip fewer per package).
  const dirs = new Map<string, Promise<unknown>>([[root, made]]);
  const ensureDir = (d: string): Promise<unknown> => {
    let p = dirs.get(d);
    if (!p) dirs.set(d, (p = mkdir(d, { recursive: true })));
    return p;
  };
  const writes = new Set<Promise<void>>();
  let writeFailed: unknown;
  const settleWrites = async () => {
    await Promise.all(writes);
    if (writeFailed) throw writeFailed;
  };
  try {
    await new Promise<void>((done, fail) => {
      // yauzl checks names itself and says so in words; those are the same refusal.
      archive.on('error', (err: Error) =>
        fail(/invalid relative path|absolute path|invalid characters in fileName/.test(err.message) ? new UnsafePackageError(err.message) : err),
      );
      archive.on('end', () => done());
      archive.on('entry', (entry: yauzl.Entry) => {
        handle(entry).then(() => archive.readEntry(), fail);
      });
      const handle = async (entry: yauzl.Entry) => {
        const target = entryTarget(root, entry.fileName);
        const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
        const type = mode & S_IFMT;
        if (entry.fileName.endsWith('/') || type === S_IFDIR) {
          await ensureDir(target);
          return;
        }
        // Zips may repeat a name; the first copy wins, as most unzip tools keep it.
        if (seen.has(target)) return;
        seen.add(target);
        files++;
        await ensureDir(dirname(target));
        const stream = await new Promise<NodeJS.ReadableStream>((ok, fail2) =>
          archive.openReadStream(entry, (err, s) => (err || !s ? fail2(err ?? new Error('unreadable entry')) : ok(s))),
        );
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            bytes += chunk.length;
            if (bytes > maxBytes) cb(new UnsafePackageError(`Unzipped size must be smaller than ${maxBytes} bytes`));
            else cb(null, chunk);
          },
        });
        if (type === S_IFLNK) {
          const chunks: Buffer[] = [];
          await pipeline(stream, counter, new Transform({ transform(c: Buffer, _e, cb) { chunks.push(c); cb(); } }));
          links.push({ target: Buffer.concat(chunks).toString('utf8'), link: target });
          return;
        }
        const executable = (mode & 0o111) !== 0;
        const fileMode = executable ? 0o755 : 0o644;
        if (entry.uncompressedSize <= SMALL_FILE_BYTES) {
          // Read (and counted) now, written in the background; validateEntrySizes holds a small entry to its size.
          const chunks: Buffer[] = [];
          await new Promise<void>((ok, fail2) => {
            stream.on('data', (c: Buffer) => {
              bytes += c.length;
              if (bytes > maxBytes) {
                (stream as unknown as { destroy(): void }).destroy();
                fail2(new UnsafePackageError(`Unzipped size must be smaller than ${maxBytes} bytes`));
              } else chunks.push(c);
            });
            stream.on('end', () => ok());
            stream.on('error', fail2);
          });
          while (writes.size >= PARALLEL_WRITES) await Promise.race(writes);
          if (writeFailed) throw writeFailed;
          const w: Promise<void> = ensureDir(dirname(target))
            .then(() => writeFile(target, Buffer.concat(chunks), { mode: fileMode, flag: 'wx' }))
            .catch((err: unknown) => {
              writeFailed ??= err;
            })
            .finally(() => writes.delete(w));
          writes.add(w);
          return;
        }
        await pipeline(stream, counter, createWriteStream(target, { mode: fileMode, flags: 'wx' }));
      };
      archive.readEntry();
    });
    await settleWrites();
  } finally {
    await Promise.all(writes);
    archive.close();
  }
  // Links last, so none can redirect a later file write outside the root.
  for (const { target, link } of links) {
    const pointsTo = isAbsolute(target) ? target : resolve(dirname(link), target);
    const rel = relative(root, pointsTo);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new UnsafePackageError(`link ${relative(root, link)} points outside the package: ${target}`);
    }
    await symlink(target, link);
  }
  return { bytes, files };
}
