// Finding and loading a Node.js function's handler, exactly as Lambda's Node.js
// runtime (UserFunction.js) does it: `path/to/module.export[.nested]`, relative to
// LAMBDA_TASK_ROOT; module tried as extensionless, `.js` (CommonJS, or ES module when
// the nearest package.json says "type": "module"), `.mjs`, `.cjs`, then Node's own
// resolution from the task root; Lambda's Runtime.* errors and messages.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HandlerNotFound, ImportModuleError, MalformedHandlerName, MalformedStreamingHandler, UserCodeSyntaxError } from './node-errors.js';

const require = createRequire(import.meta.url);

export type Handler = (event: unknown, context: unknown, callback: unknown) => unknown;

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;
const RELATIVE_PATH_SUBSTRING = '..';
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
export const STREAM_RESPONSE = 'response';

function moduleRootAndHandler(fullHandlerString: string): [string, string] {
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  return [moduleRoot, handlerString];
}

function splitHandlerString(handler: string): [string, string] {
  const match = handler.match(FUNCTION_EXPR);
  if (!match || match.length !== 3) throw new MalformedHandlerName('Bad handler');
  return [match[1]!, match[2]!];
}

function resolveHandler(object: unknown, nestedProperty: string): unknown {
  return nestedProperty.split('.').reduce<unknown>((nested, key) => nested && (nested as Record<string, unknown>)[key], object);
}

function tryRequireFile(file: string, extension = ''): unknown {
  const p = file + extension;
  return existsSync(p) ? require(p) : undefined;
}

async function tryAwaitImport(file: string, extension = ''): Promise<unknown> {
  const p = file + extension;
  return existsSync(p) ? await import(pathToFileURL(p).href) : undefined;
}

function folderHasTypeModule(folder: string): boolean {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, '/package.json');
  if (existsSync(pj)) {
    try {
      const pkg = JSON.parse(readFileSync(pj, 'utf8')) as { type?: unknown } | null;
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') return false;
  return folderHasTypeModule(path.resolve(folder, '..'));
}

function hasPackageJsonTypeModule(file: string): boolean {
  const jsPath = file + '.js';
  return existsSync(jsPath) ? folderHasTypeModule(path.resolve(path.dirname(jsPath))) : false;
}

async function tryRequire(appRoot: string, moduleRoot: string, module: string): Promise<unknown> {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);

  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;

  const pjHasModule = hasPackageJsonTypeModule(lambdaStylePath);
  if (!pjHasModule) {
    const loaded = tryRequireFile(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }

  const loaded =
    (pjHasModule && (await tryAwaitImport(lambdaStylePath, '.js'))) ||
    (await tryAwaitImport(lambdaStylePath, '.mjs')) ||
    tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) return loaded;

  // Node's own resolution (node_modules, folders), relative to the task root.
  const nodeStylePath = require.resolve(module, { paths: [appRoot, moduleRoot] });
  return require(nodeStylePath);
}

async function loadUserApp(appRoot: string, moduleRoot: string, module: string): Promise<unknown> {
  try {
    return await tryRequire(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e as unknown as string);
    if ((e as { code?: unknown })?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e as string);
    throw e;
  }
}

/** An ES module of the runtime's own, loaded as a handler would be: warms the loader before any function. */
const WARMUP_MODULE = fileURLToPath(new URL('./node-warmup.js', import.meta.url));

/**
 * Runs the handler import's paths once, so that V8 has compiled them and Node has
 * loaded what they use before a function's Init: Lambda's lookup over a module
 * that is not there (fs checks, Node's own resolution), then an ES module load.
 */
export async function warmLoader(): Promise<void> {
  const dir = path.dirname(WARMUP_MODULE);
  try {
    await loadHandler(dir, 'node-warmup-absent.handler');
  } catch {
    // Expected: Runtime.ImportModuleError.
  }
  try {
    await tryAwaitImport(WARMUP_MODULE);
    handlerMetadata(async () => null);
  } catch {
    // Only a warm-up: the handler's import says what is wrong, if anything.
  }
}

/** Loads the handler named by `fullHandlerString` from the code in `appRoot`. */
export async function loadHandler(appRoot: string, fullHandlerString: string): Promise<Handler> {
  if (fullHandlerString.includes(RELATIVE_PATH_SUBSTRING)) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const [moduleRoot, moduleAndHandler] = moduleRootAndHandler(fullHandlerString);
  const [module, handlerPath] = splitHandlerString(moduleAndHandler);
  const userApp = await loadUserApp(appRoot, moduleRoot, module);
  const handlerFunc = resolveHandler(userApp, handlerPath);
  if (!handlerFunc) throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  if (typeof handlerFunc !== 'function') throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  return handlerFunc as Handler;
}

export interface HandlerMetadata {
  streaming: false | typeof STREAM_RESPONSE;
  highWaterMark: number | undefined;
  isAsync: boolean;
  argsNum: number;
}

/** What the invoke loop needs to know of a handler (the streaming marks are for response streaming). */
export function handlerMetadata(handler: Handler): HandlerMetadata {
  const marked = handler as unknown as Record<symbol, unknown>;
  const mark = marked[HANDLER_STREAMING];
  let streaming: HandlerMetadata['streaming'] = false;
  if (mark !== undefined && mark !== null && mark !== false) {
    if (mark === STREAM_RESPONSE) streaming = STREAM_RESPONSE;
    else throw new MalformedStreamingHandler('Only response streaming is supported.');
  }
  const hwm = marked[HANDLER_HIGHWATERMARK];
  const highWaterMark = hwm === undefined || hwm === null || hwm === false ? undefined : parseInt(String(hwm));
  let isAsync = false;
  try {
    isAsync = handler.constructor?.name === 'AsyncFunction';
  } catch {
    isAsync = false;
  }
  return {
    streaming,
    highWaterMark: highWaterMark === undefined || isNaN(highWaterMark) ? undefined : highWaterMark,
    isAsync,
    argsNum: handler.length,
  };
}
