// `kindling worker --join URL`: a worker host on this machine, joined to the
// Worker Manager of a `kindling up`. It serves the manager's sandbox API, runs
// Init with code fetched from the manager, ships function logs there, and
// heartbeats until it is stopped.
import { exitOnSignals } from './signals.js';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { defaultHostMemoryMb, envAccountId, envMicrovmDir, envRegion, envSandboxPool } from '../config.js';
import { clientKey } from '../credentials.js';
import { WorkerHost } from '../host/host.js';
import { createLogger } from '../log.js';
import type { DriverName } from '../sandbox/driver.js';
import { SandboxDrivers } from '../sandbox/drivers.js';
import { microvmUnavailable } from '../sandbox/microvm/driver.js';
import { namespaceUnavailable } from '../sandbox/namespace-driver.js';
import { SANDBOX_CHOICES, selectDriver, type SandboxChoice, type SelectedDriver } from '../sandbox/select.js';
import { DataDirLockedError, openDataDir, type DataDir } from '../store/datadir.js';
import { WorkerAgent } from '../workers/remote/agent.js';
import { HeartbeatLoop, isRefusal, ManagerClient, ManagerCodeStore, ManagerLogSink } from '../workers/remote/join.js';

export interface WorkerOptions {
  join?: string;
  memory?: string;
  data: string;
  listen: string;
  advertise?: string;
  sandbox?: string;
  /** false with --no-sandbox-pool. */
  sandboxPool?: boolean;
  region?: string;
}

const usage = (message: string): never => {
  console.error(`kindling worker: ${message}`);
  process.exit(2);
};

/** HOST:PORT, [IPv6]:PORT, or a bare port. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) return undefined;
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

const httpUrl = (text: string): URL | undefined => {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : undefined;
  } catch {
    return undefined;
  }
};

const NO_KEY = 'KINDLINGLOCAL';
const HOST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** This machine's host id, made at the first start and kept in the data folder, so a restarted worker is the same host. */
function hostIdOf(dir: DataDir): string {
  const path = dir.file('host-id');
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (HOST_ID.test(id)) return id;
  } catch {
    // first start
  }
  const id = `host-${randomBytes(8).toString('hex')}`;
  writeFileSync(path, `${id}\n`, { mode: 0o600 });
  return id;
}

/** The drivers this machine can run, its default first (what the manager may ask for). */
function driversHere(selected: SelectedDriver): DriverName[] {
  const names: DriverName[] = [selected.driver.name];
  if (names[0] !== 'namespace' && namespaceUnavailable() === undefined) names.push('namespace');
  if (names[0] !== 'microvm' && microvmUnavailable() === undefined) names.push('microvm');
  return names;
}

export async function worker(opts: WorkerOptions): Promise<void> {
  if (opts.join === undefined) usage('--join URL is required: the Kindling (kindling up) whose Worker Manager this host joins.');
  const manager = httpUrl(opts.join!) ?? usage(`--join takes the manager's http:// or https:// URL, not '${opts.join}'.`);
  const memoryMb = opts.memory !== undefined ? Number(opts.memory) : defaultHostMemoryMb();
  if (!Number.isInteger(memoryMb) || memoryMb < 128) usage(`--memory takes MB (at least 128), not '${opts.memory}'.`);
  const listen = parseListen(opts.listen) ?? usage(`--listen takes HOST:PORT (port 0 picks a free one), not '${opts.listen}'.`);
  const advertised = opts.advertise !== undefined ? (httpUrl(opts.advertise) ?? usage(`--advertise takes an http:// URL, not '${opts.advertise}'.`)) : undefined;
  if (opts.sandbox !== undefined && !(SANDBOX_CHOICES as readonly string[]).includes(opts.sandbox)) {
    usage(`--sandbox takes namespace, microvm, process or auto, not '${opts.sandbox}'.`);
  }
  const region = opts.region ?? envRegion();

  let dir: DataDir;
  try {
    dir = openDataDir(opts.data);
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      console.error(`kindling worker: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const key = clientKey(dir.path);
  // clientKey's stand-in when neither the environment nor the folder has a key: the manager would refuse it.
  if (key.accessKeyId === NO_KEY) {
    dir.release();
    usage(`no root key to sign with: set KINDLING_ACCESS_KEY_ID and KINDLING_SECRET_ACCESS_KEY, or copy the manager's root-key.json into ${dir.path}.`);
  }

  const log = createLogger();
  // As `kindling up` picks them: the default, and others made when a function's tag asks.
  const microvm = { baseDir: envMicrovmDir() ?? dir.file('microvm') };
  let selected: SelectedDriver;
  try {
    selected = selectDriver((opts.sandbox ?? 'auto') as SandboxChoice, log, {}, microvm);
  } catch (err) {
    dir.release();
    console.error(`kindling worker: ${(err as Error).message}`);
    process.exit(1);
  }

  const hostId = hostIdOf(dir);
  const client = new ManagerClient(manager.toString(), key, region);
  let loop: HeartbeatLoop | undefined;
  const registeredId = () => loop?.hostId;
  const logs = new ManagerLogSink(client, registeredId, log);
  const host = new WorkerHost({
    id: hostId,
    memoryMb,
    dir: dir.file('host'),
    driver: selected.driver,
    drivers: new SandboxDrivers(selected.driver, (name) => selectDriver(name, log, {}, microvm).driver),
    code: new ManagerCodeStore(client, registeredId),
    logs,
    account: { region, accountId: envAccountId() },
    pool: opts.sandboxPool !== false && envSandboxPool() ? {} : false,
  });
  await host.start();
  const token = randomBytes(32).toString('base64url');
  const agent = new WorkerAgent(host, token);
  let bound;
  try {
    bound = await agent.listen(listen.port, listen.host);
  } catch (err) {
    dir.release();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      console.error(`kindling worker: ${opts.listen} is already in use; pick another --listen.`);
      process.exit(1);
    }
    throw err;
  }
  const hostname = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const url = (advertised?.toString() ?? `http://${hostname}:${bound.port}`).replace(/\/$/, '');
  if (advertised === undefined && (listen.host === '0.0.0.0' || listen.host === '::')) {
    log.warn({ url }, 'listening on every address: pass --advertise with an address the manager can reach');
  }

  loop = new HeartbeatLoop({
    client,
    registration: { hostId, url, token, memoryMb, drivers: driversHere(selected) },
    source: { sandboxes: () => agent.liveSandboxes(), takeEnded: () => agent.takeEnded(), cachedCode: () => host.cachedCodeHex() },
    log,
    onForgotten: () => agent.killAll('the manager no longer knew this host'),
    onDraining: (draining) => log.info({ draining }, draining ? 'draining: the manager places no new sandboxes here' : 'no longer draining'),
  });

  exitOnSignals(log, async () => {
    await loop!.stop();
    await agent.close();
    await loop!.finalBeat(1000);
    await logs.close();
    await client.close();
    dir.release();
  });

  let registered;
  try {
    registered = await loop.start();
  } catch (err) {
    if (isRefusal(err)) {
      console.error(`kindling worker: the manager at ${manager} refused this worker's key (${(err as Error).message}); sign with the manager's root key.`);
      await agent.close();
      dir.release();
      process.exit(1);
    }
    throw err;
  }
  if (registered.hostId !== hostId) writeFileSync(dir.file('host-id'), `${registered.hostId}\n`, { mode: 0o600 });

  if (selected.warning) {
    console.error(`\n  !!! ${selected.warning}\n`);
  } else {
    const how = selected.driver.name === 'microvm' ? 'a virtual machine each, QEMU microvm' : 'namespaces, cgroups, seccomp';
    console.log(`Sandboxes: ${selected.driver.name} (isolated: ${how}).`);
  }
  console.log(`Kindling worker ${registered.hostId} joined ${client.url}; sandboxes served at ${url}`);
}
