// The web console end to end in a real (headless) Chromium against a real
// `kindling up`: sign in, create a function from a zip, test-invoke it, read
// its log, see it on the charts and the list, break it and see the error
// counted, look at code, configuration, versions and hosts; configure
// asynchronous invocation, send an Event invoke that fails, see it among the
// failed events and redrive it. Screenshots of every page go to
// test-artifacts/console/.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateFunctionCommand, PublishVersionCommand } from '@aws-sdk/client-lambda';
import { ACCESS_KEY_ID, ROLE, SECRET_ACCESS_KEY, UUID, functionArn, lambdaClient, makeZip, startKindling, type KindlingServer } from '../helpers/kindling.js';
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

// Fails every time, after a pause long enough to see a redriven event off the failed list.
const FAILING_HANDLER = `export const handler = async (event) => {
  await new Promise((r) => setTimeout(r, event.sleepMs ?? 0));
  throw new Error('async boom ' + event.n);
};
`;

describe('the web console', { skip: noBrowser(), timeout: 180_000 }, () => {
  let server: KindlingServer;
  let browser: Browser;
  let dir: string;
  let zipPath: string;

  before(async () => {
    // Retry delays and event ages at a thousandth: the async test does not wait minutes.
    server = await startKindling({ args: ['--async-time-scale', '0.001'] });
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

  test('asynchronous: event invoke config, an Event invoke that fails, failed events, redrive', async () => {
    const { page, shot } = browser;
    const pageErrors: string[] = [];
    const onError = (e: Error) => pageErrors.push(e.message);
    page.on('pageerror', onError);
    const name = 'console-async';
    const lambda = lambdaClient(server.url);
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: ROLE,
        Timeout: 10,
        Code: { ZipFile: await makeZip({ 'index.mjs': FAILING_HANDLER }) },
      }),
    );
    await lambda.send(new PublishVersionCommand({ FunctionName: name }));

    await page.goto(`${server.url}/console#/functions/${name}/async`);
    if (await page.$('#signin')) {
      await page.fill('#access-key-id', ACCESS_KEY_ID);
      await page.fill('#secret-access-key', SECRET_ACCESS_KEY);
      await page.click('#signin button[type=submit]');
    }
    await page.waitForSelector('#eic-none');
    assert.match((await page.textContent('#eic-none')) ?? '', /doesn't have an EventInvokeConfig.*2 retries after a function error; events kept up to 6 h/);
    await page.waitForSelector('#failed-empty');
    // The qualifiers: $LATEST and the published version.
    assert.deepEqual(await page.$$eval('#eic-qualifier option', (els) => els.map((e) => e.getAttribute('value'))), ['$LATEST', '1']);

    // Refusals show Lambda's messages.
    await page.fill('#eic-retries', '5');
    await page.click('#eic-save');
    await page.waitForSelector('#event-invoke-config .notice.error');
    assert.match((await page.textContent('#event-invoke-config .notice.error')) ?? '', /^ValidationException: .*maximumRetryAttempts.*less than or equal to 2/);
    await page.fill('#eic-retries', '');
    await page.fill('#eic-on-failure', functionArn(name));
    await page.click('#eic-save');
    await page.waitForSelector("#event-invoke-config .notice.error >> text=You can't specify the function as a destination for itself.");
    await page.fill('#eic-on-failure', '');
    await page.click('#eic-save');
    await page.waitForSelector('#event-invoke-config .notice.error >> text=You must specify at least one of error handling or destination setting.');

    // No retries for $LATEST; it is kept.
    await page.fill('#eic-retries', '0');
    await page.fill('#eic-max-age', '3600');
    await page.click('#eic-save');
    await page.waitForSelector('#event-invoke-config .notice.ok');
    assert.match((await page.textContent('#eic-current')) ?? '', /0 retries after a function error; events kept up to 1 h/);
    await page.reload();
    await page.waitForSelector('#eic-current dl');
    assert.equal(await page.inputValue('#eic-retries'), '0');
    assert.equal(await page.inputValue('#eic-max-age'), '3600');
    assert.ok(((await page.textContent('#eic-current')) ?? '').includes(functionArn(name, '$LATEST')));
    // Version 1 has none of its own.
    await page.selectOption('#eic-qualifier', '1');
    await page.waitForSelector('#eic-none');
    assert.equal(await page.inputValue('#eic-retries'), '');
    assert.match((await page.textContent('#eic-none')) ?? '', /console-async:1 doesn't have an EventInvokeConfig/);

    // An Event invoke from the Test tab: 202 and the request id.
    await page.click('[data-tab=test]');
    await page.waitForSelector('#test-type');
    await page.selectOption('#test-type', 'Event');
    await page.fill('#test-payload', '{"n":1,"sleepMs":1500}');
    await page.click('#test-invoke');
    await page.waitForSelector('#test-queued');
    assert.equal(await page.textContent('#test-queued h2'), 'Queued (202 Accepted)');
    const requestId = (await page.textContent('#test-request-id')) ?? '';
    assert.match(requestId, UUID);
    await shot('12-test-invoke-event');

    // It fails once (no retries) and shows up among the failed events and in the counts (two
    // reads, which a refresh may catch either side of the event's move to failed).
    const waitForFailed = async (): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!(await page.$('tr.failed-event')) || (await page.textContent('[data-count=Failed] b')) !== '1') {
        assert.ok(Date.now() < deadline, 'the failed event did not show up');
        await page.click('#failed-refresh');
        await page.waitForTimeout(250);
      }
    };
    await page.click('[data-tab=async]');
    await page.waitForSelector('#queue-counts .count');
    await waitForFailed();
    const row = async () => ({
      rows: (await page.$$('tr.failed-event')).length,
      requestId: await page.textContent('tr.failed-event .request-id'),
      condition: await page.textContent('tr.failed-event .condition'),
      invokes: await page.textContent('tr.failed-event .invokes'),
      error: await page.textContent('tr.failed-event .error'),
    });
    assert.deepEqual(await row(), { rows: 1, requestId, condition: 'RetriesExhausted', invokes: '1', error: 'Error: async boom 1' });
    assert.equal(await page.textContent('[data-count=Failed] b'), '1');
    // The invocation record on expand.
    assert.equal(await page.isVisible('tr.record-row pre'), false);
    await page.click('tr.failed-event .toggle');
    await page.waitForSelector('tr.record-row pre', { state: 'visible' });
    const record = JSON.parse((await page.textContent('tr.record-row pre')) ?? '') as {
      requestContext: { requestId: string; condition: string; approximateInvokeCount: number };
      requestPayload: unknown;
      responseContext: { functionError: string };
    };
    assert.equal(record.requestContext.requestId, requestId);
    assert.equal(record.requestContext.condition, 'RetriesExhausted');
    assert.deepEqual(record.requestPayload, { n: 1, sleepMs: 1500 });
    assert.equal(record.responseContext.functionError, 'Unhandled');
    await shot('13-async');

    // Redrive all: off the list while it runs again, then back (it fails again), same request id.
    await page.click('#redrive-all');
    await page.waitForSelector('#event-queue .notice.ok >> text=Redrove 1 event:');
    await page.waitForSelector('#failed-empty');
    const queued = await page.$$eval('#queue-counts .count b', (els) => els.map((e) => Number(e.textContent)));
    assert.equal(queued[0]! + queued[1]! + queued[2]!, 1, `one event visible, in flight or delayed: ${queued.join(' ')}`);
    assert.equal(queued[3], 0);
    await waitForFailed();
    assert.deepEqual({ ...(await row()), invokes: undefined }, { rows: 1, requestId, condition: 'RetriesExhausted', invokes: undefined, error: 'Error: async boom 1' });

    // Redrive one event by its button: the same again.
    await page.click('tr.failed-event .redrive');
    await page.waitForSelector('#event-queue .notice.ok >> text=Redrove 1 event.');
    await page.waitForSelector('#failed-empty');
    await waitForFailed();
    assert.equal((await row()).requestId, requestId);
    await page.click('tr.failed-event .toggle');
    await page.waitForSelector('tr.record-row pre', { state: 'visible' });
    await shot('14-async-redriven');

    page.off('pageerror', onError);
    assert.deepEqual(pageErrors, []);
  });
});
