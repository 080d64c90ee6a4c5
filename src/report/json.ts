import type { ConnectionCounts, LatencySummary, TimelineWindow } from "../load/index.js";
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
    })),
  };
}

/** `--json`: the report as text. */
export function toJson(report: VerifyReport): string {
  return `${JSON.stringify(toJsonReport(report), null, 2)}\n`;
}
