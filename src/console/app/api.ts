// Kindling's public API as the console uses it: every call SigV4-signed with
// the access key kept in sessionStorage.
import { sign, type Credentials } from './sigv4.js';

export interface Session extends Credentials {
  region: string;
}

const KEY = 'kindling.session';

export function loadSession(): Session | undefined {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return s && s.accessKeyId && s.secretAccessKey ? s : undefined;
  } catch {
    return undefined;
  }
}

export const saveSession = (s: Session): void => sessionStorage.setItem(KEY, JSON.stringify(s));
export const clearSession = (): void => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CallOptions {
  query?: Record<string, string | undefined>;
  json?: unknown;
  /** A body sent as is (instead of json). */
  text?: string;
  headers?: Record<string, string>;
  service?: string;
}

const seg = encodeURIComponent;

export class Api {
  constructor(private readonly session: Session) {}

  /** A signed call; throws ApiError on a non-2xx reply. */
  async raw(method: string, path: string, opts: CallOptions = {}): Promise<Response> {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) query[k] = v;
    const body = opts.text ?? (opts.json === undefined ? undefined : JSON.stringify(opts.json));
    const headers: Record<string, string> = { ...opts.headers };
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    const signed = await sign({
      method,
      host: location.host,
      path,
      query,
      headers,
      ...(body !== undefined ? { body } : {}),
      region: this.session.region,
      service: opts.service ?? 'lambda',
      credentials: this.session,
    });
    const qs = new URLSearchParams(query).toString();
    const res = await fetch(path + (qs ? `?${qs}` : ''), { method, headers: signed, ...(body !== undefined ? { body } : {}) });
    if (!res.ok) {
      let type = res.headers.get('x-amzn-ErrorType') ?? `HTTP ${res.status}`;
      let message = res.statusText;
      try {
        const j = (await res.json()) as { message?: string; Message?: string; Type?: string; __type?: string };
        message = j.message ?? j.Message ?? message;
        type = type.split(':')[0] ?? type;
      } catch {
        /* not JSON */
      }
      throw new ApiError(res.status, type, message);
    }
    return res;
  }

  async json<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts);
    const text = await res.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  listFunctions = async (): Promise<FunctionConfiguration[]> => {
    const out: FunctionConfiguration[] = [];
    let marker: string | undefined;
    do {
      const page = await this.json<{ Functions: FunctionConfiguration[]; NextMarker?: string }>('GET', '/2015-03-31/functions', { query: { Marker: marker } });
      out.push(...page.Functions);
      marker = page.NextMarker;
    } while (marker);
    return out;
  };

  getFunction = (name: string) =>
    this.json<{ Configuration: FunctionConfiguration; Code: { Location: string }; Concurrency?: { ReservedConcurrentExecutions: number } }>(
      'GET',
      `/2015-03-31/functions/${seg(name)}`,
    );

  createFunction = (input: Record<string, unknown>) => this.json<FunctionConfiguration>('POST', '/2015-03-31/functions', { json: input });

  updateConfiguration = (name: string, input: Record<string, unknown>) =>
    this.json<FunctionConfiguration>('PUT', `/2015-03-31/functions/${seg(name)}/configuration`, { json: input });

  updateCode = (name: string, zipBase64: string) =>
    this.json<FunctionConfiguration>('PUT', `/2015-03-31/functions/${seg(name)}/code`, { json: { ZipFile: zipBase64 } });

  deleteFunction = (name: string) => this.raw('DELETE', `/2015-03-31/functions/${seg(name)}`);

  async invoke(name: string, payload: string, qualifier?: string): Promise<InvokeResult> {
    const started = performance.now();
    const res = await this.raw('POST', `/2015-03-31/functions/${seg(name)}/invocations`, {
      query: { Qualifier: qualifier },
      headers: { 'content-type': 'application/json', 'x-amz-log-type': 'Tail' },
      text: payload,
    });
    return this.invokeResult(res, performance.now() - started);
  }

  /** An asynchronous (Event) invoke: queued, answered 202 with the request id the handler will see. */
  async invokeEvent(name: string, payload: string, qualifier?: string): Promise<{ status: number; requestId: string }> {
    const res = await this.raw('POST', `/2015-03-31/functions/${seg(name)}/invocations`, {
      query: { Qualifier: qualifier },
      headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
      text: payload,
    });
    await res.text();
    return { status: res.status, requestId: res.headers.get('x-amzn-requestid') ?? '' };
  }

  private async invokeResult(res: Response, roundTripMs: number): Promise<InvokeResult> {
    const payload = await res.text();
    const b64 = res.headers.get('x-amz-log-result');
    const log = b64 ? decodeBase64Utf8(b64) : '';
    const report = /REPORT RequestId: \S+\s+Duration: ([\d.]+) ms/.exec(log);
    return {
      payload,
      functionError: res.headers.get('x-amz-function-error') ?? undefined,
      executedVersion: res.headers.get('x-amz-executed-version') ?? undefined,
      log,
      durationMs: report ? Number(report[1]) : undefined,
      cold: /Init Duration: /.test(log),
      roundTripMs,
    };
  }

  listVersions = (name: string) =>
    this.json<{ Versions: FunctionConfiguration[] }>('GET', `/2015-03-31/functions/${seg(name)}/versions`).then((r) => r.Versions);

  publishVersion = (name: string, description: string) =>
    this.json<FunctionConfiguration>('POST', `/2015-03-31/functions/${seg(name)}/versions`, { json: { Description: description } });

  listAliases = (name: string) =>
    this.json<{ Aliases: { Name: string; FunctionVersion: string; Description?: string; RoutingConfig?: { AdditionalVersionWeights?: Record<string, number> } }[] }>(
      'GET',
      `/2015-03-31/functions/${seg(name)}/aliases`,
    ).then((r) => r.Aliases);

  getConcurrency = (name: string) =>
    this.json<{ ReservedConcurrentExecutions?: number }>('GET', `/2019-09-30/functions/${seg(name)}/concurrency`);

  putConcurrency = (name: string, n: number) =>
    this.json('PUT', `/2017-10-31/functions/${seg(name)}/concurrency`, { json: { ReservedConcurrentExecutions: n } });

  deleteConcurrency = (name: string) => this.raw('DELETE', `/2017-10-31/functions/${seg(name)}/concurrency`);

  filterLogEvents = (input: { functionName: string; startTime?: number; endTime?: number; filterPattern?: string; nextToken?: string; limit?: number }) =>
    this.json<{ events: LogEvent[]; nextToken?: string }>('POST', '/', {
      service: 'logs',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Logs_20140328.FilterLogEvents' },
      json: {
        logGroupName: `/aws/lambda/${input.functionName}`,
        ...(input.startTime !== undefined ? { startTime: input.startTime } : {}),
        ...(input.endTime !== undefined ? { endTime: input.endTime } : {}),
        ...(input.filterPattern ? { filterPattern: input.filterPattern } : {}),
        ...(input.nextToken ? { nextToken: input.nextToken } : {}),
        ...(input.limit ? { limit: input.limit } : {}),
      },
    });

  metricsTotals = (minutes = 60) =>
    this.json<{ Functions: Record<string, Totals> }>('GET', '/kindling/2024-01-01/metrics/functions', { query: { minutes: String(minutes) } }).then((r) => r.Functions);

  functionSeries = (name: string, minutes: number) =>
    this.json<{ Points: SeriesPoint[] }>('GET', `/kindling/2024-01-01/metrics/functions/${seg(name)}`, { query: { minutes: String(minutes) } }).then((r) => r.Points);

  getEventInvokeConfig = (name: string, qualifier?: string) =>
    this.json<EventInvokeConfig>('GET', `/2019-09-25/functions/${seg(name)}/event-invoke-config`, { query: { Qualifier: qualifier } });

  putEventInvokeConfig = (name: string, qualifier: string | undefined, input: Record<string, unknown>) =>
    this.json<EventInvokeConfig>('PUT', `/2019-09-25/functions/${seg(name)}/event-invoke-config`, { query: { Qualifier: qualifier }, json: input });

  deleteEventInvokeConfig = (name: string, qualifier?: string) =>
    this.raw('DELETE', `/2019-09-25/functions/${seg(name)}/event-invoke-config`, { query: { Qualifier: qualifier } });

  eventQueue = (name: string) => this.json<QueueCounts>('GET', `/kindling/2024-01-01/functions/${seg(name)}/queue`);

  /** The function's failed events, oldest first (up to `max`, following NextMarker). */
  listFailedEvents = async (name: string, max = 500): Promise<{ events: FailedEvent[]; more: boolean }> => {
    const events: FailedEvent[] = [];
    let marker: string | undefined;
    do {
      const page = await this.json<{ FailedEvents: FailedEvent[]; NextMarker?: string }>('GET', `/kindling/2024-01-01/functions/${seg(name)}/failed-events`, {
        query: { Marker: marker },
      });
      events.push(...page.FailedEvents);
      marker = page.NextMarker;
    } while (marker && events.length < max);
    return { events, more: marker !== undefined };
  };

  /** Queues failed events again (all of them without ids); answers how many. */
  redriveFailedEvents = (name: string, ids?: string[]) =>
    this.json<{ Redriven: number }>('POST', `/kindling/2024-01-01/functions/${seg(name)}/failed-events/redrive`, { json: ids ? { Ids: ids } : {} }).then((r) => r.Redriven);

  hosts = () => this.json<{ Hosts: HostInfo[]; PlacementFailures: number }>('GET', '/kindling/2024-01-01/hosts');
}

export function decodeBase64Utf8(b64: string): string {
  const bin = atob(b64);
  const buf = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(buf);
}

export function encodeBase64(buf: Uint8Array): string {
  let s = '';
  for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
  return btoa(s);
}

export interface FunctionConfiguration {
  FunctionName: string;
  FunctionArn: string;
  Runtime?: string;
  Handler?: string;
  Role: string;
  MemorySize: number;
  Timeout: number;
  Description?: string;
  LastModified: string;
  CodeSize: number;
  CodeSha256: string;
  Version: string;
  State?: string;
  StateReason?: string;
  LastUpdateStatus?: string;
  Environment?: { Variables?: Record<string, string> };
  Architectures?: string[];
  EphemeralStorage?: { Size: number };
  PackageType?: string;
  RevisionId?: string;
}

export interface InvokeResult {
  payload: string;
  functionError: string | undefined;
  executedVersion: string | undefined;
  log: string;
  durationMs: number | undefined;
  cold: boolean;
  roundTripMs: number;
}

export interface LogEvent {
  logStreamName: string;
  timestamp: number;
  message: string;
  eventId: string;
}

export interface Totals {
  invocations: number;
  errors: number;
  throttles: number;
  cold: number;
  warm: number;
}

export interface SeriesPoint {
  t: number;
  invocations: number;
  errors: number;
  throttles: number;
  cold: number;
  warm: number;
  p50: number | null;
  p99: number | null;
  concurrent: number;
}

export interface HostInfo {
  HostId: string;
  MemoryMb: number;
  ReservedMb: number;
  FreeMb: number;
  Sandboxes: { Id: string; FunctionName: string; Version: string; State: string; MemoryMb: number; LastUsed: number }[];
}

export interface EventInvokeConfig {
  FunctionArn: string;
  LastModified: number;
  MaximumRetryAttempts?: number;
  MaximumEventAgeInSeconds?: number;
  DestinationConfig?: { OnSuccess?: { Destination?: string }; OnFailure?: { Destination?: string } };
}

export interface QueueCounts {
  Visible: number;
  InFlight: number;
  Delayed: number;
  Failed: number;
}

export interface FailedEvent {
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
