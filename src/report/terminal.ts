import { formatDuration, formatElapsed } from "../spec/duration.js";
import type { DownReport, UpReport } from "./commands.js";
import { formatTable } from "./table.js";
import { formatPercent } from "../verify/evaluate.js";
import type { ScenarioRun, VerifyReport } from "../verify/types.js";
import { flipText } from "../verify/routes.js";
import { upgradesByRoute } from "../verify/evaluate.js";
import type { WsReconciliation } from "../verify/reconcile.js";
import type { WsResult } from "../load/ws/index.js";

const STATUS = { passed: "PASS", failed: "FAIL", error: "ERROR" } as const;

/** How text for a terminal is drawn; the CLI decides (a TTY, and NO_COLOR unset). */
export interface TerminalOptions {
  color?: boolean;
}

// Foreground only, reset with 39, so a coloured word never changes the rest of the line.
const GREEN = 32;
const RED = 31;

function paint(text: string, colour: number, on: boolean): string {
  return on ? `\u001b[${colour}m${text}\u001b[39m` : text;
}

function statusWord(status: ScenarioRun["status"], color: boolean): string {
  return paint(STATUS[status], status === "passed" ? GREEN : RED, color);
}

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

/** The WebSocket block of a run: sessions with causes, messages, delivery, fan-out, and where the upgrades went. */
export function webSocketLines(ws: WsResult): string[] {
  const s = ws.sessions;
  const m = ws.messages;
  const causes = Object.entries(s.failedByCause).map(([c, n]) => `${c} ${n}`).join(", ");
  const route = upgradesByRoute(ws);
  const served = ws.upgrades.byBackend;
  const names = [...new Set([...Object.keys(route.byBackend), ...Object.keys(served)])].sort();
  const upgrades = names.map((b) => (route.by === "route" ? `${b} ${route.byBackend[b] ?? 0} routed, ${served[b] ?? 0} served` : `${b} ${served[b] ?? 0}`)).join("; ");
  return [
    `WebSocket sessions: ${s.started} started, ${s.opened} opened, ${s.completed} completed, ${s.failed} failed${causes ? ` (${causes})` : ""}` +
      `${s.stopped > 0 ? `, ${s.stopped} cut by the run's end` : ""}${s.notStarted > 0 ? `, ${s.notStarted} never started` : ""}; max ${s.maxOpen} open`,
    `messages: ${m.sent} sent, ${m.received} received; delivered ${m.delivered} of ${m.expected} owed (${m.deliveryRatio === null ? "none sent" : formatPercent(m.deliveryRatio * 100)})` +
      `; fan-out p50 ${ms(ws.fanout.p50)}, p99 ${ms(ws.fanout.p99)}; sessions held ${formatElapsed(ws.ws_session_duration.p50)} (p50)`,
    `upgrades${route.by === "route" ? " (proxy's route, stub that served)" : " (by the stub that served; the proxy stamped no route)"}: ${upgrades || "none"}${ws.upgrades.unstamped > 0 ? `; ${ws.upgrades.unstamped} unstamped` : ""}`,
  ];
}

function wsReconciledLine(w: WsReconciliation): string {
  const m = w.messages;
  const ups = w.upgrades.map((u) => `${u.backend} ${u.driver}`).join(", ");
  return `reconciled WebSocket: ${m.driverSent} messages sent = ${m.stubsIn} taken in by the stubs; ${m.stubsOut} sent out by the stubs = ${m.driverReceived} received; upgrades ${ups || "none"} as the stubs counted them`;
}

/** One target x scenario as a block: counts per backend (routed by the proxy, served by a stub), reconciliation, expectations, flips. */
export function formatRun(run: ScenarioRun, opts: TerminalOptions = {}): string {
  const color = opts.color ?? false;
  const lines = [`${statusWord(run.status, color)}  ${run.target} / ${run.scenario}${run.proxy ? `  (${run.target} ${run.proxy.version}, ${run.runtime})` : ""}`];
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
      `  ${total} sent, ${load.requests.completed} answered, ${load.requests.failed} failed, ${Math.round(load.rps)} req/s over ${formatElapsed(load.durationMs)}; ` +
        `${load.connections.opened} connections opened (max ${load.connections.maxOpen} open)` +
        (load.maxProxyConnsSeen !== null ? `; the proxy routed at up to ${load.maxProxyConnsSeen} connections` : ""),
    );
    for (const l of proxyFailureLines(run)) lines.push(`  ${l}`);
    for (const f of run.flips) lines.push(`  ${flipText(f)}`);
  }
  if (run.websockets) for (const l of webSocketLines(run.websockets)) lines.push(`  ${l}`);
  const rec = run.reconciliation;
  if (rec) {
    if (rec.ok) {
      const extra = rec.proxyTotal ? `, nginx counted ${rec.proxyTotal.proxy} requests` : "";
      lines.push(`  reconciled: driver, stubs${rec.rows.some((r) => r.proxy !== null) ? " and HAProxy's req_tot" : ""} agree on every backend${extra}`);
      if (rec.websockets) {
        // Exact agreement is the claim only where nothing was cut; otherwise the notes say what was in flight.
        if (rec.websockets.notes.length === 0) lines.push(`  ${wsReconciledLine(rec.websockets)}`);
        for (const n of rec.websockets.notes) lines.push(`  WebSocket counts differ by what was in flight: ${n}`);
      }
    } else for (const p of rec.problems) lines.push(`  ${paint("RECONCILIATION FAILED", RED, color)}: ${p}`);
  }
  // A hold test's counts are in the JSON; here only where they disagree, which is news.
  for (const d of run.counts?.disagreements ?? []) lines.push(`  ${paint("COUNTS DISAGREE", RED, color)}: ${d}`);
  for (const e of run.expectations) lines.push(`  ${e.passed ? `${paint("ok", GREEN, color)}  ` : paint("FAIL", RED, color)}  ${e.name} ${e.expected}: got ${e.actual}`);
  return lines.join("\n");
}

export function formatSummary(report: VerifyReport, opts: TerminalOptions = {}): string {
  // The sessions column only where a run held any: a report of HTTP runs keeps its shape.
  const sessions = report.runs.some((r) => r.websockets);
  const rows = report.runs.map((r) => [r.target, r.scenario, STATUS[r.status], r.load ? String(r.load.requests.sent) : "-", ...(sessions ? [r.websockets ? String(r.websockets.ws_sessions) : "-"] : []), `${r.expectations.filter((e) => e.passed).length}/${r.expectations.length}`, formatElapsed(r.durationMs)]);
  const count = (s: ScenarioRun["status"]) => report.runs.filter((r) => r.status === s).length;
  const table = formatTable(["target", "scenario", "result", "requests", ...(sessions ? ["sessions"] : []), "expectations", "time"], rows).split("\n");
  if (opts.color) {
    // Coloured after the table is laid out: escape codes would count towards the column widths.
    const at = table[0]!.indexOf("result");
    report.runs.forEach((r, i) => {
      const line = table[i + 2]!;
      const word = STATUS[r.status];
      table[i + 2] = `${line.slice(0, at)}${statusWord(r.status, true)}${line.slice(at + word.length)}`;
    });
  }
  return [
    table.join("\n"),
    `${count("passed")} passed, ${count("failed")} failed${count("error") ? `, ${count("error")} errored` : ""}`,
  ].join("\n");
}

/** What `spillway up` prints once everything is up: every address, the logs, and how to stop. */
export function formatUp(r: UpReport): string {
  const logs = Object.entries(r.logs).map(([t, f]) => `${t}: ${f}${r.runtime === "docker" ? " (written at stop; `docker logs` meanwhile)" : ""}`);
  const first = r.frontends[0];
  return [
    `spillway up: run ${r.runId}, ${r.runtime} runtime\n\n`,
    `${formatTable(["target", "frontend", "url", "speaks", "proxy"], r.frontends.map((f) => [f.target, f.frontend, f.url, f.speaks, f.proxy]))}\n\n`,
    `${formatTable(["stub", "url"], Object.entries(r.stubs))}\n\n`,
    `logs:\n  ${logs.join("\n  ")}\n\n`,
    first ? `Try: h2load -c10 -m10 -n1000 ${first.url}/   or   curl --http2-prior-knowledge -si ${first.url}/\n` : "",
    ...r.frontends
      .filter((f, i, all) => all.findIndex((g) => g.target === f.target) === i && r.counters[f.target] !== undefined)
      .map((f) => `Count both sides: spillway load ${f.url}/ -c100 -D10s ${f.target === "nginx" ? "--nginx-status" : "--haproxy-stats"} ${r.counters[f.target]}\n`),
    r.stopsAfterMs === null ? "Press Ctrl-C to stop; everything this run started stops with it.\n" : `Stopping by itself in ${formatDuration(r.stopsAfterMs)} (or on Ctrl-C).\n`,
  ].join("");
}

/** What `spillway down` cleaned, a line each. */
export function formatDown(r: DownReport): string {
  const lines = [
    ...r.killed.map((k) => `stopped ${k}`),
    ...r.containers.map((c) => `removed container ${c}`),
    ...r.removedDirs.map((d) => `removed ${d}`),
    ...r.skipped.map((s) => `left alone: run ${s}`),
  ];
  if (r.dockerNote) lines.push(r.dockerNote);
  return `${lines.length > 0 ? lines.join("\n") : "nothing left behind"}\n`;
}
