// The `process` driver: the guest agent as a plain child process with a clean
// environment. No isolation: for development, and where namespaces are not
// available. Memory is watched by the host.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Duplex } from 'node:stream';
import type { SandboxDriver, SandboxExit, SandboxLaunch, SandboxProcess } from './driver.js';
import { treeRssKb } from './proc-stat.js';

export const AGENT_PATH = fileURLToPath(new URL('../guest/agent.js', import.meta.url));

/** The environment a runtime process starts with before Init: nothing of the host's own. */
export const bootEnv = (): Record<string, string> => ({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  LANG: 'en_US.UTF-8',
  TZ: ':UTC',
});

export class ProcessDriver implements SandboxDriver {
  readonly name = 'process' as const;
  readonly enforcesMemory = false;

  async launch(spec: SandboxLaunch): Promise<SandboxProcess> {
    const child = spawn(process.execPath, [...spec.nodeFlags, AGENT_PATH], {
      cwd: spec.taskRoot,
      env: bootEnv(),
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Its own process group, so a kill also takes the runtime's children.
      detached: true,
    });
    const exited = new Promise<SandboxExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    const pid = child.pid ?? -1;
    let peakKb = 0;
    return {
      pid,
      stream: child.stdio[3] as Duplex,
      output: [child.stdout!, child.stderr!],
      exited,
      taskRootInGuest: spec.taskRoot,
      // No mount namespace: the layers are wherever the host merged them.
      ...(spec.opt !== undefined ? { optDirInGuest: spec.opt } : {}),
      runtimeApiListen: ':0',
      memory() {
        const { rss, hwm } = treeRssKb(pid);
        peakKb = Math.max(peakKb, hwm, rss);
        return { currentMb: Math.ceil(rss / 1024), peakMb: Math.ceil(peakKb / 1024) };
      },
      oomKilled: () => false,
      kill() {
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }
      },
    };
  }

  async cleanup(): Promise<void> {
    // Child processes die with their parent's stream; nothing is left on disk.
  }
}
