// A function URL serves a real browser: Chromium loads an HTML page from a
// function, submits a form to it, and gets a cookie back.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, CreateFunctionUrlConfigCommand } from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';
import { noBrowser, openBrowser, type Browser } from './browser.js';

let server: KindlingServer;
let browser: Browser | undefined;

const PAGE = `export const handler = async (event) => {
  if (event.requestContext.http.method === 'POST') {
    const body = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString() : event.body;
    const name = new URLSearchParams(body).get('name');
    return {
      statusCode: 200,
      headers: { 'content-type': 'text/html; charset=utf-8' },
      cookies: ['visitor=' + encodeURIComponent(name) + '; Path=/'],
      body: '<!doctype html><title>hi</title><h1 id="greeting">Hello, ' + name + '!</h1><p id="path">' + event.rawPath + '</p>',
    };
  }
  return {
    statusCode: 200,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: '<!doctype html><title>form</title><p id="cookie">' + (event.cookies ?? []).join(';') + '</p>' +
      '<form method="post" action="greet"><input name="name" id="name"><button id="go">Go</button></form>',
  };
};
`;

before(async () => {
  server = await startKindling();
});
after(async () => {
  await browser?.close();
  await server?.dispose();
});

test('a function URL serves a browser: page, form post, cookie', { skip: noBrowser() }, async () => {
  const client = lambdaClient(server.url);
  await client.send(new CreateFunctionCommand({ FunctionName: 'web', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await makeZip({ 'index.mjs': PAGE }) } }));
  const { FunctionUrl } = await client.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'web', AuthType: 'NONE' }));
  assert.ok(FunctionUrl);
  browser = await openBrowser();
  const { page } = browser;
  // The path form on the server's own address works in any browser without name resolution (relative links stay under it).
  const id = new URL(FunctionUrl).hostname.split('.')[0]!;
  const base = `${server.url}/kindling/urls/${id}`;
  await page.goto(`${base}/`);
  assert.equal(await page.title(), 'form');
  await page.fill('#name', 'Ada');
  await Promise.all([page.waitForURL(/\/greet$/), page.click('#go')]);
  assert.equal(await page.textContent('#greeting'), 'Hello, Ada!');
  assert.equal(await page.textContent('#path'), '/greet');
  await browser.shot('function-url');
  await page.goto(`${base}/`);
  assert.match((await page.textContent('#cookie')) ?? '', /visitor=Ada/);
});
