import type { LoadResult } from "../load/index.js";
import type { StubCounts } from "../stub/index.js";
import type { Target } from "../spec/model.js";

/** The proxy's own counters, as read before and after the load. */
export type ProxyCounters =
  | { kind: "haproxy"; backendRequests: Record<string, number> }
  | { kind: "nginx"; requests: number; accepts: number; handled: number; active: number };

export interface ReconcileRow {
  backend: string;
  /** Responses the driver attributed to this backend, warm-up included. */
  driver: number;
  /** Responses the backend's stubs say they wrote. */
  stubs: number;
  /** Responses the proxy stamped as routed to this backend, warm-up included, its own answers too; null when it stamps no route. */
  routed: number | null;
  /** HAProxy's req_tot for the backend; null where the proxy does not count per backend (nginx). */
  proxy: number | null;
}

export interface Reconciliation {
  ok: boolean;
  rows: ReconcileRow[];
  /** nginx: requests it counted in all, against what the driver saw answered. */
  proxyTotal: { proxy: number; driver: number } | null;
  problems: string[];
}

function delta(after: Record<string, number>, before: Record<string, number>, key: string): number {
  return (after[key] ?? 0) - (before[key] ?? 0);
}

/**
 * Every request the driver saw answered by a backend must be one the
 * backend's stubs served and, for HAProxy, one its backend counted: nothing
 * lost, nothing counted twice. With the proxy's route stamps, every response
 * it routed to a backend and a stub served must have been served by that
 * backend, and HAProxy's req_tot (it counts a request when it routes it) must
 * match the routed count, the proxy's own 503s and 504s included.
 * `statusReads` is how many stub_status reads
 * nginx served between the two snapshots (they count as requests there).
 */
export function reconcile(
  target: Target,
  result: LoadResult,
  stubs: { before: Record<string, StubCounts>; after: Record<string, StubCounts> },
  proxy: { before: ProxyCounters; after: ProxyCounters } | null,
  statusReads = 1,
): Reconciliation {
  const routes = result.routed ?? {};
  const warmupRoutes = result.warmup.routed ?? {};
  const stamped = Object.keys(routes).length > 0 || Object.keys(warmupRoutes).length > 0;
  const backends = new Set<string>([...Object.keys(result.backends), ...Object.keys(result.warmup.byBackend), ...Object.keys(routes), ...Object.keys(warmupRoutes)]);
  for (const key of Object.keys(stubs.after)) backends.add(key.split("/")[0]!);
  const stubServed = (backend: string) =>
    Object.keys(stubs.after)
      .filter((k) => k.startsWith(`${backend}/`))
      .reduce((sum, k) => sum + (stubs.after[k]!.served - (stubs.before[k]?.served ?? 0)), 0);
  const problems: string[] = [];
  const rows: ReconcileRow[] = [...backends].sort().map((backend) => {
    const driver = (result.backends[backend]?.count ?? 0) + (result.warmup.byBackend[backend] ?? 0);
    const routed = stamped ? (routes[backend]?.count ?? 0) + (warmupRoutes[backend] ?? 0) : null;
    const served = stubServed(backend);
    for (const [other, n] of Object.entries(routes[backend]?.served ?? {})) {
      if (other !== backend) problems.push(`${backend}: the proxy routed ${n} requests to ${backend} that a stub of ${other} answered`);
    }
    let proxyCount: number | null = null;
    if (proxy && proxy.before.kind === "haproxy" && proxy.after.kind === "haproxy") {
      proxyCount = delta(proxy.after.backendRequests, proxy.before.backendRequests, backend);
    }
    if (served !== driver) {
      problems.push(
        served > driver
          ? `${backend}: the stubs served ${served} responses but the driver received ${driver}: ${served - driver} lost between stub and driver`
          : `${backend}: the driver counted ${driver} responses but the stubs served ${served}: ${driver - served} counted that no stub sent`,
      );
    }
    if (proxyCount !== null && routed !== null && proxyCount !== routed) {
      problems.push(`${backend}: HAProxy counted ${proxyCount} requests (req_tot) but stamped ${routed} responses as routed there`);
    } else if (proxyCount !== null && routed === null && proxyCount !== driver) {
      problems.push(`${backend}: HAProxy counted ${proxyCount} requests (req_tot) but the driver ${driver}`);
    }
    return { backend, driver, stubs: served, routed, proxy: proxyCount };
  });
  let proxyTotal: Reconciliation["proxyTotal"] = null;
  if (proxy && proxy.before.kind === "nginx" && proxy.after.kind === "nginx") {
    const counted = proxy.after.requests - proxy.before.requests - statusReads;
    const answered = result.requests.completed + result.warmup.responses;
    proxyTotal = { proxy: counted, driver: answered };
    if (counted < answered) problems.push(`nginx counted ${counted} requests but the driver received ${answered} responses`);
  }
  return { ok: problems.length === 0, rows, proxyTotal, problems };
}
