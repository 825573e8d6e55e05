// `kindling invoke` and `kindling logs`.
import { readFile } from 'node:fs/promises';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { type CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';

export interface InvokeOptions {
  payload?: string;
  qualifier?: string;
  log?: boolean;
}

export async function invoke(client: LambdaClient, name: string, opts: InvokeOptions): Promise<void> {
  let payload: Uint8Array | undefined;
  if (opts.payload !== undefined) {
    payload = opts.payload.startsWith('@') ? await readFile(opts.payload.slice(1)) : Buffer.from(opts.payload);
  }
  const out = await client.send(
    new InvokeCommand({
      FunctionName: name,
      ...(opts.qualifier ? { Qualifier: opts.qualifier } : {}),
      ...(payload ? { Payload: payload } : {}),
      ...(opts.log ? { LogType: 'Tail' } : {}),
    }),
  );
  if (opts.log && out.LogResult) process.stderr.write(displayLog(Buffer.from(out.LogResult, 'base64').toString('utf8')));
  process.stdout.write(`${Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8')}\n`);
  if (out.FunctionError) {
    process.stderr.write(`kindling: the function failed (${out.FunctionError}, version ${out.ExecutedVersion})\n`);
    process.exitCode = 1;
  }
}

/** One log record may span lines: the guest sends its inner newlines as '\r' (as Lambda does); a terminal wants '\n'. */
export const displayLog = (text: string): string => text.replace(/\r\n?/g, '\n');

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "10m", "1h", "2d" → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not a duration: use a number and a unit (s, m, h, d), e.g. 10m.`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

export interface LogsOptions {
  since: string;
  follow?: boolean;
  filter?: string;
}

const FOLLOW_POLL_MS = 500;

export async function logs(client: CloudWatchLogsClient, name: string, opts: LogsOptions): Promise<void> {
  const startTime = Date.now() - parseDuration(opts.since);
  let nextToken: string | undefined;
  let lastEventId: string | undefined;
  for (;;) {
    const page = await client.send(
      new FilterLogEventsCommand({
        logGroupName: `/aws/lambda/${name}`,
        startTime,
        ...(opts.filter ? { filterPattern: JSON.stringify(opts.filter) } : {}),
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    for (const e of page.events ?? []) {
      process.stdout.write(displayLog(e.message ?? '\n'));
      lastEventId = e.eventId;
    }
    if (page.nextToken) {
      nextToken = page.nextToken;
      continue;
    }
    if (!opts.follow) return;
    // Carry on from the last event seen; the token is the event id in base 36.
    if (lastEventId !== undefined) nextToken = Number(lastEventId).toString(36);
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
  }
}
