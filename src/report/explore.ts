/**
 * `spillway explore` for people and spreadsheets: a table per target (grid
 * values to overflow share, measured beside predicted), a line per cell as
 * it finishes, the progress line, and the CSV. Pure: each returns a string.
 */
import { shortAxisNames } from "./explore-html.js";
import { formatTable } from "./table.js";
import { formatElapsed } from "../spec/duration.js";
import type { ExploreCell, ExploreReport } from "../explore/types.js";

/** The backends the scenario's rules route to: what "overflow" means for this report. */
export function overflowBackends(report: Pick<ExploreReport, "thresholds">): string[] {
  return [...new Set(report.thresholds.map((t) => t.backend))];
}

function pct(share: number): string {
  const v = Math.round(share * 1000) / 10;
  return `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)}%`;
}

/** The overflow share of a cell, measured and predicted (sums over the rules' backends); null where there is none. */
export function overflowShares(cell: ExploreCell, overflow: readonly string[]): { measured: number | null; predicted: number | null } {
  if (overflow.length === 0) return { measured: null, predicted: null };
  const m = cell.measured;
  const p = cell.predicted;
  return {
    measured: m ? overflow.reduce((s, b) => s + (m.backends[b]?.share ?? 0), 0) : null,
    predicted: p ? overflow.reduce((s, b) => s + (p.backends[b] ?? 0), 0) : null,
  };
}

/**
 * A delivery ratio that never reads as 100% unless nothing was lost:
 * 9,996 of 10,000 is 99.96%, not a rounded 100%.
 */
export function deliveryText(ratio: number | null): string {
  if (ratio === null) return "-";
  if (ratio >= 1) return "100%";
  return `${(Math.floor(ratio * 10_000) / 100).toFixed(2)}%`;
}

/** Whether any cell held WebSocket sessions: their columns are shown only then. */
export function hasWebSockets(report: Pick<ExploreReport, "cells">): boolean {
  return report.cells.some((c) => c.measured?.websockets != null);
}

/** "100/100 sessions, 100% delivered, fan-out p99 5.6 ms". */
function wsText(cell: ExploreCell): string | null {
  const w = cell.measured?.websockets;
  if (!w) return null;
  const fanout = w.fanout_ms.p99 === null ? "" : `, fan-out p99 ${w.fanout_ms.p99.toFixed(1)} ms`;
  const causes = Object.entries(w.failed_by_cause).map(([cause, n]) => `${cause} ${n}`).join(", ");
  const failed = w.sessions.failed > 0 ? ` (${w.sessions.failed} failed: ${causes})` : "";
  return `${w.sessions.opened}/${w.sessions.asked} sessions${failed}, ${deliveryText(w.delivery_ratio)} delivered${fanout}`;
}

function errorShare(cell: ExploreCell): number | null {
  const m = cell.measured;
  if (!m || m.sent === 0) return null;
  return Object.values(m.failed).reduce((a, n) => a + n, 0) / m.sent;
}

/** What one cell shows in a table: `88% / 91%` (measured / predicted), or req/s when nothing can overflow. */
/** The HTTP part of a cell: `88% / 91%` (measured / predicted), or req/s when nothing can overflow. */
function httpText(cell: ExploreCell | undefined, overflow: readonly string[]): string {
  if (cell === undefined) return "not run";
  if (cell.measured === null) return "error";
  if (overflow.length === 0) return `${Math.round(cell.measured.rps)} req/s`;
  const s = overflowShares(cell, overflow);
  return `${pct(s.measured!)} / ${s.predicted === null ? "-" : pct(s.predicted)}`;
}

/** What one cell shows in a matrix: its HTTP part, its delivery, or both. */
function cellText(cell: ExploreCell | undefined, overflow: readonly string[]): string {
  const ws = cell?.measured?.websockets;
  if (!ws) return httpText(cell, overflow);
  const delivered = `${deliveryText(ws.delivery_ratio)} delivered`;
  // A load of sessions alone: nothing was sent over HTTP to share out.
  return cell!.measured!.sent === 0 ? delivered : `${httpText(cell, overflow)}, ${delivered}`;
}

function valuesKey(report: ExploreReport, values: Record<string, string>): string {
  return report.vary.map((a) => values[a.path]).join("\u0000");
}

/**
 * One table per target. Two axes: a matrix, the first axis down and the
 * second across. Otherwise one row per grid point. Knees, the differences
 * between the targets and the overhead per cell follow.
 */
export function formatExploreTables(report: ExploreReport): string {
  const overflow = overflowBackends(report);
  const short = shortAxisNames(report.vary.map((a) => a.path));
  const name = (path: string) => short.get(path) ?? path;
  const ws = hasWebSockets(report);
  const httpSent = report.cells.some((c) => (c.measured?.sent ?? 0) > 0);
  const what = [
    ...(httpSent || !ws
      ? [overflow.length > 0 ? `share served by ${overflow.join(" and ")}, measured / predicted` : "requests answered per second, whatever their status (the frontend has no connection-count rule to overflow)"]
      : []),
    ...(ws ? ["WebSocket messages delivered of those owed (sent x members of the room)"] : []),
  ].join("; ");
  const out: string[] = [];
  for (const target of report.targets) {
    const cells = new Map(report.cells.filter((c) => c.target === target).map((c) => [valuesKey(report, c.values), c]));
    out.push(`${target}: ${what}`);
    const [a, b] = report.vary;
    if (report.vary.length === 2 && a && b) {
      const rows = a.values.map((va) => [va, ...b.values.map((vb) => cellText(cells.get(valuesKey(report, { [a.path]: va, [b.path]: vb })), overflow))]);
      out.push(formatTable([`${name(a.path)} \\ ${name(b.path)}`, ...b.values], rows));
    } else {
      const rows: string[][] = [];
      const points = report.vary.reduce<Record<string, string>[]>((ps, axis) => ps.flatMap((p) => axis.values.map((v) => ({ ...p, [axis.path]: v }))), [{}]);
      for (const p of points) {
        const c = cells.get(valuesKey(report, p));
        const err = c ? errorShare(c) : null;
        const m = c?.measured ?? null;
        const w = m?.websockets ?? null;
        const httpCells =
          httpSent || !ws ? [m !== null && ws && m.sent === 0 ? "-" : httpText(c, overflow), err === null ? "-" : pct(err), m?.latency_ms.p99 != null ? m.latency_ms.p99.toFixed(1) : "-"] : [];
        const wsCells = ws
          ? [w ? `${w.sessions.opened}/${w.sessions.asked}` : m === null ? httpText(c, overflow) : "-", w ? deliveryText(w.delivery_ratio) : "-", w?.fanout_ms.p99 != null ? w.fanout_ms.p99.toFixed(1) : "-"]
          : [];
        rows.push([...report.vary.map((axis) => p[axis.path]!), ...httpCells, ...wsCells]);
      }
      const httpHead = httpSent || !ws ? [overflow.length > 0 ? "measured / predicted" : "answered", "errors", "p99 ms"] : [];
      const wsHead = ws ? ["sessions", "delivered", "fan-out p99 ms"] : [];
      out.push(formatTable([...report.vary.map((axis) => name(axis.path)), ...httpHead, ...wsHead], rows));
    }
    const knees = report.cells.filter((c) => c.target === target && c.knee !== null);
    for (const c of knees) {
      const k = c.knee!;
      const at = (v: number | null) => (v === null ? "not reached" : `${v} ${k.load === "connections" ? "connections" : "req/s"}`);
      out.push(
        `  knee at ${report.vary.map((axis) => `${name(axis.path)}=${c.values[axis.path]}`).join(", ")}: throughput stops rising at ${at(k.throughput_plateau_at)}, latency turns up at ${at(k.latency_turn_at)}, errors start at ${at(k.errors_start_at)}`,
      );
    }
    const broke = report.cells.filter((c) => c.target === target && c.error !== null);
    for (const c of broke) out.push(`  error at ${report.vary.map((axis) => `${name(axis.path)}=${c.values[axis.path]}`).join(", ")}: ${c.error!.split("\n")[0]}`);
    out.push("");
  }
  if (report.differences.length > 0) {
    out.push("HAProxy beside nginx:");
    for (const d of report.differences) out.push(`  ${report.vary.map((axis) => `${name(axis.path)}=${d.values[axis.path]}`).join(", ")}: ${d.text}`);
    out.push("");
  }
  const overhead = overheadText(report.cells);
  if (overhead) out.push(overhead);
  if (!report.complete) {
    const total = report.vary.reduce((n, axis) => n * axis.values.length, 1) * report.targets.length;
    out.push(`Stopped early: ${report.cells.length} of ${total} cells ran. --resume with the JSON report measures the rest.`);
  }
  return out.join("\n").trimEnd();
}

/** "overhead per cell beyond its load: 1.4s on a new stack (6 cells), 0.2s on a reused one (12)". */
export function overheadText(cells: readonly ExploreCell[]): string | null {
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const fresh = cells.filter((c) => c.stack === "new" && c.measured !== null).map((c) => c.overhead_ms);
  const reused = cells.filter((c) => c.stack === "reused" && c.measured !== null).map((c) => c.overhead_ms);
  const parts: string[] = [];
  if (fresh.length > 0) parts.push(`${formatElapsed(mean(fresh))} when it started its proxy (${fresh.length} cell${fresh.length === 1 ? "" : "s"})`);
  if (reused.length > 0) parts.push(`${formatElapsed(mean(reused))} on the proxy the previous cell left up (${reused.length})`);
  return parts.length > 0 ? `Mean overhead per cell beyond its load: ${parts.join(", ")}.` : null;
}

/** A cell as it finishes, for a log: target, values, overflow measured and predicted, errors, how long it took. */
export function formatCellLine(cell: ExploreCell, report: Pick<ExploreReport, "thresholds" | "vary">, index: number, total: number, wallMs: number): string {
  const where = report.vary.map((a) => `${a.path}=${cell.values[a.path]}`).join(" ");
  const head = `cell ${index + 1}/${total} ${cell.target} ${where}`;
  if (cell.measured === null) return `${head}: error: ${(cell.error ?? "the run broke").split("\n")[0]}`;
  const overflow = overflowBackends(report);
  const s = overflowShares(cell, overflow);
  const share = s.measured !== null ? `${overflow.join("+")} ${pct(s.measured)} (predicted ${s.predicted === null ? "-" : pct(s.predicted)}), ` : "";
  const err = errorShare(cell);
  const ws = wsText(cell);
  const http = cell.measured.sent > 0 || ws === null ? `${share}${Math.round(cell.measured.rps)} req/s, errors ${err === null ? "-" : pct(err)}, ` : "";
  return `${head}: ${http}${ws === null ? "" : `${ws}, `}${formatElapsed(wallMs)} (${cell.stack === "reused" ? "reused" : "new"} stack)`;
}

/** The progress line: cells done of all, the time left at the pace so far, the cell under way. */
export function formatExploreProgress(p: { done: number; total: number; meanCellMs: number | null; cellElapsedMs: number; current: string }): string {
  const width = 20;
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const bar = `[${"#".repeat(Math.round(frac * width)).padEnd(width, ".")}]`;
  // The cell under way has used some of its share already.
  const left = p.meanCellMs === null ? "time left: after the first cell" : `${formatElapsed(Math.max(0, (p.total - p.done) * p.meanCellMs - Math.min(p.cellElapsedMs, p.meanCellMs)))} left`;
  return `explore ${bar} ${p.done}/${p.total} cells, ${left} · ${p.current}`;
}

function wsRow(w: NonNullable<ExploreCell["measured"]>["websockets"] | null, upgraded: readonly string[]): (number | null)[] {
  if (!w) return Array.from({ length: 10 + upgraded.length }, () => null);
  return [
    w.sessions.asked,
    w.sessions.opened,
    w.sessions.failed,
    w.msgs_sent,
    w.msgs_received,
    w.expected,
    w.delivered,
    w.delivery_ratio,
    w.fanout_ms.p50,
    w.fanout_ms.p99,
    ...upgraded.map((b) => w.upgrades[b] ?? 0),
  ];
}

function csvField(v: string | number | null): string {
  if (v === null) return "";
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * One row per cell and target: the grid values, the measurement, and per
 * backend its measured share, predicted share and gap (percentage points).
 * Shares are 0..1, as in the JSON.
 */
export function formatExploreCsv(report: ExploreReport): string {
  const seen = new Set<string>();
  for (const c of report.cells) for (const b of [...Object.keys(c.measured?.backends ?? {}), ...Object.keys(c.predicted?.backends ?? {})]) seen.add(b);
  const backends = [...seen].sort();
  const ws = hasWebSockets(report);
  const upgraded = [...new Set(report.cells.flatMap((c) => Object.keys(c.measured?.websockets?.upgrades ?? {})))].sort();
  const wsHeader = ws
    ? ["ws_sessions_asked", "ws_sessions_opened", "ws_sessions_failed", "ws_msgs_sent", "ws_msgs_received", "ws_expected", "ws_delivered", "ws_delivery_ratio", "ws_fanout_p50_ms", "ws_fanout_p99_ms", ...upgraded.map((b) => `ws_upgrades_${b}`)]
    : [];
  const header = [
    "target",
    ...report.vary.map((a) => a.path),
    "sent",
    "succeeded",
    "errors",
    "error_share",
    "p50_ms",
    "p99_ms",
    "rps",
    "max_proxy_conns",
    ...backends.flatMap((b) => [`${b}_share`, `${b}_predicted_share`, `${b}_gap_points`]),
    ...wsHeader,
    "overhead_ms",
    "stack",
    "error",
    "command",
  ];
  const rows = report.cells.map((c) => {
    const m = c.measured;
    const errors = m ? Object.values(m.failed).reduce((a, n) => a + n, 0) : null;
    return [
      c.target,
      ...report.vary.map((a) => c.values[a.path] ?? null),
      m?.sent ?? null,
      m?.succeeded ?? null,
      errors,
      m && m.sent > 0 ? errors! / m.sent : null,
      m?.latency_ms.p50 ?? null,
      m?.latency_ms.p99 ?? null,
      m?.rps ?? null,
      m?.max_proxy_conns_seen ?? null,
      ...backends.flatMap((b) => [m ? (m.backends[b]?.share ?? 0) : null, c.predicted ? (c.predicted.backends[b] ?? 0) : null, c.gap ? (c.gap[b] ?? null) : null]),
      ...(ws ? wsRow(m?.websockets ?? null, upgraded) : []),
      c.overhead_ms,
      c.stack ?? null,
      c.error,
      c.command,
    ];
  });
  return `${[header, ...rows].map((r) => r.map(csvField).join(",")).join("\n")}\n`;
}
