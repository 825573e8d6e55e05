// Host processes, from /proc (Linux): whether one lives, and the memory of a tree.
import { readFileSync } from 'node:fs';

const kb = (status: string, field: string): number => {
  const i = status.indexOf(field);
  if (i === -1) return 0;
  return Number.parseInt(status.slice(i + field.length), 10) || 0;
};

/** A process's children (Linux's /proc/PID/task/PID/children). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU ticks (user + system, 1/100 s) a process has used so far; 0 once it is gone. */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** CPU ticks used so far by pid and every descendant alive. */
export function treeTicks(pid: number): number {
  let ticks = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    ticks += processTicks(p);
    stack.push(...childPids(p));
  }
  return ticks;
}

/** Current and peak RSS (KB) of pid and its descendants. */
export function treeRssKb(pid: number): { rss: number; hwm: number } {
  let rss = 0;
  let hwm = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      rss += kb(status, 'VmRSS:');
      hwm += kb(status, 'VmHWM:');
    } catch {
      continue;
    }
    stack.push(...childPids(p));
  }
  return { rss, hwm };
}

/** Proportional set size (KB) of pid and its descendants: memory shared with others counts in part. */
export function treePssKb(pid: number): number {
  let pss = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    try {
      pss += kb(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'), 'Pss:');
    } catch {
      continue;
    }
    stack.push(...childPids(p));
  }
  return pss;
}

/** Whether a process exists (one of another user's counts too). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a child process still runs: not gone and not a zombie (killed, its exit
 * not yet seen by Node). Linux reads /proc; elsewhere, whether it exists.
 */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return process.platform === 'linux' ? false : processAlive(pid);
  }
}
