import type { ScenarioRun, VerifyReport } from "../verify/types.js";
import { formatPercent } from "../verify/evaluate.js";
import { flipText } from "../verify/routes.js";
import { proxyFailureLines, webSocketLines } from "./terminal.js";

function xml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");
}

function cases(run: ScenarioRun): string[] {
  const cls = `spillway.${run.target}.${run.scenario}`;
  const time = (run.durationMs / 1000).toFixed(3);
  if (run.status === "error") {
    return [`    <testcase classname="${xml(cls)}" name="run" time="${time}">\n      <error message="${xml((run.error ?? "error").split("\n")[0]!)}">${xml(run.error ?? "")}</error>\n    </testcase>`];
  }
  const out = run.expectations.map((e) => {
    const name = `${e.name} ${e.expected}`;
    return e.passed
      ? `    <testcase classname="${xml(cls)}" name="${xml(name)}" time="0"/>`
      : `    <testcase classname="${xml(cls)}" name="${xml(name)}" time="0">\n      <failure message="${xml(`expected ${e.name} ${e.expected}, got ${e.actual}`)}" type="expectation"/>\n    </testcase>`;
  });
  const rec = run.reconciliation;
  if (rec) {
    out.push(
      rec.ok
        ? `    <testcase classname="${xml(cls)}" name="reconciliation" time="0"/>`
        : `    <testcase classname="${xml(cls)}" name="reconciliation" time="0">\n      <failure message="${xml(rec.problems[0] ?? "counts differ")}" type="reconciliation">${xml(rec.problems.join("\n"))}</failure>\n    </testcase>`,
    );
  }
  return out;
}

/** What the run measured, for the suite's system-out: routed and served per backend, failures at the proxy, flips, the WebSocket sessions. */
function measured(run: ScenarioRun): string[] {
  const ws = run.websockets ? webSocketLines(run.websockets) : [];
  const load = run.load;
  if (!load) return ws;
  const total = load.requests.sent;
  const routed = load.routed ?? {};
  const names = [...new Set([...Object.keys(load.backends), ...Object.keys(routed)])].sort();
  const lines = names.map((n) => {
    const served = load.backends[n]?.count ?? 0;
    return `${n}: routed ${routed[n]?.count ?? (Object.keys(routed).length ? 0 : "-")}, served ${served} (${formatPercent(total ? (served / total) * 100 : 0)} of ${total})`;
  });
  return [...lines, ...proxyFailureLines(run), ...run.flips.map(flipText), ...ws];
}

/** JUnit XML: a suite per target x scenario; a failed expectation is a failure, a broken run an error. */
export function toJunit(report: VerifyReport): string {
  const suites = report.runs.map((run) => {
    const c = cases(run);
    const failures = run.status === "error" ? 0 : run.expectations.filter((e) => !e.passed).length + (run.reconciliation && !run.reconciliation.ok ? 1 : 0);
    const out = measured(run);
    const systemOut = out.length > 0 ? `\n    <system-out>${xml(out.join("\n"))}</system-out>` : "";
    return `  <testsuite name="${xml(`${run.target} / ${run.scenario}`)}" tests="${c.length}" failures="${failures}" errors="${run.status === "error" ? 1 : 0}" time="${(run.durationMs / 1000).toFixed(3)}">\n${c.join("\n")}${systemOut}\n  </testsuite>`;
  });
  const tests = report.runs.reduce((n, r) => n + cases(r).length, 0);
  const failures = report.runs.reduce((n, r) => n + (r.status === "error" ? 0 : r.expectations.filter((e) => !e.passed).length + (r.reconciliation && !r.reconciliation.ok ? 1 : 0)), 0);
  const errors = report.runs.filter((r) => r.status === "error").length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="spillway verify ${xml(report.spec)}" tests="${tests}" failures="${failures}" errors="${errors}">\n${suites.join("\n")}\n</testsuites>\n`;
}
