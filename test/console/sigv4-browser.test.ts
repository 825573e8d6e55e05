// The console's WebCrypto SigV4 signer signs exactly as @smithy/signature-v4
// (the SDKs' signer) does, for Lambda and CloudWatch Logs calls.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { ROOT } from '../helpers/kindling.js';

type Sign = (input: {
  method: string;
  host: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  region: string;
  service: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  date?: Date;
}) => Promise<Record<string, string>>;

const KEY = { accessKeyId: 'AKKLCONSOLE0001', secretAccessKey: 'console-secret-0123456789' };
const DATE = new Date(Date.UTC(2024, 4, 17, 12, 34, 56));

const cases: { method: string; path: string; query?: Record<string, string>; headers?: Record<string, string>; body?: string; service: string }[] = [
  { method: 'GET', path: '/2015-03-31/functions', service: 'lambda' },
  { method: 'GET', path: '/2015-03-31/functions/fn-1', query: { Qualifier: '$LATEST' }, service: 'lambda' },
  { method: 'GET', path: '/2015-03-31/functions', query: { Marker: 'a b/c+d', MaxItems: '50' }, service: 'lambda' },
  {
    method: 'POST',
    path: '/2015-03-31/functions/fn-1/invocations',
    headers: { 'content-type': 'application/json', 'x-amz-log-type': 'Tail' },
    body: '{"word":"kiwi ü"}',
    service: 'lambda',
  },
  { method: 'PUT', path: '/2015-03-31/functions/fn%3Av/configuration', headers: { 'content-type': 'application/json' }, body: '{"MemorySize":256}', service: 'lambda' },
  {
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Logs_20140328.FilterLogEvents' },
    body: '{"logGroupName":"/aws/lambda/fn-1"}',
    service: 'logs',
  },
];

test('the console signer matches smithy', async () => {
  const { sign } = (await import(pathToFileURL(join(ROOT, 'dist', 'src', 'console', 'app', 'sigv4.js')).href)) as { sign: Sign };
  for (const c of cases) {
    const smithy = new SignatureV4({ credentials: KEY, region: 'eu-west-3', service: c.service, sha256: Hash.bind(null, 'sha256') });
    const want = await smithy.sign(
      {
        method: c.method,
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 9000,
        path: c.path,
        query: c.query ?? {},
        headers: { host: '127.0.0.1:9000', ...c.headers },
        ...(c.body !== undefined ? { body: c.body } : {}),
      },
      { signingDate: DATE },
    );
    const got = await sign({
      method: c.method,
      host: '127.0.0.1:9000',
      path: c.path,
      ...(c.query ? { query: c.query } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
      ...(c.body !== undefined ? { body: c.body } : {}),
      region: 'eu-west-3',
      service: c.service,
      credentials: KEY,
      date: DATE,
    });
    assert.equal(got.authorization, want.headers.authorization, `${c.method} ${c.path}`);
    assert.equal(got['x-amz-date'], want.headers['x-amz-date']);
    assert.equal(got['x-amz-content-sha256'], want.headers['x-amz-content-sha256']);
  }
});
