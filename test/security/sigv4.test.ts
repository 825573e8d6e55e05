// SigV4 on a real `kindling up`: every API request must be signed with a key
// Kindling knows, for its region and the right service, recently; keys made
// with `kindling keys create` work until `kindling keys delete`; no secret is
// ever written to the server's log.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateFunctionCommand, GetFunctionCommand, LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  ACCESS_KEY_ID,
  describeRun,
  lambdaClient,
  nodeZip,
  REGION,
  rejection,
  ROLE,
  run,
  runKindling,
  SECRET_ACCESS_KEY,
  startKindling,
  UUID,
  type KindlingServer,
} from '../helpers/kindling.js';

const AWS = '/usr/bin/aws';

let server: KindlingServer;
/** Every secret these tests saw, for the log check at the end. */
const secrets = [SECRET_ACCESS_KEY];

before(async () => {
  // The most talkative log level, so the log check covers everything Kindling can log.
  server = await startKindling({ env: { KINDLING_LOG_LEVEL: 'trace' } });
  await lambdaClient(server.url).send(
    new CreateFunctionCommand({ FunctionName: 'auth-fn', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await nodeZip() } }),
  );
});

after(async () => {
  await server?.dispose();
});

interface SignOptions {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region?: string;
  service?: string;
  signingDate?: Date;
  /** Changes the request after it is signed. */
  tamper?: (r: { path: string; query: Record<string, string>; headers: Record<string, string>; body?: string }) => void;
}

interface Res {
  status: number;
  type: string | null;
  requestId: string | null;
  json: Record<string, unknown>;
  text: string;
}

const signer = (o: SignOptions) =>
  new SignatureV4({
    credentials: {
      accessKeyId: o.accessKeyId ?? ACCESS_KEY_ID,
      secretAccessKey: o.secretAccessKey ?? SECRET_ACCESS_KEY,
      ...(o.sessionToken ? { sessionToken: o.sessionToken } : {}),
    },
    region: o.region ?? REGION,
    service: o.service ?? 'lambda',
    sha256: Hash.bind(null, 'sha256'),
  });

async function send(o: SignOptions & { sign?: boolean } = {}): Promise<Res> {
  const method = o.method ?? 'GET';
  const u = new URL(server.url);
  const r = { path: o.path ?? '/2015-03-31/functions', query: { ...o.query }, headers: { host: u.host, ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers } as Record<string, string>, ...(o.body !== undefined ? { body: o.body } : {}) };
  if (o.sign !== false) {
    const signed = await signer(o).sign(
      { method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: r.path, query: r.query, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}) },
      o.signingDate ? { signingDate: o.signingDate } : {},
    );
    r.headers = signed.headers;
  }
  o.tamper?.(r);
  const url = new URL(r.path, server.url);
  for (const [k, v] of Object.entries(r.query)) url.searchParams.set(k, v);
  const { host: _h, ...headers } = r.headers;
  const res = await fetch(url, { method, headers, ...(r.body !== undefined ? { body: r.body } : {}) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), requestId: res.headers.get('x-amzn-requestid'), json, text };
}

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const refused = (res: Res, status: number, type: string, message?: string | RegExp): void => {
  assert.equal(res.status, status, res.text);
  assert.equal(res.type, type, res.text);
  assert.match(res.requestId ?? '', UUID);
  // Lambda's framework errors: {"message": ...} and nothing more.
  assert.deepEqual(Object.keys(res.json), ['message'], res.text);
  if (typeof message === 'string') assert.equal(res.json.message, message);
  else if (message) assert.match(String(res.json.message), message);
};

describe('requests without a valid signature are refused', () => {
  test('a correctly signed request is served', async () => {
    const res = await send();
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.json.Functions));
  });

  test('no authentication at all: 403 MissingAuthenticationTokenException, on known and unknown paths alike', async () => {
    for (const [method, path] of [
      ['GET', '/2015-03-31/functions'],
      ['POST', '/2015-03-31/functions/auth-fn/invocations'],
      ['GET', '/2015-03-31/no-such-thing'],
      ['DELETE', '/2015-03-31/functions'],
    ] as const) {
      refused(await send({ method, path, sign: false, ...(method === 'POST' ? { body: '{}' } : {}) }), 403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
  });

  test('signed requests to unknown paths learn the route is unknown', async () => {
    const res = await send({ path: '/2015-03-31/no-such-thing' });
    assert.equal(res.status, 404);
    assert.equal(res.type, 'UnknownOperationException');
    refused(await send({ path: '/2015-03-31/no-such-thing', secretAccessKey: 'wrong' }), 403, 'InvalidSignatureException', MISMATCH);
  });

  test('a wrong secret: 403 InvalidSignatureException', async () => {
    refused(await send({ secretAccessKey: 'not-the-secret' }), 403, 'InvalidSignatureException', MISMATCH);
  });

  test('an unknown key, or a session token: 403 UnrecognizedClientException', async () => {
    refused(await send({ accessKeyId: 'AKKLNOSUCHKEY000', secretAccessKey: 'whatever' }), 403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    refused(await send({ sessionToken: 'a-session-token' }), 403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  });

  test('a tampered body, path, query or signed header: 403 InvalidSignatureException', async () => {
    const invoke = { method: 'POST', path: '/2015-03-31/functions/auth-fn/invocations', body: '{"n":1}', headers: { 'x-amz-invocation-type': 'RequestResponse' } };
    const ok = await send(invoke);
    assert.equal(ok.status, 200, ok.text);
    refused(await send({ ...invoke, tamper: (r) => (r.body = '{"n":2}') }), 403, 'InvalidSignatureException', MISMATCH);
    refused(await send({ ...invoke, tamper: (r) => (r.path = '/2015-03-31/functions/other-fn/invocations') }), 403, 'InvalidSignatureException', MISMATCH);
    refused(await send({ ...invoke, tamper: (r) => (r.headers['x-amz-invocation-type'] = 'Event') }), 403, 'InvalidSignatureException', MISMATCH);
    refused(await send({ query: { MaxItems: '1' }, tamper: (r) => (r.query.MaxItems = '50') }), 403, 'InvalidSignatureException', MISMATCH);
    refused(await send({ tamper: (r) => (r.query.Marker = 'added') }), 403, 'InvalidSignatureException', MISMATCH);
  });

  test('a signature 16 minutes old, or 16 minutes ahead: 403 InvalidSignatureException', async () => {
    refused(await send({ signingDate: new Date(Date.now() - 16 * 60_000) }), 403, 'InvalidSignatureException', /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/);
    refused(await send({ signingDate: new Date(Date.now() + 16 * 60_000) }), 403, 'InvalidSignatureException', /^Signature not yet current: /);
    const recent = await send({ signingDate: new Date(Date.now() - 10 * 60_000) });
    assert.equal(recent.status, 200, 'ten minutes is within the skew window');
  });

  test('the wrong region or service in the credential scope: 403 InvalidSignatureException', async () => {
    refused(await send({ region: 'eu-west-1' }), 403, 'InvalidSignatureException', "Credential should be scoped to a valid region, not 'eu-west-1'. ");
    refused(await send({ service: 'logs' }), 403, 'InvalidSignatureException', "Credential should be scoped to correct service: 'lambda'. ");
    // CloudWatch Logs' route wants 'logs'.
    const logs = { method: 'POST', path: '/', body: '{"logGroupName":"/aws/lambda/auth-fn"}', headers: { 'x-amz-target': 'Logs_20140328.FilterLogEvents', 'content-type': 'application/x-amz-json-1.1' } };
    refused(await send(logs), 403, 'InvalidSignatureException', "Credential should be scoped to correct service: 'logs'. ");
    const ok = await send({ ...logs, service: 'logs' });
    assert.equal(ok.status, 200, ok.text);
  });

  test('a malformed Authorization header: 400 IncompleteSignatureException', async () => {
    refused(
      await send({ sign: false, headers: { authorization: 'Bearer abc.def' } }),
      400,
      'IncompleteSignatureException',
      /^Authorization header requires 'Credential' parameter\. Authorization header requires 'Signature' parameter\./,
    );
  });

  test('a presigned GET works, and stops working when it expires', async () => {
    const u = new URL(server.url);
    const presign = async (signingDate: Date, expiresIn: number) => {
      const p = await signer({}).presign(
        { method: 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/2015-03-31/functions/auth-fn', query: {}, headers: { host: u.host } },
        { signingDate, expiresIn },
      );
      const url = new URL(p.path, server.url);
      for (const [k, v] of Object.entries(p.query ?? {})) url.searchParams.set(k, v as string);
      return url;
    };
    const fresh = await fetch(await presign(new Date(), 60));
    const body = (await fresh.json()) as { Configuration?: { FunctionName?: string } };
    assert.equal(fresh.status, 200);
    assert.equal(body.Configuration?.FunctionName, 'auth-fn');
    const old = await fetch(await presign(new Date(Date.now() - 120_000), 60));
    assert.equal(old.status, 403);
    assert.equal(old.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
    assert.match(((await old.json()) as { message: string }).message, /^Signature expired: /);
    const tampered = await presign(new Date(), 60);
    tampered.pathname = '/2015-03-31/functions/other-fn';
    const t = await fetch(tampered);
    assert.equal(t.status, 403);
    assert.equal(t.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
    await t.arrayBuffer();
  });

  test('the SDK works with the right key and gets the AWS error types with wrong ones', async () => {
    const ok = await lambdaClient(server.url).send(new ListFunctionsCommand({}));
    assert.ok(ok.Functions?.some((f) => f.FunctionName === 'auth-fn'));
    const wrong = new LambdaClient({ endpoint: server.url, region: REGION, credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'wrong' }, maxAttempts: 1 });
    const e1 = await rejection(wrong.send(new ListFunctionsCommand({})));
    assert.equal(e1.name, 'InvalidSignatureException');
    assert.equal(e1.$metadata.httpStatusCode, 403);
    assert.equal(e1.message, MISMATCH);
    const unknown = new LambdaClient({ endpoint: server.url, region: REGION, credentials: { accessKeyId: 'AKKLUNKNOWN00000', secretAccessKey: 'x' }, maxAttempts: 1 });
    const e2 = await rejection(unknown.send(new GetFunctionCommand({ FunctionName: 'auth-fn' })));
    assert.equal(e2.name, 'UnrecognizedClientException');
    const region = new LambdaClient({ endpoint: server.url, region: 'ap-south-1', credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY }, maxAttempts: 1 });
    const e3 = await rejection(region.send(new ListFunctionsCommand({})));
    assert.equal(e3.name, 'InvalidSignatureException');
    assert.equal(e3.message, "Credential should be scoped to a valid region, not 'ap-south-1'. ");
  });

  test('the code download link works unsigned (it carries its own signature)', async () => {
    const got = await lambdaClient(server.url).send(new GetFunctionCommand({ FunctionName: 'auth-fn' }));
    const res = await fetch(got.Code!.Location!);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/zip');
    await res.arrayBuffer();
  });
});

describe('the AWS CLI', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kindling-auth-awscli-'));
    await writeFile(join(work, 'config'), '');
    await writeFile(join(work, 'credentials'), '');
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });
  const aws = (accessKeyId: string, secretAccessKey: string) =>
    run(AWS, ['lambda', 'list-functions', '--endpoint-url', server.url, '--output', 'json'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: work,
        LANG: 'C.UTF-8',
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretAccessKey,
        AWS_DEFAULT_REGION: REGION,
        AWS_CONFIG_FILE: join(work, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: join(work, 'credentials'),
        AWS_PAGER: '',
        AWS_MAX_ATTEMPTS: '1',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      cwd: work,
      timeoutMs: 60_000,
    });

  test('aws lambda list-functions works with the right key and is refused with wrong ones', async (t) => {
    if (!existsSync(AWS)) return t.skip(`${AWS} is not installed (apt-get install awscli)`);
    const ok = await aws(ACCESS_KEY_ID, SECRET_ACCESS_KEY);
    assert.equal(ok.code, 0, describeRun(ok));
    assert.ok((JSON.parse(ok.stdout) as { Functions: { FunctionName: string }[] }).Functions.some((f) => f.FunctionName === 'auth-fn'));
    const wrong = await aws(ACCESS_KEY_ID, 'wrong-secret');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /InvalidSignatureException/, describeRun(wrong));
    const unknown = await aws('AKKLUNKNOWN00000', 'wrong-secret');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /UnrecognizedClientException/, describeRun(unknown));
  });
});

describe('access keys: kindling keys create, list, delete', () => {
  const cli = (args: string[], env: Record<string, string> = {}) => runKindling(['keys', ...args, '--endpoint', server.url], { env });
  let made: { id: string; secret: string };

  test('keys create prints a new key once; it signs requests', async () => {
    const r = await cli(['create', '--name', 'ci-deployer']);
    assert.equal(r.code, 0, describeRun(r));
    const id = /AccessKeyId\s+(\S+)/.exec(r.stdout)?.[1];
    const secret = /SecretAccessKey\s+(\S+)/.exec(r.stdout)?.[1];
    assert.ok(id && secret, r.stdout);
    assert.match(id, /^AKKL[0-9A-F]{16}$/);
    made = { id, secret };
    secrets.push(secret);
    const client = new LambdaClient({ endpoint: server.url, region: REGION, credentials: { accessKeyId: id, secretAccessKey: secret }, maxAttempts: 1 });
    const out = await client.send(new ListFunctionsCommand({}));
    assert.equal(out.$metadata.httpStatusCode, 200);
    // The CLI signs with it too.
    const fns = await runKindling(['functions', '--endpoint', server.url], { env: { KINDLING_ACCESS_KEY_ID: id, KINDLING_SECRET_ACCESS_KEY: secret } });
    assert.equal(fns.code, 0, describeRun(fns));
    assert.match(fns.stdout, /auth-fn/);
  });

  test('keys list shows ids, names and dates, never secrets', async () => {
    const r = await cli(['list']);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, new RegExp(`${ACCESS_KEY_ID}\\s+root`));
    assert.match(r.stdout, new RegExp(`${made.id}\\s+ci-deployer\\s+\\d{4}-`));
    const json = await cli(['list', '--json']);
    for (const s of secrets) {
      assert.ok(!r.stdout.includes(s) && !json.stdout.includes(s), 'no secret in the listing');
    }
    const keys = JSON.parse(json.stdout) as { AccessKeyId: string; Root: boolean }[];
    assert.deepEqual(keys.map((k) => k.AccessKeyId).sort(), [ACCESS_KEY_ID, made.id].sort());
    for (const k of keys) assert.deepEqual(Object.keys(k).sort(), ['AccessKeyId', 'CreatedAt', 'Name', 'Root']);
  });

  test('kindling keys with a key other than the root is refused', async () => {
    const env = { KINDLING_ACCESS_KEY_ID: made.id, KINDLING_SECRET_ACCESS_KEY: made.secret };
    for (const args of [['list'], ['create'], ['delete', ACCESS_KEY_ID]]) {
      const r = await cli(args, env);
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, /AccessDeniedException: Only the root access key can manage access keys\./);
    }
  });

  test('the root key cannot be deleted', async () => {
    const r = await cli(['delete', ACCESS_KEY_ID]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /InvalidParameterValueException: The root access key cannot be deleted\./);
  });

  test('keys delete: the key stops working at once', async () => {
    const r = await cli(['delete', made.id]);
    assert.equal(r.code, 0, describeRun(r));
    const client = new LambdaClient({ endpoint: server.url, region: REGION, credentials: { accessKeyId: made.id, secretAccessKey: made.secret }, maxAttempts: 1 });
    const e = await rejection(client.send(new ListFunctionsCommand({})));
    assert.equal(e.name, 'UnrecognizedClientException');
    const again = await cli(['delete', made.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ResourceNotFoundException/);
  });

  test('keys survive a restart, deleted ones stay deleted', async () => {
    const r = await cli(['create', '--name', 'survivor']);
    const id = /AccessKeyId\s+(\S+)/.exec(r.stdout)![1]!;
    const secret = /SecretAccessKey\s+(\S+)/.exec(r.stdout)![1]!;
    secrets.push(secret);
    const stderrBefore = server.stderr;
    await server.restart();
    const client = new LambdaClient({ endpoint: server.url, region: REGION, credentials: { accessKeyId: id, secretAccessKey: secret }, maxAttempts: 1 });
    assert.equal((await client.send(new ListFunctionsCommand({}))).$metadata.httpStatusCode, 200);
    const gone = new LambdaClient({ endpoint: server.url, region: REGION, credentials: { accessKeyId: made.id, secretAccessKey: made.secret }, maxAttempts: 1 });
    assert.equal((await rejection(gone.send(new ListFunctionsCommand({})))).name, 'UnrecognizedClientException');
    for (const s of secrets) assert.ok(!stderrBefore.includes(s), 'no secret in the log before the restart');
  });
});

describe("the server's own log", () => {
  test('contains no secret and no signature', async () => {
    // One failing request of every kind more, at log level trace.
    await send({ secretAccessKey: 'wrong' });
    await send({ sign: false });
    const log = server.stderr;
    for (const s of [...secrets, 'not-the-secret']) assert.ok(!log.includes(s), `the log contains a secret:\n${log.slice(0, 2000)}`);
    assert.ok(!/AWS4-HMAC-SHA256 Credential=/.test(log), 'the log contains an Authorization header');
    assert.ok(!log.includes(server.dataDir) || !/secretAccessKey/i.test(log), 'no secretAccessKey field');
  });
});
