// `kindling events failed NAME` and `kindling events redrive NAME`: the
// asynchronous events of a function that failed with no destination, listed
// and replayed through Kindling's own endpoints (SigV4-signed like the rest).
import type { ClientOptions } from './client.js';
import { kindlingRequest } from './kindling-api.js';

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
