// Functions' logs through CloudWatch Logs' own API (JSON 1.1, POST / with
// X-Amz-Target), so `aws logs filter-log-events` and the SDK's Logs client
// read Kindling's logs unchanged. Log group /aws/lambda/NAME is function NAME.
import { LambdaError, resourceNotFound } from '../errors.js';
import type { LogStore } from '../store/logs.js';
import type { ControlPlane } from '../control/functions.js';
import type { Route } from './http.js';
import { parseJsonObject } from './json.js';

const PREFIX = '/aws/lambda/';
const MAX_EVENTS = 10_000;

const invalidParameter = (message: string) => new LambdaError('InvalidParameterException', 400, message);

/** CloudWatch's filter pattern, as far as plain text goes: "quoted phrase" or words that must all appear. */
export function filterTerms(pattern: string | undefined): string[] {
  if (!pattern || pattern.trim() === '') return [];
  const terms: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(pattern); m; m = re.exec(pattern)) {
    const t = m[1] ?? m[2];
    if (t) terms.push(t);
  }
  return terms;
}

export function logsRoutes(control: ControlPlane, logs: LogStore): Route[] {
  const filterLogEvents = async (body: Record<string, unknown>) => {
    const group = body.logGroupName;
    if (typeof group !== 'string' || group === '') throw invalidParameter('logGroupName is required.');
    if (!group.startsWith(PREFIX)) throw resourceNotFound('The specified log group does not exist.');
    const functionName = group.slice(PREFIX.length);
    if (!(await control.functionExists(functionName))) throw resourceNotFound('The specified log group does not exist.');
    const limit = typeof body.limit === 'number' ? Math.min(Math.max(1, body.limit), MAX_EVENTS) : MAX_EVENTS;
    const afterId = typeof body.nextToken === 'string' ? Number.parseInt(body.nextToken, 36) : undefined;
    const events = await logs.query({
      functionName,
      ...(typeof body.startTime === 'number' ? { startTime: body.startTime } : {}),
      ...(typeof body.endTime === 'number' ? { endTime: body.endTime } : {}),
      ...(afterId !== undefined && Number.isFinite(afterId) ? { afterId } : {}),
      terms: filterTerms(typeof body.filterPattern === 'string' ? body.filterPattern : undefined),
      limit: limit + 1,
    });
    const streams = Array.isArray(body.logStreamNames) ? new Set(body.logStreamNames as string[]) : undefined;
    const page = events.slice(0, limit).filter((e) => !streams || streams.has(e.logStream));
    const out: Record<string, unknown> = {
      events: page.map((e) => ({
        logStreamName: e.logStream,
        timestamp: e.timestamp,
        message: `${e.message}\n`,
        ingestionTime: e.timestamp,
        eventId: String(e.id),
      })),
      searchedLogStreams: [],
    };
    const last = events[limit - 1];
    if (events.length > limit && last) out.nextToken = last.id.toString(36);
    return out;
  };

  return [
    {
      method: 'POST',
      path: '/',
      operation: 'Logs',
      authService: 'logs',
      bodyLimit: 1024 * 1024,
      async handle(ctx) {
        const target = ctx.req.headers['x-amz-target'];
        const body = parseJsonObject(ctx.body);
        if (target === 'Logs_20140328.FilterLogEvents') {
          return { status: 200, headers: { 'Content-Type': 'application/x-amz-json-1.1' }, json: await filterLogEvents(body) };
        }
        throw new LambdaError('UnknownOperationException', 400, `Kindling serves Logs_20140328.FilterLogEvents here, not ${String(target)}.`);
      },
    },
  ];
}
