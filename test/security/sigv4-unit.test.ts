// The verifier against @smithy/signature-v4 (what the SDKs sign with): every
// request smithy signs verifies, and every change to a signed part fails.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { canonicalPath, SigV4Verifier, type SignedRequest } from '../../src/frontend/sigv4.js';
import type { LambdaError } from '../../src/errors.js';

const KEY = { accessKeyId: 'AKKLUNITTEST0001', secretAccessKey: 'unit-test-secret-0123456789' };
const REGION = 'eu-west-3';
const NOW = Date.UTC(2024, 4, 17, 12, 0, 0);

const smithy = (service = 'lambda') =>
  new SignatureV4({ credentials: KEY, region: REGION, service, sha256: Hash.bind(null, 'sha256') });

const verifier = (now = NOW) =>
  new SigV4Verifier({ region: REGION, keys: { secretFor: (id) => (id === KEY.accessKeyId ? KEY.secretAccessKey : undefined) }, now: () => now });

/** Encodes a path as the SDK's serialiser does (each label percent-encoded). */
const sdkPath = (labels: string[]): string => '/' + labels.map((l) => encodeURIComponent(l).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');

const rawQueryOf = (query: Record<string, string | string[]>): string =>
  Object.entries(query)
    .flatMap(([k, v]) => ([] as string[]).concat(v).map((x) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`))
    .join('&');

async function signed(
  opts: { method?: string; path: string; query?: Record<string, string | string[]>; headers?: Record<string, string>; body?: string; service?: string; date?: Date },
): Promise<SignedRequest> {
  const headers = { host: 'kindling.test:9000', ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers };
  const out = await smithy(opts.service).sign(
    { method: opts.method ?? 'GET', protocol: 'http:', hostname: 'kindling.test', port: 9000, path: opts.path, query: opts.query ?? {}, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) },
    { signingDate: opts.date ?? new Date(NOW) },
  );
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(out.headers)) lower[k.toLowerCase()] = v;
  return { method: opts.method ?? 'GET', path: opts.path, rawQuery: rawQueryOf(opts.query ?? {}), headers: lower, body: Buffer.from(opts.body ?? '') };
}

const fails = (fn: () => unknown, type: string, message?: RegExp | string): void => {
  try {
    fn();
  } catch (err) {
    const e = err as LambdaError;
    assert.equal(e.type, type, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return;
  }
  assert.fail(`expected ${type}`);
};

describe('SigV4 verification', () => {
  test('canonical paths are encoded twice and normalised, as smithy does for non-S3 services', () => {
    assert.equal(canonicalPath('/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations'), '/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A1%253Afunction%253Af/invocations');
    assert.equal(canonicalPath('/a//b/./c/../d/'), '/a/b/d/');
    assert.equal(canonicalPath('/'), '/');
    assert.equal(canonicalPath('/a%2Fb'), '/a%252Fb');
  });

  test('requests smithy signs verify: paths, queries, headers and bodies of every shape', async () => {
    const v = verifier();
    const cases: Parameters<typeof signed>[0][] = [
      { path: '/2015-03-31/functions' },
      { path: '/2015-03-31/functions/', query: { MaxItems: '10', Marker: 'a b+c/d=e&f' } },
      { path: sdkPath(['2015-03-31', 'functions', 'arn:aws:lambda:eu-west-3:000000000000:function:f:$LATEST', 'invocations']), method: 'POST', body: '{"a":1}' },
      { path: sdkPath(['2015-03-31', 'functions', 'ünïcødé name (1)*!', 'aliases']), query: { FunctionVersion: '$LATEST', z: '', 'we ird~key': 'v~alue' } },
      { path: '/2015-03-31/functions', query: { a: ['3', '1', '2'], A: 'upper' } },
      { path: '/2015-03-31/functions/f/invocations', method: 'POST', body: 'x'.repeat(100_000), headers: { 'x-amz-invocation-type': 'Event', 'x-amz-client-context': '  spaced   value  ' } },
      { path: '/', method: 'POST', body: '{"logGroupName":"/aws/lambda/f"}', service: 'logs', headers: { 'x-amz-target': 'Logs_20140328.FilterLogEvents', 'content-type': 'application/x-amz-json-1.1' } },
      { path: '/2015-03-31/functions', date: new Date(NOW - 14 * 60_000) },
      { path: '/2015-03-31/functions', date: new Date(NOW + 14 * 60_000) },
    ];
    for (const c of cases) {
      const req = await signed(c);
      assert.deepEqual(v.verify(req, c.service ?? 'lambda'), { accessKeyId: KEY.accessKeyId }, JSON.stringify(c).slice(0, 200));
    }
  });

  test("a query written by URLSearchParams ('+' for space) verifies like one written by the SDK (%20)", async () => {
    const req = await signed({ path: '/2015-03-31/functions', query: { Marker: 'a b+c' } });
    const v = verifier();
    assert.ok(v.verify({ ...req, rawQuery: new URLSearchParams({ Marker: 'a b+c' }).toString() }, 'lambda'));
    assert.ok(v.verify({ ...req, rawQuery: 'Marker=a%20b%2Bc' }, 'lambda'));
  });

  test('every signed part, changed, fails as InvalidSignatureException', async () => {
    const v = verifier();
    const base = await signed({ method: 'POST', path: '/2015-03-31/functions/f/invocations', query: { Qualifier: '1' }, body: '{"a":1}', headers: { 'x-amz-invocation-type': 'RequestResponse' } });
    const mismatch = /^The request signature we calculated does not match the signature you provided\./;
    fails(() => v.verify({ ...base, body: Buffer.from('{"a":2}') }, 'lambda'), 'InvalidSignatureException', mismatch);
    fails(() => v.verify({ ...base, path: '/2015-03-31/functions/g/invocations' }, 'lambda'), 'InvalidSignatureException', mismatch);
    fails(() => v.verify({ ...base, rawQuery: 'Qualifier=2' }, 'lambda'), 'InvalidSignatureException', mismatch);
    fails(() => v.verify({ ...base, rawQuery: '' }, 'lambda'), 'InvalidSignatureException', mismatch);
    fails(() => v.verify({ ...base, method: 'PUT' }, 'lambda'), 'InvalidSignatureException', mismatch);
    fails(() => v.verify({ ...base, headers: { ...base.headers, 'x-amz-invocation-type': 'Event' } }, 'lambda'), 'InvalidSignatureException', mismatch);
    fails(() => v.verify({ ...base, headers: { ...base.headers, host: 'elsewhere:9000' } }, 'lambda'), 'InvalidSignatureException', mismatch);
    // A body hash header that does not match the body does not help.
    fails(() => v.verify({ ...base, body: Buffer.from('{"a":2}'), headers: { ...base.headers } }, 'lambda'), 'InvalidSignatureException', mismatch);
    // Unsigned headers may change.
    assert.ok(v.verify({ ...base, headers: { ...base.headers, 'user-agent': 'other' } }, 'lambda'));
  });

  test('the scope, the clock and the key', async () => {
    const req = await signed({ path: '/2015-03-31/functions' });
    fails(() => verifier().verify(req, 'logs'), 'InvalidSignatureException', "Credential should be scoped to correct service: 'logs'. ");
    fails(
      () => new SigV4Verifier({ region: 'us-east-1', keys: { secretFor: () => KEY.secretAccessKey } }).verify(req, 'lambda'),
      'InvalidSignatureException',
      "Credential should be scoped to a valid region, not 'eu-west-3'. ",
    );
    fails(() => verifier(NOW + 16 * 60_000).verify(req, 'lambda'), 'InvalidSignatureException', 'Signature expired: 20240517T120000Z is now earlier than 20240517T120100Z (20240517T121600Z - 15 min.)');
    fails(() => verifier(NOW - 16 * 60_000).verify(req, 'lambda'), 'InvalidSignatureException', 'Signature not yet current: 20240517T120000Z is still later than 20240517T115900Z (20240517T114400Z + 15 min.)');
    fails(() => new SigV4Verifier({ region: REGION, keys: { secretFor: () => undefined }, now: () => NOW }).verify(req, 'lambda'), 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    fails(() => verifier().verify({ ...req, headers: { ...req.headers, 'x-amz-security-token': 'token' } }, 'lambda'), 'UnrecognizedClientException');
  });

  test('malformed and missing authentication', async () => {
    const v = verifier();
    const req = await signed({ path: '/2015-03-31/functions' });
    fails(() => v.verify({ ...req, headers: { host: 'kindling.test:9000' } }, 'lambda'), 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    fails(
      () => v.verify({ ...req, headers: { host: 'kindling.test:9000', authorization: 'Bearer abc' } }, 'lambda'),
      'IncompleteSignatureException',
      "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=Bearer abc",
    );
    const auth = req.headers.authorization as string;
    fails(() => v.verify({ ...req, headers: { ...req.headers, authorization: auth.replace('Credential=', 'Credential ') } }, 'lambda'), 'IncompleteSignatureException', /not a valid key=value pair \(missing equal-sign\) in Authorization header/);
    fails(() => v.verify({ ...req, headers: { ...req.headers, authorization: auth.replace(/Credential=[^,]+/, 'Credential=AKKL/20240517/eu-west-3') } }, 'lambda'), 'IncompleteSignatureException', /^Credential must have exactly 5 slash-delimited elements/);
    fails(() => v.verify({ ...req, headers: { ...req.headers, authorization: auth.replace(/SignedHeaders=[^,]+/, 'SignedHeaders=x-amz-date') } }, 'lambda'), 'InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    fails(() => v.verify({ ...req, headers: { ...req.headers, 'x-amz-date': '2024-05-17T12:00:00Z' } }, 'lambda'), 'IncompleteSignatureException', /^Date must be in ISO-8601 'basic format'/);
    fails(() => v.verify({ ...req, headers: { ...req.headers, 'x-amz-date': '20240518T120000Z' } }, 'lambda'), 'InvalidSignatureException', /^Date in Credential scope does not match/);
  });

  test('presigned GETs verify until they expire', async () => {
    const url = await smithy().presign(
      { method: 'GET', protocol: 'http:', hostname: 'kindling.test', port: 9000, path: '/2015-03-31/functions', query: { MaxItems: '5' }, headers: { host: 'kindling.test:9000' } },
      { signingDate: new Date(NOW), expiresIn: 60 },
    );
    const req: SignedRequest = { method: 'GET', path: url.path, rawQuery: rawQueryOf(url.query as Record<string, string>), headers: { host: 'kindling.test:9000' }, body: Buffer.alloc(0) };
    assert.ok(verifier(NOW + 59_000).verify(req, 'lambda'));
    fails(() => verifier(NOW + 61_000).verify(req, 'lambda'), 'InvalidSignatureException', /^Signature expired: 20240517T120100Z is now earlier than/);
    fails(() => verifier().verify({ ...req, rawQuery: req.rawQuery.replace('MaxItems=5', 'MaxItems=6') }, 'lambda'), 'InvalidSignatureException');
    fails(() => verifier().verify({ ...req, rawQuery: req.rawQuery.replace(/X-Amz-Credential=[^&]+&?/, '') }, 'lambda'), 'IncompleteSignatureException', "AWS query-string parameters must include 'X-Amz-Credential'. Re-examine the query-string parameters.");
    fails(() => verifier().verify({ ...req, method: 'POST' }, 'lambda'), 'MissingAuthenticationTokenException');
  });

  test('derived keys are cached, and a replaced secret is not served from the cache', async () => {
    let secret = KEY.secretAccessKey;
    const v = new SigV4Verifier({ region: REGION, keys: { secretFor: () => secret }, now: () => NOW });
    const req = await signed({ path: '/2015-03-31/functions' });
    assert.ok(v.verify(req, 'lambda'));
    assert.ok(v.verify(req, 'lambda'));
    secret = 'another-secret';
    fails(() => v.verify(req, 'lambda'), 'InvalidSignatureException');
  });
});
