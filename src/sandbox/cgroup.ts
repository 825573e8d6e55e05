// The cgroups of namespace sandboxes (made by the jailer, read and removed here):
// cgroup v1 (memory, pids, cpu hierarchies) or v2 (one unified tree).
// Every sandbox's group is <root>/kindling/<owner pid>-<sandbox id>, so a Kindling
// started later can tell its dead predecessor's leftovers from a live neighbour's.
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { processAlive } from './proc-stat.js';

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

export const cgroupV2 = (): boolean => existsSync(`${ROOT}/cgroup.controllers`);

/** The folders of one sandbox's cgroup (one per v1 hierarchy, or one for v2). */
export function cgroupDirs(name: string): string[] {
  if (cgroupV2()) return [`${ROOT}/kindling/${name}`];
  return V1_CONTROLLERS.map((c) => `${ROOT}/${c}/kindling/${name}`).filter((d) => existsSync(d.slice(0, d.lastIndexOf('/kindling'))));
}

const OOM_KILL = /^oom_kill (\d+)$/m;
/** Every cgroup file read here is far smaller (memory.events, a counter). */
const READ_BUFFER = Buffer.allocUnsafe(4096);

/**
 * A cgroup file read after every invoke: one descriptor kept open and read from
 * offset 0 each time (cgroup files are regenerated per read), so a read costs
 * one syscall instead of readFileSync's open, fstat, read and close.
 */
class CgroupFile {
  private fd: number | undefined;

  constructor(private readonly path: string) {}

  /** The file's text; '' when it cannot be read (the cgroup is gone). */
  read(): string {
    try {
      this.fd ??= openSync(this.path, 'r');
      const n = readSync(this.fd, READ_BUFFER, 0, READ_BUFFER.length, 0);
      return READ_BUFFER.toString('latin1', 0, n);
    } catch {
      this.close();
      return '';
    }
  }

  number(): number {
    return Number.parseInt(this.read(), 10) || 0;
  }

  /** The number a `name value` line holds (memory.events, memory.oom_control), by a /^name (\d+)$/m pattern. */
  field(line: RegExp): number {
    const m = line.exec(this.read());
    return m ? Number(m[1]) : 0;
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already gone
    }
    this.fd = undefined;
  }
}

export interface MemoryStats {
  currentBytes: number;
  peakBytes: number;
  /** Processes the kernel's OOM killer ended in this cgroup. */
  oomKills: number;
}

export class SandboxCgroup {
  readonly v2 = cgroupV2();
  private readonly current: CgroupFile;
  private readonly peak: CgroupFile;
  private readonly events: CgroupFile;

  constructor(readonly name: string) {
    const mem = this.v2 ? `${ROOT}/kindling/${name}` : `${ROOT}/memory/kindling/${name}`;
    this.current = new CgroupFile(`${mem}/${this.v2 ? 'memory.current' : 'memory.usage_in_bytes'}`);
    this.peak = new CgroupFile(`${mem}/${this.v2 ? 'memory.peak' : 'memory.max_usage_in_bytes'}`);
    this.events = new CgroupFile(`${mem}/${this.v2 ? 'memory.events' : 'memory.oom_control'}`);
  }

  /** Peak memory use, bytes: one read of the peak file (the current use where there is none). */
  peakBytes(): number {
    return this.peak.number() || this.current.number();
  }

  memory(): MemoryStats {
    const current = this.current.number();
    return { currentBytes: current, peakBytes: Math.max(current, this.peak.number()), oomKills: this.events.field(OOM_KILL) };
  }

  /** Sets the CPU quota (µs per period; -1: none). */
  setCpuQuota(quotaUs: number, periodUs: number): void {
    try {
      if (this.v2) writeFileSync(`${ROOT}/kindling/${this.name}/cpu.max`, `${quotaUs < 0 ? 'max' : quotaUs} ${periodUs}`);
      else writeFileSync(`${ROOT}/cpu/kindling/${this.name}/cpu.cfs_quota_us`, String(quotaUs));
    } catch {
      // the sandbox is gone, or no cpu controller
    }
  }

  /** Sets the CPU weight, in v1's shares (2..262144, 1024 = a plain process); v2's cpu.weight as the jailer maps it. */
  setCpuShares(shares: number): void {
    try {
      if (this.v2) writeFileSync(`${ROOT}/kindling/${this.name}/cpu.weight`, String(Math.min(10000, Math.max(1, Math.floor((shares * 100) / 1024)))));
      else writeFileSync(`${ROOT}/cpu/kindling/${this.name}/cpu.shares`, String(Math.max(2, shares)));
    } catch {
      // the sandbox is gone, or no cpu controller
    }
  }

  /** Removes the cgroup (after the sandbox ended); true when it is gone. */
  remove(): boolean {
    for (const f of [this.current, this.peak, this.events]) f.close();
    return removeCgroupDirs(cgroupDirs(this.name));
  }
}

function procsOf(dir: string): number[] {
  try {
    return readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function removeCgroupDirs(dirs: string[]): boolean {
  let ok = true;
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') ok = false;
    }
  }
  return ok;
}

/**
 * Kills the processes of kindling cgroups whose owner is gone (a Kindling that was
 * SIGKILLed) and removes the groups. Groups of a live Kindling are left alone.
 */
export async function removeLeftoverCgroups(): Promise<number> {
  const parents = cgroupV2() ? [`${ROOT}/kindling`] : V1_CONTROLLERS.map((c) => `${ROOT}/${c}/kindling`);
  const stale = new Set<string>();
  for (const parent of parents) {
    let names: string[];
    try {
      names = readdirSync(parent, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = Number.parseInt(name, 10);
      if (Number.isFinite(owner) && owner !== process.pid && processAlive(owner)) continue;
      if (owner === process.pid) continue;
      stale.add(name);
    }
  }
  for (const name of stale) {
    const dirs = cgroupDirs(name);
    for (let attempt = 0; attempt < 50; attempt++) {
      for (const dir of dirs) {
        for (const pid of procsOf(dir)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
      }
      if (removeCgroupDirs(dirs)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return stale.size;
}

/** Whether this machine can give sandboxes a memory cgroup (mounted and writable by us). */
export function cgroupsAvailable(): boolean {
  if (cgroupV2()) {
    try {
      return readFileSync(`${ROOT}/cgroup.controllers`, 'utf8').includes('memory');
    } catch {
      return false;
    }
  }
  return existsSync(`${ROOT}/memory/memory.limit_in_bytes`) && existsSync(`${ROOT}/pids`);
}

