// Function URLs: the config API (Create/Get/Update/Delete/ListFunctionUrlConfigs)
// with Lambda's recorded errors, and the URLs themselves: payload format 2.0
// events, result mapping, CORS, AuthType NONE and AWS_IAM.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  DeleteAliasCommand,
  CreateAliasCommand,
  CreateFunctionCommand,
  CreateFunctionUrlConfigCommand,
  DeleteFunctionCommand,
  DeleteFunctionUrlConfigCommand,
  GetFunctionUrlConfigCommand,
  ListFunctionUrlConfigsCommand,
  PublishVersionCommand,
  UpdateFunctionUrlConfigCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { functionArn, lambdaClient, makeZip, rawRequest, rejection, REGION, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;
let port: number;

const HANDLER = `
export const handler = async (event) => {
  switch (event.rawPath) {
    case '/bare-string': return 'Hello, world!';
    case '/bare-object': return { message: 'Hello, world!' };
    case '/bare-number': return 42;
    case '/fail': throw new Error('boom');
    case '/binary':
      return { statusCode: 200, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 1, 2, 255]).toString('base64'), isBase64Encoded: true };
    case '/structured':
      return {
        statusCode: 201,
        headers: { 'Content-Type': 'text/plain', 'X-Custom': 'custom value', 'Access-Control-Allow-Origin': 'https://evil.example' },
        multiValueHeaders: { 'X-Multi': ['a', 'b'] },
        cookies: ['first=1; Path=/', 'second=2; Max-Age=60'],
        body: 'created',
      };
    default:
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event, version: process.env.AWS_LAMBDA_FUNCTION_VERSION }) };
  }
};
`;

const URL_QUALIFIER_ERROR = (q: string) =>
  `1 validation error detected: Value '${q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)`;
const DOES_NOT_EXIST = 'The resource you requested does not exist.';
const FN_DOES_NOT_EXIST = 'Function does not exist';

const urlId = (functionUrl: string): string => /^http:\/\/([a-z0-9]+)\.lambda-url\./.exec(functionUrl)![1]!;

/** A request to a function URL, by its path form (/kindling/urls/<id>/...). */
async function viaPath(id: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}/kindling/urls/${id}${path}`, init);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: body.toString('utf8') };
}

/** A request to a function URL by its Host form (<id>.lambda-url.<region>.localhost:PORT), sent to 127.0.0.1. */
function viaHost(id: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host: `${id}.lambda-url.${REGION}.localhost:${port}`, ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

let echoUrl: string;
let echoId: string;

before(async () => {
  server = await startKindling();
  client = lambdaClient(server.url);
  port = Number(new URL(server.url).port);
  const zip = await makeZip({ 'index.mjs': HANDLER });
  for (const name of ['web', 'cfg', 'paging', 'iam']) {
    await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip } }));
  }
  for (const name of ['cfg', 'paging', 'web']) {
    await client.send(new PublishVersionCommand({ FunctionName: name }));
    await client.send(new CreateAliasCommand({ FunctionName: name, Name: 'urlalias', FunctionVersion: '1' }));
  }
  const created = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'web', AuthType: 'NONE' }));
  echoUrl = created.FunctionUrl!;
  echoId = urlId(echoUrl);
});
after(async () => {
  await server?.dispose();
});

describe('function URL configs', () => {
  test('lifecycle: create, duplicate, get, update, list, delete', async () => {
    const created = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'NONE' }));
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.FunctionArn, functionArn('cfg'));
    assert.equal(created.AuthType, 'NONE');
    assert.match(created.FunctionUrl!, new RegExp(`^http://[a-z0-9]{32}\\.lambda-url\\.${REGION}\\.localhost:${port}/$`));
    assert.match(created.CreationTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(created.InvokeMode, undefined);
    assert.equal(created.Cors, undefined);

    const dup = await rejection(client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'NONE' })));
    assert.equal(dup.name, 'ResourceConflictException');
    assert.equal(dup.$metadata.httpStatusCode, 409);
    assert.equal(
      dup.message,
      `Failed to create function url config for [functionArn = ${functionArn('cfg')}]. Error message:  FunctionUrlConfig exists for this Lambda function`,
    );

    const got = await client.send(new GetFunctionUrlConfigCommand({ FunctionName: 'cfg' }));
    assert.equal(got.FunctionUrl, created.FunctionUrl);
    assert.equal(got.InvokeMode, 'BUFFERED');
    assert.equal(got.CreationTime, created.CreationTime);
    assert.ok(got.LastModifiedTime);

    const cors = { AllowOrigins: ['https://app.example'], AllowMethods: ['GET', 'POST'], AllowHeaders: ['x-one'], ExposeHeaders: ['x-two'], MaxAge: 300, AllowCredentials: true };
    const updated = await client.send(new UpdateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'AWS_IAM', Cors: cors }));
    assert.equal(updated.$metadata.httpStatusCode, 200);
    assert.equal(updated.AuthType, 'AWS_IAM');
    assert.deepEqual(updated.Cors, cors);
    assert.equal(updated.FunctionUrl, created.FunctionUrl);
    assert.ok(updated.LastModifiedTime! >= got.LastModifiedTime!);
    const streaming = await client.send(new UpdateFunctionUrlConfigCommand({ FunctionName: 'cfg', InvokeMode: 'RESPONSE_STREAM' }));
    assert.equal(streaming.InvokeMode, 'RESPONSE_STREAM');
    assert.equal(streaming.AuthType, 'AWS_IAM');

    const alias = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'cfg', Qualifier: 'urlalias', AuthType: 'NONE' }));
    assert.equal(alias.FunctionArn, functionArn('cfg', 'urlalias'));
    assert.notEqual(alias.FunctionUrl, created.FunctionUrl);
    const list = await client.send(new ListFunctionUrlConfigsCommand({ FunctionName: 'cfg' }));
    assert.deepEqual(list.FunctionUrlConfigs!.map((c) => c.FunctionArn).sort(), [functionArn('cfg'), functionArn('cfg', 'urlalias')]);

    // Deleting the unqualified config leaves the alias's.
    const del = await client.send(new DeleteFunctionUrlConfigCommand({ FunctionName: 'cfg' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    const gone = await rejection(client.send(new GetFunctionUrlConfigCommand({ FunctionName: 'cfg' })));
    assert.equal(gone.name, 'ResourceNotFoundException');
    assert.equal(gone.message, DOES_NOT_EXIST);
    assert.equal((await client.send(new GetFunctionUrlConfigCommand({ FunctionName: 'cfg', Qualifier: 'urlalias' }))).AuthType, 'NONE');
    await client.send(new DeleteFunctionUrlConfigCommand({ FunctionName: 'cfg', Qualifier: 'urlalias' }));
  });

  test('name and qualifier errors, per operation, as Lambda words them', async () => {
    const otherAccount = functionArn('doesnotexist');
    const cases: { args: { FunctionName: string; Qualifier?: string }; create: [string, string]; get: [string, string] }[] = [
      { args: { FunctionName: 'doesnotexist' }, create: ['ResourceNotFoundException', FN_DOES_NOT_EXIST], get: ['ResourceNotFoundException', DOES_NOT_EXIST] },
      { args: { FunctionName: otherAccount }, create: ['ResourceNotFoundException', FN_DOES_NOT_EXIST], get: ['ResourceNotFoundException', DOES_NOT_EXIST] },
      { args: { FunctionName: 'doesnotexist', Qualifier: '1' }, create: ['ValidationException', URL_QUALIFIER_ERROR('1')], get: ['ValidationException', URL_QUALIFIER_ERROR('1')] },
      { args: { FunctionName: 'cfg', Qualifier: '1' }, create: ['ValidationException', URL_QUALIFIER_ERROR('1')], get: ['ValidationException', URL_QUALIFIER_ERROR('1')] },
      { args: { FunctionName: 'cfg', Qualifier: '2' }, create: ['ValidationException', URL_QUALIFIER_ERROR('2')], get: ['ValidationException', URL_QUALIFIER_ERROR('2')] },
      { args: { FunctionName: 'cfg', Qualifier: 'v1' }, create: ['ResourceNotFoundException', FN_DOES_NOT_EXIST], get: ['ResourceNotFoundException', DOES_NOT_EXIST] },
      {
        args: { FunctionName: 'cfg:urlalias-doesnotmatch', Qualifier: 'urlalias' },
        create: ['InvalidParameterValueException', 'The derived qualifier from the function name does not match the specified qualifier.'],
        get: ['InvalidParameterValueException', 'The derived qualifier from the function name does not match the specified qualifier.'],
      },
      { args: { FunctionName: 'cfg', Qualifier: '$LATEST' }, create: ['ValidationException', URL_QUALIFIER_ERROR('$LATEST')], get: ['ValidationException', URL_QUALIFIER_ERROR('$LATEST')] },
    ];
    for (const c of cases) {
      const ops: [string, () => Promise<unknown>, [string, string]][] = [
        ['create', () => client.send(new CreateFunctionUrlConfigCommand({ ...c.args, AuthType: 'NONE' })), c.create],
        ['update', () => client.send(new UpdateFunctionUrlConfigCommand({ ...c.args, AuthType: 'AWS_IAM' })), c.create],
        ['get', () => client.send(new GetFunctionUrlConfigCommand(c.args)), c.get],
        ['delete', () => client.send(new DeleteFunctionUrlConfigCommand(c.args)), c.get],
      ];
      for (const [op, call, [name, message]] of ops) {
        const err = await rejection(call());
        assert.equal(err.name, name, `${op} ${JSON.stringify(c.args)}`);
        assert.equal(err.message, message, `${op} ${JSON.stringify(c.args)}`);
      }
    }
    // No config on an existing function.
    for (const call of [
      () => client.send(new GetFunctionUrlConfigCommand({ FunctionName: 'cfg' })),
      () => client.send(new DeleteFunctionUrlConfigCommand({ FunctionName: 'cfg' })),
      () => client.send(new UpdateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'AWS_IAM' })),
    ]) {
      const err = await rejection(call());
      assert.equal(err.name, 'ResourceNotFoundException');
      assert.equal(err.message, DOES_NOT_EXIST);
      assert.equal(err.$metadata.httpStatusCode, 404);
    }
    const wrongRegion = await rejection(client.send(new GetFunctionUrlConfigCommand({ FunctionName: 'arn:aws:lambda:eu-west-1:000000000000:function:cfg' })));
    assert.equal(wrongRegion.message, `Functions from 'eu-west-1' are not reachable in this region ('${REGION}')`);
  });

  test('body validation: AuthType, InvokeMode, Cors', async () => {
    const bad = await rawRequest(server.url, 'POST', '/2021-10-31/functions/cfg/url', { body: JSON.stringify({ AuthType: 'SOMETIMES' }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('x-amzn-errortype'), 'ValidationException');
    assert.deepEqual(bad.json, {
      message: "1 validation error detected: Value 'SOMETIMES' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]",
    });
    const missing = await rawRequest(server.url, 'POST', '/2021-10-31/functions/cfg/url', { body: '{}' });
    assert.deepEqual(missing.json, { message: "1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null" });
    const mode = await rejection(client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'NONE', InvokeMode: 'LATER' as never })));
    assert.equal(mode.name, 'ValidationException');
    assert.match(mode.message, /at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: \[BUFFERED, RESPONSE_STREAM\]/);
    const maxAge = await rejection(client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'cfg', AuthType: 'NONE', Cors: { MaxAge: 86401 } })));
    assert.equal(maxAge.message, "1 validation error detected: Value '86401' at 'cors.maxAge' failed to satisfy constraint: Member must have value less than or equal to 86400");
  });

  test('ListFunctionUrlConfigs: empty, paged, unknown function', async () => {
    const empty = await client.send(new ListFunctionUrlConfigsCommand({ FunctionName: 'paging' }));
    assert.deepEqual(empty.FunctionUrlConfigs, []);
    await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'paging', AuthType: 'NONE' }));
    await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'paging:urlalias', Qualifier: 'urlalias', AuthType: 'NONE' }));
    const one = await client.send(new ListFunctionUrlConfigsCommand({ FunctionName: 'paging', MaxItems: 1 }));
    assert.equal(one.FunctionUrlConfigs!.length, 1);
    assert.ok(one.NextMarker);
    const two = await client.send(new ListFunctionUrlConfigsCommand({ FunctionName: 'paging', MaxItems: 1, Marker: one.NextMarker }));
    assert.equal(two.FunctionUrlConfigs!.length, 1);
    assert.notEqual(two.FunctionUrlConfigs![0]!.FunctionUrl, one.FunctionUrlConfigs![0]!.FunctionUrl);
    assert.equal(two.NextMarker, undefined);
    const all = await client.send(new ListFunctionUrlConfigsCommand({ FunctionName: 'paging' }));
    for (const c of all.FunctionUrlConfigs!) {
      assert.deepEqual(Object.keys(c).sort(), ['AuthType', 'CreationTime', 'FunctionArn', 'FunctionUrl', 'InvokeMode', 'LastModifiedTime']);
    }
    const nf = await rejection(client.send(new ListFunctionUrlConfigsCommand({ FunctionName: 'doesnotexist' })));
    assert.equal(nf.name, 'ResourceNotFoundException');
    assert.equal(nf.message, FN_DOES_NOT_EXIST);
  });
});

interface UrlEvent {
  version: string;
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: string;
    stage: string;
    time: string;
    timeEpoch: number;
    authorizer?: { iam: { accessKey: string } };
  };
  body?: string;
  isBase64Encoded: boolean;
}

describe('function URL requests (AuthType NONE: no signature)', () => {
  test('GET with a query, headers and cookies becomes a payload format 2.0 event', async () => {
    const before = Date.now();
    const res = await viaPath(echoId, '/some/path?a=1&b=two%20words&a=3', {
      headers: { 'X-Custom': 'one', Cookie: 'c1=v1; c2=v2', 'User-Agent': 'kindling-test/1.0' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.ok(res.headers.get('x-amzn-requestid'));
    const { event } = JSON.parse(res.text) as { event: UrlEvent };
    assert.deepEqual(Object.keys(event), ['version', 'routeKey', 'rawPath', 'rawQueryString', 'cookies', 'headers', 'queryStringParameters', 'requestContext', 'isBase64Encoded']);
    assert.equal(event.version, '2.0');
    assert.equal(event.routeKey, '$default');
    assert.equal(event.rawPath, '/some/path');
    assert.equal(event.rawQueryString, 'a=1&b=two%20words&a=3');
    assert.deepEqual(event.cookies, ['c1=v1', 'c2=v2']);
    assert.deepEqual(event.queryStringParameters, { a: '1,3', b: 'two words' });
    assert.equal(event.headers['x-custom'], 'one');
    assert.equal(event.headers['user-agent'], 'kindling-test/1.0');
    assert.equal(event.headers.cookie, undefined);
    assert.equal(event.headers['x-forwarded-proto'], 'http');
    assert.ok(event.headers['x-forwarded-for']);
    assert.ok(Object.keys(event.headers).every((k) => k === k.toLowerCase()));
    assert.equal(event.isBase64Encoded, false);
    assert.equal(event.body, undefined);
    const rc = event.requestContext;
    assert.deepEqual(Object.keys(rc), ['accountId', 'apiId', 'domainName', 'domainPrefix', 'http', 'requestId', 'routeKey', 'stage', 'time', 'timeEpoch']);
    assert.equal(rc.accountId, 'anonymous');
    assert.equal(rc.apiId, echoId);
    assert.equal(rc.domainName, `${echoId}.lambda-url.${REGION}.localhost`);
    assert.equal(rc.domainPrefix, echoId);
    assert.deepEqual(rc.http, { method: 'GET', path: '/some/path', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'kindling-test/1.0' });
    assert.equal(rc.requestId, res.headers.get('x-amzn-requestid'));
    assert.equal(rc.routeKey, '$default');
    assert.equal(rc.stage, '$default');
    assert.match(rc.time, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
    assert.ok(rc.timeEpoch >= before - 1000 && rc.timeEpoch <= Date.now());
  });

  test('repeated headers are comma-joined; the Host form works as the path form does', async () => {
    const res = await viaHost(echoId, '/by/host?x=1', { headers: { 'X-Multi': 'a' } });
    assert.equal(res.status, 200);
    const { event } = JSON.parse(res.text) as { event: UrlEvent };
    assert.equal(event.rawPath, '/by/host');
    assert.equal(event.headers.host, `${echoId}.lambda-url.${REGION}.localhost:${port}`);
    const multi = await new Promise<UrlEvent>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers: { host: `${echoId}.lambda-url.${REGION}.localhost:${port}` } }, (r) => {
        let text = '';
        r.setEncoding('utf8').on('data', (s: string) => (text += s));
        r.on('end', () => resolve((JSON.parse(text) as { event: UrlEvent }).event));
      });
      req.setHeader('x-dup', ['one', 'two']);
      req.on('error', reject);
      req.end();
    });
    assert.equal(multi.headers['x-dup'], 'one,two');
    assert.equal(multi.rawPath, '/');
  });

  test('POST: text bodies as they are, binary bodies base64-encoded', async () => {
    const json = await viaPath(echoId, '/post', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k":"v"}' });
    const e1 = (JSON.parse(json.text) as { event: UrlEvent }).event;
    assert.equal(e1.requestContext.http.method, 'POST');
    assert.equal(e1.body, '{"k":"v"}');
    assert.equal(e1.isBase64Encoded, false);
    const bytes = Buffer.from([0, 1, 2, 3, 254, 255]);
    const bin = await viaPath(echoId, '/post', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    const e2 = (JSON.parse(bin.text) as { event: UrlEvent }).event;
    assert.equal(e2.isBase64Encoded, true);
    assert.deepEqual(Buffer.from(e2.body!, 'base64'), bytes);
    const form = await viaHost(echoId, '/form', { method: 'PUT', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('a=1&b=2') });
    const e3 = (JSON.parse(form.text) as { event: UrlEvent }).event;
    assert.equal(e3.requestContext.http.method, 'PUT');
    assert.equal(Buffer.from(e3.body!, 'base64').toString(), 'a=1&b=2');
    assert.equal(e3.isBase64Encoded, true);
  });

  test('results: structured, binary, bare string, number and object, function errors', async () => {
    const s = await viaPath(echoId, '/structured');
    assert.equal(s.status, 201);
    assert.equal(s.text, 'created');
    assert.equal(s.headers.get('content-type'), 'text/plain');
    assert.equal(s.headers.get('x-custom'), 'custom value');
    assert.equal(s.headers.get('x-multi'), 'a, b');
    assert.deepEqual(s.headers.getSetCookie(), ['first=1; Path=/', 'second=2; Max-Age=60']);
    const b = await viaPath(echoId, '/binary');
    assert.equal(b.status, 200);
    assert.deepEqual(b.body, Buffer.from([0, 1, 2, 255]));
    for (const [path, text] of [
      ['/bare-string', '"Hello, world!"'],
      ['/bare-number', '42'],
      ['/bare-object', '{"message":"Hello, world!"}'],
    ] as const) {
      const r = await viaPath(echoId, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-type'), 'application/json', path);
      assert.equal(r.text, text, path);
    }
    const f = await viaPath(echoId, '/fail');
    assert.equal(f.status, 502);
    assert.deepEqual(JSON.parse(f.text), { Message: 'Internal Server Error' });
  });

  test('an unknown url-id is refused with 403', async () => {
    const r = await viaPath('doesnotexist0000000000000000000', '/');
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('x-amzn-errortype'), 'AccessDeniedException');
  });

  test('an alias URL runs the alias’s version', async () => {
    const alias = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'web', Qualifier: 'urlalias', AuthType: 'NONE' }));
    const r = await viaPath(urlId(alias.FunctionUrl!), '/');
    assert.equal((JSON.parse(r.text) as { version: string }).version, '1');
    const latest = await viaPath(echoId, '/');
    assert.equal((JSON.parse(latest.text) as { version: string }).version, '$LATEST');
  });

  test('deleting an alias takes its URL with it', async () => {
    await client.send(new CreateAliasCommand({ FunctionName: 'web', Name: 'shortlived', FunctionVersion: '1' }));
    const url = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'web', Qualifier: 'shortlived', AuthType: 'NONE' }));
    assert.equal((await viaPath(urlId(url.FunctionUrl!), '/')).status, 200);
    await client.send(new DeleteAliasCommand({ FunctionName: 'web', Name: 'shortlived' }));
    await client.send(new CreateAliasCommand({ FunctionName: 'web', Name: 'shortlived', FunctionVersion: '1' }));
    const err = await rejection(client.send(new GetFunctionUrlConfigCommand({ FunctionName: 'web', Qualifier: 'shortlived' })));
    assert.equal(err.name, 'ResourceNotFoundException', 'a new alias of the same name has no URL');
    assert.equal((await viaPath(urlId(url.FunctionUrl!), '/')).status, 403);
  });

  test('CORS: preflights answered from the config; Access-Control-* headers on responses', async () => {
    await client.send(
      new UpdateFunctionUrlConfigCommand({
        FunctionName: 'web',
        Cors: { AllowOrigins: ['https://app.example'], AllowMethods: ['GET', 'POST'], AllowHeaders: ['x-one', 'content-type'], ExposeHeaders: ['x-custom'], MaxAge: 600, AllowCredentials: true },
      }),
    );
    const pre = await viaPath(echoId, '/structured', {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-one' },
    });
    assert.equal(pre.status, 200);
    assert.equal(pre.text, '');
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(pre.headers.get('access-control-allow-methods'), 'GET,POST');
    assert.equal(pre.headers.get('access-control-allow-headers'), 'x-one,content-type');
    assert.equal(pre.headers.get('access-control-max-age'), '600');
    assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    const refused = await viaPath(echoId, '/', { method: 'OPTIONS', headers: { Origin: 'https://other.example', 'Access-Control-Request-Method': 'GET' } });
    assert.equal(refused.headers.get('access-control-allow-origin'), null);

    const res = await viaPath(echoId, '/structured', { headers: { Origin: 'https://app.example' } });
    assert.equal(res.status, 201);
    // The config's headers win over the function's own.
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(res.headers.get('access-control-expose-headers'), 'x-custom');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    await client.send(new UpdateFunctionUrlConfigCommand({ FunctionName: 'web', Cors: { AllowOrigins: ['*'] } }));
    const star = await viaPath(echoId, '/bare-number', { headers: { Origin: 'https://anywhere.example' } });
    assert.equal(star.headers.get('access-control-allow-origin'), '*');
  });

  test('a deleted function takes its URLs with it', async () => {
    const zip = await makeZip({ 'index.mjs': HANDLER });
    await client.send(new CreateFunctionCommand({ FunctionName: 'short-lived', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip } }));
    const created = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'short-lived', AuthType: 'NONE' }));
    assert.equal((await viaPath(urlId(created.FunctionUrl!), '/bare-number')).text, '42');
    await client.send(new DeleteFunctionCommand({ FunctionName: 'short-lived' }));
    assert.equal((await viaPath(urlId(created.FunctionUrl!), '/bare-number')).status, 403);
  });
});

describe('function URL requests (AuthType AWS_IAM)', () => {
  test('unsigned requests are refused; SigV4-signed ones (service lambda) are served', async () => {
    const created = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'iam', AuthType: 'AWS_IAM' }));
    const id = urlId(created.FunctionUrl!);
    const unsigned = await viaPath(id, '/bare-number');
    assert.equal(unsigned.status, 403);
    assert.deepEqual(JSON.parse(unsigned.text), { Message: 'Forbidden' });
    const signed = await rawRequest(server.url, 'GET', `/kindling/urls/${id}/echo?q=1`);
    assert.equal(signed.status, 200, signed.text);
    const { event } = signed.json as { event: UrlEvent };
    assert.equal(event.rawPath, '/echo');
    assert.equal(event.requestContext.accountId, '000000000000');
    assert.equal(event.requestContext.authorizer?.iam.accessKey, 'AKKLTESTACCESSKEY01');
    const badSig = await viaPath(id, '/bare-number', {
      headers: { Authorization: 'AWS4-HMAC-SHA256 Credential=AKKLTESTACCESSKEY01/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00', 'X-Amz-Date': '20240101T000000Z' },
    });
    assert.equal(badSig.status, 403);
  });
});
