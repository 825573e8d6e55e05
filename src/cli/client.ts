// The CLI's Lambda client: the public API through @aws-sdk/client-lambda,
// signed with Kindling's credentials.
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DEFAULT_HOST, DEFAULT_PORT, envRegion } from '../config.js';
import { clientKey } from '../credentials.js';
import { defaultDataDir } from '../store/datadir.js';

export interface ClientOptions {
  endpoint?: string;
  region?: string;
}

export const resolveEndpoint = (opts: ClientOptions): string =>
  opts.endpoint ?? process.env.KINDLING_ENDPOINT ?? `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;

export function logsClientFor(opts: ClientOptions): CloudWatchLogsClient {
  const key = clientKey(defaultDataDir());
  return new CloudWatchLogsClient({
    endpoint: resolveEndpoint(opts),
    region: opts.region ?? envRegion(),
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    maxAttempts: 1,
  });
}

export function lambdaClient(opts: ClientOptions): LambdaClient {
  const key = clientKey(defaultDataDir());
  return new LambdaClient({
    endpoint: resolveEndpoint(opts),
    region: opts.region ?? envRegion(),
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    maxAttempts: 1,
  });
}
