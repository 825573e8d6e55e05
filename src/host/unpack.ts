// Unpacks a deployment package into a folder, refusing anything that could
// escape it: absolute paths, `..`, links that leave the root, and expansion
// past Lambda's unzipped limit (counted on the bytes really written, since a
// zip's directory can lie).
import { createWriteStream } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, normalize, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import yauzl from 'yauzl';
import { UNZIPPED_MAX_BYTES } from '../limits.js';

export class UnsafePackageError extends Error {
  override name = 'UnsafePackageError';
}

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

export async function unpackZip(zipPath: string, root: string, maxBytes = UNZIPPED_MAX_BYTES): Promise<{ bytes: number; files: number }> {
  const zip = await new Promise<yauzl.ZipFile>((ok, fail) =>
    yauzl.open(zipPath, { lazyEntries: true, autoClose: true, validateEntrySizes: true, strictFileNames: false, decodeStrings: true }, (err, z) =>
      err || !z ? fail(err ?? new Error('unreadable zip')) : ok(z),
    ),
  );
  await mkdir(root, { recursive: true });
  let bytes = 0;
  let files = 0;
  const seen = new Set<string>();
  const links: { target: string; link: string }[] = [];
  try {
    await new Promise<void>((done, fail) => {
      // yauzl checks names itself and says so in words; those are the same refusal.
      zip.on('error', (err: Error) =>
        fail(/invalid relative path|absolute path|invalid characters in fileName/.test(err.message) ? new UnsafePackageError(err.message) : err),
      );
      zip.on('end', () => done());
      zip.on('entry', (entry: yauzl.Entry) => {
        handle(entry).then(() => zip.readEntry(), fail);
      });
      const handle = async (entry: yauzl.Entry) => {
        const target = entryTarget(root, entry.fileName);
        const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
        const type = mode & S_IFMT;
        if (entry.fileName.endsWith('/') || type === S_IFDIR) {
          await mkdir(target, { recursive: true });
          return;
        }
        // Zips may repeat a name; the first copy wins, as most unzip tools keep it.
        if (seen.has(target)) return;
        seen.add(target);
        files++;
        await mkdir(dirname(target), { recursive: true });
        const stream = await new Promise<NodeJS.ReadableStream>((ok, fail2) =>
          zip.openReadStream(entry, (err, s) => (err || !s ? fail2(err ?? new Error('unreadable entry')) : ok(s))),
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
        await pipeline(stream, counter, createWriteStream(target, { mode: executable ? 0o755 : 0o644, flags: 'wx' }));
      };
      zip.readEntry();
    });
  } finally {
    zip.close();
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
