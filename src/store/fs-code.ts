// The embedded code store: a folder of zips named by their SHA-256.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CodeStore, StoredCode } from './code.js';

const HEX = /^[0-9a-f]{64}$/;

export class FsCodeStore implements CodeStore {
  constructor(private readonly root: string) {}

  private path(hex: string): string {
    if (!HEX.test(hex)) throw new Error(`not a SHA-256: ${hex}`);
    return join(this.root, hex.slice(0, 2), `${hex}.zip`);
  }

  async put(zip: Buffer): Promise<StoredCode> {
    const digest = createHash('sha256').update(zip).digest();
    const hex = digest.toString('hex');
    const stored = { sha256Hex: hex, sha256Base64: digest.toString('base64'), size: zip.length };
    const target = this.path(hex);
    try {
      if ((await stat(target)).size === zip.length) return stored;
    } catch {
      // not stored yet
    }
    await mkdir(join(this.root, hex.slice(0, 2)), { recursive: true });
    // Write, flush and rename, so a crash never leaves a torn package under its key.
    const tmp = `${target}.${randomUUID()}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(zip);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
    return stored;
  }

  async get(hex: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(hex));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async open(hex: string): Promise<{ stream: ReturnType<typeof createReadStream>; size: number } | undefined> {
    const path = this.path(hex);
    try {
      const { size } = await stat(path);
      return { stream: createReadStream(path), size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(hex: string): Promise<void> {
    await rm(this.path(hex), { force: true });
  }
}
