// The function's code and layers, as Files frames for a micro-VM: a restored
// snapshot shares no disk with the host, so the unpacked package travels over
// the host-guest stream into the guest's /var/task and /opt tmpfs.
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { FileEntry, FilesMeta } from '../../guest/protocol.js';

/** Payload bytes per frame: big enough to amortise framing, small enough to stream. */
export const FILES_CHUNK_BYTES = 4 * 1024 * 1024;
/** Entries per frame, so a package of many small files keeps its meta small too. */
const MAX_ENTRIES = 2048;

export interface FilesFrame {
  meta: FilesMeta;
  payload: Buffer;
}

/** Every file, folder and symlink under dir (relative paths, parents first). */
async function walk(dir: string, rel = ''): Promise<{ rel: string; abs: string }[]> {
  const out: { rel: string; abs: string }[] = [];
  const names = (await readdir(path.join(dir, rel))).sort();
  for (const name of names) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const abs = path.join(dir, r);
    out.push({ rel: r, abs });
    const st = await lstat(abs);
    if (st.isDirectory()) out.push(...(await walk(dir, r)));
  }
  return out;
}

/** The Files frames that recreate dir under root in the guest, in order. */
export async function* filesFrames(dir: string, root: '/var/task' | '/opt', chunkBytes = FILES_CHUNK_BYTES): AsyncGenerator<FilesFrame> {
  let entries: FileEntry[] = [];
  let parts: Buffer[] = [];
  let bytes = 0;
  const flush = (): FilesFrame => {
    const frame = { meta: { root, entries }, payload: Buffer.concat(parts, bytes) };
    entries = [];
    parts = [];
    bytes = 0;
    return frame;
  };
  for (const { rel, abs } of await walk(dir)) {
    const st = await lstat(abs);
    const m = st.mode & 0o777;
    if (st.isDirectory()) entries.push({ p: rel, t: 'd', m });
    else if (st.isSymbolicLink()) entries.push({ p: rel, t: 'l', m, l: await readlink(abs) });
    else if (st.isFile()) {
      const fh = await open(abs, 'r');
      try {
        let offset = 0;
        let first = true;
        // An empty file still gets its entry; a big one spans frames (a: 1 continues it).
        // Invariant: bytes < chunkBytes here, as a full frame is sent at once.
        while (first || offset < st.size) {
          const n = Math.min(chunkBytes - bytes, st.size - offset);
          const buf = Buffer.allocUnsafe(n);
          let got = 0;
          while (got < n) {
            const { bytesRead } = await fh.read(buf, got, n - got, offset + got);
            if (bytesRead === 0) throw new Error(`${abs} shrank while it was being sent`);
            got += bytesRead;
          }
          entries.push({ p: rel, t: 'f', m, s: n, ...(first ? {} : { a: 1 as const }) });
          parts.push(buf);
          bytes += n;
          offset += n;
          first = false;
          if (bytes >= chunkBytes) yield flush();
        }
      } finally {
        await fh.close();
      }
    }
    // Sockets, fifos and devices have no place in a package: skipped.
    if (entries.length >= MAX_ENTRIES) yield flush();
  }
  if (entries.length > 0) yield flush();
}
