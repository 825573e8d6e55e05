// Embedded mode: every part of Kindling in one process, wired through their
// TypeScript interfaces (no network hop between parts).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAsync } from './async/index.js';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_LOG_RETENTION_DAYS, DEFAULT_REQUEST_TIMEOUT_MS, envSandboxPool, type KindlingConfig } from './config.js';
import { ControlPlane } from './control/functions.js';
import type { FunctionVersion } from './control/model.js';
import type { AccessKey, RootKeySource } from './credentials.js';
import { CodeUrlSigner } from './frontend/code-url.js';
import { asyncRoutes } from './frontend/async-routes.js';
import { controlRoutes } from './frontend/control-routes.js';
import { HttpFrontend, type Route } from './frontend/http.js';
import { frontendsRoutes } from './frontend/frontends-routes.js';
import { Layers } from './control/layers.js';
import { FunctionUrls } from './control/urls.js';
import { FunctionUrlServer } from './frontend/function-url.js';
import { layerRoutes } from './frontend/layer-routes.js';
import { urlRoutes } from './frontend/url-routes.js';
import { keysRoutes } from './frontend/keys-routes.js';
import { hostsRoutes } from './frontend/hosts-routes.js';
import { SigV4Verifier } from './frontend/sigv4.js';
import { DEFAULT_RATE_LIMIT, RateLimiter } from './frontend/rate-limit.js';
import type { Logger } from './log.js';
import { invokeRoutes } from './frontend/invoke-routes.js';
import { logsRoutes } from './frontend/logs-routes.js';
import { versionRoutes } from './frontend/version-routes.js';
import { Aliases } from './control/aliases.js';
import { FunctionSettings } from './control/settings.js';
import { Policies } from './control/policy.js';
import { settingsRoutes } from './frontend/settings-routes.js';
import { ProvisionedConcurrency } from './control/provisioned.js';
import { provisionedRoutes } from './frontend/provisioned-routes.js';
import { WorkerHost } from './host/host.js';
import type { PoolStats } from './host/sandbox-pool.js';
import { Admission } from './invoke/admission.js';
import { LocalInvokeBackend, type InvokeBackend } from './invoke/backend.js';
import { InvokeService } from './invoke/invoke.js';
import { PlacementService } from './placement/placement.js';
import { selectDriver } from './sandbox/select.js';
import { SandboxDrivers } from './sandbox/drivers.js';
import { sandboxSettingsFromTags, type SandboxSettings } from './sandbox/function-tags.js';
import { LambdaError } from './errors.js';
import { openDataDir, type DataDir } from './store/datadir.js';
import type { LogStore } from './store/logs.js';
import { openStores } from './store/open.js';
import { NO_WORKERS, WorkerManager, type WorkerView } from './workers/manager.js';
import { FrontendLink } from './workers/remote/frontend-link.js';
import { FrontendRegistry } from './workers/remote/frontends.js';
import { ManagerClient } from './workers/remote/join.js';
import type { HostInfo } from './workers/remote/protocol.js';
import { HostRegistry } from './workers/remote/registry.js';
import { consoleRoutes } from './console/routes.js';
import { KindlingMetrics } from './metrics/metrics.js';
import { metricsRoutes } from './metrics/routes.js';

export interface RunningKindling {
  /** The sandbox driver in use, and a warning when it does not isolate functions. */
  sandbox: { name: string; warning?: string };
  logs: LogStore;
  workers: WorkerView;
  metrics: KindlingMetrics;
  url: string;
  rootKey: AccessKey;
  rootKeySource: RootKeySource;
  /** Where state and code live (embedded: sqlite and folder). */
  stores: { state: 'sqlite' | 'postgres'; code: 'folder' | 's3' };
  dataDir: string;
  close(): Promise<void>;
}

export async function startKindling(config: KindlingConfig, log: Logger): Promise<RunningKindling> {
  const dir: DataDir = openDataDir(config.dataDir);
  const cleanups: (() => Promise<void> | void)[] = [() => dir.release()];
  const close = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    const stores = await openStores(dir, {
      stateUrl: config.stateUrl,
      codeUrl: config.codeUrl,
      onBackgroundError: (err, what) => log.warn({ err }, `could not store ${what}`),
    });
    cleanups.push(() => stores.close());
    const root = stores.root;
    const { state, code, logs, keys } = stores;
    const account = { region: config.region, accountId: config.accountId };
    const control = new ControlPlane({ state, code, account, accountConcurrency: config.accountConcurrency });
    const layers = new Layers(account, stores.layers, control);
    control.useLayers(layers);
    const urls = new FunctionUrls(control, stores.urls);
    const signer = new CodeUrlSigner(stores.serverSecret);

    const microvm = { baseDir: config.microvmDir ?? dir.file('microvm') };
    const sandboxDriver = selectDriver(config.sandbox ?? 'auto', log, {}, microvm);
    const drivers = new SandboxDrivers(sandboxDriver.driver, (name) => selectDriver(name, log, {}, microvm).driver);
    const placement = new PlacementService();
    const settings = new FunctionSettings(control, state);
    let provisioned: ProvisionedConcurrency;
    let backend: InvokeBackend;
    let workerView: WorkerView = NO_WORKERS;
    let hostList: (() => HostInfo[]) | undefined;
    let pools: (() => PoolStats[]) | undefined;
    let clusterRoutes: Route[] = [];
    /** Sandbox settings (kindling:* tags) per function, dropped whenever it changes. */
    const settingsCache = new Map<string, Promise<SandboxSettings>>();
    control.on('change', (c) => settingsCache.delete(c.functionName));
    if (config.role === 'frontend') {
      // No sandboxes here: the manager admits every invoke and leases it a sandbox on a worker host.
      const link = new FrontendLink(new ManagerClient(config.managerUrl!, root.key, config.region, { connections: 64 }), `http://${config.host}:${config.port}`, log);
      await link.start();
      cleanups.push(() => link.stop());
      provisioned = new ProvisionedConcurrency(control, state, stores.provisioned, link, config.accountConcurrency);
      backend = link;
    } else {
      // A function's tags, read once per change of it rather than at every cold start.
      const sandboxSettings = (fn: FunctionVersion): Promise<SandboxSettings> => {
        let p = settingsCache.get(fn.functionName);
        if (!p) {
          p = control.getFunctionRecord({ name: fn.functionName }).then((r) => sandboxSettingsFromTags(r.tags));
          settingsCache.set(fn.functionName, p);
          p.catch(() => settingsCache.delete(fn.functionName));
        }
        return p;
      };
      const host = new WorkerHost({
        id: 'local',
        memoryMb: config.hostMemoryMb,
        dir: dir.file('host'),
        driver: sandboxDriver.driver,
        drivers,
        sandboxSettings,
        code,
        logs,
        account,
        pool: (config.sandboxPool ?? envSandboxPool()) ? {} : false,
      });
      // Role manager: no worker host here, sandboxes only on hosts that join.
      const localHost = config.role !== 'manager';
      if (localHost) {
        await host.start();
        placement.register(host);
        pools = () => host.poolStats();
        // A function just created or changed: its package unpacked and a sandbox of its kind ready
        // before its first invoke. Only this process's own host (joined hosts fetch at the cold start).
        const failed = (err: unknown, what: object) => {
          log[err instanceof LambdaError ? 'debug' : 'warn']({ err, ...what }, 'could not prepare code ahead; the first invoke that needs it tries again');
        };
        // Small packages from the moment they are validated (function code and layers), the rest with their function.
        control.on('package', ({ sha256Hex, zip }) => host.preparePackage(sha256Hex, zip).catch((err: unknown) => failed(err, { sha256Hex })));
        control.on('prepare', ({ fn, zip }) => host.prepare(fn, zip).catch((err: unknown) => failed(err, { functionName: fn.functionName })));
      }
      const workers = new WorkerManager(placement, log, { idleMs: config.sandboxIdleMs });
      const registry = new HostRegistry({ placement, workers, log, settings: sandboxSettings, ...(localHost ? { local: host } : {}) });
      // Closed after the Worker Manager's shutdown, which still ends remote sandboxes through it.
      cleanups.push(() => registry.close());
      cleanups.push(() => workers.shutdown());
      provisioned = new ProvisionedConcurrency(control, state, stores.provisioned, workers, config.accountConcurrency);
      const p = provisioned;
      const admission = new Admission(control, () => settings.reservations(), config.accountConcurrency, () => p.provisionedByFunction());
      backend = new LocalInvokeBackend(workers, admission);
      const frontends = new FrontendRegistry({
        workers,
        admission,
        log,
        ...(localHost ? { localHostId: host.id } : {}),
        provisioning: {
          provision: (id, fn, n) => workers.provision(id, fn, n),
          unprovision: (id) => workers.unprovision(id),
          statuses: () => Object.fromEntries(workers.provisionedStats().flatMap((x) => Object.entries({ [x.id]: workers.provisionedStatus(x.id)! }))),
          reload: () => p.refreshTotals(),
        },
      });
      // Before the Worker Manager's shutdown: the frontends' leases end first.
      cleanups.push(() => frontends.close());
      workerView = workers;
      hostList = () => registry.list();
      clusterRoutes = [...hostsRoutes({ registry, keys, logs, code }), ...frontendsRoutes(frontends, keys)];
    }
    control.useProvisioned(() => provisioned.provisionedOutsideReservations());
    settings.useProvisioned(provisioned);
    const invoker = new InvokeService(control, backend);
    const events = await startAsync({
      control,
      invoker,
      log,
      queue: stores.queue,
      configStore: stores.eventConfigs,
      storageFailure: stores.storageFailure,
      recover: stores.queueIsPrivate,
      timeScale: config.asyncTimeScale,
    });
    cleanups.push(() => events.close());

    const verifier = new SigV4Verifier({ region: config.region, keys });
    keys.onDelete((id) => verifier.forget(id));
    const metrics = new KindlingMetrics({ placement, workers: workerView, ...(pools ? { pools } : {}), asyncQueueDepth: () => events.queue.stats() });
    invoker.observer = metrics;
    control.on('change', (c) => {
      if (c.kind === 'deleted') metrics.forget(c.functionName, c.version);
    });
    // Cluster mode: what this process changes reaches the others, and theirs reach this one
    // (each drops its caches and retires sandboxes of old versions, as for its own changes).
    const feed = await stores.changeFeed(
      {
        remote: (c) => control.emit('change', c),
        resync: () => {
          settingsCache.clear();
          invoker.forgetAll();
        },
      },
      (err) => log.warn({ err }, 'could not tell the cluster about a function change'),
    );
    if (feed) control.on('change', (c) => feed.publish(c));
    cleanups.push(expireLogsPeriodically(logs, config.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS, log));

    const frontend = new HttpFrontend(log, [...consoleRoutes(), ...metricsRoutes({ control, metrics, placement, workers: workerView, ...(hostList ? { hosts: hostList } : {}) }), ...keysRoutes(keys), ...clusterRoutes, ...controlRoutes(control, code, signer), ...invokeRoutes(control, invoker, events), ...logsRoutes(control, logs), ...versionRoutes(control, new Aliases(control, state)), ...settingsRoutes(settings, new Policies(control, state), config.accountConcurrency), ...asyncRoutes(control, events), ...layerRoutes(account, layers, signer), ...urlRoutes(urls), ...provisionedRoutes(provisioned)], { auth: verifier, rateLimit: new RateLimiter(config.rateLimit ?? DEFAULT_RATE_LIMIT) });
    const functionUrls = new FunctionUrlServer(urls, invoker, log, verifier);

    const requestTimeout = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    // Node requires headersTimeout <= requestTimeout.
    const headersTimeout = Math.min(config.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout);
    const server: Server = createServer(
      {
        keepAliveTimeout: 65_000,
        headersTimeout,
        requestTimeout,
        // Node checks both timeouts only this often (30 s by default).
        connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(headersTimeout / 4))),
        maxHeaderSize: 16 * 1024,
      },
      functionUrls.wrap(frontend.listener),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    // Provisioned pools come back with their configs (Init runs in the background); a frontend's manager keeps them.
    if (config.role !== 'frontend') await provisioned.start();
    const { port } = server.address() as AddressInfo;
    const hostname = config.host.includes(':') ? `[${config.host}]` : config.host;
    const sandbox = { name: sandboxDriver.driver.name, ...(sandboxDriver.warning ? { warning: sandboxDriver.warning } : {}) };
    return { sandbox, logs, workers: workerView, metrics, url: `http://${hostname}:${port}`, rootKey: root.key, rootKeySource: root.source, stores: { state: stores.stateBackend, code: stores.codeBackend }, dataDir: dir.path, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Drops log events past the retention now and then (every hour, or a tenth of a short retention); returns the stop. */
function expireLogsPeriodically(logs: LogStore, days: number, log: Logger): () => void {
  const keepMs = days * 86_400_000;
  const expire = async () => {
    try {
      const n = await logs.expire(keepMs);
      if (n > 0) log.debug({ expired: n }, 'expired old log events');
    } catch (err) {
      log.warn({ err }, 'could not expire old log events');
    }
  };
  void expire();
  const timer = setInterval(() => void expire(), Math.max(1000, Math.min(3_600_000, keepMs / 10)));
  timer.unref();
  return () => clearInterval(timer);
}
