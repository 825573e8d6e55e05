// Kindling's own endpoints (/kindling/...) from the CLI: SigV4-signed with the
// CLI's key like every other call; a refusal becomes `Type: message`.
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { envRegion } from '../config.js';
import { clientKey } from '../credentials.js';
import { defaultDataDir } from '../store/datadir.js';
import { resolveEndpoint, type ClientOptions } from './client.js';

export async function kindlingRequest(
  opts: ClientOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  query: Record<string, string> = {},
  body?: unknown,
): Promise<unknown> {
  const url = new URL(path, resolveEndpoint(opts));
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
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
    query,
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
