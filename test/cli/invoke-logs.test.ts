// `kindling invoke` and `kindling logs` against a real server, and logs kept across a restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { describeRun, runKindling, startKindling, type KindlingServer } from '../helpers/kindling.js';

let server: KindlingServer;
let dir: string;

before(async () => {
  server = await startKindling();
  dir = await mkdtemp(join(tmpdir(), 'kindling-cli-fn-'));
  await writeFile(
    join(dir, 'index.mjs'),
    "export const handler = async (event) => { console.log('saw', event.word); if (event.fail) throw new Error('asked to fail'); return { got: event.word }; };\n",
  );
  const r = await runKindling(['deploy', dir, '--name', 'cli-fn', '--runtime', 'nodejs20.x', '--handler', 'index.handler', '--endpoint', server.url]);
  assert.equal(r.code, 0, describeRun(r));
});

after(async () => {
  await server?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('kindling invoke prints the response, and the log tail with --log', async () => {
  const r = await runKindling(['invoke', 'cli-fn', '--payload', '{"word":"kiwi"}', '--log', '--endpoint', server.url]);
  assert.equal(r.code, 0, describeRun(r));
  assert.deepEqual(JSON.parse(r.stdout), { got: 'kiwi' });
  assert.match(r.stderr, /START RequestId: [0-9a-f-]{36} Version: \$LATEST/);
  assert.match(r.stderr, /\tINFO\tsaw kiwi/);
  assert.match(r.stderr, /REPORT RequestId: /);
});

test('kindling invoke reads @file payloads and exits non-zero on a function error', async () => {
  const file = join(dir, 'event.json');
  await writeFile(file, '{"word":"fig","fail":true}');
  const r = await runKindling(['invoke', 'cli-fn', '--payload', `@${file}`, '--endpoint', server.url]);
  assert.equal(r.code, 1, describeRun(r));
  assert.equal((JSON.parse(r.stdout) as { errorMessage: string }).errorMessage, 'asked to fail');
  assert.match(r.stderr, /the function failed \(Unhandled/);
});

test('kindling logs prints the window, filters, and survives a restart', async () => {
  await runKindling(['invoke', 'cli-fn', '--payload', '{"word":"plum"}', '--endpoint', server.url]);
  // Logs are written in batches; give the batch a moment.
  await new Promise((r) => setTimeout(r, 300));
  const all = await runKindling(['logs', 'cli-fn', '--since', '10m', '--endpoint', server.url]);
  assert.equal(all.code, 0, describeRun(all));
  assert.match(all.stdout, /saw kiwi/);
  assert.match(all.stdout, /saw plum/);
  assert.match(all.stdout, /END RequestId: /);
  const filtered = await runKindling(['logs', 'cli-fn', '--since', '10m', '--filter', 'saw plum', '--endpoint', server.url]);
  assert.match(filtered.stdout, /saw plum/);
  assert.doesNotMatch(filtered.stdout, /kiwi|START/);
  await server.restart();
  const later = await runKindling(['logs', 'cli-fn', '--since', '1h', '--endpoint', server.url]);
  assert.match(later.stdout, /saw kiwi/);
  const bad = await runKindling(['logs', 'cli-fn', '--since', 'yesterday', '--endpoint', server.url]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /not a duration/);
});

test('kindling logs --follow prints new lines as they come', async () => {
  const { spawn } = await import('node:child_process');
  const { KINDLING_BIN, kindlingEnv } = await import('../helpers/kindling.js');
  const follow = spawn(process.execPath, [KINDLING_BIN, 'logs', 'cli-fn', '--since', '1s', '--follow', '--endpoint', server.url], {
    env: kindlingEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  follow.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  try {
    await new Promise((r) => setTimeout(r, 700));
    await runKindling(['invoke', 'cli-fn', '--payload', '{"word":"lime"}', '--endpoint', server.url]);
    const deadline = Date.now() + 10_000;
    while (!/saw lime/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /saw lime/);
  } finally {
    follow.kill('SIGKILL');
  }
});

test('aws-style FilterLogEvents on an unknown log group is ResourceNotFoundException', async () => {
  const r = await runKindling(['logs', 'no-such-fn', '--endpoint', server.url]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ResourceNotFoundException/);
});
