// The cgroups of namespace sandboxes (made by the jailer, read and removed here):
// cgroup v1 (memory, pids, cpu hierarchies) or v2 (one unified tree).
// Every sandbox's group is <root>/kindling/<owner pid>-<sandbox id>, so a Kindling
// started later can tell its dead predecessor's leftovers from a live neighbour's.
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { processAlive } from './proc-stat.js';

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

export const cgroupV2 = (): boolean => existsSync(`${ROOT}/cgroup.controllers`);

/** The folders of one sandbox's cgroup (one per v1 hierarchy, or one for v2). */
export function cgroupDirs(name: string): string[] {
  if (cgroupV2()) return [`${ROOT}/kindling/${name}`];
  return V1_CONTROLLERS.map((c) => `${ROOT}/${c}/kindling/${name}`).filter((d) => existsSync(d.slice(0, d.lastIndexOf('/kindling'))));
}

const readNum = (file: string): number => {
  try {
    return Number.parseInt(readFileSync(file, 'utf8'), 10) || 0;
  } catch {
    return 0;
  }
};

const readField = (file: string, field: string): number => {
  try {
    const m = new RegExp(`^${field} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
};

export interface MemoryStats {
  currentBytes: number;
  peakBytes: number;
  /** Processes the kernel's OOM killer ended in this cgroup. */
  oomKills: number;
}

export class SandboxCgroup {
  readonly v2 = cgroupV2();
  private readonly mem: string;

  constructor(readonly name: string) {
    this.mem = this.v2 ? `${ROOT}/kindling/${name}` : `${ROOT}/memory/kindling/${name}`;
  }

  memory(): MemoryStats {
    if (this.v2) {
      const current = readNum(`${this.mem}/memory.current`);
      return { currentBytes: current, peakBytes: Math.max(current, readNum(`${this.mem}/memory.peak`)), oomKills: readField(`${this.mem}/memory.events`, 'oom_kill') };
    }
    return {
      currentBytes: readNum(`${this.mem}/memory.usage_in_bytes`),
      peakBytes: readNum(`${this.mem}/memory.max_usage_in_bytes`),
      oomKills: readField(`${this.mem}/memory.oom_control`, 'oom_kill'),
    };
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

  /** Removes the cgroup (after the sandbox ended); true when it is gone. */
  remove(): boolean {
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

