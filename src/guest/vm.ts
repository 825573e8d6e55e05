// The agent inside a micro-VM: what a restored snapshot has to do before Init.
// The VM was booted and snapshotted once, with this agent already running and
// its runtimes loaded; every sandbox is a restore of it. So the code arrives over
// the stream (Files frames, written to the tmpfs folders /var/task and /opt),
// and Prepare makes the copy unique: fresh kernel randomness, OpenSSL reseeded,
// a new Math.random, /tmp sized, the code folders read-only; then Clock sets the
// host's time and the agent drops to the function's unprivileged user.
import { randomBytes, randomFillSync } from 'node:crypto';
import { chmodSync, mkdirSync, openSync, closeSync, readSync, symlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ClockMeta, FilesMeta, PrepareMeta } from './protocol.js';

/** The micro-VM's init takes requests on this fd until "clock" (native/vminit.c). */
const INIT_CONTROL_FD = 4;
const ROOTS = new Set(['/var/task', '/opt']);
/** Far enough ahead that every OpenSSL DRBG (primary: 1 h) sees its reseed time passed. */
const RESEED_JUMP_MS = 2 * 3600 * 1000;

let failure: string | undefined;
let prepared = false;
/** The file the last entry wrote, which an appending entry continues. */
let openFile: { path: string; fd: number } | undefined;

/** Set when delivering the code or preparing the VM failed: Init reports it. */
export function vmFailure(): string | undefined {
  return failure ?? (prepared ? undefined : 'The micro-VM was not prepared before Init');
}

/** A path a Files entry may name: relative, no "..", no empty segments. */
export function safeRelative(p: string): boolean {
  if (p.length === 0 || p.startsWith('/') || p.includes('\0')) return false;
  return !p.split('/').some((seg) => seg === '..' || seg === '');
}

function closeOpenFile(): void {
  if (!openFile) return;
  closeSync(openFile.fd);
  openFile = undefined;
}

/** Writes one Files frame's entries under its root. */
export function receiveFiles(meta: FilesMeta, payload: Buffer): void {
  if (failure !== undefined) return;
  try {
    if (!ROOTS.has(meta.root)) throw new Error(`files for ${meta.root}: only /var/task and /opt take files`);
    let at = 0;
    for (const e of meta.entries) {
      if (!safeRelative(e.p)) throw new Error(`refused path '${e.p}'`);
      const dest = path.join(meta.root, e.p);
      const mode = e.m & 0o777;
      if (e.t === 'd') {
        closeOpenFile();
        mkdirSync(dest, { recursive: true, mode });
        chmodSync(dest, mode);
      } else if (e.t === 'l') {
        closeOpenFile();
        mkdirSync(path.dirname(dest), { recursive: true });
        symlinkSync(e.l ?? '', dest);
      } else {
        const size = e.s ?? 0;
        if (e.a === 1) {
          if (!openFile || openFile.path !== dest) throw new Error(`append to ${e.p} without its start`);
        } else {
          closeOpenFile();
          mkdirSync(path.dirname(dest), { recursive: true });
          openFile = { path: dest, fd: openSync(dest, 'w', mode) };
          chmodSync(dest, mode);
        }
        let off = 0;
        while (off < size) off += writeSync(openFile.fd, payload, at + off, size - off);
        at += size;
      }
    }
  } catch (err) {
    closeOpenFile();
    failure = `Couldn't deliver the function's code into the micro-VM: ${(err as Error).message}`;
  }
}

/** One request to init, answered "ok" or "error ...". */
function askInit(request: string): void {
  if (!/^[a-z]+( [0-9a-f]+)+$/.test(request)) throw new Error(`bad init request '${request}'`);
  writeSync(INIT_CONTROL_FD, `${request}\n`);
  const buf = Buffer.alloc(256);
  let reply = '';
  while (!reply.includes('\n')) {
    const n = readSync(INIT_CONTROL_FD, buf, 0, buf.length, null);
    if (n === 0) throw new Error('the VM\'s init closed its control channel');
    reply += buf.toString('utf8', 0, n);
  }
  if (reply.trim() !== 'ok') throw new Error(`init: ${reply.trim()}`);
}

let pendingIds: { uid: number; gid: number } | undefined;

/** Makes this restored VM the sandbox; runs once, after the Files frames. The host answers with Clock. */
export function prepare(meta: PrepareMeta): void {
  closeOpenFile();
  if (failure !== undefined || pendingIds !== undefined || prepared) return;
  try {
    // The clock jumps ahead first so that OpenSSL, whose state the snapshot cloned,
    // reseeds from the kernel (itself just reseeded with the host's randomness).
    askInit(`prepare ${Date.now() + RESEED_JUMP_MS} ${meta.seed} ${meta.tmpMb}`);
    randomBytes(32);
    reseedMathRandom();
    pendingIds = { uid: meta.uid, gid: meta.gid };
  } catch (err) {
    failure = `Couldn't prepare the micro-VM: ${(err as Error).message}`;
  }
}

/** The host's time (sent the moment Prepared arrived); then the agent drops to the function's user. */
export function setClock(meta: ClockMeta): void {
  const ids = pendingIds;
  pendingIds = undefined;
  if (failure !== undefined || ids === undefined) return;
  try {
    askInit(`clock ${Math.round(meta.timeMs)}`);
    closeSync(INIT_CONTROL_FD);
    process.setgroups!([ids.gid]);
    process.setgid!(ids.gid);
    process.setuid!(ids.uid);
    prepared = true;
  } catch (err) {
    failure = `Couldn't prepare the micro-VM: ${(err as Error).message}`;
  }
}

/**
 * V8's Math.random state came with the snapshot, so every restore would draw the
 * same numbers: this one draws from OpenSSL (reseeded above), 512 at a time.
 */
function reseedMathRandom(): void {
  const pool = new Uint32Array(1024);
  let next = pool.length;
  Math.random = function random(): number {
    if (next >= pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    const hi = pool[next++]! >>> 5; // 27 bits
    const lo = pool[next++]! >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  };
}
