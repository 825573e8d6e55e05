// The environment Lambda gives a runtime: its reserved variables, then the
// function's own.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Account } from '../control/arn.js';
import type { FunctionVersion } from '../control/model.js';
import { runtimeInfo } from '../control/runtimes.js';

/** Where Kindling's runtimes live (Lambda's /var/runtime). */
export const RUNTIME_DIR = fileURLToPath(new URL('../guest/', import.meta.url));

export interface EnvironmentInput {
  fn: FunctionVersion;
  account: Account;
  taskRoot: string;
  logStream: string;
  runtimeDir?: string;
  /** Layers root (/opt). */
  optDir?: string;
  /** AWS_LAMBDA_INITIALIZATION_TYPE; 'on-demand' unless the sandbox is provisioned concurrency. */
  initializationType?: 'on-demand' | 'provisioned-concurrency';
}

/** Where a runtime sees its code, Kindling's runtimes and the layers. */
export interface RuntimePaths {
  taskRoot: string;
  runtimeDir: string;
  optDir: string;
}

/**
 * The variables Lambda sets that a function may extend (PATH, LANG, TZ,
 * LD_LIBRARY_PATH, NODE_PATH / PYTHONPATH), before the function's own: also what
 * a pooled sandbox starts its Python interpreter with ahead of its function.
 */
export function extendableEnvironment(family: string, { taskRoot, runtimeDir, optDir }: RuntimePaths): Record<string, string> {
  const extendable: Record<string, string> = {
    PATH: `/usr/local/bin:/usr/bin/:/bin:${optDir}/bin`,
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LD_LIBRARY_PATH: `/lib64:/usr/lib64:${runtimeDir}:${taskRoot}:${taskRoot}/lib:${optDir}/lib`,
  };
  if (family === 'nodejs') {
    extendable.NODE_PATH = [
      `${optDir}/nodejs/node${process.versions.node.split('.')[0]}/node_modules`,
      `${optDir}/nodejs/node_modules`,
      join(runtimeDir, 'node_modules'),
      runtimeDir,
      taskRoot,
    ].join(':');
  }
  if (family === 'python') extendable.PYTHONPATH = `${optDir}/python`;
  return extendable;
}

export function lambdaEnvironment({ fn, account, taskRoot, logStream, runtimeDir = RUNTIME_DIR, optDir = '/opt', initializationType = 'on-demand' }: EnvironmentInput): Record<string, string> {
  const family = runtimeInfo(fn.runtime)?.family ?? 'provided';
  // Lambda lets a function extend these; the reserved ones below it cannot touch.
  const extendable = extendableEnvironment(family, { taskRoot, runtimeDir, optDir });
  const env: Record<string, string> = {
    ...extendable,
    ...(fn.environment ?? {}),
    _HANDLER: fn.handler,
    LAMBDA_TASK_ROOT: taskRoot,
    LAMBDA_RUNTIME_DIR: runtimeDir,
    AWS_REGION: account.region,
    AWS_DEFAULT_REGION: account.region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: fn.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: fn.logging.logGroup,
    AWS_LAMBDA_LOG_STREAM_NAME: logStream,
    AWS_LAMBDA_INITIALIZATION_TYPE: initializationType,
  };
  return env;
}

/** Lambda's log stream name: 2024/01/31/[$LATEST]0123456789abcdef0123456789abcdef */
export function logStreamName(version: string, id: string, now = new Date()): string {
  const d = now.toISOString().slice(0, 10).replace(/-/g, '/');
  return `${d}/[${version}]${id}`;
}
