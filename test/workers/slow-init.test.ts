// A cold start slower than the idle reaper's period must still leave a warm
// sandbox behind: the reaper once dropped the (empty) pool while its first
// sandbox was in Init, so the next invoke started another one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { lambdaClient, makeZip, ROLE, startKindling, type KindlingServer } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;

before(async () => {
  // Idle timeout 2 s: the reaper runs every 500 ms.
  server = await startKindling({ args: ['--idle-timeout', '2'] });
  client = lambdaClient(server.url);
});
after(async () => {
  await server?.dispose();
});

test('a sandbox whose Init outlasts a reaper pass is reused by the next invoke', async () => {
  const zip = await makeZip({ 'index.mjs': 'await new Promise((r) => setTimeout(r, 1500));\nexport const handler = async () => process.pid;\n' });
  await client.send(new CreateFunctionCommand({ FunctionName: 'slow-init', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zip } }));
  const run = async () => {
    const out = await client.send(new InvokeCommand({ FunctionName: 'slow-init', LogType: 'Tail' }));
    return { pid: Buffer.from(out.Payload!).toString(), cold: Buffer.from(out.LogResult ?? '', 'base64').toString().includes('Init Duration') };
  };
  const first = await run();
  assert.equal(first.cold, true);
  const second = await run();
  assert.equal(second.cold, false, 'the second invoke should find the first sandbox warm');
  assert.equal(second.pid, first.pid);
});
