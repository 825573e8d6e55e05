// `kindling deploy`, `kindling functions`, `kindling rm`.
import { stat, readFile } from 'node:fs/promises';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  ResourceNotFoundException,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionUpdatedV2,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { Readable } from 'node:stream';
import { envAccountId } from '../config.js';
import { zipFolder } from './zip-folder.js';

export interface DeployOptions {
  name: string;
  runtime?: string;
  handler?: string;
  memory?: string;
  timeout?: string;
  env?: string[];
  role?: string;
  description?: string;
}

const PROGRESS_FROM_BYTES = 1024 * 1024;

/** Shows upload progress by handing the SDK a body that reports as it is read. */
function withUploadProgress(client: LambdaClient): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { body?: unknown; headers: Record<string, string> };
      if (typeof request.body === 'string' && request.body.length >= PROGRESS_FROM_BYTES && process.stderr.isTTY !== undefined) {
        const body = Buffer.from(request.body);
        const total = body.length;
        let sent = 0;
        let shown = -1;
        const CHUNK = 256 * 1024;
        request.body = Readable.from(
          (function* () {
            for (let i = 0; i < total; i += CHUNK) {
              const chunk = body.subarray(i, i + CHUNK);
              sent += chunk.length;
              const pct = Math.floor((sent / total) * 100);
              if (pct !== shown) {
                shown = pct;
                process.stderr.write(`\rUploading ${(total / 1048576).toFixed(1)} MB: ${pct}%`);
              }
              yield chunk;
            }
            process.stderr.write('\n');
          })(),
        );
        request.headers['content-length'] = String(total);
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'kindlingUploadProgress', priority: 'low' },
  );
}

function parseEnv(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const vars: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--env takes KEY=VALUE, not '${pair}'.`);
    vars[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return vars;
}

const intOption = (value: string | undefined, flag: string): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`${flag} takes a whole number, not '${value}'.`);
  return Number(value);
};

export async function deploy(client: LambdaClient, source: string, opts: DeployOptions): Promise<void> {
  const info = await stat(source).catch(() => {
    throw new Error(`${source}: no such file or folder.`);
  });
  process.stderr.write(info.isDirectory() ? `Packing ${source}...\n` : '');
  const zip = info.isDirectory() ? await zipFolder(source) : await readFile(source);
  withUploadProgress(client);
  const memory = intOption(opts.memory, '--memory');
  const timeout = intOption(opts.timeout, '--timeout');
  const env = parseEnv(opts.env);
  const settings = {
    ...(opts.runtime ? { Runtime: opts.runtime as never } : {}),
    ...(opts.handler ? { Handler: opts.handler } : {}),
    ...(memory !== undefined ? { MemorySize: memory } : {}),
    ...(timeout !== undefined ? { Timeout: timeout } : {}),
    ...(env ? { Environment: { Variables: env } } : {}),
    ...(opts.description !== undefined ? { Description: opts.description } : {}),
    ...(opts.role ? { Role: opts.role } : {}),
  };
  let exists = true;
  try {
    await client.send(new GetFunctionConfigurationCommand({ FunctionName: opts.name }));
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
    exists = false;
  }
  if (!exists) {
    if (!opts.runtime || !opts.handler) throw new Error('A new function needs --runtime and --handler.');
    const out = await client.send(
      new CreateFunctionCommand({
        FunctionName: opts.name,
        Role: `arn:aws:iam::${envAccountId()}:role/kindling-function`,
        Code: { ZipFile: zip },
        ...settings,
      }),
    );
    console.log(`Created ${out.FunctionArn} (${out.CodeSize} bytes, CodeSha256 ${out.CodeSha256})`);
    return;
  }
  const code = await client.send(new UpdateFunctionCodeCommand({ FunctionName: opts.name, ZipFile: zip }));
  if (Object.keys(settings).length > 0) {
    await waitUntilFunctionUpdatedV2({ client, maxWaitTime: 60 }, { FunctionName: opts.name });
    await client.send(new UpdateFunctionConfigurationCommand({ FunctionName: opts.name, ...settings }));
  }
  console.log(`Updated ${code.FunctionArn} (${code.CodeSize} bytes, CodeSha256 ${code.CodeSha256})`);
}

export async function listFunctions(client: LambdaClient, json: boolean): Promise<void> {
  const rows: { name: string; runtime: string; memory: number; modified: string }[] = [];
  const all = [];
  let marker: string | undefined;
  do {
    const page = await client.send(new ListFunctionsCommand({ ...(marker ? { Marker: marker } : {}) }));
    for (const f of page.Functions ?? []) {
      all.push(f);
      rows.push({ name: f.FunctionName ?? '', runtime: f.Runtime ?? '', memory: f.MemorySize ?? 0, modified: f.LastModified ?? '' });
    }
    marker = page.NextMarker;
  } while (marker);
  if (json) {
    console.log(JSON.stringify(all, null, 2));
    return;
  }
  if (rows.length === 0) {
    console.log('No functions yet: create one with `kindling deploy DIR --name N --runtime R --handler H`.');
    return;
  }
  const w = Math.max(4, ...rows.map((r) => r.name.length));
  console.log(`${'NAME'.padEnd(w)}  ${'RUNTIME'.padEnd(16)}  ${'MEMORY'.padStart(6)}  LAST MODIFIED`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(w)}  ${r.runtime.padEnd(16)}  ${String(r.memory).padStart(6)}  ${r.modified}`);
  }
}

export async function removeFunction(client: LambdaClient, name: string): Promise<void> {
  await client.send(new DeleteFunctionCommand({ FunctionName: name }));
  console.log(`Deleted ${name}`);
}
