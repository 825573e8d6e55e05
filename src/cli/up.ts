// `kindling up`: the embedded server in the foreground.
import { exitOnSignals } from './signals.js';
import { SANDBOX_CHOICES, type SandboxChoice } from '../sandbox/select.js';
import { DEFAULT_SANDBOX_IDLE_MS, defaultHostMemoryMb, envAccountId, envMicrovmDir, envRegion, KINDLING_ROLES, type KindlingConfig, type KindlingRole } from '../config.js';
import { startKindling } from '../kindling.js';
import { ACCOUNT_CONCURRENCY_DEFAULT, UNRESERVED_CONCURRENCY_MIN } from '../limits.js';
import { createLogger } from '../log.js';
import { DataDirLockedError } from '../store/datadir.js';
import { isConnectionFailure, isPostgresUrl } from '../store/postgres/db.js';
import { parseS3Url } from '../store/s3-code.js';

export interface UpOptions {
  host: string;
  port: string;
  data: string;
  region?: string;
  accountId?: string;
  idleTimeout?: string;
  memory?: string;
  concurrency?: string;
  sandbox?: string;
  /** false with --no-sandbox-pool. */
  sandboxPool?: boolean;
  microvmDir?: string;
  state?: string;
  code?: string;
  asyncTimeScale?: string;
  logRetentionDays?: string;
  rateLimit?: string;
  requestTimeout?: string;
  headersTimeout?: string;
  role?: string;
  manager?: string;
}

/** Roles that are not `kindling up`'s, and what to say of them. */
const OTHER_ROLES: Record<string, string> = {
  worker: 'a worker host is `kindling worker --join URL`, not --role worker: use all, manager or frontend here',
};

export async function up(opts: UpOptions): Promise<void> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`kindling up: --port must be a port number (0-65535), not '${opts.port}'.`);
    process.exit(2);
  }
  const config: KindlingConfig = {
    host: opts.host,
    port,
    dataDir: opts.data,
    region: opts.region ?? envRegion(),
    accountId: opts.accountId ?? envAccountId(),
    sandboxIdleMs: opts.idleTimeout !== undefined ? Number(opts.idleTimeout) * 1000 : DEFAULT_SANDBOX_IDLE_MS,
    hostMemoryMb: opts.memory !== undefined ? Number(opts.memory) : defaultHostMemoryMb(),
    accountConcurrency: opts.concurrency !== undefined ? Number(opts.concurrency) : ACCOUNT_CONCURRENCY_DEFAULT,
  };
  if (opts.sandboxPool === false) config.sandboxPool = false;
  if (opts.sandbox !== undefined) {
    if (!(SANDBOX_CHOICES as readonly string[]).includes(opts.sandbox)) {
      console.error(`kindling up: --sandbox takes namespace, microvm, process or auto, not '${opts.sandbox}'.`);
      process.exit(2);
    }
    config.sandbox = opts.sandbox as SandboxChoice;
  }
  const stateUrl = opts.state ?? (process.env.KINDLING_STATE || undefined);
  if (stateUrl !== undefined) {
    if (!isPostgresUrl(stateUrl)) {
      console.error(`kindling up: --state takes a postgres://user:password@host:port/database URL, not '${stateUrl}'.`);
      process.exit(2);
    }
    config.stateUrl = stateUrl;
  }
  const codeUrl = opts.code ?? (process.env.KINDLING_CODE || undefined);
  if (codeUrl !== undefined) {
    try {
      parseS3Url(codeUrl);
    } catch (err) {
      console.error(`kindling up: --code: ${(err as Error).message}.`);
      process.exit(2);
    }
    config.codeUrl = codeUrl;
  }
  const microvmDir = opts.microvmDir ?? envMicrovmDir();
  if (microvmDir !== undefined) config.microvmDir = microvmDir;
  if (!Number.isInteger(config.accountConcurrency) || config.accountConcurrency < UNRESERVED_CONCURRENCY_MIN) {
    console.error(`kindling up: --concurrency takes a whole number of at least ${UNRESERVED_CONCURRENCY_MIN}, not '${opts.concurrency}'.`);
    process.exit(2);
  }
  if (!Number.isFinite(config.sandboxIdleMs) || config.sandboxIdleMs <= 0) {
    console.error(`kindling up: --idle-timeout takes seconds (> 0), not '${opts.idleTimeout}'.`);
    process.exit(2);
  }
  if (!Number.isInteger(config.hostMemoryMb) || config.hostMemoryMb < 128) {
    console.error(`kindling up: --memory takes MB (at least 128), not '${opts.memory}'.`);
    process.exit(2);
  }
  if (opts.asyncTimeScale !== undefined) {
    config.asyncTimeScale = Number(opts.asyncTimeScale);
    if (!Number.isFinite(config.asyncTimeScale) || config.asyncTimeScale <= 0) {
      console.error(`kindling up: --async-time-scale takes a number above 0, not '${opts.asyncTimeScale}'.`);
      process.exit(2);
    }
  }
  if (opts.logRetentionDays !== undefined) {
    config.logRetentionDays = Number(opts.logRetentionDays);
    if (!Number.isFinite(config.logRetentionDays) || config.logRetentionDays <= 0) {
      console.error(`kindling up: --log-retention-days takes a number of days above 0, not '${opts.logRetentionDays}'.`);
      process.exit(2);
    }
  }
  if (opts.rateLimit !== undefined) {
    config.rateLimit = Number(opts.rateLimit);
    if (!Number.isFinite(config.rateLimit) || config.rateLimit <= 0) {
      console.error(`kindling up: --rate-limit takes requests per second above 0, not '${opts.rateLimit}'.`);
      process.exit(2);
    }
  }
  for (const [flag, value, key] of [
    ['--request-timeout', opts.requestTimeout, 'requestTimeoutMs'],
    ['--headers-timeout', opts.headersTimeout, 'headersTimeoutMs'],
  ] as const) {
    if (value === undefined) continue;
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      console.error(`kindling up: ${flag} takes seconds above 0, not '${value}'.`);
      process.exit(2);
    }
    config[key] = Math.round(seconds * 1000);
  }
  if (opts.role !== undefined) {
    if (!(KINDLING_ROLES as readonly string[]).includes(opts.role)) {
      console.error(`kindling up: ${OTHER_ROLES[opts.role] ?? `--role takes all, manager or frontend, not '${opts.role}'`}.`);
      process.exit(2);
    }
    config.role = opts.role as KindlingRole;
  }
  const managerUrl = opts.manager ?? (process.env.KINDLING_MANAGER || undefined);
  if (config.role === 'frontend') {
    // The manager must read what this frontend stores: state and code are the cluster's.
    if (managerUrl === undefined || !isHttpUrl(managerUrl)) {
      console.error(`kindling up: --role frontend needs --manager URL, the http:// URL of a kindling up --role manager (or all)${managerUrl !== undefined ? `, not '${managerUrl}'` : ''}.`);
      process.exit(2);
    }
    if (config.stateUrl === undefined || config.codeUrl === undefined) {
      console.error('kindling up: --role frontend needs the cluster\'s stores, the same as its manager\'s: --state postgres://... and --code s3://....');
      process.exit(2);
    }
    config.managerUrl = managerUrl;
  } else if (opts.manager !== undefined) {
    console.error('kindling up: --manager is for --role frontend.');
    process.exit(2);
  }
  if (!/^\d{12}$/.test(config.accountId)) {
    console.error(`kindling up: the account id must be 12 digits, not '${config.accountId}'.`);
    process.exit(2);
  }
  const log = createLogger();
  let running;
  try {
    running = await startKindling(config, log);
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      console.error(`kindling up: ${err.message}`);
      process.exit(1);
    }
    if (err instanceof Error && /^sandbox driver '(namespace|microvm)' is unavailable/.test(err.message)) {
      console.error(`kindling up: ${err.message}`);
      process.exit(1);
    }
    if (config.stateUrl !== undefined && isConnectionFailure(err)) {
      console.error(`kindling up: cannot reach PostgreSQL at ${redactUrl(config.stateUrl)} (${(err as Error).message}).`);
      process.exit(1);
    }
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      console.error(`kindling up: ${config.host}:${config.port} is already in use; pick another --port.`);
      process.exit(1);
    }
    throw err;
  }
  if (running.rootKeySource === 'created') {
    console.log(`Created the root access key in ${running.dataDir}/root-key.json (readable by you alone).`);
  }
  if (running.rootKeySource === 'cluster') {
    console.log(`Using the cluster's root access key (also written to ${running.dataDir}/root-key.json).`);
  }
  if (running.rootKeySource !== 'env') {
    console.log(
      `Sign requests with it, for example:\n` +
        `  export AWS_ACCESS_KEY_ID=${running.rootKey.accessKeyId} AWS_SECRET_ACCESS_KEY=$(node -p "require('${running.dataDir}/root-key.json').secretAccessKey") AWS_DEFAULT_REGION=${config.region}`,
    );
  }
  if (config.role === 'manager') {
    console.log(`Role: manager. No sandboxes run here: worker hosts join with \`kindling worker --join ${running.url}\`.`);
  } else if (config.role === 'frontend') {
    console.log(`Role: frontend. Invokes are admitted by the Worker Manager at ${config.managerUrl} and run on its worker hosts.`);
  } else if (running.sandbox.warning) {
    console.error(`\n  !!! ${running.sandbox.warning}\n`);
  } else {
    const how = running.sandbox.name === 'microvm' ? 'a virtual machine each, QEMU microvm' : 'namespaces, cgroups, seccomp';
    console.log(`Sandboxes: ${running.sandbox.name} (isolated: ${how}).`);
  }
  if (running.stores.state === 'postgres' || running.stores.code === 's3') {
    console.log(`Stores: state and async queue in ${running.stores.state === 'postgres' ? `PostgreSQL at ${redactUrl(config.stateUrl!)}` : 'SQLite'}, code in ${running.stores.code === 's3' ? config.codeUrl : 'the data folder'}.`);
  }
  console.log(`Kindling listening on ${running.url}`);

  exitOnSignals(log, () => running.close());
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
