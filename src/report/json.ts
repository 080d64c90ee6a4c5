import type { VerifyReport } from "../verify/types.js";

/** The machine-readable report: stable keys, one entry per target x scenario. */
export function toJson(report: VerifyReport): string {
  return `${JSON.stringify(
    {
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
        flips: r.flips.map((f) => ({
          rule: f.rule,
          condition: f.condition,
          backend: f.backend,
          default_backend: f.defaultBackend,
          last_default_conns: f.lastDefaultConns,
          first_rule_conns: f.firstRuleConns,
          at_ms: f.atMs,
        })),
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
      })),
    },
    null,
    2,
  )}\n`;
}
