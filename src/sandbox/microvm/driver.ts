// The `microvm` driver: every sandbox is its own virtual machine (QEMU's
// `-M microvm`, the closest twin of Lambda's Firecracker on a stock host), with
// Debian's kernel and Kindling's guest image (image.ts). A cold start restores a
// snapshot of a VM that already booted and loaded the guest agent, instead of
// booting one: one snapshot per guest shape (RAM, vCPUs, Node.js flags, accelerator),
// taken on first use. The host-guest stream is a virtio-serial port on a Unix
// socket; the code travels over it (files.ts), then Prepare makes the restored
// copy unique (clock, randomness, /tmp size, unprivileged user).
//
// KVM when the host can boot guests with it; QEMU's software CPU (TCG) otherwise.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { encodeFrame, FrameDecoder, FrameType, type ClockMeta, type PrepareMeta } from '../../guest/protocol.js';
import { nodeFlagsFor, type SandboxDriver, type SandboxExit, type SandboxLaunch, type SandboxProcess } from '../driver.js';
import { MB_PER_VCPU, RUNTIME_API_IN_GUEST, RUNTIME_DIR_IN_GUEST, SANDBOX_UID, TASK_ROOT_IN_GUEST } from '../namespace-driver.js';
import { filesFrames } from './files.js';
import { ensureGuestImage, guestImageUnavailable, VMINIT_PATH, type GuestImage } from './image.js';
import { QmpClient } from './qmp.js';
import { findTool } from '../host-tools.js';
import { processAlive, treeRssKb } from '../proc-stat.js';

export type Accel = 'kvm' | 'tcg';

/** Guest RAM beyond MemorySize: the guest kernel, init and page cache of the userland. */
export const GUEST_OVERHEAD_MB = 64;
/** What a VM prints on its console once booted, with the agent waiting for a host. */
const READY_MARKER = 'kindling-agent: waiting';
const EXIT_LINE = /kindling-vminit: exit code=(-?\d+) signal=(\d+) oom=(\d+)/;
/** A software-emulated boot of the agent takes ~30 s here; a slow CI machine gets far more. */
const BOOT_TIMEOUT_MS = 180_000;
/** A KVM guest boots in about a second; one that cannot run the stock kernel fails or hangs. */
const KVM_PROBE_TIMEOUT_MS = 15_000;
const NAME_PREFIX = 'kindling-sandbox-';
const PREPARE_TIMEOUT_MS = 120_000;
const KERNEL_LINE = /^\[\s*\d+\.\d+\] /;

export interface MicrovmDriverOptions {
  /** Where the guest image and its snapshots are kept (Kindling: <data>/microvm). */
  baseDir: string;
  /** 'auto' (default): KVM when /dev/kvm boots the guest, else TCG. */
  accel?: Accel | 'auto';
  qemu?: string;
  log?: (msg: string) => void;
}

/** qemu-system-x86_64 on PATH (or the usual places), or undefined. */
export const findQemu = (): string | undefined => findTool('qemu-system-x86_64');

/** Why the microvm driver cannot run here, or undefined when it can. */
export function microvmUnavailable(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'micro-VM sandboxes need Linux on x86_64';
  if (findQemu() === undefined) return 'qemu-system-x86_64 is not installed (Debian: apt-get install qemu-system-x86)';
  if (!existsSync(VMINIT_PATH)) return `the guest init is not built (${VMINIT_PATH}; run npm run build with a C compiler)`;
  const image = guestImageUnavailable();
  if (image !== undefined) return image;
  return undefined;
}

function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The host's TSC rate: a TCG guest's TSC runs at it, and calibrating it instead hangs the boot. */
function hostKhz(): number {
  const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  // Whole MHz: the figure jitters in its last digits on virtual hosts, and it is part of a snapshot's key.
  return m ? Math.round(Number(m[1])) * 1000 : 2_000_000;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

interface Shape {
  accel: Accel;
  ramMb: number;
  cpus: number;
  nodeFlags: string[];
}

interface Snapshot {
  shape: Shape;
  file: string;
}

/** Every QEMU this process started: none outlives it (a SIGKILLed Kindling's are removed at its next start). */
const liveVms = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): ChildProcess {
  liveVms.add(child);
  child.once('exit', () => liveVms.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of liveVms) c.kill('SIGKILL');
    });
  }
  return child;
}

/** The run folder of one VM: short, as Unix socket paths must be. */
function runRoot(pid = process.pid): string {
  return path.join(os.tmpdir(), 'kindling-vm', String(pid));
}

export class MicrovmDriver implements SandboxDriver {
  readonly name = 'microvm' as const;
  readonly enforcesMemory = true;
  private readonly qemu: string;
  private readonly log: (msg: string) => void;
  private image: GuestImage | undefined;
  private readonly snapshots = new Map<string, Promise<Snapshot>>();
  private accel: Promise<Accel> | undefined;
  private readonly khz = hostKhz();
  private seq = 0;

  constructor(private readonly opts: MicrovmDriverOptions) {
    const qemu = opts.qemu ?? findQemu();
    if (qemu === undefined) throw new Error('qemu-system-x86_64 is not installed (Debian: apt-get install qemu-system-x86)');
    this.qemu = qemu;
    this.log = opts.log ?? (() => undefined);
  }

  /** Builds (or finds) the guest image; `kindling microvm build` and the first launch call it. */
  ensureImage(): GuestImage {
    this.image ??= ensureGuestImage(this.opts.baseDir, this.log);
    return this.image;
  }

  /** Takes the snapshot a sandbox of this size restores, ahead of its first cold start. */
  async warm(memoryMb: number, nodeFlags: string[]): Promise<void> {
    await this.snapshot(await this.shape(memoryMb, nodeFlags));
  }

  private async shape(memoryMb: number, nodeFlags: string[]): Promise<Shape> {
    const cpus = Math.max(1, Math.min(os.availableParallelism(), Math.ceil(memoryMb / MB_PER_VCPU)));
    return { accel: await this.chooseAccel(), ramMb: memoryMb + GUEST_OVERHEAD_MB, cpus, nodeFlags };
  }

  private chooseAccel(): Promise<Accel> {
    this.accel ??= (async () => {
      const wanted = this.opts.accel ?? 'auto';
      if (wanted !== 'auto') return wanted;
      if (!kvmUsable()) return 'tcg';
      // The verdict is kept beside the image, so only the first start pays for the probe.
      const image = this.ensureImage();
      const verdictFile = path.join(image.dir, `accel-${this.qemuKey()}`);
      if (existsSync(verdictFile)) return readFileSync(verdictFile, 'utf8').trim() === 'kvm' ? 'kvm' : 'tcg';
      // Boot once with KVM (that snapshot is kept); a KVM that cannot run the guest means TCG.
      const shape: Shape = { accel: 'kvm', ramMb: 128 + GUEST_OVERHEAD_MB, cpus: 1, nodeFlags: nodeFlagsFor(128) };
      let accel: Accel;
      try {
        await this.snapshot(shape, KVM_PROBE_TIMEOUT_MS);
        this.log('micro-VMs: KVM');
        accel = 'kvm';
      } catch (err) {
        this.log(`micro-VMs: KVM cannot boot the guest here (${(err as Error).message.split('\n')[0]}); using QEMU's software CPU (TCG)`);
        accel = 'tcg';
      }
      writeFileSync(verdictFile, `${accel}\n`);
      return accel;
    })();
    return this.accel;
  }

  private qemuKey(): string {
    const q = statSync(this.qemu);
    return createHash('sha256').update(`${this.qemu} ${q.size} ${q.mtimeMs}`).digest('hex').slice(0, 16);
  }

  /**
   * Guest RAM is a file: shared and written while the snapshot VM boots, mapped
   * private (copy-on-write) by every restore, so a restore reads no RAM up front and
   * all sandboxes of one shape share the pages none of them has written.
   */
  private machineArgs(image: GuestImage, shape: Shape, name: string, dir: string, ram: { file: string; share: boolean }): string[] {
    const append = [
      'console=ttyS0',
      'quiet',
      'loglevel=1',
      'panic=-1',
      'reboot=t',
      'pci=off',
      `tsc_early_khz=${this.khz}`,
      '--',
      ...shape.nodeFlags,
    ].join(' ');
    return [
      '-name', name,
      '-M', 'microvm,memory-backend=ram',
      '-object', `memory-backend-file,id=ram,size=${shape.ramMb}M,mem-path=${ram.file},share=${ram.share ? 'on' : 'off'}`,
      ...(shape.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,tb-size=128', '-cpu', 'max']),
      '-smp', String(shape.cpus),
      '-m', String(shape.ramMb),
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-chardev', 'stdio,id=con,signal=off',
      '-serial', 'chardev:con',
      '-kernel', image.kernel,
      '-initrd', image.initrd,
      '-append', append,
      '-drive', `id=root,file=${image.rootfs},format=raw,if=none,readonly=on`,
      '-device', 'virtio-blk-device,drive=root',
      '-device', 'virtio-serial-device',
      '-chardev', `socket,id=host,path=${path.join(dir, 's')},server=on,wait=off`,
      '-device', 'virtserialport,chardev=host,name=kindling',
      '-qmp', `unix:${path.join(dir, 'q')},server=on,wait=off`,
    ];
  }

  private snapshotKey(shape: Shape): string {
    return createHash('sha256')
      .update(JSON.stringify({ ...shape, qemu: this.qemuKey(), khz: this.khz }))
      .digest('hex')
      .slice(0, 16);
  }

  private snapshot(shape: Shape, timeoutMs = BOOT_TIMEOUT_MS): Promise<Snapshot> {
    const image = this.ensureImage();
    const key = this.snapshotKey(shape);
    let p = this.snapshots.get(key);
    if (!p) {
      const file = path.join(image.dir, `snap-${shape.accel}-${shape.ramMb}-${key}.state`);
      p = existsSync(file) && existsSync(ramFile(file)) ? Promise.resolve({ shape, file }) : this.takeSnapshot(image, shape, file, timeoutMs);
      this.snapshots.set(key, p);
      p.catch(() => this.snapshots.delete(key));
    }
    return p;
  }

  /** Boots a VM until its agent waits for a host, then saves it (paused) to file. */
  private async takeSnapshot(image: GuestImage, shape: Shape, file: string, timeoutMs: number): Promise<Snapshot> {
    const started = Date.now();
    const dir = this.runDir('boot');
    // Without the paused run state in the stream, a restore starts running at once.
    const ramTmp = `${ramFile(file)}.${process.pid}.tmp`;
    const args = [...this.machineArgs(image, shape, `${NAME_PREFIX}${process.pid}-boot`, dir, { file: ramTmp, share: true }), '-global', 'migration.store-global-state=off'];
    const child = track(spawn(this.qemu, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true }));
    let consoleText = '';
    let qmp: QmpClient | undefined;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no boot within ${timeoutMs / 1000} s; console: ${tail(consoleText)}`)), timeoutMs);
        const onData = (chunk: Buffer) => {
          consoleText += chunk.toString('utf8');
          if (consoleText.length > 65536) consoleText = consoleText.slice(-32768);
          if (consoleText.includes(READY_MARKER)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`QEMU exited (${signal ?? code}) while booting: ${tail(consoleText)}`));
        });
        child.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      qmp = await QmpClient.connect(path.join(dir, 'q'));
      await qmp.execute('stop');
      await qmp.execute('migrate-set-capabilities', IGNORE_SHARED);
      await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(tmp)}` });
      for (;;) {
        const status = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
        if (status.status === 'completed') break;
        if (status.status === 'failed' || status.status === 'cancelled') throw new Error(`snapshot failed: ${status['error-desc'] ?? status.status}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      // A clean quit, so every page of the RAM file is written before it is used.
      const gone = new Promise((r) => child.once('exit', r));
      await qmp.execute('quit').catch(() => undefined);
      await gone;
      renameSync(ramTmp, ramFile(file));
      renameSync(tmp, file);
      // Older snapshots of this size (another QEMU, other flags) go; VMs restored from them keep their mapping.
      const prefix = `snap-${shape.accel}-${shape.ramMb}-`;
      for (const f of readdirSync(image.dir)) {
        if (f.startsWith(prefix) && !f.includes(path.basename(file, '.state')) && !f.endsWith('.tmp')) rmSync(path.join(image.dir, f), { force: true });
      }
      this.log(`micro-VM snapshot taken (${shape.accel}, ${shape.ramMb} MB, ${Math.round(statSync(file).size / 1048576)} MB on disk) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return { shape, file };
    } catch (err) {
      rmSync(tmp, { force: true });
      rmSync(ramTmp, { force: true });
      throw err;
    } finally {
      qmp?.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private runDir(id: string): string {
    const dir = path.join(runRoot(), `${id}-${++this.seq}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async launch(spec: SandboxLaunch): Promise<SandboxProcess> {
    const shape = await this.shape(spec.memoryMb, spec.nodeFlags);
    const snap = await this.snapshot(shape);
    const image = this.ensureImage();
    const dir = this.runDir(spec.id.slice(0, 12));
    const ram = { file: ramFile(snap.file), share: false };
    const args = [...this.machineArgs(image, shape, `${NAME_PREFIX}${process.pid}-${spec.id}`, dir, ram), '-incoming', 'defer'];
    const child = track(spawn(this.qemu, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true }));
    const vm = new VmProcess(child, dir, this.log);
    try {
      const qmp = await QmpClient.connect(path.join(dir, 'q'));
      try {
        await qmp.execute('migrate-set-capabilities', IGNORE_SHARED);
        await qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(snap.file)}` });
        // The port's "host connected" state is part of what the restore loads: a host
        // that connects before it is running can be reported gone to the guest.
        await untilRunning(qmp);
      } finally {
        qmp.close();
      }
      const stream = await connectPort(path.join(dir, 's'), child);
      vm.attach(stream);
      await deliver(stream, spec);
      const prepare: PrepareMeta = { seed: randomBytes(64).toString('hex'), tmpMb: spec.ephemeralStorageMb, uid: SANDBOX_UID, gid: SANDBOX_UID };
      stream.write(encodeFrame(FrameType.Prepare, prepare));
      await prepared(stream, vm.exited);
      const clock: ClockMeta = { timeMs: Date.now() };
      stream.write(encodeFrame(FrameType.Clock, clock));
    } catch (err) {
      vm.kill();
      await vm.exited;
      throw err;
    }
    return vm.handle(spec);
  }

  /**
   * At the host's start: what an earlier run left, then the guest image (built
   * now, before Kindling listens, on first use) and, in the background, the
   * snapshot of Lambda's default 128 MB size.
   */
  async cleanup(): Promise<void> {
    if (process.platform !== 'linux') return;
    this.removeLeftovers();
    this.ensureImage();
    void this.warm(128, nodeFlagsFor(128)).catch((err: Error) => this.log(`micro-VM snapshot for 128 MB failed: ${err.message}`));
  }

  private removeLeftovers(): void {
    // VMs of an earlier Kindling that died without stopping them.
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      const m = new RegExp(`\\0${NAME_PREFIX}(\\d+)-`).exec(cmdline);
      if (m && !processAlive(Number(m[1]))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    const base = path.dirname(runRoot());
    if (existsSync(base)) for (const d of readdirSync(base)) if (/^\d+$/.test(d) && !processAlive(Number(d))) rmSync(path.join(base, d), { recursive: true, force: true });
  }
}

/** The RAM file is the snapshot's memory: the migration stream carries only devices. */
const IGNORE_SHARED = { capabilities: [{ capability: 'x-ignore-shared', state: true }] };

/** The guest RAM file beside a snapshot's device state. */
const ramFile = (stateFile: string): string => stateFile.replace(/\.state$/, '.ram');

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ') || '(nothing)';
}

/** The VM's end of the virtio-serial port, once QEMU has made its socket. */
async function connectPort(socketPath: string, child: ChildProcess): Promise<Socket> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('QEMU exited before the VM started');
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(socketPath);
        s.once('connect', () => {
          s.removeAllListeners('error');
          resolve(s);
        });
        s.once('error', reject);
      });
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the VM's port did not open: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** Sends the package and the layers as Files frames, minding the socket's buffer. */
async function deliver(stream: Socket, spec: SandboxLaunch): Promise<void> {
  const sources: [string, '/var/task' | '/opt'][] = [[spec.taskRoot, '/var/task']];
  if (spec.opt !== undefined) sources.push([spec.opt, '/opt']);
  for (const [dir, root] of sources) {
    for await (const f of filesFrames(dir, root)) {
      if (!stream.write(encodeFrame(FrameType.Files, f.meta, f.payload))) {
        await new Promise<void>((resolve, reject) => {
          const onErr = (err: Error) => reject(err);
          stream.once('error', onErr);
          stream.once('drain', () => {
            stream.off('error', onErr);
            resolve();
          });
        });
      }
    }
  }
}

async function untilRunning(qmp: QmpClient): Promise<void> {
  for (;;) {
    const st = (await qmp.execute('query-status')) as { status: string };
    if (st.status === 'running') return;
    if (st.status !== 'inmigrate' && st.status !== 'prelaunch' && st.status !== 'paused') throw new Error(`the micro-VM's restore ended in state ${st.status}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Waits for the guest's Prepared frame (the only thing it sends before Init). */
function prepared(stream: Socket, exited: Promise<SandboxExit>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    // Generous: a software-emulated guest on a loaded host is slow, but one that never answers is stuck.
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      stream.off('data', onData);
      reject(new Error(`the micro-VM did not take its code within ${PREPARE_TIMEOUT_MS / 1000} s`));
    }, PREPARE_TIMEOUT_MS);
    const decoder = new FrameDecoder((f) => {
      if (done || f.type !== FrameType.Prepared) return;
      done = true;
      clearTimeout(timer);
      stream.off('data', onData);
      resolve();
    });
    const onData = (chunk: Buffer) => decoder.push(chunk);
    stream.on('data', onData);
    void exited.then((exit) => {
      clearTimeout(timer);
      if (!done) reject(new Error(`the micro-VM stopped before it was prepared (${exit.signal ?? `exit ${exit.code}`})`));
    });
  });
}

/** One running VM: its QEMU, console and exit. */
class VmProcess {
  readonly exited: Promise<SandboxExit>;
  private readonly console = new PassThrough();
  private reported: { exit: SandboxExit; oom: boolean } | undefined;
  private stream: Socket | undefined;
  private peakKb = 0;
  private lastKb = { rss: 0, hwm: 0 };

  constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    log: (msg: string) => void,
  ) {
    let pending = '';
    const onConsole = (chunk: Buffer) => {
      pending += chunk.toString('utf8').replace(/\r/g, '');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl + 1);
        pending = pending.slice(nl + 1);
        this.onConsoleLine(line);
      }
    };
    child.stdout!.on('data', onConsole);
    // QEMU's own complaints are the operator's, not the function's.
    child.stderr!.on('data', (chunk: Buffer) => log(`QEMU ${child.pid}: ${chunk.toString('utf8').trim()}`));
    this.exited = new Promise<SandboxExit>((resolve) => {
      const finish = (_code: number | null, signal: NodeJS.Signals | null) => {
        if (pending !== '') this.onConsoleLine(pending);
        this.console.end();
        this.stream?.destroy();
        rmSync(this.dir, { recursive: true, force: true });
        resolve(this.reported?.exit ?? (signal !== null ? { code: null, signal } : { code: null, signal: 'SIGKILL' }));
      };
      child.once('exit', finish);
      child.once('error', () => finish(null, null));
    });
  }

  private onConsoleLine(line: string): void {
    const m = EXIT_LINE.exec(line);
    if (m) {
      const code = Number(m[1]);
      const sig = Number(m[2]);
      const name = sig > 0 ? (Object.entries(os.constants.signals).find(([, n]) => n === sig)?.[0] as NodeJS.Signals | undefined) : undefined;
      this.reported = { exit: name ? { code: null, signal: name } : { code: code < 0 ? null : code, signal: null }, oom: Number(m[3]) > 0 };
      // The guest powers off next; should it hang instead, its VM goes anyway.
      setTimeout(() => this.kill(), 2000).unref();
      return;
    }
    // The guest kernel's own lines ("[   18.45] reboot: Power down") are not the function's output.
    if (line.startsWith(READY_MARKER) || KERNEL_LINE.test(line)) return;
    this.console.write(line);
  }

  attach(stream: Socket): void {
    this.stream = stream;
    // A VM that dies mid-delivery resets the socket: its exit says why.
    stream.on('error', () => undefined);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      try {
        process.kill(this.child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  private sample(): { rss: number; hwm: number } {
    // QEMU's resident memory: the guest's RAM it has touched, its own heap and translation cache.
    const m = treeRssKb(this.child.pid ?? -1);
    if (m.rss > 0) this.lastKb = m; // kept after exit
    this.peakKb = Math.max(this.peakKb, this.lastKb.hwm, this.lastKb.rss);
    return this.lastKb;
  }

  handle(spec: SandboxLaunch): SandboxProcess {
    const stream = this.stream!;
    return {
      pid: this.child.pid ?? -1,
      stream,
      output: [this.console],
      exited: this.exited,
      taskRootInGuest: TASK_ROOT_IN_GUEST,
      runtimeDirInGuest: RUNTIME_DIR_IN_GUEST,
      ...(spec.opt !== undefined ? { optDirInGuest: '/opt' } : {}),
      runtimeApiListen: RUNTIME_API_IN_GUEST,
      memory: () => {
        const { rss } = this.sample();
        return { currentMb: Math.ceil(rss / 1024), peakMb: Math.ceil(this.peakKb / 1024) };
      },
      oomKilled: () => this.reported?.oom === true,
      kill: () => this.kill(),
    };
  }
}
