// The control-plane API end to end through @aws-sdk/client-lambda against a
// real `kindling up`: function CRUD, versions, listing and account settings.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type CreateFunctionCommandInput,
  type FunctionConfiguration,
  type LambdaClient,
  type Runtime,
} from '@aws-sdk/client-lambda';
import {
  ACCOUNT_ID,
  functionArn,
  lambdaClient,
  makeZip,
  nodeZip,
  rejection,
  ROLE,
  sha256Base64,
  startKindling,
  UUID,
  type KindlingServer,
} from '../helpers/kindling.js';

const LAST_MODIFIED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/;

let server: KindlingServer;
let lambda: LambdaClient;

before(async () => {
  server = await startKindling();
  lambda = lambdaClient(server.url);
});

after(async () => {
  lambda?.destroy();
  await server?.dispose();
});

const hasRequestId = (out: { $metadata: { requestId?: string } }): void => {
  assert.match(out.$metadata.requestId ?? '', UUID, 'every response carries an x-amzn-RequestId UUID');
};

async function create(name: string, extra: Partial<CreateFunctionCommandInput> = {}, zip?: Buffer) {
  const out = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Role: ROLE,
      Handler: 'index.handler',
      Code: { ZipFile: zip ?? (await nodeZip()) },
      ...extra,
    }),
  );
  hasRequestId(out);
  assert.equal(out.$metadata.httpStatusCode, 201);
  return out;
}

const getConfig = async (name: string, qualifier?: string) => {
  const out = await lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: name, ...(qualifier !== undefined ? { Qualifier: qualifier } : {}) }),
  );
  hasRequestId(out);
  assert.equal(out.$metadata.httpStatusCode, 200);
  return out;
};

const isNear = (lastModified: string, ms = 120_000): void => {
  const t = Date.parse(lastModified.replace('+0000', 'Z'));
  assert.ok(Math.abs(Date.now() - t) < ms, `LastModified ${lastModified} is close to now`);
};

async function listAll(opts: { maxItems?: number; functionVersion?: 'ALL' } = {}) {
  const functions: FunctionConfiguration[] = [];
  const pageSizes: number[] = [];
  let marker: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const out = await lambda.send(
      new ListFunctionsCommand({
        ...(opts.maxItems !== undefined ? { MaxItems: opts.maxItems } : {}),
        ...(opts.functionVersion ? { FunctionVersion: opts.functionVersion } : {}),
        ...(marker ? { Marker: marker } : {}),
      }),
    );
    hasRequestId(out);
    functions.push(...(out.Functions ?? []));
    pageSizes.push(out.Functions?.length ?? 0);
    marker = out.NextMarker;
    if (!marker) return { functions, pageSizes };
  }
  throw new Error('ListFunctions never stopped paging');
}

describe('CreateFunction', () => {
  test('returns 201 and the whole FunctionConfiguration shape', async () => {
    const zip = await makeZip({ 'index.mjs': 'export const handler = async () => "shape";\n', 'lib/util.mjs': 'export const x = 1;\n' });
    const out = await create('shape-fn', {}, zip);

    assert.equal(out.FunctionName, 'shape-fn');
    assert.equal(out.FunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:shape-fn');
    assert.equal(out.Runtime, 'nodejs20.x');
    assert.equal(out.Role, ROLE);
    assert.equal(out.Handler, 'index.handler');
    assert.equal(out.CodeSize, zip.length);
    assert.equal(out.CodeSha256, sha256Base64(zip));
    assert.equal(out.Description, '');
    assert.equal(out.Timeout, 3);
    assert.equal(out.MemorySize, 128);
    assert.match(out.LastModified ?? '', LAST_MODIFIED);
    isNear(out.LastModified!);
    assert.equal(out.Version, '$LATEST');
    assert.equal(out.State, 'Pending');
    assert.equal(out.StateReasonCode, 'Creating');
    assert.match(out.RevisionId ?? '', UUID);
    assert.equal(out.PackageType, 'Zip');
    assert.deepEqual(out.Architectures, ['x86_64']);
    assert.deepEqual(out.EphemeralStorage, { Size: 512 });
    assert.deepEqual(out.TracingConfig, { Mode: 'PassThrough' });
    assert.deepEqual(out.LoggingConfig, { LogFormat: 'Text', LogGroup: '/aws/lambda/shape-fn' });
    assert.equal(out.Environment, undefined, 'no Environment unless one was given');

    const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'shape-fn' }));
    hasRequestId(got);
    const c = got.Configuration!;
    assert.equal(c.State, 'Active');
    assert.equal(c.LastUpdateStatus, 'Successful');
    assert.equal(c.RevisionId, out.RevisionId);
    assert.equal(c.CodeSha256, out.CodeSha256);
    assert.equal(c.LastModified, out.LastModified);
    assert.equal(c.FunctionArn, out.FunctionArn);
  });

  test('keeps the settings it is given', async () => {
    const out = await create('settings-fn', {
      Description: 'with settings',
      Timeout: 60,
      MemorySize: 2048,
      Environment: { Variables: { STAGE: 'test', EMPTY: '' } },
      EphemeralStorage: { Size: 1024 },
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: '/custom/group', ApplicationLogLevel: 'DEBUG', SystemLogLevel: 'WARN' },
    });
    const c = await getConfig('settings-fn');
    for (const cfg of [out, c]) {
      assert.equal(cfg.Description, 'with settings');
      assert.equal(cfg.Timeout, 60);
      assert.equal(cfg.MemorySize, 2048);
      assert.deepEqual(cfg.Environment, { Variables: { STAGE: 'test', EMPTY: '' } });
      assert.deepEqual(cfg.EphemeralStorage, { Size: 1024 });
      assert.deepEqual(cfg.Architectures, ['arm64']);
      assert.deepEqual(cfg.TracingConfig, { Mode: 'Active' });
      assert.deepEqual(cfg.LoggingConfig, {
        LogFormat: 'JSON',
        LogGroup: '/custom/group',
        ApplicationLogLevel: 'DEBUG',
        SystemLogLevel: 'WARN',
      });
    }
  });

  test('accepts every supported runtime', async () => {
    const runtimes = ['nodejs18.x', 'nodejs20.x', 'nodejs22.x', 'python3.12', 'provided', 'provided.al2', 'provided.al2023'];
    const zip = await makeZip({ bootstrap: '#!/bin/sh\n', 'index.py': 'def handler(e, c):\n    return e\n' });
    for (const runtime of runtimes) {
      const name = `rt-${runtime.replace(/\./g, '-')}`;
      const out = await create(name, { Runtime: runtime as Runtime, Handler: runtime.startsWith('provided') ? 'bootstrap' : 'index.handler' }, zip);
      assert.equal(out.Runtime, runtime);
      assert.equal((await getConfig(name)).Runtime, runtime);
    }
  });

  test('with Publish: true creates version 1 straight away', async () => {
    const zip = await nodeZip('export const handler = async () => "published";\n');
    const out = await create('publish-on-create', { Publish: true }, zip);
    assert.equal(out.Version, '1');
    assert.equal(out.FunctionArn, functionArn('publish-on-create', '1'));
    const v1 = await getConfig('publish-on-create', '1');
    assert.equal(v1.CodeSha256, sha256Base64(zip));
    assert.equal(v1.Version, '1');
    const latest = await getConfig('publish-on-create');
    assert.equal(latest.Version, '$LATEST');
    assert.equal(latest.CodeSha256, sha256Base64(zip));
  });
});

describe('GetFunction', () => {
  test('returns Configuration and a Code.Location that downloads the exact zip', async () => {
    const zip = await makeZip({ 'index.mjs': 'export const handler = async () => 42;\n', 'data.bin': Buffer.from([0, 1, 2, 255]) });
    await create('download-fn', {}, zip);
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'download-fn' }));
    assert.equal(got.$metadata.httpStatusCode, 200);
    assert.equal(got.Configuration?.FunctionName, 'download-fn');
    assert.equal(got.Code?.RepositoryType, 'S3');
    const location = got.Code?.Location ?? '';
    assert.ok(location.startsWith(server.url + '/'), `Location ${location} points at the server ${server.url}`);

    const res = await fetch(location);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, zip.length);
    assert.ok(body.equals(zip), 'the downloaded package is byte for byte the uploaded zip');

    // The same link with a changed signature, or none, is refused.
    const url = new URL(location);
    const sig = url.searchParams.get('X-Kindling-Signature') ?? '';
    assert.ok(sig.length > 0, 'the link is signed');
    url.searchParams.set('X-Kindling-Signature', (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
    const tampered = await fetch(url);
    assert.equal(tampered.status, 404);
    await tampered.arrayBuffer();
    url.searchParams.delete('X-Kindling-Signature');
    const unsigned = await fetch(url);
    assert.equal(unsigned.status, 404);
    await unsigned.arrayBuffer();
    // A later expiry with the old signature is refused too.
    const later = new URL(location);
    later.searchParams.set('X-Kindling-Expires', String(Number(later.searchParams.get('X-Kindling-Expires')) + 3600));
    const extended = await fetch(later);
    assert.equal(extended.status, 404);
    await extended.arrayBuffer();
  });

  test('finds a function by name, partial ARN, full ARN and name:$LATEST', async () => {
    const created = await create('arn-forms');
    const forms = ['arn-forms', `${ACCOUNT_ID}:function:arn-forms`, functionArn('arn-forms'), 'arn-forms:$LATEST', functionArn('arn-forms', '$LATEST')];
    for (const form of forms) {
      const got = await lambda.send(new GetFunctionCommand({ FunctionName: form }));
      hasRequestId(got);
      assert.equal(got.Configuration?.FunctionName, 'arn-forms', form);
      assert.equal(got.Configuration?.RevisionId, created.RevisionId, form);
      assert.equal(got.Configuration?.Version, '$LATEST', form);
      // Lambda answers a qualified request with the qualified ARN, $LATEST included.
      const arn = form.endsWith(':$LATEST') ? functionArn('arn-forms', '$LATEST') : functionArn('arn-forms');
      assert.equal(got.Configuration?.FunctionArn, arn, form);
      const conf = await getConfig(form);
      assert.equal(conf.FunctionName, 'arn-forms', form);
      assert.equal(conf.FunctionArn, arn, form);
    }
    const q = await lambda.send(new GetFunctionCommand({ FunctionName: 'arn-forms', Qualifier: '$LATEST' }));
    assert.equal(q.Configuration?.Version, '$LATEST');
    assert.equal(q.Configuration?.FunctionArn, functionArn('arn-forms', '$LATEST'));
  });

  test('GetFunctionConfiguration returns the same configuration as GetFunction', async () => {
    await create('getconf-fn', { Description: 'conf', MemorySize: 256 });
    const conf = await getConfig('getconf-fn');
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'getconf-fn' }));
    const { $metadata: _m, ...c } = conf;
    assert.deepEqual(c, got.Configuration);
    assert.equal(conf.MemorySize, 256);
    assert.equal(conf.Description, 'conf');
    assert.equal(conf.State, 'Active');
    assert.equal(conf.LastUpdateStatus, 'Successful');
  });
});

describe('UpdateFunctionCode', () => {
  test('replaces the code, publishes versions, and ignores a publish with no change', async () => {
    const zipA = await nodeZip('export const handler = async () => "A";\n');
    const zipB = await nodeZip('export const handler = async () => "B";\n');
    const zipC = await nodeZip('export const handler = async () => "C";\n');
    const zipD = await nodeZip('export const handler = async () => "D";\n');
    const created = await create('code-fn', {}, zipA);

    const b = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'code-fn', ZipFile: zipB }));
    hasRequestId(b);
    assert.equal(b.$metadata.httpStatusCode, 200);
    assert.equal(b.CodeSha256, sha256Base64(zipB));
    assert.notEqual(b.CodeSha256, created.CodeSha256);
    assert.equal(b.CodeSize, zipB.length);
    assert.equal(b.Version, '$LATEST');
    assert.match(b.RevisionId ?? '', UUID);
    assert.notEqual(b.RevisionId, created.RevisionId);
    assert.equal(b.LastUpdateStatus, 'InProgress');
    const afterB = await getConfig('code-fn');
    assert.equal(afterB.CodeSha256, sha256Base64(zipB));
    assert.equal(afterB.LastUpdateStatus, 'Successful');
    assert.equal(afterB.RevisionId, b.RevisionId);
    const dl = await lambda.send(new GetFunctionCommand({ FunctionName: 'code-fn' }));
    assert.ok(Buffer.from(await (await fetch(dl.Code!.Location!)).arrayBuffer()).equals(zipB));

    const v1 = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'code-fn', ZipFile: zipC, Publish: true }));
    assert.equal(v1.Version, '1');
    assert.equal(v1.FunctionArn, functionArn('code-fn', '1'));
    assert.equal(v1.CodeSha256, sha256Base64(zipC));

    // The same code again with Publish: nothing changed since version 1, so no version 2.
    const again = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'code-fn', ZipFile: zipC, Publish: true }));
    assert.equal(again.Version, '1');
    const missing = await rejection(lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'code-fn', Qualifier: '2' })));
    assert.equal(missing.name, 'ResourceNotFoundException');
    assert.equal(missing.$metadata.httpStatusCode, 404);
    assert.equal(missing.message, `Function not found: ${functionArn('code-fn', '2')}`);

    // New code with Publish makes version 2; version 1 keeps its code.
    const v2 = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'code-fn', ZipFile: zipD, Publish: true }));
    assert.equal(v2.Version, '2');
    assert.equal((await getConfig('code-fn', '1')).CodeSha256, sha256Base64(zipC));
    assert.equal((await getConfig('code-fn', '2')).CodeSha256, sha256Base64(zipD));
    assert.equal((await getConfig('code-fn')).CodeSha256, sha256Base64(zipD));
    const dl1 = await lambda.send(new GetFunctionCommand({ FunctionName: 'code-fn', Qualifier: '1' }));
    assert.equal(dl1.Configuration?.Version, '1');
    assert.equal(dl1.Configuration?.FunctionArn, functionArn('code-fn', '1'));
    assert.ok(Buffer.from(await (await fetch(dl1.Code!.Location!)).arrayBuffer()).equals(zipC), 'version 1 still downloads its own zip');
    const byName = await getConfig('code-fn:1');
    assert.equal(byName.Version, '1');
  });

  test('honours the RevisionId precondition', async () => {
    const created = await create('code-rev');
    const zip2 = await nodeZip('export const handler = async () => 2;\n');
    const zip3 = await nodeZip('export const handler = async () => 3;\n');
    const ok = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'code-rev', ZipFile: zip2, RevisionId: created.RevisionId }));
    assert.equal(ok.CodeSha256, sha256Base64(zip2));

    const stale = await rejection(
      lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'code-rev', ZipFile: zip3, RevisionId: created.RevisionId })),
    );
    assert.equal(stale.name, 'PreconditionFailedException');
    assert.equal(stale.$metadata.httpStatusCode, 412);
    assert.equal(
      stale.message,
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
    );
    assert.match(stale.$metadata.requestId ?? '', UUID);
    const c = await getConfig('code-rev');
    assert.equal(c.CodeSha256, sha256Base64(zip2), 'the refused update changed nothing');
    assert.equal(c.RevisionId, ok.RevisionId);
  });
});

describe('UpdateFunctionConfiguration', () => {
  test('applies each setting and keeps the code', async () => {
    const created = await create('conf-fn');
    const role2 = `arn:aws:iam::${ACCOUNT_ID}:role/service-role/other`;
    const out = await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'conf-fn',
        Handler: 'main.run',
        Runtime: 'python3.12',
        Role: role2,
        Description: 'updated',
        Timeout: 900,
        MemorySize: 10240,
        Environment: { Variables: { AA: '1', B_2: 'two' } },
        EphemeralStorage: { Size: 10240 },
      }),
    );
    hasRequestId(out);
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.equal(out.LastUpdateStatus, 'InProgress');
    assert.notEqual(out.RevisionId, created.RevisionId);
    const c = await getConfig('conf-fn');
    for (const cfg of [out, c]) {
      assert.equal(cfg.Handler, 'main.run');
      assert.equal(cfg.Runtime, 'python3.12');
      assert.equal(cfg.Role, role2);
      assert.equal(cfg.Description, 'updated');
      assert.equal(cfg.Timeout, 900);
      assert.equal(cfg.MemorySize, 10240);
      assert.deepEqual(cfg.Environment, { Variables: { AA: '1', B_2: 'two' } });
      assert.deepEqual(cfg.EphemeralStorage, { Size: 10240 });
      assert.equal(cfg.CodeSha256, created.CodeSha256);
      assert.equal(cfg.CodeSize, created.CodeSize);
    }
    assert.equal(c.LastUpdateStatus, 'Successful');
    assert.equal(c.State, 'Active');
    assert.equal(c.RevisionId, out.RevisionId);
    assert.match(c.LastModified ?? '', LAST_MODIFIED);

    // A partial update changes only what it names.
    const partial = await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'conf-fn', MemorySize: 512 }));
    assert.equal(partial.MemorySize, 512);
    assert.equal(partial.Timeout, 900);
    assert.equal(partial.Handler, 'main.run');
    assert.deepEqual(partial.Environment, { Variables: { AA: '1', B_2: 'two' } });
  });

  test('honours the RevisionId precondition', async () => {
    const created = await create('conf-rev');
    const ok = await lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'conf-rev', Description: 'first', RevisionId: created.RevisionId }),
    );
    assert.equal(ok.Description, 'first');
    const stale = await rejection(
      lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'conf-rev', Description: 'second', RevisionId: created.RevisionId })),
    );
    assert.equal(stale.name, 'PreconditionFailedException');
    assert.equal(stale.$metadata.httpStatusCode, 412);
    assert.equal(
      stale.message,
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
    );
    assert.equal((await getConfig('conf-rev')).Description, 'first');
  });

  test('RevisionId is a fresh UUID after every change', async () => {
    const seen = new Set<string>();
    const add = (id: string | undefined) => {
      assert.match(id ?? '', UUID);
      assert.ok(!seen.has(id!), `RevisionId ${id} was not used before`);
      seen.add(id!);
    };
    add((await create('rev-chain')).RevisionId);
    for (let i = 0; i < 3; i++) {
      add((await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'rev-chain', Description: `d${i}` }))).RevisionId);
      add((await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'rev-chain', ZipFile: await nodeZip(`// ${i}\n`) }))).RevisionId);
    }
    assert.equal(seen.size, 7);
    const last = [...seen].pop();
    assert.equal((await getConfig('rev-chain')).RevisionId, last);
  });
});

describe('DeleteFunction', () => {
  test('answers 204, then the function is gone', async () => {
    await create('delete-me');
    const out = await lambda.send(new DeleteFunctionCommand({ FunctionName: 'delete-me' }));
    hasRequestId(out);
    assert.equal(out.$metadata.httpStatusCode, 204);
    const err = await rejection(lambda.send(new GetFunctionCommand({ FunctionName: 'delete-me' })));
    assert.equal(err.name, 'ResourceNotFoundException');
    assert.equal(err.$metadata.httpStatusCode, 404);
    assert.equal(err.message, 'Function not found: arn:aws:lambda:us-east-1:000000000000:function:delete-me');
    const again = await rejection(lambda.send(new DeleteFunctionCommand({ FunctionName: 'delete-me' })));
    assert.equal(again.name, 'ResourceNotFoundException');
    assert.equal(again.$metadata.httpStatusCode, 404);
  });

  test('takes a partial or full ARN, and the name can be reused afterwards', async () => {
    for (const form of [`${ACCOUNT_ID}:function:delete-arn`, functionArn('delete-arn')]) {
      await create('delete-arn');
      const out = await lambda.send(new DeleteFunctionCommand({ FunctionName: form }));
      assert.equal(out.$metadata.httpStatusCode, 204, form);
      const err = await rejection(getConfig('delete-arn'));
      assert.equal(err.name, 'ResourceNotFoundException', form);
    }
  });

  test('name:$LATEST is refused; name:N deletes only that version', async () => {
    await create('delete-versions', { Publish: true });
    const latest = await rejection(lambda.send(new DeleteFunctionCommand({ FunctionName: 'delete-versions:$LATEST' })));
    assert.equal(latest.name, 'InvalidParameterValueException');
    assert.equal(latest.$metadata.httpStatusCode, 400);
    assert.equal(latest.message, '$LATEST version cannot be deleted without deleting the function.');

    const v1 = await lambda.send(new DeleteFunctionCommand({ FunctionName: 'delete-versions:1' }));
    assert.equal(v1.$metadata.httpStatusCode, 204);
    const gone = await rejection(getConfig('delete-versions', '1'));
    assert.equal(gone.name, 'ResourceNotFoundException');
    assert.equal(gone.message, `Function not found: ${functionArn('delete-versions', '1')}`);
    assert.equal((await getConfig('delete-versions')).Version, '$LATEST', '$LATEST is still there');
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'delete-versions' }));
  });

  test('deleting a function removes its published versions too', async () => {
    await create('delete-all', { Publish: true });
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'delete-all' }));
    const err = await rejection(getConfig('delete-all', '1'));
    assert.equal(err.name, 'ResourceNotFoundException');
    const { functions } = await listAll({ functionVersion: 'ALL' });
    assert.ok(!functions.some((f) => f.FunctionName === 'delete-all'));
  });
});

describe('ListFunctions', () => {
  const names = ['list-05', 'list-01', 'list-06', 'list-00', 'list-03', 'list-04', 'list-02'];

  before(async () => {
    for (const name of names) await create(name, { Description: name });
    await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'list-03', ZipFile: await nodeZip('// v1\n'), Publish: true }));
  });

  test('pages with MaxItems and NextMarker: every function once, in name order', async () => {
    const full = await lambda.send(new ListFunctionsCommand({}));
    hasRequestId(full);
    assert.equal(full.NextMarker, undefined);
    const allNames = (full.Functions ?? []).map((f) => f.FunctionName!);
    for (const n of names) assert.ok(allNames.includes(n), `${n} is listed`);
    assert.deepEqual(allNames, [...allNames].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'sorted by name');
    assert.equal(new Set(allNames).size, allNames.length, 'no duplicates');

    const { functions, pageSizes } = await listAll({ maxItems: 3 });
    const paged = functions.map((f) => f.FunctionName!);
    assert.deepEqual(paged, allNames, 'paging yields the same list as one page');
    assert.ok(pageSizes.length >= 3, 'at least three pages');
    assert.deepEqual(pageSizes, pageSizes.map((_, i) => (i < pageSizes.length - 1 ? 3 : pageSizes[i]!)), 'full pages of 3');
    assert.ok(pageSizes.at(-1)! >= 1 && pageSizes.at(-1)! <= 3);
    const ours = paged.filter((n) => n.startsWith('list-'));
    assert.deepEqual(ours, [...names].sort());
  });

  test('lists $LATEST only by default, with unqualified ARNs and no state fields', async () => {
    const { functions } = await listAll();
    const entries = functions.filter((f) => f.FunctionName === 'list-03');
    assert.equal(entries.length, 1);
    const f = entries[0]!;
    assert.equal(f.Version, '$LATEST');
    assert.equal(f.FunctionArn, functionArn('list-03'));
    assert.equal(f.Description, 'list-03');
    assert.equal(f.Runtime, 'nodejs20.x');
    assert.match(f.RevisionId ?? '', UUID);
    assert.equal(f.State, undefined, 'ListFunctions leaves State out');
    for (const fn of functions) assert.equal(fn.Version, '$LATEST');
  });

  test('FunctionVersion=ALL lists published versions with qualified ARNs', async () => {
    const { functions, pageSizes } = await listAll({ functionVersion: 'ALL', maxItems: 2 });
    assert.ok(pageSizes.every((n) => n <= 2));
    const entries = functions.filter((f) => f.FunctionName === 'list-03');
    assert.deepEqual(
      entries.map((f) => [f.Version, f.FunctionArn]),
      [
        ['$LATEST', 'arn:aws:lambda:us-east-1:000000000000:function:list-03:$LATEST'],
        ['1', 'arn:aws:lambda:us-east-1:000000000000:function:list-03:1'],
      ],
    );
    const list01 = functions.filter((f) => f.FunctionName === 'list-01');
    assert.deepEqual(list01.map((f) => f.FunctionArn), [functionArn('list-01', '$LATEST')]);
    const keys = functions.map((f) => `${f.FunctionName}:${f.Version}`);
    assert.equal(new Set(keys).size, keys.length, 'every version once');
  });

  test('GetAccountSettings reports limits and usage that match the listing', async () => {
    const out = await lambda.send(new GetAccountSettingsCommand({}));
    hasRequestId(out);
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.deepEqual(out.AccountLimit, {
      TotalCodeSize: 80530636800,
      CodeSizeUnzipped: 262144000,
      CodeSizeZipped: 52428800,
      ConcurrentExecutions: 1000,
      UnreservedConcurrentExecutions: 1000,
    });
    const { functions } = await listAll();
    const { functions: versions } = await listAll({ functionVersion: 'ALL' });
    assert.equal(out.AccountUsage?.FunctionCount, functions.length);
    assert.equal(out.AccountUsage?.TotalCodeSize, versions.reduce((sum, v) => sum + (v.CodeSize ?? 0), 0));

    await create('account-extra');
    const more = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(more.AccountUsage?.FunctionCount, functions.length + 1);
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'account-extra' }));
    const fewer = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(fewer.AccountUsage?.FunctionCount, functions.length);
  });
});
