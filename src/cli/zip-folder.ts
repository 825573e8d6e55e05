// Packs a folder into a deployment zip, as `zip -r` in the folder would.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import yazl from 'yazl';

async function* walk(dir: string): AsyncGenerator<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* walk(path);
    else if (e.isFile()) yield path;
  }
}

export async function zipFolder(root: string): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for await (const path of walk(root)) {
    const st = await stat(path);
    const name = relative(root, path).split(sep).join('/');
    zip.addBuffer(await readFile(path), name, { mode: st.mode, mtime: st.mtime });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
