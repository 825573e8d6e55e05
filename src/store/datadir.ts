// The data folder: one Kindling server owns it at a time. Ownership is an
// exclusive SQLite lock, which the kernel releases when the process dies (even
// on SIGKILL), so a crash never leaves a stale lock behind.
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const defaultDataDir = (): string => process.env.KINDLING_DATA_DIR ?? join(homedir(), '.kindling');

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: string | undefined) {
    super(
      `Another Kindling server${pid ? ` (pid ${pid})` : ''} is already using the data folder ${dir}. ` +
        `Stop it first, or start this one with a different --data DIR.`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDir {
  readonly path: string;
  /** A path inside the data folder. */
  file(...parts: string[]): string;
  /** Lets go of the folder. */
  release(): void;
}

export function openDataDir(dir: string): DataDir {
  const path = resolve(dir);
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
  const lockPath = join(path, 'kindling.lock');
  const pidPath = join(path, 'kindling.pid');
  const lock = new Database(lockPath, { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    // A write transaction takes the exclusive lock, held until the connection closes.
    lock.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER)');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      let pid: string | undefined;
      try {
        pid = readFileSync(pidPath, 'utf8').trim() || undefined;
      } catch {
        pid = undefined;
      }
      throw new DataDirLockedError(path, pid);
    }
    throw err;
  }
  writeFileSync(pidPath, `${process.pid}\n`);
  return {
    path,
    file: (...parts) => join(path, ...parts),
    release: () => {
      if (lock.open) {
        try {
          writeFileSync(pidPath, '');
        } catch {
          // the folder may be gone already; the lock still goes with the connection
        }
        lock.close();
      }
    },
  };
}
