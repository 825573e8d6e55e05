// The host's package cache: each package is fetched from the code store once
// per host, unpacked once, and shared read-only by every sandbox using it.
// A package may be prepared ahead (CreateFunction, UpdateFunctionCode), as
// Lambda does while a function is Pending; a cold start racing that joins it.
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CodeStore } from '../store/code.js';
import { invalidZipFile } from '../errors.js';
import { unpackZip } from './unpack.js';

export class CodeCache {
  private readonly pending = new Map<string, Promise<string>>();
  /** Prepared ahead and not used by a sandbox yet: not a reason for placement to prefer this host. */
  private readonly ahead = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly store: CodeStore,
  ) {}

  /** The unpacked folder of a package, fetching and unpacking it on first use. */
  async taskRoot(sha256Hex: string): Promise<string> {
    this.ahead.delete(sha256Hex);
    return this.load(sha256Hex);
  }

  /**
   * Fetches and unpacks a package before any sandbox asks for it; `zip`, when the
   * caller has the package's bytes already (they hash to sha256Hex), saves the
   * code store read. Rejects as taskRoot would; a later taskRoot tries again.
   */
  prepare(sha256Hex: string, zip?: Buffer): Promise<string> {
    if (!this.pending.has(sha256Hex)) this.ahead.add(sha256Hex);
    return this.load(sha256Hex, zip);
  }

  private load(sha256Hex: string, zip?: Buffer): Promise<string> {
    let p = this.pending.get(sha256Hex);
    if (!p) {
      p = this.materialize(sha256Hex, join(this.root, sha256Hex), zip);
      this.pending.set(sha256Hex, p);
      p.catch(() => {
        this.pending.delete(sha256Hex);
        this.ahead.delete(sha256Hex);
      });
    }
    return p;
  }

  /** A sandbox uses this package now (a layer joined through a merged /opt). */
  used(sha256Hex: string): void {
    this.ahead.delete(sha256Hex);
  }

  has(sha256Hex: string): boolean {
    return this.pending.has(sha256Hex) && !this.ahead.has(sha256Hex);
  }

  /** Hex SHA-256 of every package cached (or being fetched), for the worker's heartbeat. */
  cachedCodeHex(): string[] {
    return [...this.pending.keys()].filter((hex) => !this.ahead.has(hex));
  }

  private async materialize(hex: string, dir: string, given?: Buffer): Promise<string> {
    // A folder under its final name is always whole: it only gets there by rename.
    try {
      if ((await stat(dir)).isDirectory()) return dir;
    } catch {
      // not unpacked yet
    }
    const zip = given ?? (await this.store.get(hex));
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
    } catch (err) {
      // Only a failed unpack leaves tmp behind (an rm after every rename was one more fs round trip).
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return dir;
  }

  /** Drops what the cache holds on disk (start-up: partial unpacks of a killed run). */
  async clear(): Promise<void> {
    this.pending.clear();
    this.ahead.clear();
    await rm(this.root, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true });
  }
}
