// Programs of the host the sandbox drivers call (nft, qemu, mkfs.ext4, cpio):
// found on PATH or in the usual system folders, which a root shell's PATH may lack.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/bin'];

/** The full path of an executable named tool, or undefined. */
export function findTool(tool: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SYSTEM_DIRS]) {
    if (!dir) continue;
    const p = path.join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}
