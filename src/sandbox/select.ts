// Which sandbox driver `kindling up --sandbox namespace|microvm|process|auto` gets.
// auto: namespace when this is Linux, we are root and the jailer is built; else
// process, with a loud warning (no isolation between functions and the host).
// microvm only when asked for: it needs QEMU and a guest kernel.
import type { Logger } from '../log.js';
import type { SandboxDriver } from './driver.js';
import { NamespaceDriver, namespaceUnavailable, type NamespaceDriverOptions } from './namespace-driver.js';
import { MicrovmDriver, microvmUnavailable, type MicrovmDriverOptions } from './microvm/driver.js';
import { ProcessDriver } from './process-driver.js';
import { findTool } from './host-tools.js';

export type SandboxChoice = 'namespace' | 'microvm' | 'process' | 'auto';
export const SANDBOX_CHOICES: readonly SandboxChoice[] = ['namespace', 'microvm', 'process', 'auto'];

export interface SelectedDriver {
  driver: SandboxDriver;
  /** Set when the sandboxes do not isolate functions (log it where people will see it). */
  warning?: string;
}

/** Whether nft is installed (sandbox networking needs it for NAT and its rules). */
export const nftAvailable = (): boolean => findTool('nft') !== undefined;

const NO_ISOLATION =
  'functions run as plain processes of this user with no isolation: they can read the host\'s files (Kindling\'s data folder included), reach its network and each other';

/** Throws when 'namespace' or 'microvm' is asked for and cannot run here. */
export function selectDriver(
  requested: SandboxChoice,
  log?: Pick<Logger, 'warn' | 'info'>,
  opts: NamespaceDriverOptions = {},
  microvm?: Omit<MicrovmDriverOptions, 'log'>,
): SelectedDriver {
  if (requested === 'microvm') {
    const why = microvmUnavailable();
    if (why !== undefined || microvm === undefined) throw new Error(`sandbox driver 'microvm' is unavailable: ${why ?? 'no folder for its guest image'}`);
    log?.info({ sandbox: 'microvm' }, 'sandboxes: micro-VMs (QEMU microvm, restored from snapshots)');
    return { driver: new MicrovmDriver({ ...microvm, ...(log ? { log: (msg: string) => log.info({ sandbox: 'microvm' }, msg) } : {}) }) };
  }
  if (requested === 'process') {
    const warning = `sandbox driver 'process': ${NO_ISOLATION}`;
    log?.warn(warning);
    return { driver: new ProcessDriver(), warning };
  }
  const why = namespaceUnavailable(opts.jailerPath);
  if (why === undefined) {
    if (opts.defaultNetwork !== 'none' && !nftAvailable()) {
      const warning = "nft (package nftables) is not installed: sandboxes get network 'none' (loopback only)";
      log?.warn(warning);
      return { driver: new NamespaceDriver({ ...opts, defaultNetwork: 'none' }), warning };
    }
    log?.info({ sandbox: 'namespace' }, 'sandboxes: Linux namespaces, cgroups, seccomp');
    return { driver: new NamespaceDriver(opts) };
  }
  if (requested === 'namespace') throw new Error(`sandbox driver 'namespace' is unavailable: ${why}`);
  const warning = `WARNING: sandbox driver 'process' (${why}): ${NO_ISOLATION}`;
  log?.warn(warning);
  return { driver: new ProcessDriver(), warning };
}
