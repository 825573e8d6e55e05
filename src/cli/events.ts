// `kindling events failed NAME` and `kindling events redrive NAME`: the
// asynchronous events of a function that failed with no destination, listed
// and replayed through Kindling's own endpoints (SigV4-signed like the rest).
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { envRegion } from '../config.js';
import { clientKey } from '../credentials.js';
import { defaultDataDir } from '../store/datadir.js';
import { resolveEndpoint, type ClientOptions } from './client.js';

const API = '/kindling/2024-01-01';

export interface FailedEventJson {
  Id: string;
  RequestId: string;
  FunctionArn: string;
  Condition: string;
  ApproximateInvokeCount?: number;
  EnqueuedAt: string;
  FailedAt: string;
  ErrorType?: string;
  ErrorMessage?: string;
  Record: unknown;
}

/** A signed request to the Kindling server; throws with Lambda's error type and message on failure. */
export async function kindlingRequest(opts: ClientOptions, method: 'GET' | 'POST', path: string, query: Record<string, string> = {}, body?: unknown): Promise<unknown> {
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

const functionPath = (name: string) => `${API}/functions/${encodeURIComponent(name)}/failed-events`;

export async function listFailedEvents(opts: ClientOptions, name: string): Promise<FailedEventJson[]> {
  const all: FailedEventJson[] = [];
  let marker: string | undefined;
  do {
    const page = (await kindlingRequest(opts, 'GET', functionPath(name), marker ? { Marker: marker } : {})) as {
      FailedEvents: FailedEventJson[];
      NextMarker?: string;
    };
    all.push(...page.FailedEvents);
    marker = page.NextMarker;
  } while (marker);
  return all;
}

export async function failedEvents(opts: ClientOptions & { json?: boolean }, name: string): Promise<void> {
  const events = await listFailedEvents(opts, name);
  if (opts.json) {
    console.log(JSON.stringify(events, null, 2));
    return;
  }
  if (events.length === 0) {
    console.log(`No failed events for ${name}.`);
    return;
  }
  const rows = events.map((e) => [
    e.Id,
    e.RequestId,
    e.Condition,
    String(e.ApproximateInvokeCount ?? ''),
    e.FailedAt,
    [e.ErrorType, e.ErrorMessage].filter(Boolean).join(': ').replace(/\s+/g, ' ').slice(0, 80),
  ]);
  const head = ['ID', 'REQUEST ID', 'CONDITION', 'INVOKES', 'FAILED AT', 'ERROR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  console.log(`\n${events.length} failed event${events.length === 1 ? '' : 's'}; replay them with \`kindling events redrive ${name}\`.`);
}

export async function redriveEvents(opts: ClientOptions & { id?: string[] }, name: string): Promise<void> {
  const ids = opts.id && opts.id.length > 0 ? opts.id : undefined;
  const out = (await kindlingRequest(opts, 'POST', `${functionPath(name)}/redrive`, {}, ids ? { Ids: ids } : {})) as { Redriven: number };
  console.log(`Redrove ${out.Redriven} event${out.Redriven === 1 ? '' : 's'} of ${name}: they are queued again.`);
}
