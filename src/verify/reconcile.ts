import type { LoadResult } from "../load/index.js";
import type { WsResult } from "../load/ws/index.js";
import type { StubCounts } from "../stub/index.js";
import { upgradesByRoute } from "./evaluate.js";
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
  /** The WebSocket sessions' counts against the stubs'; null when the load held none. */
  websockets?: WsReconciliation | null;
  problems: string[];
}

export interface WsReconcileRow {
  backend: string;
  /** 101s the driver saw stamped by a stub of this backend. */
  driver: number;
  /** Upgrades the backend's stubs answered with 101. */
  stubs: number;
  /** 101s the proxy stamped as routed to this backend; null when it stamps no route. */
  routed: number | null;
}

export interface WsReconciliation {
  messages: {
    /** Messages the driver sent, and the messages the stubs took in. */
    driverSent: number;
    stubsIn: number;
    /** Messages the stubs sent out to members, and the messages the driver received. */
    stubsOut: number;
    driverReceived: number;
  };
  upgrades: WsReconcileRow[];
  /**
   * Sessions that did not end by the driver's own close (cut by the run's
   * end, or failed): messages in flight to or from them when the connection
   * went may be counted by one side only. 0: every count must agree exactly.
   */
  cutSessions: number;
  /** What differs and is explained by the cut sessions, said exactly; not a problem. */
  notes: string[];
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
  loadResult: LoadResult | null,
  stubs: { before: Record<string, StubCounts>; after: Record<string, StubCounts> },
  proxy: { before: ProxyCounters; after: ProxyCounters } | null,
  statusReads = 1,
  ws: WsResult | null = null,
): Reconciliation {
  const result = loadResult ?? NO_HTTP;
  const routes = result.routed ?? {};
  const warmupRoutes = result.warmup.routed ?? {};
  const wsUpgrades = ws === null ? null : upgradesByRoute(ws);
  // HAProxy counts an upgrade request in its backend's req_tot as it counts any request.
  const upgradesTo = (backend: string) => wsUpgrades?.byBackend[backend] ?? 0;
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
    const upgrades = upgradesTo(backend);
    const plusUpgrades = upgrades > 0 ? ` and ${upgrades} WebSocket upgrades` : "";
    if (proxyCount !== null && routed !== null && proxyCount !== routed + upgrades) {
      problems.push(`${backend}: HAProxy counted ${proxyCount} requests (req_tot) but stamped ${routed} responses${plusUpgrades} as routed there`);
    } else if (proxyCount !== null && routed === null && proxyCount !== driver + upgrades) {
      problems.push(`${backend}: HAProxy counted ${proxyCount} requests (req_tot) but the driver ${driver}${upgrades > 0 ? ` responses and ${upgrades} WebSocket upgrades` : ""}`);
    }
    return { backend, driver, stubs: served, routed, proxy: proxyCount };
  });
  let proxyTotal: Reconciliation["proxyTotal"] = null;
  if (proxy && proxy.before.kind === "nginx" && proxy.after.kind === "nginx") {
    const counted = proxy.after.requests - proxy.before.requests - statusReads;
    // An upgrade is a request in nginx's count too.
    const upgrades = ws === null ? 0 : Object.values(ws.upgrades.byBackend).reduce((a, b) => a + b, 0) + ws.upgrades.unstamped;
    const answered = result.requests.completed + result.warmup.responses + upgrades;
    proxyTotal = { proxy: counted, driver: answered };
    if (counted < answered) problems.push(`nginx counted ${counted} requests but the driver received ${answered} responses${upgrades > 0 ? ` (${upgrades} of them WebSocket upgrades)` : ""}`);
  }
  const websockets = ws === null ? null : reconcileWebSockets(ws, stubs, problems);
  return { ok: problems.length === 0, rows, proxyTotal, ...(ws !== null ? { websockets } : {}), problems };
}

/** A load result with nothing in it, for a load that sends no HTTP request. */
const NO_HTTP: Pick<LoadResult, "routed" | "warmup" | "backends" | "requests"> = {
  routed: {},
  warmup: { responses: 0, byBackend: {}, routed: {} },
  backends: {},
  requests: { sent: 0, completed: 0, succeeded: 0, failed: 0, retried: 0 },
} as Pick<LoadResult, "routed" | "warmup" | "backends" | "requests">;

function wsDelta(stubs: { before: Record<string, StubCounts>; after: Record<string, StubCounts> }, keys: string[], pick: (c: NonNullable<StubCounts["ws"]>) => number): number {
  let n = 0;
  for (const k of keys) {
    const after = stubs.after[k]?.ws;
    const before = stubs.before[k]?.ws;
    n += (after ? pick(after) : 0) - (before ? pick(before) : 0);
  }
  return n;
}

/**
 * Message for message: every message the driver sent is one the stubs took
 * in, and every message the stubs sent out to a member is one the driver
 * received; every 101 the driver saw from a backend is an upgrade that
 * backend's stubs answered. A session the driver closes itself leaves its
 * room, takes every message it is owed and closes; the stub sends nothing
 * after the close, and the proxy keeps the order, so for such sessions the
 * counts agree exactly. A session cut (by the run's end, or failed) may
 * lose what was in flight: then the driver may have received fewer than the
 * stubs sent, and the stubs taken in fewer than the driver sent, and the
 * difference is stated, not a problem. More on the counting side than on
 * the sending side is always a problem.
 */
function reconcileWebSockets(ws: WsResult, stubs: { before: Record<string, StubCounts>; after: Record<string, StubCounts> }, problems: string[]): WsReconciliation {
  const keys = [...new Set([...Object.keys(stubs.after), ...Object.keys(stubs.before)])];
  const stubsIn = wsDelta(stubs, keys, (c) => c.messagesIn);
  const stubsOut = wsDelta(stubs, keys, (c) => c.messagesOut);
  const sent = ws.messages.sent;
  const received = ws.messages.received;
  const cut = ws.sessions.stopped + ws.sessions.failed - ws.sessions.failedToOpen;
  const notes: string[] = [];
  const explain = `${cut} session${cut === 1 ? " was" : "s were"} cut (stopped by the run's end or failed) with messages in flight`;
  if (stubsIn > sent) problems.push(`WebSocket: the stubs took in ${stubsIn} messages but the driver sent ${sent}: ${stubsIn - sent} counted that the driver never sent`);
  else if (stubsIn < sent) {
    if (cut > 0) notes.push(`the driver sent ${sent} messages, the stubs took in ${stubsIn}: ${sent - stubsIn} were in flight when ${explain}`);
    else problems.push(`WebSocket: the driver sent ${sent} messages but the stubs took in ${stubsIn}: ${sent - stubsIn} lost between driver and stub, with every session closed by the driver`);
  }
  if (received > stubsOut) problems.push(`WebSocket: the driver received ${received} messages but the stubs sent out ${stubsOut}: ${received - stubsOut} received that no stub sent`);
  else if (received < stubsOut) {
    if (cut > 0) notes.push(`the stubs sent out ${stubsOut} messages, the driver received ${received}: ${stubsOut - received} were in flight when ${explain}`);
    else problems.push(`WebSocket: the stubs sent out ${stubsOut} messages but the driver received ${received}: ${stubsOut - received} lost between stub and driver, with every session closed by the driver`);
  }
  const backends = new Set<string>([...Object.keys(ws.upgrades.byBackend), ...Object.keys(ws.upgrades.routed)]);
  for (const k of keys) if (stubs.after[k]?.ws !== undefined) backends.add(k.split("/")[0]!);
  const stamped = Object.keys(ws.upgrades.routed).length > 0;
  const upgrades = [...backends].sort().map((backend): WsReconcileRow => {
    const driver = ws.upgrades.byBackend[backend] ?? 0;
    const served = wsDelta(
      stubs,
      keys.filter((k) => k.startsWith(`${backend}/`)),
      (c) => c.upgrades,
    );
    if (served !== driver) {
      problems.push(
        served > driver
          ? `WebSocket ${backend}: the stubs answered ${served} upgrades with 101 but the driver saw ${driver}: ${served - driver} lost between stub and driver`
          : `WebSocket ${backend}: the driver saw ${driver} upgrades (101) from ${backend} but its stubs answered ${served}: ${driver - served} counted that no stub sent`,
      );
    }
    return { backend, driver, stubs: served, routed: stamped ? (ws.upgrades.routed[backend] ?? 0) : null };
  });
  if (ws.upgrades.unstamped > 0) problems.push(`WebSocket: ${ws.upgrades.unstamped} upgrades (101) carried no stub's backend stamp`);
  return { messages: { driverSent: sent, stubsIn, stubsOut, driverReceived: received }, upgrades, cutSessions: cut, notes };
}
