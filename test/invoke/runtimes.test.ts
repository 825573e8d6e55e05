// Runtimes other than the built-in Node.js one: Python, a shell `bootstrap`
// custom runtime, and AWS's own Runtime Interface Client as a bootstrap.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { lambdaClient, ROLE, ROOT, startKindling, type KindlingServer, zipWithModes } from '../helpers/kindling.js';

let server: KindlingServer;
let client: LambdaClient;


const text = (out: InvokeCommandOutput): string => Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8');
const invoke = (name: string, payload: unknown) => client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)), LogType: 'Tail' }));

async function create(name: string, runtime: string, handler: string, zip: Buffer, extra: Record<string, unknown> = {}) {
  await client.send(new CreateFunctionCommand({ FunctionName: name, Runtime: runtime as never, Handler: handler, Role: ROLE, Code: { ZipFile: zip }, Timeout: 10, ...extra }));
}

before(async () => {
  server = await startKindling();
  client = lambdaClient(server.url);
});
after(async () => {
  await server?.dispose();
});

describe('python3.12', () => {
  before(async () => {
    await create(
      'py',
      'python3.12',
      'app.handler',
      await zipWithModes({
        'app.py': {
          data: `import json, logging, os
logger = logging.getLogger()
logger.setLevel(logging.INFO)

def handler(event, context):
    print("printed", event.get("n"))
    logger.info("logged %s", context.aws_request_id)
    if event.get("fail"):
        raise ValueError("bad value")
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "region": os.environ["AWS_REGION"],
    }
`,
        },
      }),
    );
  });

  test('runs a handler with event and context', async () => {
    const out = await invoke('py', { n: 7 });
    assert.equal(out.FunctionError, undefined, text(out));
    const r = JSON.parse(text(out)) as Record<string, unknown>;
    assert.deepEqual(r.event, { n: 7 });
    assert.equal(r.request_id, out.$metadata.requestId);
    assert.equal(r.function_name, 'py');
    assert.equal(r.memory, '128'); // a string, as AWS's Python runtime client reads it from the environment
    assert.equal(r.region, 'us-east-1');
    assert.ok(typeof r.remaining === 'number' && r.remaining > 0 && r.remaining <= 10_000);
    const log = Buffer.from(out.LogResult!, 'base64').toString();
    assert.match(log, /printed 7\n/);
    assert.match(log, new RegExp(`\\[INFO\\]\\t[\\d-]+T[\\d:.]+Z\\t${out.$metadata.requestId}\\tlogged ${out.$metadata.requestId}`));
  });

  test('reports a raised error as Lambda’s Python runtime does', async () => {
    const out = await invoke('py', { fail: true });
    assert.equal(out.FunctionError, 'Unhandled');
    const body = JSON.parse(text(out)) as { errorType: string; errorMessage: string; stackTrace: string[] };
    assert.equal(body.errorType, 'ValueError');
    assert.equal(body.errorMessage, 'bad value');
    assert.ok(Array.isArray(body.stackTrace));
  });
});

describe('provided.al2023 with a shell bootstrap', () => {
  test('speaks the Runtime API itself', async () => {
    const bootstrap = `#!/bin/bash
set -euo pipefail
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "handling $ID"
  curl -sS -o /dev/null "http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response" -d "{\\"echo\\":$EVENT,\\"id\\":\\"$ID\\"}"
done
`;
    await create('sh', 'provided.al2023', 'unused', await zipWithModes({ bootstrap: { data: bootstrap, mode: 0o755 } }));
    for (let i = 0; i < 3; i++) {
      const out = await invoke('sh', { i });
      assert.equal(out.FunctionError, undefined, text(out));
      assert.deepEqual(JSON.parse(text(out)), { echo: { i }, id: out.$metadata.requestId });
      assert.match(Buffer.from(out.LogResult!, 'base64').toString(), new RegExp(`handling ${out.$metadata.requestId}`));
    }
  });
});

describe('provided with AWS’s Runtime Interface Client (aws-lambda-ric 3.x)', () => {
  const ric = join(ROOT, 'node_modules', 'aws-lambda-ric');

  test('runs unmodified as the bootstrap', { skip: !existsSync(join(ric, 'dist', 'rapid-client.node')) && 'aws-lambda-ric is not built (npm ci builds it)' }, async () => {
    const files: Record<string, { data: Buffer; mode?: number }> = {};
    // The runtime client's own files, as `npm install aws-lambda-ric` leaves them in a function package.
    for (const part of ['package.json', 'bin', 'dist']) {
      const walk = (p: string) => {
        if (statSync(p).isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
        else files[`node_modules/aws-lambda-ric/${relative(ric, p)}`] = { data: readFileSync(p), mode: statSync(p).mode & 0o777 };
      };
      walk(join(ric, part));
    }
    files.bootstrap = { data: Buffer.from('#!/bin/sh\nexec node node_modules/aws-lambda-ric/bin/index.mjs "$_HANDLER"\n'), mode: 0o755 };
    files['index.mjs'] = { data: Buffer.from('export const handler = async (event, context) => ({ ric: true, event, id: context.awsRequestId });\n') };
    await create('ric', 'provided.al2023', 'index.handler', await zipWithModes(files));
    for (let i = 0; i < 2; i++) {
      const out = await invoke('ric', { i });
      assert.equal(out.FunctionError, undefined, text(out));
      assert.deepEqual(JSON.parse(text(out)), { ric: true, event: { i }, id: out.$metadata.requestId });
    }
    await create('ric-error', 'provided.al2023', 'index.handler', await zipWithModes({ ...files, 'index.mjs': { data: Buffer.from("export const handler = async () => { throw new RangeError('out of range'); };\n") } }));
    const failed = await invoke('ric-error', {});
    assert.equal(failed.FunctionError, 'Unhandled');
    const body = JSON.parse(text(failed)) as { errorType: string; errorMessage: string };
    assert.equal(body.errorType, 'RangeError');
    assert.equal(body.errorMessage, 'out of range');
  });
});
