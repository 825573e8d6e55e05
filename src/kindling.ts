// Embedded mode: every part of Kindling in one process, wired through their
// TypeScript interfaces (no network hop between parts).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KindlingConfig } from './config.js';
import { ControlPlane } from './control/functions.js';
import { ensureRootKey, serverSecret, type AccessKey } from './credentials.js';
import { CodeUrlSigner } from './frontend/code-url.js';
import { controlRoutes } from './frontend/control-routes.js';
import { HttpFrontend } from './frontend/http.js';
import type { Logger } from './log.js';
import { invokeRoutes } from './frontend/invoke-routes.js';
import { logsRoutes } from './frontend/logs-routes.js';
import { WorkerHost } from './host/host.js';
import { InvokeService } from './invoke/invoke.js';
import { PlacementService } from './placement/placement.js';
import { ProcessDriver } from './sandbox/process-driver.js';
import { openDataDir, type DataDir } from './store/datadir.js';
import { SqliteLogStore } from './store/logs.js';
import { WorkerManager } from './workers/manager.js';
import { FsCodeStore } from './store/fs-code.js';
import { SqliteStateStore } from './store/sqlite-state.js';

export interface RunningKindling {
  logs: SqliteLogStore;
  workers: WorkerManager;
  url: string;
  rootKey: AccessKey;
  rootKeySource: 'env' | 'file' | 'created';
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
    const root = ensureRootKey(dir.path);
    const state = new SqliteStateStore(dir.file('state.sqlite'));
    cleanups.push(() => state.close());
    const code = new FsCodeStore(dir.file('code'));
    const account = { region: config.region, accountId: config.accountId };
    const control = new ControlPlane({ state, code, account });
    const signer = new CodeUrlSigner(serverSecret(dir.path));

    const logs = new SqliteLogStore(dir.file('logs.sqlite'));
    cleanups.push(() => logs.close());
    const placement = new PlacementService();
    const host = new WorkerHost({
      id: 'local',
      memoryMb: config.hostMemoryMb,
      dir: dir.file('host'),
      driver: new ProcessDriver(),
      code,
      logs,
      account,
    });
    await host.start();
    placement.register(host);
    const workers = new WorkerManager(placement, log, { idleMs: config.sandboxIdleMs });
    cleanups.push(() => workers.shutdown());
    const invoker = new InvokeService(control, workers);

    const frontend = new HttpFrontend(log, [...controlRoutes(control, code, signer), ...invokeRoutes(control, invoker), ...logsRoutes(control, logs)]);

    const server: Server = createServer(
      {
        keepAliveTimeout: 65_000,
        headersTimeout: 20_000,
        requestTimeout: 300_000,
        maxHeaderSize: 16 * 1024,
      },
      frontend.listener,
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
    const { port } = server.address() as AddressInfo;
    const hostname = config.host.includes(':') ? `[${config.host}]` : config.host;
    return { logs, workers, url: `http://${hostname}:${port}`, rootKey: root.key, rootKeySource: root.source, dataDir: dir.path, close };
  } catch (err) {
    await close();
    throw err;
  }
}
