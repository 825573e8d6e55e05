// The `namespace` driver: each sandbox is the guest agent inside its own pid,
// mount, network, ipc and uts namespaces, on a read-only root built from the
// host's /usr, with its own /tmp and /proc, as an unprivileged user with no
// capabilities and a seccomp filter, in a cgroup that caps memory, processes and
// CPU (Lambda's 1769 MB = 1 vCPU). native/jailer.c does the work in three
// processes; this file passes it the sandbox's settings and reads its cgroup.
// launchGeneric() makes the same sandbox with no code yet (for the host's pool);
// attach() later has the jailer mount the code in, read-only, without a copy.
// Linux, as root.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { FrameDecoder, FrameType } from '../guest/protocol.js';
import { SandboxCgroup, cgroupsAvailable, removeLeftoverCgroups } from './cgroup.js';
import type { FunctionCode, GenericLaunch, GenericSandbox, SandboxDriver, SandboxExit, SandboxLaunch, SandboxProcess } from './driver.js';
import { allocateNet, removeLeftoverLinks, setupHostNetwork, type HostNetworkOptions, type SandboxNet } from './network.js';
import { bootEnv, standbyEnv } from './process-driver.js';
import { processRunning } from './proc-stat.js';
import { watchStandby } from './standby.js';

/** dist/native/kindling-jailer, built by `npm run build` (native/build.mjs). */
export const JAILER_PATH = fileURLToPath(new URL('../../native/kindling-jailer', import.meta.url));
/** The compiled guest runtime (dist/src/guest, with python/bootstrap.py beside it): the sandbox's /var/runtime. */
export const GUEST_DIR = fileURLToPath(new URL('../guest/', import.meta.url));

export const TASK_ROOT_IN_GUEST = '/var/task';
export const RUNTIME_DIR_IN_GUEST = '/var/runtime';
export const AGENT_IN_GUEST = `${RUNTIME_DIR_IN_GUEST}/agent.js`;
export const RUNTIME_API_IN_GUEST = '127.0.0.1:9001';

/** Lambda gives a function one vCPU at 1769 MB, and CPU in proportion below and above. */
export const MB_PER_VCPU = 1769;
export const CPU_PERIOD_US = 100_000;
export const PIDS_MAX = 1024;
export const NOFILE_MAX = 1024;
export const SANDBOX_UID = 993;

export interface NamespaceDriverOptions {
  jailerPath?: string;
  /** The guest runtime folder mounted at /var/runtime (default: this build's dist/src/guest). */
  guestDir?: string;
  /** The network of a sandbox whose launch does not say. Default 'default'. */
  defaultNetwork?: 'default' | 'none';
  /** The uid and gid functions run as (default 993). */
  uid?: number;
  hostNetwork?: HostNetworkOptions;
  /**
   * Init runs with at least one full vCPU; the function's proportional share
   * applies from Ready on (default true). Without it a 128 MB function's Node.js
   * takes ~0.5 s just to start.
   */
  fullCpuDuringInit?: boolean;
}

/** Why the namespace driver cannot run here, or undefined when it can. */
export function namespaceUnavailable(jailerPath = JAILER_PATH): string | undefined {
  if (process.platform !== 'linux') return 'namespace sandboxes need Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'namespace sandboxes need root';
  try {
    accessSync(jailerPath, constants.X_OK);
  } catch {
    return `the jailer is not built (${jailerPath}; run npm run build with a C compiler)`;
  }
  if (!cgroupsAvailable()) return 'no memory and pids cgroups are mounted under /sys/fs/cgroup';
  return undefined;
}

/** CPU for a memory size, as Lambda allots it: quota per period, and shares. */
export function cpuFor(memoryMb: number): { quotaUs: number; periodUs: number; shares: number } {
  const quotaUs = Math.max(1000, Math.round((CPU_PERIOD_US * memoryMb) / MB_PER_VCPU));
  return { quotaUs, periodUs: CPU_PERIOD_US, shares: Math.max(2, Math.round((1024 * memoryMb) / MB_PER_VCPU)) };
}

export class NamespaceDriver implements SandboxDriver {
  readonly name = 'namespace' as const;
  readonly enforcesMemory = true;
  readonly genericPaths = { taskRoot: TASK_ROOT_IN_GUEST, runtimeDir: RUNTIME_DIR_IN_GUEST, optDir: '/opt' };
  private readonly jailer: string;
  private readonly guestDir: string;
  private readonly defaultNetwork: 'default' | 'none';
  private readonly uid: number;
  private hostNetwork: Promise<void> | undefined;

  constructor(private readonly opts: NamespaceDriverOptions = {}) {
    this.jailer = opts.jailerPath ?? JAILER_PATH;
    this.guestDir = (opts.guestDir ?? GUEST_DIR).replace(/\/$/, '');
    this.defaultNetwork = opts.defaultNetwork ?? 'default';
    this.uid = opts.uid ?? SANDBOX_UID;
  }

  /** Host rules for sandbox networking, installed once per driver. */
  private ensureHostNetwork(): Promise<void> {
    this.hostNetwork ??= setupHostNetwork(this.opts.hostNetwork).catch((err: Error) => {
      this.hostNetwork = undefined;
      throw new Error(`sandbox networking is unavailable (${err.message.split('\n')[0]}); is nftables installed?`);
    });
    return this.hostNetwork;
  }

  async launch(spec: SandboxLaunch): Promise<SandboxProcess> {
    const extra: string[] = ['--task', spec.taskRoot];
    // Layers, read-only at /opt (the jailer makes an empty /opt otherwise).
    if (spec.opt !== undefined) extra.push('--bind', `${spec.opt}:/opt`);
    const jail = await this.jail(spec, extra, [], spec.nodeFlags);
    boostUntilReady(jail);
    return processOf(jail);
  }

  /**
   * A pooled sandbox: the same jail with empty /var/task and /opt, and a control
   * channel (fd 4) on which the jailer's attach helper takes the code later.
   */
  async launchGeneric(spec: GenericLaunch): Promise<GenericSandbox> {
    // Starting in the background, it yields the CPU to everything else (cold starts under way first).
    // A provided/python agent listens on the Runtime API's fixed address ahead.
    const api: Record<string, string> = spec.family === 'python' || spec.family === 'provided' ? { KINDLING_STANDBY_RUNTIME_API: RUNTIME_API_IN_GUEST } : {};
    const jail = await this.jail(spec, ['--control-fd', '4'], [standbyEnv(spec), api], spec.nodeFlags, true, IDLE_SHARES);
    const control = jail.child.stdio[4] as Duplex;
    control.on('error', () => undefined);
    const watch = watchStandby(jail.stream);
    let attached = false;
    return {
      id: spec.id,
      pid: jail.pid,
      exited: jail.exited,
      standby: watch.done.then(() => undefined),
      // A killed jailer is a zombie until Node sees its exit: /proc tells sooner.
      alive: () => !jail.killed && jail.child.exitCode === null && jail.child.signalCode === null && processRunning(jail.pid),
      kill: () => jail.kill(),
      async attach(code: FunctionCode): Promise<SandboxProcess> {
        if (attached) throw new Error('this sandbox has its function already');
        attached = true;
        // Whatever the agent sends from now on is the Sandbox's to read.
        watch.stop();
        // A function waits on it from now on: a plain process's weight until Ready (the attach helper, in its cgroup, too).
        jail.cgroup.setCpuShares(INIT_SHARES);
        await attachCode(control, code);
        control.destroy();
        boostUntilReady(jail);
        return processOf(jail);
      },
    };
  }

  /** Starts the jailer with the sandbox's cgroup, network and user; `extra` says where its code comes from. */
  private async jail(
    spec: { id: string; memoryMb: number; ephemeralStorageMb: number; network?: 'default' | 'none' },
    extra: string[],
    env: Record<string, string>[],
    nodeFlags: string[],
    control = false,
    shares?: number,
  ): Promise<Jail> {
    const network = spec.network ?? this.defaultNetwork;
    let net: SandboxNet | undefined;
    if (network === 'default') {
      await this.ensureHostNetwork();
      net = allocateNet();
    }
    const cgName = `${process.pid}-${spec.id}`;
    const cpu = cpuFor(spec.memoryMb);
    const boost = this.opts.fullCpuDuringInit !== false && cpu.quotaUs < cpu.periodUs;
    const args = [
      '--id', cgName,
      '--memory-mb', String(spec.memoryMb),
      '--pids-max', String(PIDS_MAX),
      '--cpu-period-us', String(cpu.periodUs),
      '--cpu-quota-us', String(boost ? Math.max(cpu.quotaUs, cpu.periodUs) : cpu.quotaUs),
      '--cpu-shares', String(shares ?? cpu.shares),
      '--tmp-mb', String(spec.ephemeralStorageMb),
      '--nofile', String(NOFILE_MAX),
      '--uid', String(this.uid),
      '--gid', String(this.uid),
      '--runtime', this.guestDir,
      ...extra,
    ];
    // Node lives under /usr on Debian; elsewhere its install folder is mounted where it is.
    const node = process.execPath;
    if (!node.startsWith('/usr/')) {
      const prefix = path.dirname(path.dirname(node));
      args.push('--bind', `${prefix}:${prefix}`);
    }
    if (net) args.push('--veth', net.arg);
    args.push('--', node, ...nodeFlags, AGENT_IN_GUEST);

    const child = spawn(this.jailer, args, {
      cwd: '/',
      env: Object.assign(bootEnv(), ...env),
      stdio: control ? ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const cgroup = new SandboxCgroup(cgName);
    let last = { currentBytes: 0, peakBytes: 0, oomKills: 0 };
    let ended = false;
    const sample = () => {
      if (ended) return last;
      const m = cgroup.memory();
      last = { currentBytes: m.currentBytes, peakBytes: Math.max(last.peakBytes, m.peakBytes), oomKills: Math.max(last.oomKills, m.oomKills) };
      return last;
    };
    const peak = (): number => {
      if (!ended) last.peakBytes = Math.max(last.peakBytes, cgroup.peakBytes());
      return last.peakBytes;
    };
    const exited = new Promise<SandboxExit>((resolve) => {
      let done = false;
      const finish = (exit: SandboxExit) => {
        if (done) return;
        done = true;
        // Last look at the cgroup (OOM kills, peak memory), then it goes.
        sample();
        ended = true;
        net?.release();
        // Resolves once the cgroup is gone too, so a destroyed sandbox leaves nothing.
        void removeCgroup(cgroup).then(() => resolve(exit));
      };
      child.once('exit', (code, signal) => finish({ code, signal }));
      child.once('error', () => finish({ code: null, signal: null }));
    });
    const pid = child.pid ?? -1;
    const jail: Jail = {
      child,
      pid,
      stream: child.stdio[3] as Duplex,
      cgroup,
      cpu,
      boost,
      pooled: control,
      exited,
      sample,
      peak,
      killed: false,
      kill() {
        jail.killed = true;
        // The jailer's end takes its pid namespace (everything in the sandbox) with it.
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      },
    };
    return jail;
  }

  async cleanup(): Promise<void> {
    if (process.platform !== 'linux') return;
    await removeLeftoverCgroups();
    if (existsSync('/sys/class/net')) await removeLeftoverLinks();
  }
}

interface Jail {
  child: ChildProcess;
  pid: number;
  stream: Duplex;
  cgroup: SandboxCgroup;
  cpu: { quotaUs: number; periodUs: number; shares: number };
  /** Init runs on a full vCPU; the function's share applies from Ready. */
  boost: boolean;
  /** A generic sandbox (launchGeneric): its CPU weight is raised for Init, and set to the function's at Ready. */
  pooled: boolean;
  exited: Promise<SandboxExit>;
  sample(): { currentBytes: number; peakBytes: number; oomKills: number };
  /** Peak memory, bytes (one cgroup read). */
  peak(): number;
  killed: boolean;
  kill(): void;
}

/** The jail as the host's Sandbox uses it. */
function processOf(jail: Jail): SandboxProcess {
  return {
    pid: jail.pid,
    stream: jail.stream,
    output: [jail.child.stdout!, jail.child.stderr!],
    exited: jail.exited,
    taskRootInGuest: TASK_ROOT_IN_GUEST,
    runtimeDirInGuest: RUNTIME_DIR_IN_GUEST,
    runtimeApiListen: RUNTIME_API_IN_GUEST,
    memory() {
      const m = jail.sample();
      return { currentMb: Math.ceil(m.currentBytes / 1048576), peakMb: Math.ceil(m.peakBytes / 1048576) };
    },
    peakMemoryMb: () => Math.ceil(jail.peak() / 1048576),
    oomKilled: () => jail.sample().oomKills > 0,
    kill: () => jail.kill(),
  };
}

/** CPU shares of a generic sandbox while it starts and waits (the least there is). */
const IDLE_SHARES = 2;
/** CPU shares of a pooled sandbox from attach to Ready (a plain process's). */
const INIT_SHARES = 1024;

/**
 * Ready, InitError or Exit ends Init: from then on, the function's own CPU share.
 * (Listening here is safe: the host attaches its own reader in the same turn as launch() or attach() resolves.)
 */
function boostUntilReady(jail: Jail): void {
  const { stream, cgroup, cpu } = jail;
  const { pooled } = jail;
  if (!jail.boost && !pooled) return;
  let initDone = false;
  const decoder = new FrameDecoder((f) => {
    // A pooled agent's late Standby is no end of Init.
    if (initDone || f.type === FrameType.Log || f.type === FrameType.Standby) return;
    initDone = true;
    if (jail.boost) cgroup.setCpuQuota(cpu.quotaUs, cpu.periodUs);
    if (pooled) cgroup.setCpuShares(cpu.shares);
  });
  const onData = (chunk: Buffer) => {
    decoder.push(chunk);
    if (initDone) stream.off('data', onData);
  };
  stream.on('data', onData);
}

const ATTACH_TIMEOUT_MS = 10_000;

/** Asks the jailer's attach helper to mount the code into the sandbox; resolves at its "ok". */
function attachCode(control: Duplex, code: FunctionCode): Promise<void> {
  for (const p of [code.taskRoot, code.opt]) {
    if (p !== undefined && (!p.startsWith('/') || p.includes('\n'))) return Promise.reject(new Error(`cannot attach ${JSON.stringify(p)}: not an absolute path`));
  }
  return new Promise<void>((resolve, reject) => {
    let reply = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      control.off('data', onData);
      control.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      const nl = reply.indexOf('\n');
      if (nl === -1) return;
      const line = reply.slice(0, nl);
      done(line === 'ok' ? undefined : new Error(`the sandbox could not take its code: ${line.replace(/^error /, '')}`));
    };
    const onClose = () => done(new Error('the sandbox ended before it took its code'));
    const timer = setTimeout(() => done(new Error('the sandbox did not take its code in time')), ATTACH_TIMEOUT_MS);
    control.on('data', onData);
    control.on('close', onClose);
    control.write(`task ${code.taskRoot}\n${code.opt !== undefined ? `opt ${code.opt}\n` : ''}\n`);
  });
}

/** Removes a sandbox's cgroup; the last processes of its namespace may take a moment to go. */
async function removeCgroup(cgroup: SandboxCgroup): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (cgroup.remove()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
