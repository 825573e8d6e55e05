// The `kindling` command.
import { Command, Option } from 'commander';
import { DEFAULT_HOST, DEFAULT_PORT } from '../config.js';
import { defaultDataDir } from '../store/datadir.js';
import { lambdaClient, type ClientOptions } from './client.js';
import { deploy, listFunctions, removeFunction, type DeployOptions } from './functions.js';
import { up, type UpOptions } from './up.js';

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
  .action((opts: UpOptions) => up(opts));

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
