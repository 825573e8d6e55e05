// Test-side helpers of the security tests: a fast SigV4 signer (the SDKs'
// rules for non-S3 services, so 100,000 requests sign in a few seconds), the
// resident memory of a process, raw sockets.
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY } from '../helpers/kindling.js';

/** VmRSS of a process, kB. */
export const rssKb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
};

export const amzNow = (): string => new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');

export const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
export const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function canonicalPath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const joined = `/${out.join('/')}${out.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return joined.split('/').map(rfc3986).join('/');
}

const signingKeys = new Map<string, Buffer>();
export function sign(
  req: { method: string; path: string; query: [string, string][]; headers: Record<string, string>; body: Buffer },
  service: string,
  amzDate: string,
  key_: { accessKeyId: string; secretAccessKey: string } = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
): void {
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${REGION}/${service}/aws4_request`;
  let key = signingKeys.get(`${key_.accessKeyId}/${scope}`);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${key_.secretAccessKey}`, date), REGION), service), 'aws4_request');
    signingKeys.set(`${key_.accessKeyId}/${scope}`, key);
  }
  req.headers['x-amz-date'] = amzDate;
  const names = Object.keys(req.headers).map((h) => h.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${lower[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const query = req.query
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = [req.method, canonicalPath(req.path), query, canonicalHeaders, names.join(';'), sha256Hex(req.body)].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  req.headers['authorization'] =
    `AWS4-HMAC-SHA256 Credential=${key_.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${createHmac('sha256', key).update(toSign).digest('hex')}`;
}

/** Headers (host included) of a signed request to a Kindling at baseUrl; add no header after this but unsigned ones. */
export function signedHeaders(
  baseUrl: string,
  method: string,
  path: string,
  body: Buffer = Buffer.alloc(0),
  opts: { headers?: Record<string, string>; service?: string; key?: { accessKeyId: string; secretAccessKey: string }; query?: [string, string][] } = {},
): Record<string, string> {
  const headers: Record<string, string> = { host: new URL(baseUrl).host, ...(body.length > 0 ? { 'content-type': 'application/json' } : {}), ...opts.headers };
  sign({ method, path, query: opts.query ?? [], headers, body }, opts.service ?? 'lambda', amzNow(), opts.key);
  return headers;
}
