// The `process` driver: the guest agent as a plain child process with a clean
// environment. No isolation: for development, and where namespaces are not
// available. Memory is watched by the host.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Duplex } from 'node:stream';
import type { FunctionCode, GenericLaunch, GenericSandbox, SandboxDriver, SandboxExit, SandboxLaunch, SandboxProcess } from './driver.js';
import { watchStandby } from './standby.js';
import { processRunning, treeRssKb } from './proc-stat.js';

export const AGENT_PATH = fileURLToPath(new URL('../guest/agent.js', import.meta.url));

/** The environment a runtime process starts with before Init: nothing of the host's own. */
export const bootEnv = (): Record<string, string> => ({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  LANG: 'en_US.UTF-8',
  TZ: ':UTC',
});

/** What a generic agent is told before its function is known: its family, and the runtime's likely environment. */
export const standbyEnv = (spec: GenericLaunch): Record<string, string> => ({
  KINDLING_STANDBY: spec.family,
  ...(spec.runtimeEnv !== undefined ? { KINDLING_STANDBY_ENV: JSON.stringify(spec.runtimeEnv) } : {}),
});

export class ProcessDriver implements SandboxDriver {
  readonly name = 'process' as const;
  readonly enforcesMemory = false;

  async launch(spec: SandboxLaunch): Promise<SandboxProcess> {
    const agent = spawnAgent(spec.nodeFlags, spec.taskRoot, bootEnv());
    return processOf(agent, spec);
  }

  /** A pooled agent: started in / and told its code at Init (no mount namespace: the host's paths are its paths). */
  async launchGeneric(spec: GenericLaunch): Promise<GenericSandbox> {
    const agent = spawnAgent(spec.nodeFlags, '/', { ...bootEnv(), ...standbyEnv(spec) });
    const watch = watchStandby(agent.child.stdio[3] as Duplex);
    let attached = false;
    return {
      id: spec.id,
      pid: agent.pid,
      exited: agent.exited,
      standby: watch.done.then(() => undefined),
      alive: () => !agent.killed && agent.child.exitCode === null && agent.child.signalCode === null && processRunning(agent.pid),
      kill: () => agent.kill(),
      async attach(code: FunctionCode): Promise<SandboxProcess> {
        if (attached) throw new Error('this sandbox has its function already');
        attached = true;
        watch.stop();
        return processOf(agent, code);
      },
    };
  }

  async cleanup(): Promise<void> {
    // Child processes die with their parent's stream; nothing is left on disk.
  }
}

interface Agent {
  child: ChildProcess;
  pid: number;
  exited: Promise<SandboxExit>;
  killed: boolean;
  kill(): void;
}

function spawnAgent(nodeFlags: string[], cwd: string, env: Record<string, string>): Agent {
  const child = spawn(process.execPath, [...nodeFlags, AGENT_PATH], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    // Its own process group, so a kill also takes the runtime's children.
    detached: true,
  });
  const exited = new Promise<SandboxExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  const pid = child.pid ?? -1;
  const agent: Agent = {
    child,
    pid,
    exited,
    killed: false,
    kill() {
      agent.killed = true;
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    },
  };
  return agent;
}

function processOf(agent: Agent, code: FunctionCode): SandboxProcess {
  const { child, pid } = agent;
  let peakKb = 0;
  return {
    pid,
    stream: child.stdio[3] as Duplex,
    output: [child.stdout!, child.stderr!],
    exited: agent.exited,
    taskRootInGuest: code.taskRoot,
    // No mount namespace: the layers are wherever the host merged them.
    ...(code.opt !== undefined ? { optDirInGuest: code.opt } : {}),
    runtimeApiListen: ':0',
    memory() {
      const { rss, hwm } = treeRssKb(pid);
      peakKb = Math.max(peakKb, hwm, rss);
      return { currentMb: Math.ceil(rss / 1024), peakMb: Math.ceil(peakKb / 1024) };
    },
    oomKilled: () => false,
    kill: () => agent.kill(),
  };
}
