// Outbound networking for namespace sandboxes: one veth pair per sandbox (made by
// the jailer over rtnetlink: host end kx<N>, sandbox end eth0, a /31 out of
// 10.200.0.0/16), NAT to the world, and nftables rules so a sandbox reaches
// neither the host itself (any of its addresses, so none of Kindling's ports or
// loopback services), nor another sandbox, nor private networks.
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { processAlive } from './proc-stat.js';

const run = promisify(execFile);

export const NET_STATE_DIR = '/run/kindling/net';
export const LINK_PREFIX = 'kx';
const SLOTS = 32768;
const FORWARD_MARK = '/run/kindling/ip_forward.set-by-kindling';

export interface SandboxNet {
  slot: number;
  hostIf: string;
  hostIp: string;
  guestIp: string;
  /** The jailer's --veth value. */
  arg: string;
  release(): void;
}

const ipOf = (n: number): string => `10.200.${(n >> 8) & 255}.${n & 255}`;

export interface HostNetworkOptions {
  /** Let sandboxes reach RFC 1918, CGNAT and link-local addresses (Lambda without a VPC cannot). */
  allowPrivateEgress?: boolean;
}

/** Private, link-local and special ranges a sandbox may not reach by default. */
const PRIVATE4 = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/4', '240.0.0.0/4'];

function nameservers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined && !x.startsWith('127.'));
  } catch {
    return [];
  }
}

export function ruleset(opts: HostNetworkOptions, ownsForwarding: boolean): string {
  const dns = nameservers();
  const lines = [
    'table inet kindling {}',
    'delete table inet kindling',
    'table inet kindling {',
    `  set private4 { type ipv4_addr; flags interval; elements = { ${PRIVATE4.join(', ')} } }`,
    '  chain input {',
    '    type filter hook input priority -5; policy accept;',
    // Nothing from a sandbox is for the host itself: not Kindling, not sshd, not anything.
    `    iifname "${LINK_PREFIX}*" drop`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority -5; policy accept;',
    `    iifname "${LINK_PREFIX}*" oifname "${LINK_PREFIX}*" drop`,
    `    oifname "${LINK_PREFIX}*" ct state established,related accept`,
    `    oifname "${LINK_PREFIX}*" drop`,
    `    iifname "${LINK_PREFIX}*" meta nfproto ipv6 drop`,
    ...(dns.length > 0 ? [`    iifname "${LINK_PREFIX}*" ip daddr { ${dns.join(', ')} } meta l4proto { udp, tcp } th dport 53 accept`] : []),
    ...(opts.allowPrivateEgress ? [] : [`    iifname "${LINK_PREFIX}*" ip daddr @private4 drop`]),
    `    iifname "${LINK_PREFIX}*" accept`,
    // When Kindling turned forwarding on, it forwards for its sandboxes only.
    ...(ownsForwarding ? ['    drop'] : []),
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority 100; policy accept;',
    `    ip saddr 10.200.0.0/16 oifname != "${LINK_PREFIX}*" masquerade`,
    '  }',
    '}',
  ];
  return lines.join('\n') + '\n';
}

/** Installs the host's rules (idempotent) and turns IPv4 forwarding on. Throws when nft is missing. */
export async function setupHostNetwork(opts: HostNetworkOptions = {}): Promise<void> {
  mkdirSync(NET_STATE_DIR, { recursive: true });
  const fwd = '/proc/sys/net/ipv4/ip_forward';
  if (readFileSync(fwd, 'utf8').trim() !== '1') {
    writeFileSync(FORWARD_MARK, '1\n');
    writeFileSync(fwd, '1\n');
  }
  const owns = existsSync(FORWARD_MARK);
  const file = `${NET_STATE_DIR}/rules.${process.pid}.nft`;
  writeFileSync(file, ruleset(opts, owns));
  try {
    await run('nft', ['-f', file]);
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // gone
    }
  }
}

let next = Math.floor(Math.random() * SLOTS);

/** Claims a free /31 and interface name (a lock file per slot, shared by every Kindling on the machine). */
export function allocateNet(): SandboxNet {
  mkdirSync(NET_STATE_DIR, { recursive: true });
  for (let i = 0; i < SLOTS; i++) {
    const slot = next;
    next = (next + 1) % SLOTS;
    const lock = `${NET_STATE_DIR}/${slot}`;
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch {
      continue;
    }
    writeSync(fd, String(process.pid));
    closeSync(fd);
    const hostIf = `${LINK_PREFIX}${slot}`;
    const hostIp = ipOf(slot * 2);
    const guestIp = ipOf(slot * 2 + 1);
    let released = false;
    return {
      slot,
      hostIf,
      hostIp,
      guestIp,
      arg: `${hostIf}:${hostIp}:${guestIp}`,
      release() {
        if (released) return;
        released = true;
        try {
          unlinkSync(lock);
        } catch {
          // gone
        }
      },
    };
  }
  throw new Error('no free sandbox network slot');
}

/** Deletes veths and slot locks whose Kindling is gone. (A veth dies with its sandbox's namespace, so these are rare.) */
export async function removeLeftoverLinks(): Promise<number> {
  let removed = 0;
  const stale = new Set<number>();
  try {
    for (const name of readdirSync(NET_STATE_DIR)) {
      if (!/^\d+$/.test(name)) continue;
      let owner = 0;
      try {
        owner = Number.parseInt(readFileSync(`${NET_STATE_DIR}/${name}`, 'utf8'), 10);
      } catch {
        continue;
      }
      if (owner !== process.pid && !processAlive(owner)) stale.add(Number(name));
    }
  } catch {
    // no state yet
  }
  let links: string[] = [];
  try {
    links = readdirSync('/sys/class/net').filter((n) => new RegExp(`^${LINK_PREFIX}\\d+$`).test(n));
  } catch {
    // no sysfs
  }
  for (const link of links) {
    const slot = Number(link.slice(LINK_PREFIX.length));
    const lock = `${NET_STATE_DIR}/${slot}`;
    if (existsSync(lock) && !stale.has(slot)) continue;
    try {
      await run('ip', ['link', 'del', link]);
      removed++;
    } catch {
      // gone meanwhile
    }
  }
  for (const slot of stale) {
    try {
      unlinkSync(`${NET_STATE_DIR}/${slot}`);
    } catch {
      // gone
    }
  }
  return removed;
}
