// Per-function sandbox settings, as tags on the function (Lambda has no field
// for them): `kindling:sandbox` picks the driver, `kindling:network` = none
// takes the network away. Checked when tags are written; read at each cold start.
import type { DriverName } from './driver.js';

export const SANDBOX_TAG = 'kindling:sandbox';
export const NETWORK_TAG = 'kindling:network';
// Not 'process': a tag must never take isolation away from a function.
const DRIVERS: readonly DriverName[] = ['namespace', 'microvm'];
const NETWORKS = ['default', 'none'] as const;

export interface SandboxSettings {
  driver?: DriverName;
  network?: 'default' | 'none';
}

/** What is wrong with the sandbox tags among these, or undefined. */
export function sandboxTagsProblem(tags: Record<string, string>): string | undefined {
  const d = tags[SANDBOX_TAG];
  if (d !== undefined && !(DRIVERS as readonly string[]).includes(d)) return `Tag ${SANDBOX_TAG} must be one of ${DRIVERS.join(', ')}, not '${d}'.`;
  const n = tags[NETWORK_TAG];
  if (n !== undefined && !(NETWORKS as readonly string[]).includes(n)) return `Tag ${NETWORK_TAG} must be one of ${NETWORKS.join(', ')}, not '${n}'.`;
  return undefined;
}

export function sandboxSettingsFromTags(tags: Record<string, string>): SandboxSettings {
  const out: SandboxSettings = {};
  const d = tags[SANDBOX_TAG];
  if (d !== undefined && (DRIVERS as readonly string[]).includes(d)) out.driver = d as DriverName;
  const n = tags[NETWORK_TAG];
  if (n === 'none' || n === 'default') out.network = n;
  return out;
}
