// _X_AMZN_TRACE_ID, the one variable Lambda's Node.js runtime changes on every invoke.
//
// Written to the real environment it would be a setenv() per invoke, and glibc keeps
// every "name=value" string setenv was ever given (so that a getenv() pointer stays
// valid): with a new trace ID each time that is ~220 bytes that never come back, per
// invoke (a 128 MB function filled up in a few hundred thousand warm invokes), and a
// lookup in an ever-growing tree. So after Init process.env becomes a Proxy over the
// real one that holds this variable in JavaScript and forwards every other name.
// What reads the environment through process.env (the X-Ray SDK, Powertools,
// child_process, which builds a child's environment from process.env's keys) sees it
// as before; native code calling getenv() does not, nor does a worker thread started
// with the default environment (Node copies the real one), and util.inspect(process.env)
// shows the real object's variables only.

const NAME = '_X_AMZN_TRACE_ID';

let traceId: string | undefined;
let installed = false;

const invalidDescriptor = (): TypeError =>
  Object.assign(new TypeError("'process.env' only accepts a configurable, writable, and enumerable data descriptor"), {
    code: 'ERR_INVALID_OBJECT_DEFINE_PROPERTY',
  });

const handler: ProxyHandler<NodeJS.ProcessEnv> = {
  get: (env, key) => (key === NAME ? traceId : Reflect.get(env, key)),
  set: (env, key, value) => {
    if (key !== NAME) return Reflect.set(env, key, value);
    traceId = String(value);
    return true;
  },
  has: (env, key) => (key === NAME ? traceId !== undefined : Reflect.has(env, key)),
  deleteProperty: (env, key) => {
    if (key !== NAME) return Reflect.deleteProperty(env, key);
    traceId = undefined;
    return true;
  },
  ownKeys: (env) => {
    const keys = Reflect.ownKeys(env);
    if (traceId !== undefined) keys.push(NAME);
    return keys;
  },
  getOwnPropertyDescriptor: (env, key) => {
    if (key !== NAME) return Reflect.getOwnPropertyDescriptor(env, key);
    return traceId === undefined ? undefined : { value: traceId, writable: true, enumerable: true, configurable: true };
  },
  defineProperty: (env, key, desc) => {
    if (key !== NAME) return Reflect.defineProperty(env, key, desc);
    // The same rule as the real process.env's.
    if (desc.get || desc.set || desc.configurable === false || desc.writable === false || desc.enumerable === false) throw invalidDescriptor();
    traceId = String(desc.value);
    return true;
  },
};

/** Makes process.env the Proxy (once); the variable's value moves out of the real environment. */
export function installTraceIdVariable(): void {
  if (installed) return;
  installed = true;
  const env = process.env;
  traceId = env[NAME];
  delete env[NAME];
  process.env = new Proxy(env, handler);
}

/** The variable for the invoke starting now (undefined: none, as Lambda when the request has no trace). */
export function setTraceId(value: string | undefined): void {
  traceId = value;
}
