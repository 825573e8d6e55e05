// A function's package is unpacked into the worker host's cache when its code is
// set (CreateFunction, UpdateFunctionCode), and a layer's when it is published,
// before any invoke, as Lambda does
// while a function is Pending; as before, an invoke right after the call (racing
// the preparation) runs the code the call set.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, PublishLayerVersionCommand, UpdateFunctionCodeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { base64ToHex } from '../../src/store/code.js';
import { kindlingForSuite, makeZip, ROLE, type KindlingServer } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;

/** The package's folder in the local worker host's cache. */
const cached = (codeSha256: string) => join(server.dataDir, 'host', 'code', base64ToHex(codeSha256));

/** Waits for a folder: preparing runs in the background of the call that set the code. */
async function appears(path: string, ms = 10_000): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) if (existsSync(path)) return true;
  return false;
}

const code = (text: string) => makeZip({ 'index.mjs': `export const handler = async () => ${JSON.stringify(text)};\n` });

const invoke = async (name: string) => {
  const out = await client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') }));
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  return JSON.parse(Buffer.from(out.Payload!).toString()) as unknown;
};

describe('code prepared ahead of the first invoke', () => {
  const suite = kindlingForSuite();
  before(() => {
    server = suite.server();
    client = suite.client();
  });
  test("CreateFunction unpacks the package into the host's cache without an invoke", async () => {
    const created = await client.send(new CreateFunctionCommand({ FunctionName: 'ahead', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await code('one') } }));
    assert.ok(await appears(join(cached(created.CodeSha256!), 'index.mjs')), 'the package was not unpacked ahead');
    assert.equal(await invoke('ahead'), 'one');
  });

  test('UpdateFunctionCode prepares the new package; the next invoke runs it', async () => {
    const updated = await client.send(new UpdateFunctionCodeCommand({ FunctionName: 'ahead', ZipFile: await code('two') }));
    assert.ok(await appears(join(cached(updated.CodeSha256!), 'index.mjs')), 'the new package was not unpacked ahead');
    assert.equal(await invoke('ahead'), 'two');
  });

  test('an invoke right after CreateFunction (racing the preparation) runs the function', async () => {
    await client.send(new CreateFunctionCommand({ FunctionName: 'racing', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await code('raced') } }));
    assert.equal(await invoke('racing'), 'raced');
  });

  test("PublishLayerVersion unpacks the layer's package into the host's cache", async () => {
    const layer = await client.send(new PublishLayerVersionCommand({ LayerName: 'ahead-layer', Content: { ZipFile: await makeZip({ 'nodejs/node_modules/ahead/index.js': 'module.exports = 1;\n' }) } }));
    assert.ok(await appears(join(cached(layer.Content!.CodeSha256!), 'nodejs')), 'the layer was not unpacked ahead');
  });
});
