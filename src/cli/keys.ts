// `kindling keys create|list|delete`: access keys, managed through Kindling's
// own signed endpoint (root key only). A new key's secret is printed once.
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { envRegion } from '../config.js';
import { clientKey } from '../credentials.js';
import { defaultDataDir } from '../store/datadir.js';
import { resolveEndpoint, type ClientOptions } from './client.js';

const KEYS = '/kindling/2024-01-01/keys';

interface KeyJson {
  AccessKeyId: string;
  Name: string;
  CreatedAt: string;
  Root: boolean;
  SecretAccessKey?: string;
}

/** A SigV4-signed request with the CLI's key; throws `Type: message` when the server refuses. */
async function signedRequest(opts: ClientOptions, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const url = new URL(path, resolveEndpoint(opts));
  const key = clientKey(defaultDataDir());
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    region: opts.region ?? envRegion(),
    service: 'lambda',
    sha256: Hash.bind(null, 'sha256'),
  });
  const text = body === undefined ? undefined : JSON.stringify(body);
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query: {},
    headers: { host: url.host, ...(text !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(text !== undefined ? { body: text } : {}),
  });
  const { host: _host, ...headers } = signed.headers;
  const res = await fetch(url, { method, headers, ...(text !== undefined ? { body: text } : {}) }).catch((err: unknown) => {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw Object.assign(new Error((err as Error).message), { code: cause?.code });
  });
  const reply = await res.text();
  let json: unknown;
  try {
    json = reply === '' ? {} : JSON.parse(reply);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json ?? {}) as { message?: string; Message?: string };
    const type = res.headers.get('x-amzn-errortype') ?? `HTTP ${res.status}`;
    throw new Error(`${type}: ${e.message ?? e.Message ?? reply}`);
  }
  return json;
}

export async function createKey(opts: ClientOptions & { name?: string; json?: boolean }): Promise<void> {
  const k = (await signedRequest(opts, 'POST', KEYS, opts.name !== undefined ? { Name: opts.name } : {})) as KeyJson;
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
  const { Keys } = (await signedRequest(opts, 'GET', KEYS)) as { Keys: KeyJson[] };
  if (opts.json) {
    console.log(JSON.stringify(Keys, null, 2));
    return;
  }
  const rows = [['ACCESS KEY ID', 'NAME', 'CREATED'], ...Keys.map((k) => [k.AccessKeyId, k.Root ? 'root' : k.Name, k.Root ? '-' : k.CreatedAt])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

export async function deleteKey(opts: ClientOptions, id: string): Promise<void> {
  await signedRequest(opts, 'DELETE', `${KEYS}/${encodeURIComponent(id)}`);
  console.log(`Deleted access key ${id}.`);
}
