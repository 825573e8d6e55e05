// The web console end to end in a real (headless) Chromium against a real
// `kindling up`: sign in, create a function from a zip, test-invoke it, read
// its log, see it on the charts and the list, break it and see the error
// counted, look at code, configuration, versions and hosts. Screenshots of
// every page go to test-artifacts/console/.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ACCESS_KEY_ID, SECRET_ACCESS_KEY, makeZip, startKindling, type KindlingServer } from '../helpers/kindling.js';
import { noBrowser, openBrowser, type Browser } from './browser.js';

// Page-side code below runs in the browser; the test project has no DOM types.
declare const document: { querySelector(s: string): { textContent: string | null } | null; querySelectorAll(s: string): { length: number } };
declare const localStorage: { getItem(k: string): string | null };
declare const sessionStorage: { getItem(k: string): string | null };

const HANDLER = `export const handler = async (event) => {
  console.log('saw', event.word);
  console.log('line one\\nline two\\nline three');
  if (event.fail) throw new Error('asked to fail');
  return { got: event.word };
};
`;

describe('the web console', { skip: noBrowser(), timeout: 180_000 }, () => {
  let server: KindlingServer;
  let browser: Browser;
  let dir: string;
  let zipPath: string;

  before(async () => {
    server = await startKindling();
    dir = await mkdtemp(join(tmpdir(), 'kindling-console-'));
    zipPath = join(dir, 'function.zip');
    await writeFile(zipPath, await makeZip({ 'index.mjs': HANDLER, 'lib/util.mjs': 'export const x = 1;\n' }));
    browser = await openBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('serves the app with content types and revalidation headers, without signing', async () => {
    const page = await fetch(`${server.url}/console`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assert.match(await page.text(), /<script type="module" src="\/console\/app.js">/);
    const js = await fetch(`${server.url}/console/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    const etag = js.headers.get('etag')!;
    assert.ok(etag);
    const again = await fetch(`${server.url}/console/app.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.match((await fetch(`${server.url}/console/style.css`)).headers.get('content-type') ?? '', /^text\/css/);
    assert.equal((await fetch(`${server.url}/console/nope.js`)).status, 404);
    assert.equal((await fetch(`${server.url}/console/..%2Fpackage.json`)).status, 404);
  });

  test('sign in, create from a zip, invoke, logs, charts, errors, code, configuration, versions, hosts', async () => {
    const { page, shot } = browser;
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // Sign in: a wrong secret is refused, the right one is kept for the tab.
    await page.goto(`${server.url}/console`);
    await page.fill('#access-key-id', ACCESS_KEY_ID);
    await page.fill('#secret-access-key', SECRET_ACCESS_KEY);
    await shot('01-sign-in');
    await page.click('#signin button[type=submit]');
    await page.waitForSelector('text=No functions yet');
    await shot('02-functions-empty');

    // Create a function from a zip file.
    await page.fill('#new-name', 'console-fn');
    await page.selectOption('#new-runtime', 'nodejs20.x');
    await page.setInputFiles('#new-zip', zipPath);
    await page.click('#create-function button[type=submit]');
    await page.waitForURL(/#\/functions\/console-fn\/test$/);

    // Test invoke: cold first, warm next; the response and the decoded log tail.
    await page.fill('#test-payload', '{"word":"kiwi"}');
    await page.click('#test-invoke');
    await page.waitForSelector('#test-response');
    assert.deepEqual(JSON.parse(await page.textContent('#test-response') ?? ''), { got: 'kiwi' });
    assert.equal(await page.textContent('#test-start'), 'cold start');
    const tail = (await page.textContent('#test-log')) ?? '';
    assert.match(tail, /START RequestId: .* Version: \$LATEST/);
    assert.match(tail, /saw kiwi/);
    assert.match(tail, /line one\nline two\nline three/, 'a multi-line record shows as lines');
    assert.match(tail, /REPORT RequestId: .*Init Duration/);
    assert.match((await page.textContent('#test-duration')) ?? '', /^Duration \d+\.\d\d ms$/);

    await page.fill('#test-payload', '{"word":"plum"}');
    await page.click('#test-invoke');
    await page.waitForFunction(() => document.querySelector('#test-response')?.textContent?.includes('plum'));
    assert.equal(await page.textContent('#test-start'), 'warm');
    await shot('03-test-invoke');

    // A saved test event that fails: the failure is shown.
    await page.fill('#test-payload', '{"word":"fig","fail":true}');
    await page.fill('#test-event-name', 'failing');
    await page.click('#test-save');
    assert.equal(await page.inputValue('#test-events'), 'failing');
    await page.click('#test-invoke');
    await page.waitForSelector('.result.failed');
    assert.match((await page.textContent('#test-response')) ?? '', /asked to fail/);
    await shot('04-test-invoke-error');
    const saved = await page.evaluate(() => localStorage.getItem('kindling.events.console-fn'));
    assert.deepEqual(JSON.parse(saved ?? '{}'), { failing: '{"word":"fig","fail":true}' });

    // Logs: all three invokes, a multi-line record in one entry, search.
    await page.click('[data-tab=logs]');
    await page.waitForSelector('.log-line >> text=saw kiwi');
    const multi = await page.$$eval('.log-line pre', (els) => els.map((e) => e.textContent ?? '').filter((t) => t.includes('line one')));
    assert.equal(multi.length, 3);
    assert.match(multi[0]!, /line one\nline two\nline three$/);
    assert.ok((await page.$$('.log-line.platform')).length >= 9, 'START, END and REPORT of each invoke');
    await shot('05-logs');
    await page.fill('#logs-filter', 'saw plum');
    await page.click('#logs-search');
    await page.waitForFunction(() => document.querySelectorAll('.log-line').length === 1);
    assert.match((await page.textContent('.log-line pre')) ?? '', /saw plum/);

    // Follow: a new invoke shows up without a reload.
    await page.fill('#logs-filter', '');
    await page.click('#logs-search');
    await page.waitForSelector('.log-line >> text=saw kiwi');
    await page.check('#logs-follow');
    const invoked = await page.evaluate(async () => {
      // Through the console's own signed client, as the Test tab does.
      const path = '/console/api.js';
      const mod = (await import(path)) as { loadSession(): unknown; Api: new (s: unknown) => { invoke(n: string, p: string): Promise<{ payload: string }> } };
      const s = mod.loadSession();
      const r = await new mod.Api(s).invoke('console-fn', '{"word":"melon"}');
      return r.payload;
    });
    assert.deepEqual(JSON.parse(invoked), { got: 'melon' });
    await page.waitForSelector('.log-line >> text=saw melon', { timeout: 10_000 });

    // Monitor: points on the invocation, error, duration and start charts.
    await page.click('[data-tab=monitor]');
    await page.waitForSelector('[data-chart=Invocations] circle.point');
    const invocations = await page.$$eval('[data-chart=Invocations] circle.point', (els) => els.reduce((n, e) => n + Number(e.getAttribute('data-value')), 0));
    assert.equal(invocations, 4);
    const errors = await page.$$eval('[data-chart="Errors and throttles"] circle.point[data-series=e]', (els) => els.reduce((n, e) => n + Number(e.getAttribute('data-value')), 0));
    assert.equal(errors, 1);
    assert.ok((await page.$$('[data-chart=Duration] circle.point')).length >= 1);
    assert.equal(await page.$$eval('[data-chart="Cold and warm starts"] circle.point[data-series=c]', (els) => els.reduce((n, e) => n + Number(e.getAttribute('data-value')), 0)), 1);
    await shot('06-monitor');

    // Hosts: the embedded host, the warm sandbox on it and the memory it holds.
    await page.click('header nav >> text=Hosts');
    await page.waitForSelector('.host[data-host=local] .sandboxes');
    assert.deepEqual(await page.$$eval('.host[data-host=local] .sandboxes tbody tr td:nth-child(2)', (els) => els.map((e) => e.textContent)), ['console-fn']);
    assert.match((await page.textContent('.host[data-host=local]')) ?? '', /128 MB reserved by sandboxes/);
    assert.ok((await page.$eval('.meter-fill', (e) => (e as unknown as { offsetWidth: number }).offsetWidth)) > 0);
    await shot('07-hosts');
    await page.goBack();
    await page.waitForSelector('[data-chart=Invocations]');

    // Code: the file list read from the package, and the download link.
    await page.click('[data-tab=code]');
    await page.waitForSelector('#code-files');
    const files = await page.$$eval('#code-files tbody tr td:first-child', (els) => els.map((e) => e.textContent));
    assert.deepEqual(files.sort(), ['index.mjs', 'lib/util.mjs']);
    assert.match((await page.getAttribute('#code-download', 'href')) ?? '', /\/kindling\/code\/[0-9a-f]{64}\?/);
    await shot('08-code');

    // Configuration: edit memory and environment, reserve concurrency.
    await page.click('[data-tab=configuration]');
    await page.waitForSelector('#cfg-memory');
    await page.fill('#cfg-memory', '256');
    await page.fill('#cfg-env', 'STAGE=test');
    await page.click('#configuration button[type=submit]');
    await page.waitForSelector('#configuration .notice.ok');
    await page.fill('#cfg-concurrency', '5');
    await page.click('#concurrency button[type=submit]');
    await page.waitForSelector('#concurrency .notice.ok');
    await page.reload();
    await page.waitForSelector('#cfg-memory');
    assert.equal(await page.inputValue('#cfg-memory'), '256');
    assert.equal(await page.inputValue('#cfg-env'), 'STAGE=test');
    assert.equal(await page.inputValue('#cfg-concurrency'), '5');
    await shot('09-configuration');

    // Versions: publish one.
    await page.click('[data-tab=versions]');
    await page.waitForSelector('#versions');
    await page.click('#publish');
    await page.waitForSelector('text=Published version 1.');
    assert.deepEqual(await page.$$eval('#versions tbody tr td:first-child', (els) => els.map((e) => e.textContent)), ['$LATEST', '1']);
    await shot('10-versions');

    // The list counts the last hour: 4 invocations, 1 error.
    await page.click('header nav >> text=Functions');
    await page.waitForSelector('tr[data-function=console-fn]');
    assert.equal(await page.textContent('tr[data-function=console-fn] .invocations'), '4');
    assert.equal(await page.textContent('tr[data-function=console-fn] .errors'), '1');
    assert.equal(await page.textContent('tr[data-function=console-fn] td:nth-child(4)'), '256 MB');
    await shot('11-functions');

    // Sign out forgets the key.
    await page.click('#signout');
    await page.waitForSelector('#signin');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('kindling.session')), null);
    assert.deepEqual(pageErrors, []);
  });
});
