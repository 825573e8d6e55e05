// The micro-VM's guest image, built by Kindling itself from what the host has
// (`kindling microvm build`, or on first use): Debian's kernel, an initramfs that
// loads the virtio and ext4 modules and switches to the userland, and a read-only
// ext4 userland (busybox, Node.js, Python, the guest init and Kindling's runtime).
// One folder per input set (a key over the inputs), built aside and renamed in,
// so a half-built image is never used.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GUEST_DIR, SANDBOX_UID } from '../namespace-driver.js';
import { findTool } from '../host-tools.js';

/** dist/native/kindling-vminit, built by `npm run build` (native/build.mjs). */
export const VMINIT_PATH = fileURLToPath(new URL('../../../native/kindling-vminit', import.meta.url));

/** Bumped when the image's layout changes, so old builds are not reused. */
const FORMAT = 4;

/** The kernel modules the guest needs before it can mount its userland (deps resolved from modules.dep). */
const GUEST_MODULES = ['virtio_mmio', 'virtio_blk', 'virtio_console', 'crc32c_generic', 'ext4'];

export interface GuestImage {
  /** The folder holding this build (and its snapshots). */
  dir: string;
  key: string;
  kernel: string;
  initrd: string;
  rootfs: string;
}

export interface GuestImageInputs {
  kernel: string;
  modulesDir: string;
  busybox: string;
  node: string;
  /** Python's interpreter and its library folder, when the host has them. */
  python?: { bin: string; lib: string };
  vminit: string;
  guestDir: string;
}

const BUSYBOX_PATHS = ['/usr/bin/busybox', '/bin/busybox', '/usr/sbin/busybox'];

/** Why a guest image cannot be built here, or undefined when it can. */
export function guestImageUnavailable(): string | undefined {
  try {
    findInputs();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The newest kernel in /boot whose modules are installed (Debian's linux-image-amd64). */
export function findKernel(): { kernel: string; modulesDir: string } {
  const boot = existsSync('/boot') ? readdirSync('/boot') : [];
  const versions = boot
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => existsSync(`/usr/lib/modules/${v}/modules.dep`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const v = versions.at(-1);
  if (v === undefined) throw new Error('no guest kernel: install linux-image-amd64 (a /boot/vmlinuz-* with its /usr/lib/modules)');
  return { kernel: `/boot/vmlinuz-${v}`, modulesDir: `/usr/lib/modules/${v}` };
}

export function findInputs(): GuestImageInputs {
  if (process.platform !== 'linux') throw new Error('micro-VMs need Linux');
  const { kernel, modulesDir } = findKernel();
  const busybox = BUSYBOX_PATHS.find((p) => existsSync(p));
  if (busybox === undefined) throw new Error('no busybox for the guest userland: install busybox-static');
  if (!existsSync(VMINIT_PATH)) throw new Error(`the guest init is not built (${VMINIT_PATH}; run npm run build with a C compiler and a static libc)`);
  for (const tool of ['mkfs.ext4', 'cpio']) if (!onPath(tool)) throw new Error(`${tool} is not installed (packages e2fsprogs, cpio)`);
  const python = findPython();
  return { kernel, modulesDir, busybox, node: process.execPath, ...(python ? { python } : {}), vminit: VMINIT_PATH, guestDir: GUEST_DIR.replace(/\/$/, '') };
}

function findPython(): { bin: string; lib: string } | undefined {
  for (const bin of ['/usr/bin/python3']) {
    if (!existsSync(bin)) continue;
    const real = realpathSync(bin);
    const lib = `/usr/lib/${path.basename(real)}`;
    if (existsSync(lib)) return { bin: real, lib };
  }
  return undefined;
}

const onPath = (tool: string): boolean => findTool(tool) !== undefined;

/** A key over everything that goes into the image: any change makes a new build. */
export function imageKey(inputs: GuestImageInputs): string {
  const h = createHash('sha256');
  h.update(`format ${FORMAT}\n`);
  const stamp = (p: string) => {
    const s = statSync(p);
    h.update(`${p} ${s.size} ${s.mtimeMs}\n`);
  };
  stamp(inputs.kernel);
  stamp(`${inputs.modulesDir}/modules.dep`);
  stamp(inputs.busybox);
  stamp(inputs.node);
  if (inputs.python) stamp(inputs.python.bin);
  h.update(readFileSync(inputs.vminit));
  for (const f of listFiles(inputs.guestDir)) {
    h.update(`${f}\n`);
    h.update(readFileSync(path.join(inputs.guestDir, f)));
  }
  return h.digest('hex').slice(0, 16);
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, rel));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** The image for this host's inputs under baseDir, built when missing. */
export function ensureGuestImage(baseDir: string, log?: (msg: string) => void): GuestImage {
  const inputs = findInputs();
  const key = imageKey(inputs);
  const dir = path.join(baseDir, key);
  const image: GuestImage = { dir, key, kernel: inputs.kernel, initrd: path.join(dir, 'initrd.cpio'), rootfs: path.join(dir, 'root.ext4') };
  if (existsSync(path.join(dir, 'done'))) return image;
  log?.(`building the micro-VM guest image ${key} in ${dir}`);
  mkdirSync(baseDir, { recursive: true });
  const work = path.join(baseDir, `.build-${key}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const root = path.join(work, 'root');
    stageUserland(root, inputs);
    makeExt4(root, path.join(work, 'root.ext4'));
    rmSync(root, { recursive: true, force: true });
    const initrd = path.join(work, 'initrd');
    stageInitramfs(initrd, inputs);
    execFileSync('sh', ['-c', 'cd "$1" && find . | cpio -o -H newc --quiet > "$2"', 'sh', initrd, path.join(work, 'initrd.cpio')]);
    rmSync(initrd, { recursive: true, force: true });
    writeFileSync(path.join(work, 'done'), `${JSON.stringify({ key, kernel: inputs.kernel, builtAt: new Date().toISOString() })}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  // Older builds (another kernel, node or runtime) are of no further use.
  for (const e of readdirSync(baseDir)) if (e !== key && /^[0-9a-f]{16}$/.test(e)) rmSync(path.join(baseDir, e), { recursive: true, force: true });
  return image;
}

/** Copies a host file to the same path under root (its symlink chain too), once. */
function copyHostFile(root: string, file: string): void {
  let p = file;
  for (let hops = 0; hops < 10; hops++) {
    const dest = path.join(root, p);
    if (existsSync(dest) || isLink(dest)) return;
    mkdirSync(path.dirname(dest), { recursive: true });
    const st = lstatSync(p);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(p);
      symlinkSync(target, dest);
      p = path.resolve(path.dirname(p), target);
      continue;
    }
    copyFileSync(p, dest);
    chmodSync(dest, st.mode & 0o7777);
    return;
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The shared libraries a binary loads, as ldd names them. */
function sharedLibs(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return []; // static, or not an ELF
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

function copyTree(src: string, dest: string, skip: (rel: string) => boolean, rel = ''): void {
  mkdirSync(path.join(dest, rel), { recursive: true });
  for (const e of readdirSync(path.join(src, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (skip(r)) continue;
    const from = path.join(src, r);
    const to = path.join(dest, r);
    if (e.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else if (e.isDirectory()) copyTree(src, dest, skip, r);
    else if (e.isFile()) {
      copyFileSync(from, to);
      const st = statSync(from);
      chmodSync(to, st.mode & 0o7777);
      // Python's .pyc files are valid for their source's mtime only: a read-only guest cannot rewrite them.
      utimesSync(to, st.atime, st.mtime);
    }
  }
}

function stageUserland(root: string, inputs: GuestImageInputs): void {
  // Debian's merged /usr, as on the host.
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64']) mkdirSync(path.join(root, d), { recursive: true });
  for (const l of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${l}`, path.join(root, l));
  // Mount points: the guest init mounts on them, the image itself stays read-only.
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'var/task', 'var/runtime', 'opt', 'etc', 'root', 'usr/local/bin']) mkdirSync(path.join(root, d), { recursive: true });
  chmodSync(path.join(root, 'tmp'), 0o1777);
  chmodSync(path.join(root, 'root'), 0o700);

  // A shell and the usual utilities: busybox and its applets, where nothing else provides one.
  copyFileSync(inputs.busybox, path.join(root, 'usr/bin/busybox'));
  chmodSync(path.join(root, 'usr/bin/busybox'), 0o755);
  const applets = execFileSync(inputs.busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[a-z0-9_.[-]+$/i.test(a));
  for (const a of applets) {
    const dest = path.join(root, 'usr/bin', a);
    if (a !== 'busybox' && !existsSync(dest)) symlinkSync('busybox', dest);
  }

  const binaries = [inputs.node];
  copyHostFile(root, inputs.node);
  if (inputs.node !== '/usr/bin/node') symlinkSync(inputs.node, path.join(root, 'usr/bin/node'));
  if (inputs.python) {
    copyHostFile(root, inputs.python.bin);
    const name = path.basename(inputs.python.bin);
    if (name !== 'python3') symlinkSync(name, path.join(root, 'usr/bin/python3'));
    binaries.push(inputs.python.bin);
    // The standard library, without its own test suite.
    copyTree(inputs.python.lib, path.join(root, inputs.python.lib), (rel) => /^(test|idlelib|tkinter|turtledemo|ensurepip|lib2to3\/tests)(\/|$)/.test(rel) || rel.startsWith('site-packages/'));
    const dynload = path.join(inputs.python.lib, 'lib-dynload');
    if (existsSync(dynload)) for (const so of readdirSync(dynload)) if (so.endsWith('.so')) binaries.push(path.join(dynload, so));
  }
  for (const bin of binaries) for (const lib of sharedLibs(bin)) copyHostFile(root, lib);

  copyFileSync(inputs.vminit, path.join(root, 'usr/sbin/kindling-vminit'));
  chmodSync(path.join(root, 'usr/sbin/kindling-vminit'), 0o755);
  copyTree(inputs.guestDir, path.join(root, 'var/runtime'), (rel) => rel.endsWith('.map') || rel.endsWith('.d.ts'));
  // The Python runtime's bootstrap, compiled now: under software emulation compiling it would be most of a cold start.
  if (inputs.python && existsSync(path.join(root, 'var/runtime/python'))) {
    execFileSync(inputs.python.bin, ['-m', 'compileall', '-q', '-d', '/var/runtime/python', path.join(root, 'var/runtime/python')], { stdio: 'ignore' });
  }

  // No host /etc: the users, and name resolution for loopback only (the guest has no network).
  const uid = SANDBOX_UID;
  const etc = path.join(root, 'etc');
  writeFileSync(path.join(etc, 'passwd'), `root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:${uid}:${uid}::/tmp:/sbin/nologin\n`);
  writeFileSync(path.join(etc, 'group'), `root:x:0:\nsbx_user1051:x:${uid}:\n`);
  writeFileSync(path.join(etc, 'hosts'), '127.0.0.1 localhost\n::1 localhost\n');
  writeFileSync(path.join(etc, 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  writeFileSync(path.join(etc, 'resolv.conf'), '');
  writeFileSync(path.join(etc, 'os-release'), 'NAME="Kindling micro-VM"\nID=kindling\n');
}

function makeExt4(root: string, image: string): void {
  const bytes = Number(execFileSync('du', ['-sb', root], { encoding: 'utf8' }).split(/\s/)[0]);
  const mb = Math.ceil((bytes * 1.25) / 1048576) + 32;
  // -d copies the staged tree in (no loop mount, no root needed); no journal: the guest mounts it read-only.
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'kindling', '-O', '^has_journal', '-E', 'root_owner=0:0', '-d', root, image, `${mb}M`], { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface ModuleDeps {
  /** module name -> its path relative to the modules folder, and the paths it depends on. */
  byName: Map<string, { file: string; deps: string[] }>;
}

function readModuleDeps(modulesDir: string): ModuleDeps {
  const byName = new Map<string, { file: string; deps: string[] }>();
  for (const line of readFileSync(`${modulesDir}/modules.dep`, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon);
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    byName.set(moduleName(file), { file, deps });
  }
  return { byName };
}

const moduleName = (file: string): string => path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');

/** The module files to insmod, dependencies first; modules built into the kernel are skipped. */
export function moduleLoadOrder(modulesDir: string, wanted: string[] = GUEST_MODULES): string[] {
  const deps = readModuleDeps(modulesDir);
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file)) return;
    const entry = deps.byName.get(moduleName(file));
    for (const d of entry?.deps ?? []) visit(d);
    order.push(file);
  };
  for (const name of wanted) {
    const entry = deps.byName.get(name);
    if (entry) visit(entry.file);
  }
  return order;
}

function stageInitramfs(dir: string, inputs: GuestImageInputs): void {
  for (const d of ['bin', 'dev', 'proc', 'newroot', 'lib/modules']) mkdirSync(path.join(dir, d), { recursive: true });
  copyFileSync(inputs.busybox, path.join(dir, 'bin/busybox'));
  chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const names: string[] = [];
  for (const file of moduleLoadOrder(inputs.modulesDir)) {
    const name = `${moduleName(file)}.ko`;
    const src = path.join(inputs.modulesDir, file);
    const dest = path.join(dir, 'lib/modules', name);
    if (file.endsWith('.ko')) copyFileSync(src, dest);
    else if (file.endsWith('.ko.xz')) writeFileSync(dest, execFileSync('xz', ['-dc', src], { maxBuffer: 64 << 20 }));
    else if (file.endsWith('.ko.zst')) writeFileSync(dest, execFileSync('zstd', ['-dc', src], { maxBuffer: 64 << 20 }));
    else if (file.endsWith('.ko.gz')) writeFileSync(dest, execFileSync('gzip', ['-dc', src], { maxBuffer: 64 << 20 }));
    names.push(name);
  }
  // The kernel runs /init with the words after "--" on its command line; they go on to the guest init.
  const init = `#!/bin/busybox sh
export PATH=/bin
/bin/busybox mount -t devtmpfs dev /dev
for m in ${names.join(' ')}; do /bin/busybox insmod /lib/modules/$m || echo "kindling-initramfs: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ]; do
  i=$((i+1)); [ $i -gt 1000 ] && { echo "kindling-initramfs: no /dev/vda"; /bin/busybox poweroff -f; }
  /bin/busybox usleep 10000
done
/bin/busybox mount -t ext4 -o ro /dev/vda /newroot || { echo "kindling-initramfs: cannot mount the userland"; /bin/busybox poweroff -f; }
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /usr/sbin/kindling-vminit "$@"
`;
  writeFileSync(path.join(dir, 'init'), init, { mode: 0o755 });
}
