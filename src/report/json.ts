import type { ConnectionCounts, LatencySummary, TimelineWindow } from "../load/index.js";
import type { WsResult } from "../load/ws/index.js";
import { upgradesByRoute } from "../verify/evaluate.js";
import type { Target } from "../spec/model.js";
import type { ExpectationResult } from "../verify/evaluate.js";
import type { Reconciliation } from "../verify/reconcile.js";
import type { CountsReport } from "../verify/counts.js";
import type { ProxyFailure } from "../verify/routes.js";
import type { ScenarioRun, VerifyReport } from "../verify/types.js";
import { flipJson, type JsonFlip } from "../flip.js";

/** One target x scenario of the JSON report. */
export interface JsonRun {
  target: Target;
  scenario: string;
  runtime: ScenarioRun["runtime"];
  proxy: ScenarioRun["proxy"];
  status: ScenarioRun["status"];
  passed: boolean;
  error: string | null;
  requests: { sent: number; completed: number; succeeded: number; failed: number };
  /** Responses served by each backend's stubs. */
  backends: Record<string, number>;
  /** Responses the proxy stamped as routed to each backend. */
  routed: Record<string, number>;
  failedAtProxy: ProxyFailure[];
  flips: JsonFlip[];
  /** Responses by `backend/server`. */
  servers: Record<string, number>;
  unattributed: number;
  errors: { unattributed: Record<string, number>; statuses: Record<string, number> };
  latencyMs: LatencySummary | null;
  maxProxyConnsSeen: number | null;
  connections: ConnectionCounts | null;
  expectations: ExpectationResult[];
  reconciliation: Reconciliation | null;
  timelineWindowMs: number | null;
  timeline: TimelineWindow[];
  durationMs: number;
  /** Open connections as the driver, the proxy and the kernel counted them every second, and where they disagree; null when the load did not run. */
  counts: CountsReport | null;
  /** The scenario's WebSocket sessions; null when it holds none (or the run broke before they ran). */
  websockets: JsonWebSockets | null;
}

/** A WebSocket session's figures: k6's names where k6 has the figure (ws_*), snake_case for the rest. */
export interface JsonWebSockets {
  /** k6's ws_sessions: session attempts, opened or not. */
  ws_sessions: number;
  ws_msgs_sent: number;
  ws_msgs_received: number;
  /** k6's ws_session_duration, ms: the same figures as session_duration_ms. */
  ws_session_duration: LatencySummary;
  /** k6's ws_connecting, ms: the same figures as connecting_ms. */
  ws_connecting: LatencySummary;
  sessions: {
    started: number;
    opened: number;
    closed: number;
    completed: number;
    stopped: number;
    failed: number;
    failed_by_cause: Record<string, number>;
    failed_to_open: number;
    not_started: number;
    max_open: number;
  };
  messages: { sent: number; received: number; expected: number; delivered: number; unexpected: number; bytes_sent: number; bytes_received: number };
  /** delivered / expected; null when no message was sent. */
  delivery_ratio: number | null;
  /** From a message's send to each receipt. */
  fanout_ms: LatencySummary;
  session_duration_ms: LatencySummary;
  connecting_ms: LatencySummary;
  upgrades: {
    /** By the backend the proxy stamped on the 101 (its route); the stubs' stamp where the proxy stamps none (`by` says which). */
    routed: Record<string, number>;
    by: "route" | "stub";
    /** By the backend whose stub answered the 101. */
    served: Record<string, number>;
    /** By `backend/server`. */
    servers: Record<string, number>;
    unstamped: number;
  };
  rooms: Record<string, { sessions: number; peak_members: number; sent: number; received: number; expected: number; delivered: number; delivery_ratio: number | null }>;
  messages_per_second: { sent: number; received: number };
  duration_ms: number;
  timeline_window_ms: number;
  timeline: { t_ms: number; open_sessions: number; opened: number; failed: number; sent: number; received: number; expected: number; delivered: number }[];
}

export function toJsonWebSockets(ws: WsResult): JsonWebSockets {
  const s = ws.sessions;
  const m = ws.messages;
  const route = upgradesByRoute(ws);
  return {
    ws_sessions: ws.ws_sessions,
    ws_msgs_sent: ws.ws_msgs_sent,
    ws_msgs_received: ws.ws_msgs_received,
    ws_session_duration: ws.ws_session_duration,
    ws_connecting: ws.ws_connecting,
    sessions: {
      started: s.started,
      opened: s.opened,
      closed: s.closed,
      completed: s.completed,
      stopped: s.stopped,
      failed: s.failed,
      failed_by_cause: s.failedByCause,
      failed_to_open: s.failedToOpen,
      not_started: s.notStarted,
      max_open: s.maxOpen,
    },
    messages: { sent: m.sent, received: m.received, expected: m.expected, delivered: m.delivered, unexpected: m.unexpected, bytes_sent: m.bytesSent, bytes_received: m.bytesReceived },
    delivery_ratio: m.deliveryRatio,
    fanout_ms: ws.fanout,
    session_duration_ms: ws.ws_session_duration,
    connecting_ms: ws.ws_connecting,
    upgrades: { routed: route.byBackend, by: route.by, served: ws.upgrades.byBackend, servers: ws.upgrades.byServer, unstamped: ws.upgrades.unstamped },
    rooms: Object.fromEntries(
      Object.entries(ws.rooms).map(([name, r]) => [
        name,
        { sessions: r.sessions, peak_members: r.peakMembers, sent: r.sent, received: r.received, expected: r.expected, delivered: r.delivered, delivery_ratio: r.deliveryRatio },
      ]),
    ),
    messages_per_second: ws.messagesPerSecond,
    duration_ms: ws.durationMs,
    timeline_window_ms: ws.timelineWindowMs,
    timeline: ws.timeline.map((w) => ({ t_ms: w.tMs, open_sessions: w.openSessions, opened: w.opened, failed: w.failed, sent: w.sent, received: w.received, expected: w.expected, delivered: w.delivered })),
  };
}

/** What `spillway verify --json` writes and the library's `verify()` returns. */
export interface JsonReport {
  spec: string;
  startedAt: string;
  passed: boolean;
  results: JsonRun[];
}

/** The machine-readable report as a plain object: stable keys, one entry per target x scenario, nothing JSON would drop. */
export function toJsonReport(report: VerifyReport): JsonReport {
  return {
    spec: report.spec,
    startedAt: report.startedAt,
    passed: report.passed,
    results: report.runs.map((r) => ({
      target: r.target,
      scenario: r.scenario,
      runtime: r.runtime,
      proxy: r.proxy,
      status: r.status,
      passed: r.status === "passed",
      error: r.error,
      requests: { sent: r.load?.requests.sent ?? 0, completed: r.load?.requests.completed ?? 0, succeeded: r.load?.requests.succeeded ?? 0, failed: r.load?.requests.failed ?? 0 },
      backends: Object.fromEntries(Object.entries(r.load?.backends ?? {}).map(([k, b]) => [k, b.count])),
      routed: Object.fromEntries(Object.entries(r.load?.routed ?? {}).map(([k, b]) => [k, b.count])),
      failedAtProxy: r.proxyFailures,
      flips: r.flips.map(flipJson),
      servers: Object.fromEntries(Object.entries(r.load?.backends ?? {}).flatMap(([k, b]) => Object.entries(b.servers).map(([s, n]) => [s.includes("/") ? s : `${k}/${s}`, n]))),
      unattributed: r.load?.unattributed.total ?? 0,
      errors: { unattributed: r.load?.unattributed.byCause ?? {}, statuses: r.load?.statuses ?? {} },
      latencyMs: r.load?.latency ?? null,
      maxProxyConnsSeen: r.load?.maxProxyConnsSeen ?? null,
      connections: r.load?.connections ?? null,
      expectations: r.expectations,
      reconciliation: r.reconciliation,
      timelineWindowMs: r.load?.timelineWindowMs ?? null,
      timeline: r.load?.timeline ?? [],
      durationMs: r.durationMs,
      counts: r.counts ?? null,
      websockets: r.websockets ? toJsonWebSockets(r.websockets) : null,
    })),
  };
}

/** `--json`: the report as text. */
export function toJson(report: VerifyReport): string {
  return `${JSON.stringify(toJsonReport(report), null, 2)}\n`;
}
