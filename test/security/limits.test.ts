// Limits on everyone, end to end against `kindling up`:
// - a 70 MB body to CreateFunction is refused (413) without the server's RSS
//   growing by anything near 70 MB; a request that cannot verify is refused
//   before its body is read; headers over 16 KB get 431;
// - slowloris: headers one byte a second are cut off by the headers timeout,
//   a trickled body by the request timeout (both lowered by flags here);
// - payloads that are not UTF-8: InvalidRequestContentException on Invoke,
//   SerializationException (400) on control routes;
// - per-access-key rate limits (--rate-limit): 429 TooManyRequestsException,
//   Reason CallerRateLimitExceeded, Retry-After, per key, recovering;
// - a function's sandboxes are capped by its reserved concurrency (429 past it);
// - a function flooding its log keeps at most 256 KB per invoke, then a
//   `[kindling] log truncated` line.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { CreateFunctionCommand, InvokeCommand, PutFunctionConcurrencyCommand } from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, rawRequest, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';
import { rssKb, signedHeaders } from './signing.js';

const CREATE = '/2015-03-31/functions';

/** A raw HTTP/1.1 connection to the server: what the server sent, and when it closed. */
function rawConnection(url: string): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname, () => {
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (s: string) => (text += s));
      const t0 = performance.now();
      const closed = new Promise<number>((done) => socket.once('close', () => done(performance.now() - t0)));
      socket.on('error', () => undefined);
      resolve({ socket, received: () => text, closed });
    });
    socket.once('error', reject);
  });
}

const headerBlock = (method: string, path: string, headers: Record<string, string>): string =>
  `${method} ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HTTP limits: sizes, slow clients, bytes that are not UTF-8', () => {
  let server: KindlingServer;
  before(async () => {
    server = await startKindling({ args: ['--headers-timeout', '2', '--request-timeout', '4'] });
  });
  after(() => server.dispose());

  test('a 70 MB body to CreateFunction: 413 without the server buffering it', async (t) => {
    const size = 70 * 1024 * 1024;
    const pid = server.child.pid!;
    const headers = signedHeaders(server.url, 'POST', CREATE, Buffer.alloc(0), { headers: { 'content-type': 'application/json' } });
    const conn = await rawConnection(server.url);
    const rss0 = rssKb(pid);
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 20);
    try {
      conn.socket.write(headerBlock('POST', CREATE, { ...headers, 'content-length': String(size) }));
      const chunk = Buffer.alloc(1024 * 1024, 0x41);
      for (let sent = 0; sent < size && !conn.socket.destroyed; sent += chunk.length) {
        if (!conn.socket.write(chunk)) await new Promise((r) => conn.socket.once('drain', r));
      }
      await Promise.race([conn.closed, (async () => { while (!/\r\n\r\n/.test(conn.received())) await sleep(20); })()]);
    } finally {
      clearInterval(sampler);
      conn.socket.destroy();
    }
    assert.match(conn.received(), /^HTTP\/1\.1 413 /, conn.received().slice(0, 300));
    assert.match(conn.received(), /x-amzn-ErrorType: RequestEntityTooLargeException/i);
    t.diagnostic(`server RSS ${Math.round(rss0 / 1024)} MB before, peak ${Math.round(peak / 1024)} MB while the body arrived`);
    // Drained chunks are garbage until the next GC; buffering the body would add all 70 MB on top.
    assert.ok(peak - rss0 < 50 * 1024, `server RSS grew by ${Math.round((peak - rss0) / 1024)} MB while a 70 MB body arrived`);
  });

  test('a request that cannot verify is refused before its body is read', async () => {
    const headers = signedHeaders(server.url, 'POST', CREATE, Buffer.alloc(0), { key: { accessKeyId: 'AKKLNOSUCHKEY0000000', secretAccessKey: 'x' } });
    const conn = await rawConnection(server.url);
    // Only the headers of a 60 MB body: the answer comes without waiting for it.
    conn.socket.write(headerBlock('POST', CREATE, { ...headers, 'content-length': String(60 * 1024 * 1024) }));
    while (!/\r\n\r\n/.test(conn.received())) {
      await Promise.race([sleep(20), conn.closed]);
      if (conn.socket.destroyed && !/\r\n\r\n/.test(conn.received())) break;
    }
    conn.socket.destroy();
    assert.match(conn.received(), /^HTTP\/1\.1 403 /);
    assert.match(conn.received(), /x-amzn-ErrorType: UnrecognizedClientException/i);
  });

  test('headers over 16 KB: 431', async () => {
    const conn = await rawConnection(server.url);
    conn.socket.write(headerBlock('GET', '/2016-08-19/account-settings', { host: 'x', 'x-padding': 'p'.repeat(20 * 1024) }));
    await conn.closed;
    assert.match(conn.received(), /^HTTP\/1\.1 431 /);
  });

  test('slowloris: headers at one byte a second are cut off by the headers timeout', { timeout: 60_000 }, async () => {
    const conn = await rawConnection(server.url);
    const text = headerBlock('GET', '/2016-08-19/account-settings', { host: 'x', 'x-slow': 'a'.repeat(200) });
    let sent = 0;
    while (!conn.socket.destroyed && sent < text.length - 2) {
      conn.socket.write(text[sent++]!);
      await Promise.race([sleep(1000), conn.closed]);
    }
    const ms = await conn.closed;
    assert.ok(sent < 40, `still connected after ${sent} bytes (${Math.round(ms)} ms)`);
    assert.ok(ms >= 1500, `closed after ${Math.round(ms)} ms, before the 2 s headers timeout`);
    assert.match(conn.received(), /^(HTTP\/1\.1 408 |$)/);
  });

  test('slowloris: a body trickled a byte a second is cut off by the request timeout', { timeout: 60_000 }, async () => {
    const headers = signedHeaders(server.url, 'POST', CREATE, Buffer.alloc(0));
    const conn = await rawConnection(server.url);
    conn.socket.write(headerBlock('POST', CREATE, { ...headers, 'content-length': '1000' }));
    let sent = 0;
    while (!conn.socket.destroyed && sent < 1000) {
      conn.socket.write('{');
      sent++;
      await Promise.race([sleep(1000), conn.closed]);
    }
    const ms = await conn.closed;
    assert.ok(sent < 40, `still connected after ${sent} body bytes (${Math.round(ms)} ms)`);
    assert.ok(ms >= 3000, `closed after ${Math.round(ms)} ms, before the 4 s request timeout`);
    // And the server serves the next client as before.
    assert.equal((await rawRequest(server.url, 'GET', '/2016-08-19/account-settings')).status, 200);
  });

  test('payloads that are not UTF-8: InvalidRequestContentException on Invoke, SerializationException on control routes', async () => {
    await lambdaClient(server.url).send(
      new CreateFunctionCommand({ FunctionName: 'utf', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await makeZip({ 'index.mjs': 'export const handler = async (e) => e;\n' }) } }),
    );
    const bad = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]); // {"a":"\xff\xfe\xc3("}
    const inv = await rawRequest(server.url, 'POST', `${CREATE}/utf/invocations`, { body: bad });
    assert.equal(inv.status, 400, inv.text);
    assert.equal(inv.headers.get('x-amzn-errortype'), 'InvalidRequestContentException');
    for (const [method, path] of [
      ['POST', CREATE],
      ['PUT', `${CREATE}/utf/configuration`],
      ['POST', `/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:utf`],
      ['POST', `${CREATE}/utf/aliases`],
      ['POST', '/kindling/2024-01-01/keys'],
    ] as const) {
      const res = await rawRequest(server.url, method, path, { body: bad });
      assert.equal(res.status, 400, `${method} ${path}: ${res.status} ${res.text}`);
      assert.equal(res.headers.get('x-amzn-errortype'), 'SerializationException', `${method} ${path}`);
      assert.match(res.text, /not UTF-8/);
    }
  });
});

describe('per-access-key rate limits', () => {
  let server: KindlingServer;
  before(async () => {
    server = await startKindling({ args: ['--rate-limit', '5'] });
  });
  after(() => server.dispose());

  test('past the rate: 429 CallerRateLimitExceeded with Retry-After, for that key only, and it recovers', { timeout: 60_000 }, async () => {
    const made = await rawRequest(server.url, 'POST', '/kindling/2024-01-01/keys', { body: '{"Name":"other"}' });
    assert.equal(made.status, 201, made.text);
    const other = made.json as { AccessKeyId: string; SecretAccessKey: string };
    await sleep(1500); // the root key's bucket refills
    const path = '/2016-08-19/account-settings';
    const results = await Promise.all(Array.from({ length: 40 }, () => rawRequest(server.url, 'GET', path)));
    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length > 0, `no 429 in ${results.map((r) => r.status).join(',')}`);
    assert.ok(results.some((r) => r.status === 200));
    for (const r of limited) {
      assert.equal(r.headers.get('x-amzn-errortype'), 'TooManyRequestsException');
      assert.equal((r.json as { Reason?: string }).Reason, 'CallerRateLimitExceeded');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.ok(r.headers.get('x-amzn-requestid'));
    }
    // Another key has its own bucket.
    const res = await fetch(new URL(path, server.url), { headers: strip(signedHeaders(server.url, 'GET', path, undefined, { key: { accessKeyId: other.AccessKeyId, secretAccessKey: other.SecretAccessKey } })) });
    assert.equal(res.status, 200, await res.text());
    await sleep(1500);
    assert.equal((await rawRequest(server.url, 'GET', path)).status, 200, 'the key works again once its bucket refills');
  });
});

const strip = (h: Record<string, string>): Record<string, string> => {
  const { host: _host, ...rest } = h;
  return rest;
};

describe('sandboxes per function and logs per invoke', () => {
  let server: KindlingServer;
  before(async () => {
    server = await startKindling();
  });
  after(() => server.dispose());

  test('a function never has more sandboxes than its reserved concurrency: past it, 429', { timeout: 120_000 }, async () => {
    const lambda = lambdaClient(server.url);
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'capped',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: ROLE,
        Timeout: 30,
        Code: { ZipFile: await makeZip({ 'index.mjs': 'export const handler = async () => { await new Promise((r) => setTimeout(r, 3000)); return "done"; };\n' }) },
      }),
    );
    await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'capped', ReservedConcurrentExecutions: 2 }));
    const sandboxesSeen: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const hosts = (await rawRequest(server.url, 'GET', '/kindling/2024-01-01/hosts')).json as { Hosts: { Sandboxes: { FunctionName: string }[] }[] };
        sandboxesSeen.push(hosts.Hosts.flatMap((h) => h.Sandboxes).filter((s) => s.FunctionName === 'capped').length);
        await sleep(100);
      }
    })();
    const results = await Promise.all(Array.from({ length: 8 }, () => rawRequest(server.url, 'POST', `${CREATE}/capped/invocations`, { body: '{}' })));
    sampling = false;
    await sampler;
    const ok = results.filter((r) => r.status === 200).length;
    const throttled = results.filter((r) => r.status === 429);
    assert.ok(ok >= 1 && ok <= 2, `${ok} ran: ${results.map((r) => r.status).join(',')}`);
    assert.equal(ok + throttled.length, 8, results.map((r) => `${r.status} ${r.text}`).join('\n'));
    for (const r of throttled) {
      assert.equal(r.headers.get('x-amzn-errortype'), 'TooManyRequestsException');
      assert.equal((r.json as { Reason?: string }).Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    }
    assert.ok(Math.max(...sandboxesSeen) <= 2, `sandboxes of the function seen: ${Math.max(...sandboxesSeen)}`);
  });

  test('a function flooding its log: at most 256 KB kept per invoke, then a truncation marker', { timeout: 120_000 }, async () => {
    const lambda = lambdaClient(server.url);
    const flood = `const line = 'x'.repeat(1023);
export const handler = async (event) => {
  for (let i = 0; i < event.kb; i++) console.log(line);
  return 'flooded';
};
`;
    await lambda.send(new CreateFunctionCommand({ FunctionName: 'flood', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Timeout: 60, Code: { ZipFile: await makeZip({ 'index.mjs': flood }) } }));
    const kb = 8 * 1024; // 8 MB of log in one invoke
    for (let i = 0; i < 2; i++) {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'flood', Payload: Buffer.from(JSON.stringify({ kb })) }));
      assert.equal(out.FunctionError, undefined);
      assert.equal(Buffer.from(out.Payload!).toString(), '"flooded"');
    }
    const db = new Database(join(server.dataDir, 'logs.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const count = () =>
        db.prepare<[], { bytes: number; markers: number; ends: number }>(
          `SELECT coalesce(sum(length(CAST(message AS BLOB))), 0) AS bytes,
                  sum(instr(message, '[kindling] log truncated') > 0) AS markers,
                  sum(message LIKE 'END RequestId:%') AS ends
             FROM log_events WHERE function_name = 'flood'`,
        ).get()!;
      let c = count();
      const deadline = Date.now() + 30_000;
      while ((c.markers < 2 || c.ends < 2) && Date.now() < deadline) {
        await sleep(200);
        c = count();
      }
      assert.equal(c.markers, 2, `truncation markers: ${c.markers}`);
      assert.equal(c.ends, 2, 'the platform lines (END, REPORT) are kept past the cap');
      assert.ok(c.bytes <= 2 * (256 * 1024 + 4096), `${c.bytes} bytes of log kept for 2 invokes of 8 MB each`);
      assert.ok(c.bytes >= 2 * 200 * 1024, `only ${c.bytes} bytes kept`);
    } finally {
      db.close();
    }
  });
});
