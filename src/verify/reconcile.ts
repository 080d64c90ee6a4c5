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
 * lost, nothing counted twice. `statusReads` is how many stub_status reads
 * nginx served between the two snapshots (they count as requests there).
 */
export function reconcile(
  target: Target,
  result: LoadResult,
  stubs: { before: Record<string, StubCounts>; after: Record<string, StubCounts> },
  proxy: { before: ProxyCounters; after: ProxyCounters } | null,
  statusReads = 1,
): Reconciliation {
  const backends = new Set<string>([...Object.keys(result.backends), ...Object.keys(result.warmup.byBackend)]);
  for (const key of Object.keys(stubs.after)) backends.add(key.split("/")[0]!);
  const stubServed = (backend: string) =>
    Object.keys(stubs.after)
      .filter((k) => k.startsWith(`${backend}/`))
      .reduce((sum, k) => sum + (stubs.after[k]!.served - (stubs.before[k]?.served ?? 0)), 0);
  const problems: string[] = [];
  const rows: ReconcileRow[] = [...backends].sort().map((backend) => {
    const driver = (result.backends[backend]?.count ?? 0) + (result.warmup.byBackend[backend] ?? 0);
    const served = stubServed(backend);
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
    if (proxyCount !== null && proxyCount !== driver) {
      problems.push(`${backend}: HAProxy counted ${proxyCount} requests (req_tot) but the driver ${driver}`);
    }
    return { backend, driver, stubs: served, proxy: proxyCount };
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
