import type { LoadResult } from "../load/index.js";
import type { WsResult } from "../load/ws/index.js";
import type { Expectations, Threshold, ThresholdOp, WebSocketExpectations } from "../spec/model.js";

/** What a `value` and a `threshold` are counted in: a share of every request sent, milliseconds, or requests (connections for max_connections_seen). */
export type ExpectationUnit = "%" | "ms" | "count";

export interface ExpectationResult {
  /** e.g. `backends.pbcoffee`, `errors`, `latency.p99`. */
  name: string;
  /** The expectation as the spec wrote it, e.g. `>= 90%`. */
  expected: string;
  /** What was measured, for people, e.g. `26.8% (6464 of 24148)`. */
  actual: string;
  passed: boolean;
  op: ThresholdOp;
  /** The spec's number, in `unit`. */
  threshold: number;
  /** What was measured, in `unit`, unrounded; null when nothing could be (a proxy that does not stamp its connection count). */
  value: number | null;
  unit: ExpectationUnit;
}

const UNIT: Record<Threshold["unit"], ExpectationUnit> = { percent: "%", ms: "ms", count: "count" };

/** The numbers of a result: the threshold as the spec gave it and the value in the same unit. */
function numbers(t: Threshold, value: number | null): Pick<ExpectationResult, "op" | "threshold" | "value" | "unit"> {
  return { op: t.op, threshold: t.value, value, unit: UNIT[t.unit] };
}

export function compare(op: Threshold["op"], actual: number, expected: number): boolean {
  switch (op) {
    case ">=":
      return actual >= expected;
    case ">":
      return actual > expected;
    case "<=":
      return actual <= expected;
    case "<":
      return actual < expected;
    case "==":
      // Shares are compared to a tenth of a percent; counts and durations exactly.
      return Math.abs(actual - expected) < 1e-9;
  }
}

function pct(part: number, whole: number): number {
  return whole === 0 ? 0 : (part / whole) * 100;
}

export function formatPercent(p: number): string {
  return `${p.toFixed(p === 0 || p === 100 ? 0 : 1)}%`;
}

/** A count or share against a threshold; shares are of every request sent (of every session started, for sessions and upgrades). */
function countCheck(name: string, t: Threshold, count: number, total: number): ExpectationResult {
  const share = pct(count, total);
  if (t.unit === "percent") {
    const rounded = Math.round(share * 10) / 10;
    return { name, expected: t.text, actual: `${formatPercent(share)} (${count} of ${total})`, passed: compare(t.op, t.op === "==" ? rounded : share, t.value), ...numbers(t, share) };
  }
  return { name, expected: t.text, actual: `${count} (${formatPercent(share)} of ${total})`, passed: compare(t.op, count, t.value), ...numbers(t, count) };
}

/**
 * Where each upgrade went: the backend the proxy stamped on the 101 as its
 * route, or, where the proxy stamped none, the stub's own stamp.
 */
export function upgradesByRoute(ws: WsResult): { byBackend: Record<string, number>; by: "route" | "stub" } {
  const routed = Object.keys(ws.upgrades.routed).length > 0;
  return { byBackend: routed ? ws.upgrades.routed : ws.upgrades.byBackend, by: routed ? "route" : "stub" };
}

/** A scenario's WebSocket expectations against its sessions' result. Pure. */
export function evaluateWebSocketExpectations(expect: WebSocketExpectations, ws: WsResult): ExpectationResult[] {
  const out: ExpectationResult[] = [];
  const started = ws.sessions.started;
  if (expect.sessions) {
    const check = countCheck("websockets.sessions", expect.sessions, ws.sessions.completed, started);
    const causes = Object.entries(ws.sessions.failedByCause).map(([c, n]) => `${c} ${n}`).join(", ");
    const why = [ws.sessions.failed > 0 ? `${ws.sessions.failed} failed${causes ? `: ${causes}` : ""}` : "", ws.sessions.stopped > 0 ? `${ws.sessions.stopped} cut by the run's end` : ""].filter(Boolean).join("; ");
    // Passing needs a session: 100% of none started is no evidence.
    out.push({ ...check, actual: `${check.actual} completed${why ? `; ${why}` : ""}`, passed: check.passed && started > 0 });
  }
  if (expect.delivered) {
    const t = expect.delivered;
    const m = ws.messages;
    const ratio = m.deliveryRatio;
    const share = ratio === null ? null : ratio * 100;
    const rounded = share === null ? null : Math.round(share * 10) / 10;
    out.push({
      name: "websockets.delivered",
      expected: t.text,
      actual: share === null ? "no message was sent" : `${formatPercent(share)} (${m.delivered} of ${m.expected} owed)`,
      passed: share !== null && compare(t.op, t.op === "==" ? rounded! : share, t.value),
      ...numbers(t, share),
    });
  }
  for (const key of ["p50", "p99"] as const) {
    const t = expect.fanout[key];
    if (!t) continue;
    const value = ws.fanout[key];
    const measured = ws.messages.delivered > 0;
    out.push({
      name: `websockets.fanout_${key}`,
      expected: t.text,
      actual: measured ? `${value.toFixed(1)}ms` : "no message was delivered",
      passed: measured && compare(t.op, value, t.value),
      ...numbers(t, measured ? value : null),
    });
  }
  const { byBackend } = upgradesByRoute(ws);
  for (const [backend, t] of Object.entries(expect.upgrades)) {
    out.push(countCheck(`websockets.upgrades.${backend}`, t, byBackend[backend] ?? 0, started));
  }
  return out;
}

/**
 * Checks a scenario's expectations against one run's results: the HTTP
 * load's (null when the load sends no request) and the WebSocket sessions'
 * (null when it holds none). Expectations on a part that did not run fail,
 * named, rather than pass on nothing. Pure.
 */
export function evaluateExpectations(expect: Expectations, result: LoadResult | null, ws: WsResult | null = null): ExpectationResult[] {
  const out: ExpectationResult[] = result === null ? missingHttp(expect) : httpExpectations(expect, result);
  if (expect.websockets) {
    if (ws !== null) out.push(...evaluateWebSocketExpectations(expect.websockets, ws));
    else out.push(...missing(websocketThresholds(expect.websockets), "no WebSocket session ran"));
  }
  return out;
}

function websocketThresholds(w: WebSocketExpectations): [string, Threshold][] {
  return [
    ...(w.sessions ? [["websockets.sessions", w.sessions] as [string, Threshold]] : []),
    ...(w.delivered ? [["websockets.delivered", w.delivered] as [string, Threshold]] : []),
    ...Object.entries(w.fanout).map(([k, t]) => [`websockets.fanout_${k}`, t] as [string, Threshold]),
    ...Object.entries(w.upgrades).map(([k, t]) => [`websockets.upgrades.${k}`, t] as [string, Threshold]),
  ];
}

function missingHttp(e: Expectations): ExpectationResult[] {
  const list: [string, Threshold][] = [
    ...Object.entries(e.backends).map(([k, t]) => [`backends.${k}`, t] as [string, Threshold]),
    ...(e.errors ? [["errors", e.errors] as [string, Threshold]] : []),
    ...(e.unattributed ? [["unattributed", e.unattributed] as [string, Threshold]] : []),
    ...Object.entries(e.latency).map(([k, t]) => [`latency.${k}`, t] as [string, Threshold]),
    ...(e.maxConnectionsSeen ? [["max_connections_seen", e.maxConnectionsSeen] as [string, Threshold]] : []),
  ];
  return missing(list, "no HTTP request was sent");
}

function missing(list: [string, Threshold][], why: string): ExpectationResult[] {
  return list.map(([name, t]) => ({ name, expected: t.text, actual: why, passed: false, ...numbers(t, null) }));
}

function httpExpectations(expect: Expectations, result: LoadResult): ExpectationResult[] {
  const total = result.requests.sent;
  const out: ExpectationResult[] = [];
  for (const [backend, t] of Object.entries(expect.backends)) {
    out.push(countCheck(`backends.${backend}`, t, result.backends[backend]?.count ?? 0, total));
  }
  if (expect.errors) out.push(countCheck("errors", expect.errors, result.requests.failed, total));
  if (expect.unattributed) out.push(countCheck("unattributed", expect.unattributed, result.unattributed.total, total));
  for (const [key, t] of Object.entries(expect.latency)) {
    const value = result.latency[key as "p50" | "p90" | "p99" | "max"];
    out.push({ name: `latency.${key}`, expected: t.text, actual: `${value.toFixed(1)}ms`, passed: result.requests.completed > 0 && compare(t.op, value, t.value), ...numbers(t, result.requests.completed > 0 ? value : null) });
  }
  if (expect.maxConnectionsSeen) {
    const seen = result.maxProxyConnsSeen;
    out.push({
      name: "max_connections_seen",
      expected: expect.maxConnectionsSeen.text,
      actual: seen === null ? "not stamped by the proxy" : String(seen),
      passed: seen !== null && compare(expect.maxConnectionsSeen.op, seen, expect.maxConnectionsSeen.value),
      ...numbers(expect.maxConnectionsSeen, seen),
    });
  }
  return out;
}
