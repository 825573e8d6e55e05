// `kindling up --sandbox microvm` end to end through the AWS SDK: the same
// functions (Node.js, Python, layers, async) run inside real VMs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, GetFunctionCommand, InvokeCommand, PublishLayerVersionCommand, type CreateFunctionCommandInput, type LambdaClient } from '@aws-sdk/client-lambda';
import { microvmUnavailable } from '../../src/sandbox/microvm/driver.js';
import { lambdaClient, makeZip, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';
import { MICROVM_TEST_DIR } from '../sandbox/helpers.js';

const skip = microvmUnavailable();
let server: KindlingServer;
let client: LambdaClient;

const payloadOf = (out: { Payload?: Uint8Array }): any => JSON.parse(Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8'));
const logOf = (out: { LogResult?: string }): string => Buffer.from(out.LogResult ?? '', 'base64').toString('utf8');

/** Creates a function with these files (Node.js unless extra says otherwise) and waits until it is Active. */
async function createFunction(c: LambdaClient, name: string, files: Record<string, string>, extra: Partial<CreateFunctionCommandInput> = {}): Promise<void> {
  await c.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Timeout: 30, Code: { ZipFile: await makeZip(files) }, ...extra }));
  await untilActive(c, name);
}

async function untilActive(c: LambdaClient, name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const fn = await c.send(new GetFunctionCommand({ FunctionName: name }));
    if (fn.Configuration?.State === 'Active') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} never became Active`);
}

before(async () => {
  if (skip) return;
  server = await startKindling({ args: ['--sandbox', 'microvm', '--microvm-dir', MICROVM_TEST_DIR], env: { KINDLING_LOG_LEVEL: 'info' } });
  client = lambdaClient(server.url);
});
after(async () => {
  await server?.dispose();
});

test('kindling up --sandbox microvm says so and runs a Node.js function inside a VM', { skip }, async () => {
  assert.match(server.stdout, /Sandboxes: microvm \(isolated: a virtual machine each/);
  await createFunction(client, 'vm-node', {
    'index.mjs': "import { readFileSync } from 'node:fs';\nexport const handler = async (event, context) => { console.log('in the vm'); return { event, init: readFileSync('/proc/1/comm', 'utf8').trim(), uid: process.getuid(), fn: context.functionName, env: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE }; };",
  });
  const cold = await client.send(new InvokeCommand({ FunctionName: 'vm-node', Payload: Buffer.from('{"n":1}'), LogType: 'Tail' }));
  assert.equal(cold.FunctionError, undefined, JSON.stringify(payloadOf(cold)));
  assert.deepEqual(payloadOf(cold), { event: { n: 1 }, init: 'kindling-vminit', uid: 993, fn: 'vm-node', env: '128' });
  assert.match(logOf(cold), /in the vm/);
  assert.match(logOf(cold), /Init Duration: [\d.]+ ms/);
  const warm = await client.send(new InvokeCommand({ FunctionName: 'vm-node', Payload: Buffer.from('{"n":2}'), LogType: 'Tail' }));
  assert.equal(payloadOf(warm).event.n, 2);
  assert.doesNotMatch(logOf(warm), /Init Duration/, `the second invoke was a cold start again; the server said:\n${server.stdout}\n${server.stderr}`);
});

test('Python with a layer at /opt runs inside a VM', { skip }, async () => {
  const layer = await client.send(
    new PublishLayerVersionCommand({ LayerName: 'vm-helpers', Content: { ZipFile: await makeZip({ 'python/vmhelper.py': 'def greet(n):\n    return "hello " + n\n' }) } }),
  );
  await createFunction(
    client,
    'vm-py',
    { 'app.py': 'import os, vmhelper\ndef handler(event, context):\n    return {"greeting": vmhelper.greet(event["name"]), "opt": sorted(os.listdir("/opt")), "init": open("/proc/1/comm").read().strip()}\n' },
    { Runtime: 'python3.12', Handler: 'app.handler', Layers: [layer.LayerVersionArn!] },
  );
  const out = await client.send(new InvokeCommand({ FunctionName: 'vm-py', Payload: Buffer.from('{"name":"vm"}') }));
  assert.equal(out.FunctionError, undefined, JSON.stringify(payloadOf(out)));
  assert.deepEqual(payloadOf(out), { greeting: 'hello vm', opt: ['python'], init: 'kindling-vminit' });
});

test('a function error inside a VM comes back as Lambda reports it', { skip }, async () => {
  await createFunction(client, 'vm-fail', { 'index.mjs': "export const handler = async () => { throw new TypeError('bad input'); };" });
  const out = await client.send(new InvokeCommand({ FunctionName: 'vm-fail', Payload: Buffer.from('{}') }));
  assert.equal(out.FunctionError, 'Unhandled');
  assert.equal(payloadOf(out).errorType, 'TypeError');
  assert.equal(payloadOf(out).errorMessage, 'bad input');
});

test('on a server whose default is another driver, the kindling:sandbox tag puts one function in a VM', { skip }, async () => {
  const other = await startKindling({ args: ['--microvm-dir', MICROVM_TEST_DIR] });
  try {
    const c = lambdaClient(other.url);
    const files = { 'index.mjs': "import { readFileSync } from 'node:fs';\nexport const handler = async () => readFileSync('/proc/1/comm', 'utf8').trim();\n" };
    for (const [name, tags] of [['in-vm', { 'kindling:sandbox': 'microvm' }], ['default', {}]] as const) await createFunction(c, name, files, { Tags: tags });
    const comm = async (name: string) => payloadOf(await c.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') })));
    assert.equal(await comm('in-vm'), 'kindling-vminit');
    assert.notEqual(await comm('default'), 'kindling-vminit');
  } finally {
    await other.dispose();
  }
});
