// A function's layers as one folder, its /opt: each layer is unpacked once by
// the package cache (by CodeSha256, like function code), then the layers of a
// function are merged in order (later layers override earlier files) into a
// folder keyed by the hash of the layer list, shared read-only by every
// sandbox with that list. Files are hard links into the package cache.
import { createHash, randomUUID } from 'node:crypto';
import { copyFile, link, lstat, mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CodeCache } from './code-cache.js';

export class OptCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly root: string,
    private readonly packages: CodeCache,
  ) {}

  /** The merged /opt of these layer packages (hex SHA-256s, in the function's order); `ahead`: prepared before any sandbox asks. */
  async optDir(layerHexes: string[], ahead = false): Promise<string> {
    const get = ahead ? (hex: string) => this.packages.prepare(hex) : (hex: string) => this.packages.taskRoot(hex);
    if (layerHexes.length === 1) return get(layerHexes[0]!);
    if (!ahead) for (const hex of layerHexes) this.packages.used(hex);
    const key = createHash('sha256').update(layerHexes.join(',')).digest('hex');
    let p = this.pending.get(key);
    if (!p) {
      p = this.materialize(key, layerHexes, get);
      this.pending.set(key, p);
      p.catch(() => this.pending.delete(key));
    }
    return p;
  }

  private async materialize(key: string, layerHexes: string[], get: (hex: string) => Promise<string>): Promise<string> {
    const dir = join(this.root, key);
    try {
      if ((await stat(dir)).isDirectory()) return dir;
    } catch {
      // not merged yet
    }
    // Fetched and unpacked side by side, merged in order.
    const sources = await Promise.all(layerHexes.map(get));
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.${key}.${randomUUID()}`);
    try {
      await mkdir(tmp, { mode: 0o755 });
      for (const src of sources) await merge(src, tmp);
      await rename(tmp, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return dir;
  }

  async clear(): Promise<void> {
    this.pending.clear();
    await rm(this.root, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true });
  }
}

const exists = async (path: string) => {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
};

/** Lays src over dst: folders merge, anything else replaces what dst had at that name. */
async function merge(src: string, dst: string): Promise<void> {
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const s = join(src, entry.name);
    const d = join(dst, entry.name);
    const there = await exists(d);
    if (entry.isDirectory()) {
      if (there && !there.isDirectory()) await rm(d, { recursive: true, force: true });
      if (!there || !there.isDirectory()) await mkdir(d, { mode: 0o755 });
      await merge(s, d);
      continue;
    }
    if (there) await rm(d, { recursive: true, force: true });
    if (entry.isSymbolicLink()) {
      await symlink(await readlink(s), d);
    } else {
      try {
        await link(s, d);
      } catch {
        await copyFile(s, d);
      }
    }
  }
}
