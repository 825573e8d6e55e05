// The `kindling` command against a running server: deploy, functions, rm,
// --help, and clear errors for bad input.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GetFunctionCommand, GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import yauzl from 'yauzl';
import {
  describeRun,
  functionArn,
  lambdaClient,
  makeZip,
  rejection,
  runKindling,
  sha256Base64,
  startKindling,
  type KindlingServer,
  type RunResult,
} from '../helpers/kindling.js';

let server: KindlingServer;
let lambda: LambdaClient;
let work: string;
let dir: string;

before(async () => {
  server = await startKindling();
  lambda = lambdaClient(server.url);
  work = await mkdtemp(join(tmpdir(), 'kindling-cli-'));
  dir = join(work, 'app');
  await mkdir(join(dir, 'lib'), { recursive: true });
  await writeFile(join(dir, 'index.mjs'), 'import { greet } from "./lib/greet.mjs";\nexport const handler = async (e) => greet(e);\n');
  await writeFile(join(dir, 'lib', 'greet.mjs'), 'export const greet = (e) => ({ hello: e });\n');
});

after(async () => {
  lambda?.destroy();
  await server?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
});

const kindling = (...args: string[]): Promise<RunResult> => runKindling(args);
const withEndpoint = (...args: string[]): Promise<RunResult> => runKindling([...args, '--endpoint', server.url]);

const ok = (r: RunResult): RunResult => {
  assert.equal(r.code, 0, describeRun(r));
  return r;
};

const failed = (r: RunResult, message: string | RegExp): RunResult => {
  assert.equal(r.timedOut, false, describeRun(r));
  assert.notEqual(r.code, 0, describeRun(r));
  if (typeof message === 'string') assert.ok(r.stderr.includes(message), `stderr has ${JSON.stringify(message)}\n${describeRun(r)}`);
  else assert.match(r.stderr, message, describeRun(r));
  return r;
};

/** The entries of a zip and their contents. */
function unzip(zip: Buffer): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
      if (err || !file) return reject(err ?? new Error('no zip'));
      const out: Record<string, string> = {};
      file.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return file.readEntry();
        file.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            out[entry.fileName] = Buffer.concat(chunks).toString('utf8');
            file.readEntry();
          });
          stream.on('error', reject);
        });
      });
      file.on('end', () => resolve(out));
      file.on('error', reject);
      file.readEntry();
    });
  });
}

async function download(name: string): Promise<Buffer> {
  const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
  const res = await fetch(got.Code!.Location!);
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

test('kindling --help lists the commands', async () => {
  const r = ok(await kindling('--help'));
  for (const command of ['up', 'deploy', 'functions', 'rm']) {
    assert.match(r.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `--help lists ${command}\n${r.stdout}`);
  }
  const deployHelp = ok(await kindling('deploy', '--help'));
  for (const flag of ['--name', '--runtime', '--handler', '--memory', '--env', '--endpoint']) {
    assert.ok(deployHelp.stdout.includes(flag), `deploy --help shows ${flag}\n${deployHelp.stdout}`);
  }
});

test('deploy creates, functions lists, deploy again updates, rm deletes', async () => {
  const created = ok(
    await withEndpoint(
      'deploy', dir,
      '--name', 'cli-app',
      '--runtime', 'nodejs20.x',
      '--handler', 'index.handler',
      '--memory', '256',
      '--env', 'AA=1',
      '--env', 'BB=two=2',
    ),
  );
  const conf = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cli-app' }));
  assert.equal(conf.Runtime, 'nodejs20.x');
  assert.equal(conf.Handler, 'index.handler');
  assert.equal(conf.MemorySize, 256);
  assert.deepEqual(conf.Environment, { Variables: { AA: '1', BB: 'two=2' } });
  assert.equal(conf.Role, 'arn:aws:iam::000000000000:role/kindling-function');
  assert.ok(
    created.stdout.includes(`Created ${functionArn('cli-app')} (${conf.CodeSize} bytes, CodeSha256 ${conf.CodeSha256})`),
    describeRun(created),
  );
  // The folder was packed as `zip -r` inside it would: relative paths, every file.
  const zip = await download('cli-app');
  assert.equal(sha256Base64(zip), conf.CodeSha256);
  assert.deepEqual(await unzip(zip), {
    'index.mjs': 'import { greet } from "./lib/greet.mjs";\nexport const handler = async (e) => greet(e);\n',
    'lib/greet.mjs': 'export const greet = (e) => ({ hello: e });\n',
  });

  const table = ok(await withEndpoint('functions'));
  assert.match(table.stdout, /^NAME\s+RUNTIME\s+MEMORY\s+LAST MODIFIED$/m, table.stdout);
  assert.match(table.stdout, new RegExp(`^cli-app\\s+nodejs20\\.x\\s+256\\s+${conf.LastModified!.replace(/[.+]/g, '\\$&')}$`, 'm'), table.stdout);
  const json = JSON.parse(ok(await withEndpoint('functions', '--json')).stdout) as { FunctionName: string; CodeSha256: string }[];
  assert.deepEqual(json.filter((f) => f.FunctionName === 'cli-app').map((f) => f.CodeSha256), [conf.CodeSha256]);

  // New code in the folder: deploy updates the code and keeps the settings.
  await writeFile(join(dir, 'lib', 'greet.mjs'), 'export const greet = (e) => ({ hi: e });\n');
  const updated = ok(await withEndpoint('deploy', dir, '--name', 'cli-app'));
  const conf2 = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cli-app' }));
  assert.notEqual(conf2.CodeSha256, conf.CodeSha256);
  assert.ok(updated.stdout.includes(`Updated ${functionArn('cli-app')} (${conf2.CodeSize} bytes, CodeSha256 ${conf2.CodeSha256})`), describeRun(updated));
  assert.equal(conf2.MemorySize, 256);
  assert.deepEqual(conf2.Environment, { Variables: { AA: '1', BB: 'two=2' } });
  assert.equal((await unzip(await download('cli-app')))['lib/greet.mjs'], 'export const greet = (e) => ({ hi: e });\n');

  // Deploying with settings updates them too.
  ok(await withEndpoint('deploy', dir, '--name', 'cli-app', '--memory', '512', '--timeout', '30', '--description', 'from the cli'));
  const conf3 = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cli-app' }));
  assert.equal(conf3.MemorySize, 512);
  assert.equal(conf3.Timeout, 30);
  assert.equal(conf3.Description, 'from the cli');
  assert.equal(conf3.CodeSha256, conf2.CodeSha256, 'the same folder packs to the same zip');

  const removed = ok(await withEndpoint('rm', 'cli-app'));
  assert.match(removed.stdout, /^Deleted cli-app$/m);
  const gone = await rejection(lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cli-app' })));
  assert.equal(gone.name, 'ResourceNotFoundException');
  const after = ok(await withEndpoint('functions'));
  assert.ok(!/^cli-app\s/m.test(after.stdout), after.stdout);
});

test('deploy takes a .zip file as it is', async () => {
  const zip = await makeZip({ 'handler.py': 'def handler(event, context):\n    return event\n' });
  const path = join(work, 'py.zip');
  await writeFile(path, zip);
  ok(await withEndpoint('deploy', path, '--name', 'cli-zip', '--runtime', 'python3.12', '--handler', 'handler.handler'));
  const conf = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cli-zip' }));
  assert.equal(conf.CodeSha256, sha256Base64(zip));
  assert.equal(conf.Runtime, 'python3.12');
  assert.ok((await download('cli-zip')).equals(zip));
  ok(await withEndpoint('rm', 'cli-zip'));
});

test('bad flag values and bad requests fail clearly with a non-zero exit', async () => {
  const results = await Promise.all([
    withEndpoint('deploy', dir, '--name', 'bad-mem', '--runtime', 'nodejs20.x', '--handler', 'index.handler', '--memory', 'lots'),
    withEndpoint('deploy', dir, '--name', 'bad-env', '--runtime', 'nodejs20.x', '--handler', 'index.handler', '--env', 'NOEQUALS'),
    withEndpoint('deploy', dir, '--name', 'no-runtime'),
    withEndpoint('deploy', join(work, 'does-not-exist'), '--name', 'no-source', '--runtime', 'nodejs20.x', '--handler', 'index.handler'),
    withEndpoint('deploy', dir, '--name', 'too-much', '--runtime', 'nodejs20.x', '--handler', 'index.handler', '--memory', '20000'),
    // Lambda's key pattern needs two characters: A=1 is refused by the server, and the CLI says why.
    withEndpoint('deploy', dir, '--name', 'short-env', '--runtime', 'nodejs20.x', '--handler', 'index.handler', '--env', 'A=1', '--env', 'B=2'),
    withEndpoint('rm', 'never-existed'),
    kindling('deploy', dir, '--name', 'x', '--bogus-flag'),
    kindling('up', '--port', 'abc', '--data', join(work, 'unused')),
    kindling('functions', '--endpoint', 'http://127.0.0.1:1'),
  ]);
  const [mem, env, noRuntime, noSource, tooMuch, shortEnv, rmMissing, unknownFlag, badPort, unreachable] = results;
  failed(mem!, "kindling: --memory takes a whole number, not 'lots'.");
  failed(env!, "kindling: --env takes KEY=VALUE, not 'NOEQUALS'.");
  failed(noRuntime!, 'kindling: A new function needs --runtime and --handler.');
  failed(noSource!, `kindling: ${join(work, 'does-not-exist')}: no such file or folder.`);
  failed(
    tooMuch!,
    "kindling: ValidationException: 1 validation error detected: Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240",
  );
  failed(
    shortEnv!,
    "kindling: ValidationException: 1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint",
  );
  failed(rmMissing!, `kindling: ResourceNotFoundException: Function not found: ${functionArn('never-existed')}`);
  failed(unknownFlag!, "error: unknown option '--bogus-flag'");
  failed(badPort!, "kindling up: --port must be a port number (0-65535), not 'abc'.");
  failed(unreachable!, 'kindling: cannot reach the Kindling server; start it with `kindling up` or pass --endpoint.');

  for (const name of ['bad-mem', 'bad-env', 'no-runtime', 'too-much', 'short-env']) {
    const err = await rejection(lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name })));
    assert.equal(err.name, 'ResourceNotFoundException', `${name} was not created`);
  }
});
