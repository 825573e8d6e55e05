// AWS Signature Version 4, checked on the server: the Authorization header and
// presigned query strings, as Lambda checks them. The canonical request is
// built exactly as @smithy/signature-v4 and botocore build it for non-S3
// services (path segments URI-encoded again, dot segments and empty segments
// removed; payload = SHA-256 of the body), then compared in constant time.
// Derived signing keys are cached per (key, date, region, service).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  credentialScopeDate,
  credentialScopeRegion,
  credentialScopeService,
  credentialWrongShape,
  hostNotSigned,
  incompleteSignature,
  invalidDateFormat,
  missingAuthenticationToken,
  missingQueryParameter,
  notYetCurrent,
  signatureExpired,
  signatureMismatch,
  unrecognizedClient,
} from '../errors.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** SigV4's clock-skew allowance either side of the server's clock. */
export const MAX_SKEW_MS = 15 * 60 * 1000;
/** The longest X-Amz-Expires of a presigned URL (7 days). */
export const MAX_PRESIGNED_SECONDS = 7 * 24 * 60 * 60;

/** Where the verifier finds secrets. */
export interface SecretLookup {
  /** The secret of an access key, or undefined when no such key exists. */
  secretFor(accessKeyId: string): string | undefined;
}

export interface Principal {
  accessKeyId: string;
}

export interface SignedRequest {
  method: string;
  /** The raw request path, as sent (still percent-encoded). */
  path: string;
  /** The raw query string without '?', as sent. */
  rawQuery: string;
  headers: IncomingMessage['headers'];
  /** Every value of every header, when the transport gives them (node's headersDistinct). */
  headersDistinct?: Record<string, string[] | undefined>;
  /**
   * The headers as received, name then value (node's rawHeaders): read instead of headersDistinct
   * when given, since node builds headersDistinct anew on every access.
   */
  rawHeaders?: string[];
  body: Buffer;
}

/** What precheck found, handed back to verify so the request is not parsed twice. */
export interface Prechecked extends Principal {
  readonly checks: { parsed: Parsed; secret: string; pairs: [string, string][] };
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ */
export const escapeUri = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Canonical paths of the paths seen lately (an invoke's path repeats for every call of a function). */
const canonicalPaths = new Map<string, string>();
const CANONICAL_PATHS_KEPT = 1024;

/** The canonical URI for every service but S3: normalised, then each segment encoded (again). */
export function canonicalPath(path: string): string {
  let out = canonicalPaths.get(path);
  if (out === undefined) {
    out = canonicalPathOf(path);
    if (canonicalPaths.size >= CANONICAL_PATHS_KEPT) canonicalPaths.clear();
    canonicalPaths.set(path, out);
  }
  return out;
}

function canonicalPathOf(path: string): string {
  const segments: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segments.pop();
    else segments.push(seg);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return escapeUri(normalized).replace(/%2F/g, '/');
}

const decode = (s: string): string => {
  try {
    // '+' is a space, as form encoding and WHATWG URLSearchParams write it; a literal '+' comes as %2B.
    return decodeURIComponent(s.includes('+') ? s.replace(/\+/g, ' ') : s);
  } catch {
    return s;
  }
};

/** The query's pairs, decoded. */
export function parseQuery(rawQuery: string): [string, string][] {
  const out: [string, string][] = [];
  if (rawQuery === '') return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.push(eq === -1 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))]);
  }
  return out;
}

/** The canonical query string: pairs encoded, sorted by key then value; X-Amz-Signature left out. */
export function canonicalQuery(pairs: [string, string][]): string {
  const encoded: string[] = [];
  for (const [k, v] of pairs) {
    if (k.toLowerCase() === 'x-amz-signature') continue;
    encoded.push(`${escapeUri(k)}=${escapeUri(v)}`);
  }
  // Sorting "k=v" strings sorts by key, then value, for keys of the same characters ('=' sorts below them).
  return encoded
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map((e) => e[1])
    .join('&');
}

/** Trimmed, inner runs of whitespace squeezed to one space (the common case allocates nothing). */
const canonicalValue = (v: string): string => (/^\s|\s$|\s\s|[\t\n\r\f\v]/.test(v) ? v.trim().replace(/\s+/g, ' ') : v);

/** Each signed header's values, in the order received, from rawHeaders (names compared lowercase). */
function rawValues(raw: string[], names: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const n of names) out.set(n, []);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const values = out.get(raw[i]!.toLowerCase());
    if (values) values.push(raw[i + 1]!);
  }
  return out;
}

const headerValue = (req: SignedRequest, name: string, raw: Map<string, string[]> | undefined): string => {
  const all = raw ? raw.get(name) : req.headersDistinct?.[name];
  if (all && all.length === 1) return canonicalValue(all[0]!);
  const values = all ?? (req.headers[name] === undefined ? [] : ([] as string[]).concat(req.headers[name] as string | string[]));
  return values.map(canonicalValue).join(',');
};

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

const ISO_BASIC = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** The time of an ISO-8601 basic timestamp (20240101T000000Z), or NaN. */
export function parseAmzDate(s: string): number {
  const m = ISO_BASIC.exec(s);
  if (!m) return NaN;
  const [y, mo, d, h, mi, se] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return NaN;
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  // Day 31 of a 30-day month rolls over: refuse it.
  return new Date(t).getUTCDate() === d ? t : NaN;
}

export const formatAmzDate = (t: number): string => new Date(t).toISOString().replace(/[-:]|\.\d{3}/g, '');

interface Parsed {
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  /** Presigned: seconds the signature lasts from amzDate. */
  expires?: number;
}

/** Checks SigV4 signatures of requests against the keys it is given. */
export class SigV4Verifier {
  private readonly keyCache = new Map<string, { secret: string; key: Buffer }>();

  constructor(
    private readonly opts: {
      region: string;
      keys: SecretLookup;
      /** The server's clock, ms (tests move it). */
      now?: () => number;
      /** Derived signing keys kept, most recent first (default 256). */
      cacheSize?: number;
    },
  ) {}

  /** Whether a request carries any SigV4 authentication at all. */
  static hasAuth(req: Pick<SignedRequest, 'headers' | 'rawQuery'>): boolean {
    return req.headers.authorization !== undefined || /(^|&)X-Amz-Algorithm=/i.test(req.rawQuery);
  }

  /**
   * Everything but the signature itself (the form, the scope, the time, the key), which needs no body:
   * the frontend runs it before it reads one, so a request that cannot verify is refused unread.
   */
  precheck(req: Omit<SignedRequest, 'body'>, service: string): Prechecked {
    const checks = this.checked(req, service);
    return { accessKeyId: checks.parsed.accessKeyId, checks };
  }

  /**
   * The principal of a correctly signed request; throws Lambda's error otherwise. `pre`: what
   * precheck returned for this same request and service, so its checks are not run again.
   */
  verify(req: SignedRequest, service: string, pre?: Prechecked): Principal {
    const { parsed, secret, pairs } = pre?.checks ?? this.checked(req, service);

    // The signature.
    const raw = req.rawHeaders ? rawValues(req.rawHeaders, parsed.signedHeaders) : undefined;
    let canonicalHeaders = '';
    for (const h of parsed.signedHeaders) canonicalHeaders += `${h}:${headerValue(req, h, raw)}\n`;
    const payloadHash = req.body.length === 0 ? EMPTY_SHA256 : createHash('sha256').update(req.body).digest('hex');
    const canonical = `${req.method}\n${canonicalPath(req.path)}\n${canonicalQuery(pairs)}\n${canonicalHeaders}\n${parsed.signedHeaders.join(';')}\n${payloadHash}`;
    const scope = `${parsed.scopeDate}/${parsed.region}/${parsed.service}/aws4_request`;
    const stringToSign = `${ALGORITHM}\n${parsed.amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    const want = createHmac('sha256', this.signingKey(parsed.accessKeyId, secret, parsed.scopeDate, parsed.region, parsed.service))
      .update(stringToSign)
      .digest();
    const given = /^[0-9a-f]{64}$/.test(parsed.signature) ? Buffer.from(parsed.signature, 'hex') : undefined;
    if (!given || !timingSafeEqual(given, want)) throw signatureMismatch();
    return { accessKeyId: parsed.accessKeyId };
  }

  private checked(req: Omit<SignedRequest, 'body'>, service: string): { parsed: Parsed; secret: string; pairs: [string, string][] } {
    const now = this.opts.now?.() ?? Date.now();
    const auth = first(req.headers.authorization);
    const pairs = parseQuery(req.rawQuery);
    let parsed: Parsed;
    if (auth !== undefined) {
      if (req.headers['x-amz-security-token'] !== undefined) throw unrecognizedClient();
      parsed = parseAuthorizationHeader(auth, first(req.headers['x-amz-date']));
    } else {
      const q = new Map<string, string>();
      for (const [k, v] of pairs) if (!q.has(k)) q.set(k, v);
      if (!q.has('X-Amz-Algorithm') || (req.method !== 'GET' && req.method !== 'HEAD')) throw missingAuthenticationToken();
      if (q.has('X-Amz-Security-Token')) throw unrecognizedClient();
      parsed = parsePresigned(q);
    }

    // The scope: date, region, service.
    const signedAt = parseAmzDate(parsed.amzDate);
    if (Number.isNaN(signedAt)) throw invalidDateFormat(parsed.amzDate);
    if (parsed.amzDate.slice(0, 8) !== parsed.scopeDate) throw credentialScopeDate(parsed.scopeDate, parsed.amzDate);
    if (parsed.region !== this.opts.region) throw credentialScopeRegion(parsed.region);
    if (parsed.service !== service) throw credentialScopeService(service);
    if (!parsed.signedHeaders.includes('host')) throw hostNotSigned();

    // The time.
    if (parsed.expires !== undefined) {
      if (signedAt - MAX_SKEW_MS > now) throw notYetCurrent(parsed.amzDate, now);
      if (signedAt + parsed.expires * 1000 < now) throw signatureExpired(formatAmzDate(signedAt + parsed.expires * 1000), now, 0);
    } else {
      if (signedAt < now - MAX_SKEW_MS) throw signatureExpired(parsed.amzDate, now, 15);
      if (signedAt > now + MAX_SKEW_MS) throw notYetCurrent(parsed.amzDate, now);
    }

    // The key.
    const secret = this.opts.keys.secretFor(parsed.accessKeyId);
    if (secret === undefined) throw unrecognizedClient();
    return { parsed, secret, pairs };
  }

  /** Forgets derived keys of an access key (after it is deleted or replaced). */
  forget(accessKeyId: string): void {
    for (const k of this.keyCache.keys()) if (k.startsWith(`${accessKeyId}/`)) this.keyCache.delete(k);
  }

  private signingKey(accessKeyId: string, secret: string, date: string, region: string, service: string): Buffer {
    const id = `${accessKeyId}/${date}/${region}/${service}`;
    const hit = this.keyCache.get(id);
    if (hit && hit.secret === secret) return hit.key;
    const kDate = createHmac('sha256', `AWS4${secret}`).update(date).digest();
    const kRegion = createHmac('sha256', kDate).update(region).digest();
    const kService = createHmac('sha256', kRegion).update(service).digest();
    const key = createHmac('sha256', kService).update('aws4_request').digest();
    if (this.keyCache.size >= (this.opts.cacheSize ?? 256)) {
      const oldest = this.keyCache.keys().next().value;
      if (oldest !== undefined) this.keyCache.delete(oldest);
    }
    this.keyCache.set(id, { secret, key });
    return key;
  }
}

function parseCredential(credential: string): Pick<Parsed, 'accessKeyId' | 'scopeDate' | 'region' | 'service'> {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request') throw credentialWrongShape(credential);
  return { accessKeyId: parts[0]!, scopeDate: parts[1]!, region: parts[2]!, service: parts[3]! };
}

function parseSignedHeaders(list: string): string[] {
  // Clients send them lowercase and sorted; anything else is made so (and will not match unless it was).
  const names = list.split(';');
  for (const n of names) if (n === '' || n !== n.trim().toLowerCase()) return names.map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
  return names;
}

/** `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex` */
export function parseAuthorizationHeader(header: string, amzDate: string | undefined): Parsed {
  const problems: string[] = [];
  let credential: string | undefined;
  let signature: string | undefined;
  let signedHeaders: string | undefined;
  if (header.startsWith(`${ALGORITHM} `)) {
    for (const raw of header.slice(ALGORITHM.length + 1).split(',')) {
      const part = raw.trim();
      if (part === '') continue;
      const eq = part.indexOf('=');
      if (eq === -1) throw incompleteSignature(`'${part}' not a valid key=value pair (missing equal-sign) in Authorization header: '${header}'.`);
      const name = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (name === 'Credential') credential = value;
      else if (name === 'Signature') signature = value;
      else if (name === 'SignedHeaders') signedHeaders = value;
    }
  }
  if (!credential) problems.push("Authorization header requires 'Credential' parameter.");
  if (!signature) problems.push("Authorization header requires 'Signature' parameter.");
  if (!signedHeaders) problems.push("Authorization header requires 'SignedHeaders' parameter.");
  if (amzDate === undefined) problems.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  if (problems.length > 0) throw incompleteSignature(`${problems.join(' ')} Authorization=${header}`);
  return {
    ...parseCredential(credential!),
    signedHeaders: parseSignedHeaders(signedHeaders!),
    signature: signature!,
    amzDate: amzDate!,
  };
}

const PRESIGNED_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date', 'X-Amz-Expires'] as const;

function parsePresigned(q: Map<string, string>): Parsed {
  for (const p of PRESIGNED_PARAMS) if (!q.get(p)) throw missingQueryParameter(p);
  if (q.get('X-Amz-Algorithm') !== ALGORITHM) throw incompleteSignature(`Unsupported AWS 'algorithm': '${q.get('X-Amz-Algorithm')}'`);
  const expires = Number(q.get('X-Amz-Expires'));
  if (!/^\d+$/.test(q.get('X-Amz-Expires')!) || expires < 1 || expires > MAX_PRESIGNED_SECONDS) {
    throw incompleteSignature(`X-Amz-Expires must be between 1 and ${MAX_PRESIGNED_SECONDS} seconds.`);
  }
  return {
    ...parseCredential(q.get('X-Amz-Credential')!),
    signedHeaders: parseSignedHeaders(q.get('X-Amz-SignedHeaders')!),
    signature: q.get('X-Amz-Signature')!,
    amzDate: q.get('X-Amz-Date')!,
    expires,
  };
}
