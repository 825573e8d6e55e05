// The `kindling` command.
import { Command, Option } from 'commander';
import { DEFAULT_HOST, DEFAULT_PORT } from '../config.js';
import { defaultDataDir } from '../store/datadir.js';
import { lambdaClient, logsClientFor, type ClientOptions } from './client.js';
import { invoke, logs, type InvokeOptions, type LogsOptions } from './invoke.js';
import { deploy, listFunctions, removeFunction, type DeployOptions } from './functions.js';
import { failedEvents, redriveEvents } from './events.js';
import { up, type UpOptions } from './up.js';
import { createKey, deleteKey, listKeys } from './keys.js';
import { drainHost, listHosts } from './hosts.js';
import { microvmBuild, type MicrovmBuildOptions } from './microvm.js';
import { worker, type WorkerOptions } from './worker.js';

// Kindling supports the Node.js it was built for; the SDK's notice about its own future plans is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command();
program
  .name('kindling')
  .description('Kindling: a self-hosted serverless platform that speaks AWS Lambda\'s APIs.')
  .showHelpAfterError();

const endpointOption = () =>
  new Option('--endpoint <url>', 'the Kindling server (default: $KINDLING_ENDPOINT or http://127.0.0.1:9000)');
const regionOption = () => new Option('--region <region>', 'region to sign requests for (default: $KINDLING_REGION or us-east-1)');

program
  .command('up')
  .description('run Kindling on this machine: every part in one process, state in SQLite, code in a local folder')
  .option('--host <host>', 'address to listen on', DEFAULT_HOST)
  .option('--port <port>', 'port to listen on (0 picks a free one)', String(DEFAULT_PORT))
  .option('--data <dir>', 'data folder (default: $KINDLING_DATA_DIR or ~/.kindling)', defaultDataDir())
  .option('--region <region>', 'region in ARNs (default: $KINDLING_REGION or us-east-1)')
  .option('--account-id <id>', 'account id in ARNs (default: $KINDLING_ACCOUNT_ID or 000000000000)')
  .option('--idle-timeout <seconds>', 'how long an idle warm sandbox is kept (default: 600)')
  .option('--memory <mb>', 'memory the worker host gives sandboxes (default: 80% of this machine)')
  .option('--sandbox <driver>', 'namespace (isolated; needs root on Linux), microvm (a virtual machine per sandbox; needs QEMU and a guest kernel), process (no isolation), or auto (default: namespace where it can run)')
  .option('--no-sandbox-pool', 'no pool of pre-started generic sandboxes: every cold start launches its own (also $KINDLING_SANDBOX_POOL=off)')
  .option('--state <url>', 'cluster mode: keep state and the async queue in PostgreSQL (postgres://user:pass@host/db) instead of SQLite files in the data folder (default: $KINDLING_STATE)')
  .option('--code <url>', 'cluster mode: keep code packages in an S3-compatible bucket (s3://bucket[/prefix][?endpoint=URL]) instead of the data folder (default: $KINDLING_CODE)')
  .option('--microvm-dir <dir>', 'where the microvm driver keeps its guest image and snapshots (default: $KINDLING_MICROVM_DIR or <data>/microvm)')
  .option('--concurrency <n>', 'the account\'s concurrent executions limit (default: 1000)')
  .option('--async-time-scale <factor>', 'multiply async retry delays and maximum event age, e.g. 0.001 in tests (default: $KINDLING_ASYNC_TIME_SCALE or 1)')
  .option('--log-retention-days <days>', 'how long function logs are kept (default: 7)')
  .option('--rate-limit <n>', 'requests per second per access key; more get 429 (default: 10000)')
  .option('--request-timeout <seconds>', 'a request (headers and body) must arrive within this (default: 300)')
  .option('--headers-timeout <seconds>', "a request's headers must arrive within this (default: 20)")
  .option('--role <role>', 'all (every part here, sandboxes too), manager (sandboxes only on worker hosts that join with `kindling worker --join URL`) or frontend (the API only; --manager admits invokes and leases sandboxes) (default: all)')
  .option('--manager <url>', "role frontend: the Worker Manager's URL, e.g. http://10.0.0.1:9000 (default: $KINDLING_MANAGER)")
  .action((opts: UpOptions) => up(opts));

program
  .command('worker')
  .description('run a worker host on this machine, joined to the Worker Manager of a Kindling (kindling up) that places sandboxes on it')
  .option('--join <url>', "the manager's URL, e.g. http://10.0.0.1:9000 (signed with $KINDLING_ACCESS_KEY_ID/$KINDLING_SECRET_ACCESS_KEY or <data>/root-key.json)")
  .option('--memory <mb>', 'memory this host gives sandboxes (default: 80% of this machine)')
  .option('--data <dir>', 'data folder: the host id, the package cache (default: $KINDLING_DATA_DIR or ~/.kindling)', defaultDataDir())
  .option('--listen <host:port>', 'where to serve the sandbox API to the manager (port 0 picks a free one)', '127.0.0.1:0')
  .option('--advertise <url>', 'the URL the manager reaches that API at (default: http://<listen host>:<bound port>)')
  .option('--sandbox <driver>', 'namespace, microvm, process or auto, as for kindling up (default: auto)')
  .option('--no-sandbox-pool', 'no pool of pre-started generic sandboxes, as for kindling up')
  .option('--region <region>', "the manager's region, to sign requests for (default: $KINDLING_REGION or us-east-1)")
  .action((opts: WorkerOptions) => worker(opts));

program
  .command('deploy')
  .description('create a function from a folder or zip, or update its code (and settings) when it exists')
  .argument('<source>', 'a folder (zipped for you) or a .zip file')
  .requiredOption('--name <name>', 'function name')
  .option('--runtime <runtime>', 'e.g. nodejs20.x, python3.12, provided.al2023 (required to create)')
  .option('--handler <handler>', 'e.g. index.handler (required to create)')
  .option('--memory <mb>', 'memory in MB (128-10240)')
  .option('--timeout <seconds>', 'timeout in seconds (1-900)')
  .option('--env <KEY=VALUE...>', 'environment variables (repeatable)')
  .option('--description <text>', 'description')
  .option('--role <arn>', 'execution role ARN')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((source: string, opts: DeployOptions & ClientOptions) => deploy(lambdaClient(opts), source, opts));

program
  .command('functions')
  .alias('ls')
  .description('list functions')
  .option('--json', 'print Lambda\'s FunctionConfiguration objects')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((opts: ClientOptions & { json?: boolean }) => listFunctions(lambdaClient(opts), Boolean(opts.json)));

program
  .command('rm')
  .description('delete a function and all its versions')
  .argument('<name>', 'function name or ARN')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((name: string, opts: ClientOptions) => removeFunction(lambdaClient(opts), name));

program
  .command('invoke')
  .description('invoke a function synchronously and print its response')
  .argument('<name>', 'function name, name:qualifier or ARN')
  .option('--payload <json|@file>', 'the event: JSON text, or @path to read it from a file')
  .option('--qualifier <q>', 'version or alias')
  .option('--log', 'print the invoke\'s log tail (last 4 KB) to stderr')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((name: string, opts: InvokeOptions & ClientOptions) => invoke(lambdaClient(opts), name, opts));

program
  .command('logs')
  .description('print a function\'s log lines')
  .argument('<name>', 'function name')
  .option('--since <duration>', 'how far back, e.g. 30s, 10m, 1h, 2d', '1h')
  .option('--follow', 'keep printing new lines as they come')
  .option('--filter <text>', 'only lines containing this text')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((name: string, opts: LogsOptions & ClientOptions) => logs(logsClientFor(opts), name, opts));

const events = program.command('events').description('asynchronous events of a function that failed with no destination');
events
  .command('failed')
  .description('list the failed events of a function')
  .argument('<name>', 'function name')
  .option('--json', 'print them as JSON, invocation records included')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((name: string, opts: ClientOptions & { json?: boolean }) => failedEvents(opts, name));
events
  .command('redrive')
  .description('queue failed events of a function again (all, or those given with --id)')
  .argument('<name>', 'function name')
  .option('--id <id...>', 'only these failed events (ids from `kindling events failed`)')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((name: string, opts: ClientOptions & { id?: string[] }) => redriveEvents(opts, name));

const microvm = program.command('microvm').description('the microvm sandbox driver');
microvm
  .command('build')
  .description('build the guest image (kernel, initramfs, userland) and snapshot booted VMs, ahead of the first cold start')
  .option('--data <dir>', 'data folder (default: $KINDLING_DATA_DIR or ~/.kindling)', defaultDataDir())
  .option('--dir <dir>', 'image folder (default: $KINDLING_MICROVM_DIR or <data>/microvm)')
  .option('--memory <mb...>', 'function memory sizes to snapshot (default: 128)')
  .action((opts: MicrovmBuildOptions) => microvmBuild(opts));

const keys = program.command('keys').description('access keys that sign requests to Kindling (managed with the root key)');
keys
  .command('create')
  .description('make a new access key; prints its id and secret (the secret only this once)')
  .option('--name <name>', 'a name to tell the key by')
  .option('--json', 'print the key as JSON')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((opts: ClientOptions & { name?: string; json?: boolean }) => createKey(opts));
keys
  .command('list')
  .description('list access keys: ids, names, creation times (never secrets)')
  .option('--json', 'print them as JSON')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((opts: ClientOptions & { json?: boolean }) => listKeys(opts));
keys
  .command('delete')
  .description('delete an access key (not the root key); requests signed with it are refused from then on')
  .argument('<id>', 'access key id')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((id: string, opts: ClientOptions) => deleteKey(opts, id));

const host = program.command('host').description('the worker hosts of a Worker Manager (kindling up --role manager, kindling worker --join)');
host
  .command('list')
  .description('list worker hosts: state (live, draining, dead), memory, sandboxes, last heartbeat')
  .option('--json', 'print them as JSON')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((opts: ClientOptions & { json?: boolean }) => listHosts(opts));
host
  .command('drain')
  .description('place no new sandboxes on a host; its idle sandboxes are retired, busy ones finish')
  .argument('<host>', 'host id (from kindling host list)')
  .addOption(endpointOption())
  .addOption(regionOption())
  .action((hostId: string, opts: ClientOptions) => drainHost(opts, hostId));

program
  .command('bench')
  .description('measure warm and cold invokes against a bare Node http server (starts its own Kindling)')
  .option('--seconds <n>', 'seconds per load run', '10')
  .option('--cold-functions <n>', 'functions created for the cold-start figure', '30')
  .option('--sandbox <driver>', 'sandbox driver of the Kindling under test: namespace, microvm or process (default: as kindling up picks)')
  .option('--drivers', 'compare the sandbox drivers instead: cold start, warm invoke and memory per sandbox')
  .option('--microvm-dir <dir>', 'with --drivers: the micro-VM image folder (default: $KINDLING_MICROVM_DIR or a temporary one)')
  .option('--json', 'print the figures as JSON')
  .action(async (opts: { seconds: string; coldFunctions: string; sandbox?: string; drivers?: boolean; microvmDir?: string; json?: boolean }) => {
    process.argv = [
      process.argv[0]!,
      'bench',
      '--seconds',
      opts.seconds,
      '--cold-functions',
      opts.coldFunctions,
      ...(opts.sandbox ? ['--sandbox', opts.sandbox] : []),
      ...(opts.drivers ? ['--drivers'] : []),
      ...(opts.microvmDir ? ['--microvm-dir', opts.microvmDir] : []),
      ...(opts.json ? ['--json'] : []),
    ];
    await import('../bench/main.js');
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { name?: string; message?: string; $metadata?: unknown; code?: string };
  if (e.code === 'ECONNREFUSED') {
    console.error('kindling: cannot reach the Kindling server; start it with `kindling up` or pass --endpoint.');
  } else if (e.$metadata) {
    console.error(`kindling: ${e.name}: ${e.message}`);
  } else {
    console.error(`kindling: ${e.message ?? String(err)}`);
  }
  process.exit(1);
});
