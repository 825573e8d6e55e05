// Builds Kindling's native parts (run by `npm run build` and `npm ci`'s prepare):
// native/jailer.c -> dist/native/kindling-jailer (the namespace sandbox's jailer, Linux only),
// native/vminit.c -> dist/native/kindling-vminit (a micro-VM's init, static: the guest has no libc),
// and puts the Python runtime's bootstrap beside the compiled guest agent
// (dist/src/guest/python/), so the guest folder alone is the sandbox's /var/runtime.
// Never fails the build: without a C compiler the `namespace` driver is unavailable
// and `kindling up` says so.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'native');

const py = path.join(root, 'src', 'guest', 'python');
const pyOut = path.join(root, 'dist', 'src', 'guest', 'python');
mkdirSync(pyOut, { recursive: true });
for (const f of readdirSync(py)) if (f.endsWith('.py')) copyFileSync(path.join(py, f), path.join(pyOut, f));

if (process.platform !== 'linux') {
  console.log('native: not Linux, the namespace sandbox driver is not built');
  process.exit(0);
}
mkdirSync(out, { recursive: true });
const cc = process.env.CC || 'cc';

/** Compiles one C file; a failure only disables the driver that needs it. */
function compile(source, name, extra, unavailable) {
  const target = path.join(out, name);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    execFileSync(cc, ['-O2', '-Wall', '-Wno-format-truncation', ...extra, '-o', tmp, path.join(root, 'native', source)], { stdio: 'inherit' });
    renameSync(tmp, target);
  } catch (err) {
    console.warn(`native: could not compile native/${source} with ${cc} (${err.message}); ${unavailable}`);
  }
}

compile('jailer.c', 'kindling-jailer', [], 'the namespace sandbox driver is unavailable');
compile('vminit.c', 'kindling-vminit', ['-static'], 'the microvm sandbox driver is unavailable');
