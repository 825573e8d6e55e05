// The host's package cache: each package is fetched from the code store once
// per host, unpacked once, and shared read-only by every sandbox using it.
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CodeStore } from '../store/code.js';
import { invalidZipFile } from '../errors.js';
import { unpackZip } from './unpack.js';

export class CodeCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly root: string,
    private readonly store: CodeStore,
  ) {}

  /** The unpacked folder of a package, fetching and unpacking it on first use. */
  async taskRoot(sha256Hex: string): Promise<string> {
    const dir = join(this.root, sha256Hex);
    let p = this.pending.get(sha256Hex);
    if (!p) {
      p = this.materialize(sha256Hex, dir);
      this.pending.set(sha256Hex, p);
      p.catch(() => this.pending.delete(sha256Hex));
    }
    return p;
  }

  has(sha256Hex: string): boolean {
    return this.pending.has(sha256Hex);
  }

  /** Hex SHA-256 of every package cached (or being fetched), for the worker's heartbeat. */
  cachedCodeHex(): string[] {
    return [...this.pending.keys()];
  }

  private async materialize(hex: string, dir: string): Promise<string> {
    // A folder under its final name is always whole: it only gets there by rename.
    try {
      if ((await stat(dir)).isDirectory()) return dir;
    } catch {
      // not unpacked yet
    }
    const zip = await this.store.get(hex);
    if (!zip) throw new Error(`code package ${hex} is not in the code store`);
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.${hex}.${randomUUID()}`);
    try {
      try {
        await unpackZip(zip, tmp);
      } catch (err) {
        // The host's fault (a full disk, ...): not the package's.
        if (typeof (err as NodeJS.ErrnoException).code === 'string' && /^E[A-Z]+$/.test((err as NodeJS.ErrnoException).code!)) throw err;
        // The package's fault (a lying directory, an escaping path or link, too large unzipped): Lambda's 502, with why.
        throw invalidZipFile(`Lambda could not unzip the deployment package: ${(err as Error).message}`);
      }
      await rename(tmp, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return dir;
  }

  /** Drops what the cache holds on disk (start-up: partial unpacks of a killed run). */
  async clear(): Promise<void> {
    this.pending.clear();
    await rm(this.root, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true });
  }
}
