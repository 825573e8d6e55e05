// `kindling host list|drain`: the worker hosts of a Worker Manager, through
// Kindling's own signed endpoint (root key only).
import { HOSTS_PATH, type HostInfo, type ListHostsResponse } from '../workers/remote/protocol.js';
import type { ClientOptions } from './client.js';
import { kindlingRequest } from './kindling-api.js';

/** "3s ago", "2m ago": how long since a host last heartbeated. */
function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

export async function listHosts(opts: ClientOptions & { json?: boolean }): Promise<void> {
  const { hosts } = (await kindlingRequest(opts, 'GET', HOSTS_PATH)) as ListHostsResponse;
  if (opts.json) {
    console.log(JSON.stringify(hosts, null, 2));
    return;
  }
  const rows = [
    ['HOST ID', 'STATE', 'MEMORY MB', 'RESERVED MB', 'SANDBOXES', 'LAST HEARTBEAT', 'URL'],
    ...hosts.map((h: HostInfo) => [
      h.hostId,
      h.state,
      String(h.memoryMb),
      String(h.reservedMb),
      String(h.sandboxes),
      h.local ? '-' : ago(h.lastHeartbeatMs),
      h.local ? '(this process)' : h.url,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

export async function drainHost(opts: ClientOptions, hostId: string): Promise<void> {
  await kindlingRequest(opts, 'POST', `${HOSTS_PATH}/${encodeURIComponent(hostId)}/drain`);
  console.log(`Draining host ${hostId}: no new sandboxes go there; its idle sandboxes are retired, busy ones finish their invokes.`);
}
