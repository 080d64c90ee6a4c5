import { formatTable } from "./table.js";
import { formatPercent } from "../verify/evaluate.js";
import type { ScenarioRun, VerifyReport } from "../verify/types.js";

const STATUS = { passed: "PASS", failed: "FAIL", error: "ERROR" } as const;

function ms(v: number): string {
  return v >= 100 ? `${Math.round(v)}ms` : `${v.toFixed(1)}ms`;
}

/** One target x scenario as a block: counts per backend, reconciliation, expectations. */
export function formatRun(run: ScenarioRun): string {
  const lines = [`${STATUS[run.status]}  ${run.target} / ${run.scenario}${run.proxy ? `  (${run.target} ${run.proxy.version}, ${run.runtime})` : ""}`];
  if (run.description) lines.push(`  ${run.description}`);
  if (run.error) lines.push(...run.error.split("\n").map((l) => `  ${l}`));
  const load = run.load;
  if (load) {
    const total = load.requests.sent;
    const rows = Object.entries(load.backends)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, b]) => {
        const rec = run.reconciliation?.rows.find((r) => r.backend === name);
        return [name, String(b.count), formatPercent(total ? (b.count / total) * 100 : 0), ms(b.latency.p50), ms(b.latency.p99), rec ? String(rec.stubs) : "-", rec?.proxy !== null && rec?.proxy !== undefined ? String(rec.proxy) : "-"];
      });
    if (load.unattributed.total > 0) {
      const causes = Object.entries(load.unattributed.byCause).map(([c, n]) => `${c} ${n}`).join(", ");
      rows.push([`(none: ${causes})`, String(load.unattributed.total), formatPercent(total ? (load.unattributed.total / total) * 100 : 0), "-", "-", "-", "-"]);
    }
    lines.push(
      formatTable(["backend", "requests", "share", "p50", "p99", "stubs saw", "proxy saw"], rows)
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
    lines.push(
      `  ${total} sent, ${load.requests.completed} answered, ${load.requests.failed} failed, ${Math.round(load.rps)} req/s over ${(load.durationMs / 1000).toFixed(1)} s; ` +
        `${load.connections.opened} connections opened (max ${load.connections.maxOpen} open)` +
        (load.maxProxyConnsSeen !== null ? `; the proxy routed at up to ${load.maxProxyConnsSeen} connections` : ""),
    );
  }
  const rec = run.reconciliation;
  if (rec) {
    if (rec.ok) {
      const extra = rec.proxyTotal ? `, nginx counted ${rec.proxyTotal.proxy} requests` : "";
      lines.push(`  reconciled: driver, stubs${rec.rows.some((r) => r.proxy !== null) ? " and HAProxy's req_tot" : ""} agree on every backend${extra}`);
    } else for (const p of rec.problems) lines.push(`  RECONCILIATION FAILED: ${p}`);
  }
  for (const e of run.expectations) lines.push(`  ${e.passed ? "ok  " : "FAIL"}  ${e.name} ${e.expected}: got ${e.actual}`);
  return lines.join("\n");
}

export function formatSummary(report: VerifyReport): string {
  const rows = report.runs.map((r) => [r.target, r.scenario, STATUS[r.status], r.load ? String(r.load.requests.sent) : "-", `${r.expectations.filter((e) => e.passed).length}/${r.expectations.length}`, (r.durationMs / 1000).toFixed(1)]);
  const count = (s: ScenarioRun["status"]) => report.runs.filter((r) => r.status === s).length;
  return [
    formatTable(["target", "scenario", "result", "requests", "expectations", "seconds"], rows),
    `${count("passed")} passed, ${count("failed")} failed${count("error") ? `, ${count("error")} errored` : ""}`,
  ].join("\n");
}
