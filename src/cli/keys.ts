// `kindling keys create|list|delete`: access keys, managed through Kindling's
// own signed endpoint (root key only). A new key's secret is printed once.
import type { ClientOptions } from './client.js';
import { kindlingRequest } from './kindling-api.js';

const KEYS = '/kindling/2024-01-01/keys';

interface KeyJson {
  AccessKeyId: string;
  Name: string;
  CreatedAt: string;
  Root: boolean;
  SecretAccessKey?: string;
}


export async function createKey(opts: ClientOptions & { name?: string; json?: boolean }): Promise<void> {
  const k = (await kindlingRequest(opts, 'POST', KEYS, {}, opts.name !== undefined ? { Name: opts.name } : {})) as KeyJson;
  if (opts.json) {
    console.log(JSON.stringify(k, null, 2));
    return;
  }
  console.log(`AccessKeyId      ${k.AccessKeyId}`);
  console.log(`SecretAccessKey  ${k.SecretAccessKey}`);
  if (k.Name) console.log(`Name             ${k.Name}`);
  console.error('The secret is shown this once: keep it now (Kindling never prints it again).');
}

export async function listKeys(opts: ClientOptions & { json?: boolean }): Promise<void> {
  const { Keys } = (await kindlingRequest(opts, 'GET', KEYS, {})) as { Keys: KeyJson[] };
  if (opts.json) {
    console.log(JSON.stringify(Keys, null, 2));
    return;
  }
  const rows = [['ACCESS KEY ID', 'NAME', 'CREATED'], ...Keys.map((k) => [k.AccessKeyId, k.Root ? 'root' : k.Name, k.Root ? '-' : k.CreatedAt])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

export async function deleteKey(opts: ClientOptions, id: string): Promise<void> {
  await kindlingRequest(opts, 'DELETE', `${KEYS}/${encodeURIComponent(id)}`);
  console.log(`Deleted access key ${id}.`);
}
