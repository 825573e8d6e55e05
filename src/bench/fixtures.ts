// What the benchmarks share: in-memory packages and requests signed once for a whole load run.
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import yazl from 'yazl';

export function zipOf(files: Record<string, string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, text] of Object.entries(files)) zip.addBuffer(Buffer.from(text), name);
  zip.end();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Signs one Invoke request; the signature stays valid for 15 minutes (SigV4's window), so sign per run. */
export async function signInvoke(
  url: string,
  creds: Credentials,
  region: string,
  name: string,
  body: Buffer,
  extraHeaders: Record<string, string> = {},
): Promise<{ path: string; headers: Record<string, string>; body: Buffer }> {
  const u = new URL(url);
  const path = `/2015-03-31/functions/${name}/invocations`;
  const signer = new SignatureV4({ credentials: creds, region, service: 'lambda', sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: u.hostname,
    port: Number(u.port),
    path,
    headers: { host: u.host, 'content-type': 'application/json', 'content-length': String(body.length), ...extraHeaders },
    body,
  });
  return { path, headers: signed.headers as Record<string, string>, body };
}

/** Cold starts of a runtime family so far that took a pooled sandbox, and those that found none (from /metrics). */
export async function poolServed(url: string, family: string): Promise<{ pool: number; launch: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = { pool: 0, launch: 0 };
  const line = new RegExp(`^kindling_sandbox_pool_cold_starts_total\\{key="[^/"]+/${family}/[^"]*",served="(pool|launch)"\\} (\\d+)$`, 'gm');
  for (const m of text.matchAll(line)) out[m[1] as 'pool' | 'launch'] += Number(m[2]);
  return out;
}
