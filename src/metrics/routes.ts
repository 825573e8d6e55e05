// Metrics over HTTP: Prometheus text at GET /metrics (public: counts and
// gauges, no secrets), and the console's JSON (signed like the rest of the
// API): per-function minute series and the worker hosts' sandboxes.
import type { ControlPlane } from '../control/functions.js';
import { functionArn } from '../control/arn.js';
import { functionNotFound } from '../errors.js';
import { KINDLING_API } from '../frontend/async-routes.js';
import type { Route } from '../frontend/http.js';
import type { PlacementService } from '../placement/placement.js';
import type { WorkerView } from '../workers/manager.js';
import type { HostInfo } from '../workers/remote/protocol.js';
import type { KindlingMetrics } from './metrics.js';
import { SERIES_MINUTES } from './series.js';

const minutesOf = (q: URLSearchParams, fallback = 60): number => {
  const n = Number(q.get('minutes') ?? fallback);
  return Number.isFinite(n) && n >= 1 ? Math.min(SERIES_MINUTES, Math.floor(n)) : fallback;
};

export function metricsRoutes(deps: {
  control: ControlPlane;
  metrics: KindlingMetrics;
  placement: PlacementService;
  workers: WorkerView;
  /** The worker hosts as the cluster protocol lists them (protocol.ts ListHostsResponse: `hosts`). */
  hosts?: () => HostInfo[];
}): Route[] {
  const { control, metrics, placement, workers } = deps;
  return [
    {
      method: 'GET',
      path: '/metrics',
      operation: 'KindlingPrometheusMetrics',
      bodyLimit: 0,
      public: true,
      async handle() {
        return { status: 200, headers: { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' }, body: await metrics.text() };
      },
    },
    {
      method: 'GET',
      path: `${KINDLING_API}/metrics/functions`,
      operation: 'KindlingListFunctionMetrics',
      bodyLimit: 0,
      handle(ctx) {
        const minutes = minutesOf(ctx.query);
        return { status: 200, json: { Minutes: minutes, Functions: metrics.series.totals(minutes) } };
      },
    },
    {
      method: 'GET',
      path: `${KINDLING_API}/metrics/functions/:FunctionName`,
      operation: 'KindlingGetFunctionMetrics',
      bodyLimit: 0,
      async handle(ctx) {
        const name = ctx.params.FunctionName ?? '';
        if (!(await control.functionExists(name))) throw functionNotFound(functionArn(control.account, name));
        const minutes = minutesOf(ctx.query);
        return { status: 200, json: { FunctionName: name, Minutes: minutes, Points: metrics.series.points(name, minutes) } };
      },
    },
    {
      method: 'GET',
      path: `${KINDLING_API}/hosts`,
      operation: 'KindlingListHosts',
      bodyLimit: 0,
      handle() {
        const sandboxes = workers.sandboxes();
        const hosts = placement.capacity().map((h) => ({
          HostId: h.hostId,
          MemoryMb: h.memoryMb,
          ReservedMb: h.reservedMb,
          FreeMb: h.memoryMb - h.reservedMb,
          Sandboxes: sandboxes
            .filter((s) => s.hostId === h.hostId)
            .map((s) => ({ Id: s.id, FunctionName: s.functionName, Version: s.version, State: s.state, MemoryMb: s.memoryMb, LastUsed: s.lastUsed })),
        }));
        // `hosts` (lower case) is the cluster protocol's list (kindling host list); the rest is the console's.
        return { status: 200, json: { Hosts: hosts, PlacementFailures: workers.placementFailures, ...(deps.hosts ? { hosts: deps.hosts() } : {}) } };
      },
    },
  ];
}
