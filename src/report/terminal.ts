import { formatTable } from "./table.js";
import { formatPercent } from "../verify/evaluate.js";
import type { ScenarioRun, VerifyReport } from "../verify/types.js";
import { flipText } from "../verify/routes.js";

const STATUS = { passed: "PASS", failed: "FAIL", error: "ERROR" } as const;

function ms(v: number): string {
  return v >= 100 ? `${Math.round(v)}ms` : `${v.toFixed(1)}ms`;
}

/** "ade: 30868 routed here answered 502 by the proxy: refused by nginx: ..." lines. */
export function proxyFailureLines(run: ScenarioRun): string[] {
  const total = run.load?.requests.sent ?? 0;
  return run.proxyFailures.map(
    (f) => `failed at the proxy: ${f.count} (${formatPercent(total ? (f.count / total) * 100 : 0)}) routed to ${f.backend}, answered ${f.status} by ${run.target}: ${f.cause}`,
  );
}

/** One target x scenario as a block: counts per backend (routed by the proxy, served by a stub), reconciliation, expectations, flips. */
export function formatRun(run: ScenarioRun): string {
  const lines = [`${STATUS[run.status]}  ${run.target} / ${run.scenario}${run.proxy ? `  (${run.target} ${run.proxy.version}, ${run.runtime})` : ""}`];
  if (run.description) lines.push(`  ${run.description}`);
  if (run.error) lines.push(...run.error.split("\n").map((l) => `  ${l}`));
  const load = run.load;
  if (load) {
    const total = load.requests.sent;
    const routed = load.routed ?? {};
    const stamped = Object.keys(routed).length > 0;
    const names = [...new Set([...Object.keys(load.backends), ...Object.keys(routed)])].sort();
    const rows = names.map((name) => {
      const b = load.backends[name];
      const count = b?.count ?? 0;
      const rec = run.reconciliation?.rows.find((r) => r.backend === name);
      return [
        name,
        stamped ? String(routed[name]?.count ?? 0) : "-",
        String(count),
        formatPercent(total ? (count / total) * 100 : 0),
        b ? ms(b.latency.p50) : "-",
        b ? ms(b.latency.p99) : "-",
        rec ? String(rec.stubs) : "-",
        rec?.proxy !== null && rec?.proxy !== undefined ? String(rec.proxy) : "-",
      ];
    });
    if (load.unattributed.total > 0) {
      const causes = Object.entries(load.unattributed.byCause).map(([c, n]) => `${c} ${n}`).join(", ");
      rows.push([`(not served: ${causes})`, "-", String(load.unattributed.total), formatPercent(total ? (load.unattributed.total / total) * 100 : 0), "-", "-", "-", "-"]);
    }
    lines.push(
      formatTable(["backend", "routed", "served", "share", "p50", "p99", "stubs saw", "proxy saw"], rows)
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
    lines.push(
      `  ${total} sent, ${load.requests.completed} answered, ${load.requests.failed} failed, ${Math.round(load.rps)} req/s over ${(load.durationMs / 1000).toFixed(1)} s; ` +
        `${load.connections.opened} connections opened (max ${load.connections.maxOpen} open)` +
        (load.maxProxyConnsSeen !== null ? `; the proxy routed at up to ${load.maxProxyConnsSeen} connections` : ""),
    );
    for (const l of proxyFailureLines(run)) lines.push(`  ${l}`);
    for (const f of run.flips) lines.push(`  ${flipText(f)}`);
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
