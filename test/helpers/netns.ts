// A private network on this machine for the cluster fault tests: one network
// namespace per Kindling process, all plugged into one Linux bridge, with the
// root namespace on it too (S3 and nginx live there); and nginx as the load
// balancer in front of the frontends.
//
// The bridge sits in a "switch" namespace of its own, not in the root one:
// with br_netfilter loaded, bridged frames pass the root namespace's
// netfilter FORWARD hook, where the namespace sandboxes' nftables table
// (`inet kindling`) drops whatever it does not know. A fresh namespace has no
// rules, so traffic between the processes stays untouched.
//
// Everything is named after this process's pid, so runs never touch each
// other's links, and leftovers of runs whose process is gone are removed.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const execFileAsync = promisify(execFile);

const NETNS_PREFIX = 'kindling-faults-';
/** The root namespace's end of the network (≤ 15 characters with a 7-digit pid). */
const ROOT_LINK_PREFIX = 'klf';
const BRIDGE = 'br0';
const UPLINK = 'uplink';

/** Runs `ip ARGS`; rejects with its stderr. */
async function ip(...args: string[]): Promise<string> {
  try {
    return (await execFileAsync('ip', args)).stdout;
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('the `ip` command is missing: install iproute2 (apt-get install -y iproute2)');
    throw new Error(`ip ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes the namespaces and root links of earlier runs whose process is gone. */
async function sweepLeftovers(): Promise<void> {
  for (const line of (await ip('netns', 'list')).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name);
    if (m && !alive(Number(m[1]))) await ip('netns', 'del', name).catch(() => undefined);
  }
  for (const line of (await ip('-o', 'link', 'show')).split('\n')) {
    const m = new RegExp(`^\\d+: (${ROOT_LINK_PREFIX}(\\d+))[@:]`).exec(line);
    if (m && !alive(Number(m[2]))) await ip('link', 'del', m[1]!).catch(() => undefined);
  }
}

/** A 10.231.X.0/24 that no address of the root namespace is in (pid-based first guess). */
async function freeSubnet(): Promise<string> {
  const used = await ip('-4', '-o', 'addr', 'show');
  for (let i = 0; i < 254; i++) {
    const prefix = `10.231.${((process.pid + i) % 254) + 1}`;
    if (!used.includes(` ${prefix}.`)) return prefix;
  }
  throw new Error('no free 10.231.X.0/24 subnet for the test network');
}

/** One process's namespace on the network. */
export interface Netns {
  /** For `ip netns exec` (and StartOptions.netns). */
  name: string;
  /** Its address on the network. */
  ip: string;
  /** Its veth's end on the bridge (in the switch namespace): down cuts it off. */
  port: string;
}

export interface TestNetwork {
  /** The root namespace's address on the network: serve there what every namespace must reach. */
  gateway: string;
  /** A new namespace with the next address (`role`: a short tag, ≤ 12 characters, in its names). */
  add(role: string): Promise<Netns>;
  /** Takes its link down: nothing gets in or out, the process keeps running. */
  cut(ns: Netns): Promise<void>;
  /** Brings its link back up. */
  restore(ns: Netns): Promise<void>;
  /** Removes every namespace and link of this network. */
  destroy(): Promise<void>;
}

/** Fails with what to do when the network cannot be made here. */
async function checkPrerequisites(): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) throw new Error('the fault tests make network namespaces: run them as root on Linux');
  await ip('-V');
}

export async function createNetwork(): Promise<TestNetwork> {
  await checkPrerequisites();
  await sweepLeftovers();
  const prefix = await freeSubnet();
  const switchNs = `${NETNS_PREFIX}${process.pid}-switch`;
  const rootLink = `${ROOT_LINK_PREFIX}${process.pid}`;
  const made: string[] = [];
  let next = 2;

  const destroy = async (): Promise<void> => {
    // The switch's end goes with its namespace, and takes the root's end with it; deleted
    // explicitly too, since a namespace is torn down in the background.
    for (const name of [...made].reverse()) await ip('netns', 'del', name).catch(() => undefined);
    await ip('link', 'del', rootLink).catch(() => undefined);
  };

  try {
    await ip('netns', 'add', switchNs);
    made.push(switchNs);
    await ip('-n', switchNs, 'link', 'add', BRIDGE, 'type', 'bridge');
    await ip('-n', switchNs, 'link', 'set', BRIDGE, 'up');
    await ip('link', 'add', rootLink, 'type', 'veth', 'peer', 'name', UPLINK, 'netns', switchNs);
    await ip('-n', switchNs, 'link', 'set', UPLINK, 'master', BRIDGE, 'up');
    await ip('addr', 'add', `${prefix}.1/24`, 'dev', rootLink);
    await ip('link', 'set', rootLink, 'up');
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    gateway: `${prefix}.1`,
    add: async (role) => {
      if (!/^[a-z0-9]{1,12}$/.test(role)) throw new Error(`a namespace role is 1-12 lowercase letters or digits, not '${role}'`);
      if (next > 254) throw new Error('the test network is full');
      const ns: Netns = { name: `${NETNS_PREFIX}${process.pid}-${role}`, ip: `${prefix}.${next++}`, port: `p-${role}` };
      await ip('netns', 'add', ns.name);
      made.push(ns.name);
      await ip('-n', ns.name, 'link', 'set', 'lo', 'up');
      await ip('-n', switchNs, 'link', 'add', ns.port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
      await ip('-n', switchNs, 'link', 'set', ns.port, 'master', BRIDGE, 'up');
      await ip('-n', ns.name, 'addr', 'add', `${ns.ip}/24`, 'dev', 'eth0');
      await ip('-n', ns.name, 'link', 'set', 'eth0', 'up');
      return ns;
    },
    cut: async (ns) => {
      await ip('-n', switchNs, 'link', 'set', ns.port, 'down');
    },
    restore: async (ns) => {
      await ip('-n', switchNs, 'link', 'set', ns.port, 'up');
    },
    destroy,
  };
}

// --- nginx ---

export const NGINX_BIN = '/usr/sbin/nginx';

export interface Nginx {
  /** Where clients send requests, e.g. http://127.0.0.1:PORT. */
  url: string;
  stop(): Promise<void>;
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** The load balancer's configuration: round robin, a failed server skipped for 5 s, Host passed on (SigV4 signs it). */
function nginxConf(dir: string, port: number, upstreams: string[]): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${join(dir, `${k}_temp`)};`).join('\n');
  const servers = upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=5s;`).join('\n');
  return `daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events {}
http {
  access_log off;
${temp}
  upstream kindling {
${servers}
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 70m;
    location / {
      proxy_pass http://kindling;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_next_upstream error timeout http_502;
      proxy_read_timeout 900s;
    }
  }
}
`;
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

/** nginx in the root namespace on a free loopback port, balancing over `upstreams` (host:port). */
export async function startNginx(upstreams: string[]): Promise<Nginx> {
  if (!existsSync(NGINX_BIN)) throw new Error(`${NGINX_BIN} is missing: install Debian's nginx (apt-get install -y nginx)`);
  const dir = await mkdtemp(join(tmpdir(), 'kindling-nginx-'));
  // nginx's workers run as an unprivileged user and write request bodies under the temp paths.
  await chmod(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, nginxConf(dir, port, upstreams));
  // -e: the log nginx writes before it has read the configuration, kept out of /var/log.
  const child = spawn(NGINX_BIN, ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const gone = exited(child);
  const stop = async () => {
    child.kill('SIGTERM');
    await gone;
    process.off('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
      await stop();
      throw new Error(`nginx did not start on 127.0.0.1:${port}.\n--- stderr ---\n${stderr}\n--- error.log ---\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, stop };
}
