import type { TimelineWindow } from "../load/index.js";
import type { WsResult } from "../load/ws/index.js";
import type { CountSample } from "../verify/counts.js";
import { webSocketLines } from "./terminal.js";
import type { ScenarioRun, VerifyReport } from "../verify/types.js";
import { formatPercent } from "../verify/evaluate.js";
import { flipText, thresholds } from "../verify/routes.js";
import { formatElapsed } from "../spec/duration.js";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac"];
const ERROR_COLOR = "#e15759";

/** Colours by backend name, the same in every chart of a report. */
function colours(names: string[]): Map<string, string> {
  return new Map([...new Set(names)].sort().map((n, i) => [n, PALETTE[i % PALETTE.length]!]));
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * Requests per backend in each time window (stacked bars, failures in red on
 * top) and, on the right axis, the connection count the proxy routed at: the
 * moment it crosses the threshold is where the colours change. Each rule's
 * threshold is a horizontal line on the connection axis (`data-threshold`),
 * each flip a vertical line at its moment (`data-flip-ms`) with a dot at the
 * connection count it flipped at.
 */
export interface ChartMarks {
  thresholds: { conns: number; label: string }[];
  flips: { atMs: number; conns: number | null; label: string }[];
}

export function timelineSvg(timeline: readonly TimelineWindow[], colour: Map<string, string>, windowMs: number, marks: ChartMarks = { thresholds: [], flips: [] }): string {
  const W = 760;
  const H = 260;
  const m = { l: 56, r: 56, t: 16, b: 36 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const n = Math.max(1, timeline.length);
  const totals = timeline.map((w) => Object.values(w.byBackend).reduce((a, b) => a + b, 0) + w.errors);
  const yMax = niceMax(Math.max(1, ...totals));
  const cMax = niceMax(Math.max(1, ...timeline.map((w) => Math.max(w.maxProxyConns ?? 0, w.openConnections)), ...marks.thresholds.map((t) => t.conns)));
  const bw = pw / n;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  for (let i = 0; i <= 4; i++) {
    const y = m.t + ph - (ph * i) / 4;
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${Math.round((yMax * i) / 4)}</text>`);
    parts.push(`<text x="${m.l + pw + 6}" y="${y + 4}" fill="#333">${Math.round((cMax * i) / 4)}</text>`);
  }
  timeline.forEach((w, i) => {
    let y = m.t + ph;
    const x = m.l + i * bw + bw * 0.1;
    const width = Math.max(1, bw * 0.8);
    const stack: [string, number][] = [...Object.entries(w.byBackend).sort(([a], [b]) => a.localeCompare(b)), ["(errors)", w.errors]];
    for (const [name, count] of stack) {
      if (count <= 0) continue;
      const h = (ph * count) / yMax;
      y -= h;
      const fill = name === "(errors)" ? ERROR_COLOR : (colour.get(name) ?? "#999");
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${width.toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}"><title>${esc(`${(w.tMs / 1000).toFixed(1)} s: ${name} ${count}`)}</title></rect>`);
    }
  });
  const line = (values: (number | undefined)[], stroke: string, dash: string) => {
    const pts = values
      .map((v, i) => (v === undefined ? null : `${(m.l + (i + 0.5) * bw).toFixed(1)},${(m.t + ph - (ph * v) / cMax).toFixed(1)}`))
      .filter((p): p is string => p !== null);
    if (pts.length > 0) parts.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${stroke}" stroke-width="2" stroke-dasharray="${dash}"/>`);
  };
  line(timeline.map((w) => w.maxProxyConns), "#222", "");
  line(timeline.map((w) => w.openConnections), "#888", "4 3");
  const yConns = (c: number) => m.t + ph - (ph * c) / cMax;
  for (const t of marks.thresholds) {
    const y = yConns(t.conns).toFixed(1);
    parts.push(
      `<g class="threshold" data-threshold="${t.conns}"><line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="#b22" stroke-width="1.5" stroke-dasharray="6 3"/>` +
        `<text x="${m.l + pw - 4}" y="${(Number(y) - 4).toFixed(1)}" text-anchor="end" fill="#b22">${esc(t.label)}</text></g>`,
    );
  }
  for (const f of marks.flips) {
    const xn = Math.min(m.l + pw, m.l + (f.atMs / windowMs) * bw);
    const x = xn.toFixed(1);
    const dot = f.conns !== null ? `<circle cx="${x}" cy="${yConns(f.conns).toFixed(1)}" r="4" fill="#b22"/>` : "";
    // The label goes on the side of the line with more room, so it stays inside the chart.
    const right = xn < m.l + pw / 2;
    parts.push(
      `<g class="flip" data-flip-ms="${f.atMs}"><line x1="${x}" x2="${x}" y1="${m.t}" y2="${m.t + ph}" stroke="#b22" stroke-width="1.5"/>${dot}` +
        `<text x="${(xn + (right ? 4 : -4)).toFixed(1)}" y="${m.t + 10}" text-anchor="${right ? "start" : "end"}" fill="#b22">${esc(f.label)}</text><title>${esc(f.label)}</title></g>`,
    );
  }
  const step = Math.max(1, Math.ceil(n / 10));
  for (let i = 0; i < n; i += step) {
    parts.push(`<text x="${(m.l + (i + 0.5) * bw).toFixed(1)}" y="${m.t + ph + 14}" text-anchor="middle">${((i * windowMs) / 1000).toFixed(windowMs < 1000 ? 1 : 0)}</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 4}" text-anchor="middle">seconds</text>`);
  parts.push(`<text x="12" y="${m.t + ph / 2}" transform="rotate(-90 12 ${m.t + ph / 2})" text-anchor="middle">requests per window</text>`);
  parts.push(`<text x="${W - 10}" y="${m.t + ph / 2}" transform="rotate(90 ${W - 10} ${m.t + ph / 2})" text-anchor="middle">connections</text>`);
  parts.push("</svg>");
  return parts.join("");
}

const WS_COLOURS = { received: "#a0cbe8", delivered: "#4e79a7", sent: "#f28e2b", open: "#59a14f", proxy: "#222" } as const;

/**
 * WebSocket sessions over time: per window, the messages received (light
 * bars) and, of those owed to the messages sent in the window, how many were
 * delivered (dark bars inside them), with the messages sent as a line; on the
 * right axis, the sessions open and the proxy's own connection count (from
 * the counts sampled every second, when the proxy was read), so held sockets
 * and the proxy's view of them sit on one time axis.
 */
export function wsTimelineSvg(ws: WsResult, proxyCounts: readonly CountSample[] = []): string {
  const W = 760;
  const H = 220;
  const m = { l: 56, r: 56, t: 16, b: 36 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const timeline = ws.timeline;
  const windowMs = ws.timelineWindowMs;
  const n = Math.max(1, timeline.length);
  const spanMs = n * windowMs;
  const proxy = proxyCounts.filter((s) => s.proxy_current !== null && s.t_ms <= spanMs);
  const yMax = niceMax(Math.max(1, ...timeline.map((w) => Math.max(w.received, w.delivered, w.sent))));
  const cMax = niceMax(Math.max(1, ...timeline.map((w) => w.openSessions), ...proxy.map((s) => s.proxy_current!)));
  const bw = pw / n;
  const y = (v: number) => (m.t + ph - (ph * v) / yMax).toFixed(1);
  const yc = (v: number) => (m.t + ph - (ph * v) / cMax).toFixed(1);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="ws-timeline" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  for (let i = 0; i <= 4; i++) {
    const gy = m.t + ph - (ph * i) / 4;
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${gy}" y2="${gy}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 6}" y="${gy + 4}" text-anchor="end">${Math.round((yMax * i) / 4)}</text>`);
    parts.push(`<text x="${m.l + pw + 6}" y="${gy + 4}" fill="#333">${Math.round((cMax * i) / 4)}</text>`);
  }
  timeline.forEach((w, i) => {
    const x = m.l + i * bw;
    const t = `${(w.tMs / 1000).toFixed(2)} s`;
    if (w.received > 0) {
      parts.push(`<rect class="received" x="${(x + bw * 0.1).toFixed(1)}" y="${y(w.received)}" width="${Math.max(1, bw * 0.8).toFixed(1)}" height="${((ph * w.received) / yMax).toFixed(1)}" fill="${WS_COLOURS.received}"><title>${esc(`${t}: ${w.received} received`)}</title></rect>`);
    }
    if (w.delivered > 0) {
      parts.push(`<rect class="delivered" x="${(x + bw * 0.3).toFixed(1)}" y="${y(w.delivered)}" width="${Math.max(1, bw * 0.4).toFixed(1)}" height="${((ph * w.delivered) / yMax).toFixed(1)}" fill="${WS_COLOURS.delivered}"><title>${esc(`${t}: ${w.delivered} of ${w.expected} owed delivered`)}</title></rect>`);
    }
  });
  const polyline = (cls: string, pts: string[], stroke: string, dash: string) => {
    if (pts.length > 0) parts.push(`<polyline class="${cls}" points="${pts.join(" ")}" fill="none" stroke="${stroke}" stroke-width="2" stroke-dasharray="${dash}"/>`);
  };
  const mid = (i: number) => (m.l + (i + 0.5) * bw).toFixed(1);
  polyline("sent", timeline.map((w, i) => `${mid(i)},${y(w.sent)}`), WS_COLOURS.sent, "");
  polyline("open", timeline.map((w, i) => `${mid(i)},${yc(w.openSessions)}`), WS_COLOURS.open, "");
  polyline("proxy", proxy.map((s) => `${(m.l + (s.t_ms / spanMs) * pw).toFixed(1)},${yc(s.proxy_current!)}`), WS_COLOURS.proxy, "4 3");
  const step = Math.max(1, Math.ceil(n / 10));
  for (let i = 0; i < n; i += step) {
    parts.push(`<text x="${mid(i)}" y="${m.t + ph + 14}" text-anchor="middle">${((i * windowMs) / 1000).toFixed(windowMs < 1000 ? 1 : 0)}</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 4}" text-anchor="middle">seconds</text>`);
  parts.push(`<text x="12" y="${m.t + ph / 2}" transform="rotate(-90 12 ${m.t + ph / 2})" text-anchor="middle">messages per window</text>`);
  parts.push(`<text x="${W - 10}" y="${m.t + ph / 2}" transform="rotate(90 ${W - 10} ${m.t + ph / 2})" text-anchor="middle">connections</text>`);
  parts.push("</svg>");
  return parts.join("");
}

function wsSection(run: ScenarioRun): string {
  const ws = run.websockets;
  if (!ws) return "";
  const proxy = run.counts?.proxy ? (run.counts.proxy.kind === "nginx" ? "nginx's" : "HAProxy's") : null;
  const legend =
    `<span><i style="background:${WS_COLOURS.received}"></i>messages received</span><span><i style="background:${WS_COLOURS.delivered}"></i>delivered (of those owed to the window's sends)</span>` +
    `<span><i class="line" style="border-color:${WS_COLOURS.sent}"></i>messages sent</span><span><i class="line" style="border-color:${WS_COLOURS.open}"></i>sessions open</span>` +
    (proxy ? `<span><i class="dashed"></i>${proxy} connection count</span>` : "");
  const lines = webSocketLines(ws).map((l) => `<li>${esc(l)}</li>`).join("");
  const rec = run.reconciliation?.websockets;
  const recLines = rec
    ? rec.notes.length > 0
      ? rec.notes.map((n) => `<li>${esc(n)}</li>`).join("")
      : `<li class="${run.reconciliation!.ok ? "ok" : "bad"}">driver sent ${rec.messages.driverSent}, stubs took in ${rec.messages.stubsIn}; stubs sent out ${rec.messages.stubsOut}, driver received ${rec.messages.driverReceived}</li>`
    : "";
  return `<h3>WebSocket sessions</h3><div class="legend">${legend}</div>${wsTimelineSvg(ws, run.counts?.samples ?? [])}<ul class="ws">${lines}${recLines}</ul>`;
}

function runSection(run: ScenarioRun, colour: Map<string, string>): string {
  const status = { passed: "PASS", failed: "FAIL", error: "ERROR" }[run.status];
  const head = `<h2 class="${run.status}">${status} ${esc(run.target)} / ${esc(run.scenario)}${run.proxy ? ` <small>${esc(run.target)} ${esc(run.proxy.version)}, ${esc(run.runtime)}</small>` : ""}</h2>`;
  if (!run.load && run.websockets) {
    const expectations = run.expectations.map((e) => `<li class="${e.passed ? "ok" : "bad"}">${e.passed ? "ok" : "FAIL"} ${esc(e.name)} ${esc(e.expected)}: got ${esc(e.actual)}</li>`).join("");
    const rec = run.reconciliation;
    const recText = rec ? (rec.ok ? "<li class=\"ok\">reconciled with the stubs and the proxy's own counters</li>" : rec.problems.map((p) => `<li class="bad">${esc(p)}</li>`).join("")) : "";
    return `${head}${run.description ? `<p>${esc(run.description)}</p>` : ""}${wsSection(run)}<ul>${expectations}${recText}</ul>`;
  }
  if (!run.load) return `${head}<pre>${esc(run.error ?? "")}</pre>`;
  const load = run.load;
  const total = load.requests.sent;
  const windowMs = load.timelineWindowMs ?? (load.timeline.length > 1 ? load.timeline[1]!.tMs - load.timeline[0]!.tMs : 1000);
  const marks: ChartMarks = {
    thresholds: run.flips.flatMap((f) => thresholds(f.ruleConns).map((conns) => ({ conns, label: `${f.condition} → ${f.backend}` }))),
    flips: run.flips.filter((f) => f.atMs !== null).map((f) => ({ atMs: f.atMs!, conns: f.firstRuleConns, label: `${f.backend} from ${f.firstRuleConns ?? "?"} at ${formatElapsed(f.atMs!)}` })),
  };
  const routed = load.routed ?? {};
  const stamped = Object.keys(routed).length > 0;
  const legend = [...Object.keys(load.backends).sort().map((b) => [b, colour.get(b) ?? "#999"] as const), ["failed", ERROR_COLOR] as const]
    .map(([name, c]) => `<span><i style="background:${c}"></i>${esc(name)}</span>`)
    .join("") + `<span><i class="solid"></i>connections the proxy routed at</span><span><i class="dashed"></i>connections open</span>` +
    (marks.thresholds.length > 0 ? `<span><i class="rule"></i>rule threshold</span>` : "") +
    (marks.flips.length > 0 ? `<span><i class="flipmark"></i>flip: first request routed by the rule</span>` : "");
  const names = [...new Set([...Object.keys(load.backends), ...Object.keys(routed)])].sort();
  const rows = names
    .map((b) => {
      const r = load.backends[b];
      const count = r?.count ?? 0;
      const failed = run.proxyFailures.filter((f) => f.backend === b);
      const failedCell = failed.map((f) => `<span title="${esc(f.cause)}">${f.count} × ${f.status}</span>`).join(", ");
      return `<tr data-backend="${esc(b)}"><td>${esc(b)}</td><td class="routed">${stamped ? (routed[b]?.count ?? 0) : "-"}</td><td class="served">${count}</td><td>${formatPercent(total ? (count / total) * 100 : 0)}</td><td class="failed">${failedCell}</td><td>${r ? r.latency.p50.toFixed(1) : ""}</td><td>${r ? r.latency.p99.toFixed(1) : ""}</td></tr>`;
    })
    .join("");
  const unattributed = load.unattributed.total > 0 ? `<tr><td>(not served: ${esc(Object.entries(load.unattributed.byCause).map(([c, k]) => `${c} ${k}`).join(", "))})</td><td></td><td>${load.unattributed.total}</td><td>${formatPercent((load.unattributed.total / total) * 100)}</td><td></td><td></td><td></td></tr>` : "";
  const causes = run.proxyFailures.map((f) => `<li class="bad">${f.count} routed to ${esc(f.backend)}, answered ${f.status} by ${esc(run.target)}: ${esc(f.cause)}</li>`).join("");
  const flips = run.flips.map((f) => `<li class="flip">${esc(flipText(f))}</li>`).join("");
  const expectations = run.expectations.map((e) => `<li class="${e.passed ? "ok" : "bad"}">${e.passed ? "ok" : "FAIL"} ${esc(e.name)} ${esc(e.expected)}: got ${esc(e.actual)}</li>`).join("");
  const rec = run.reconciliation;
  const recText = rec ? (rec.ok ? "<li class=\"ok\">reconciled with the stubs and the proxy's own counters</li>" : rec.problems.map((p) => `<li class="bad">${esc(p)}</li>`).join("")) : "";
  return `${head}${run.description ? `<p>${esc(run.description)}</p>` : ""}<div class="legend">${legend}</div>${timelineSvg(load.timeline, colour, windowMs, marks)}<table><tr><th>backend</th><th>routed</th><th>served</th><th>share</th><th>failed at the proxy</th><th>p50 ms</th><th>p99 ms</th></tr>${rows}${unattributed}</table><ul>${flips}${causes}</ul>${wsSection(run)}<ul>${expectations}${recText}</ul>`;
}

/** One self-contained page: a chart per target x scenario, for people who would rather look than read. */
export function toHtml(report: VerifyReport): string {
  const colour = colours(report.runs.flatMap((r) => Object.keys(r.load?.backends ?? {})));
  const sessions = report.runs.some((r) => r.websockets);
  const summary = report.runs
    .map((r) => `<tr class="${r.status}"><td>${esc(r.target)}</td><td>${esc(r.scenario)}</td><td>${r.status}</td><td>${r.load?.requests.sent ?? "-"}</td>${sessions ? `<td>${r.websockets?.ws_sessions ?? "-"}</td>` : ""}</tr>`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spillway verify ${esc(report.spec)}</title>
<style>
body{font-family:sans-serif;max-width:820px;margin:2em auto;color:#222}
h2.passed{color:#2b7a2b}h2.failed,h2.error{color:#b22}small{color:#666;font-weight:normal}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:right}td:first-child,th:first-child{text-align:left}
tr.failed td,tr.error td,li.bad{color:#b22}li.ok{color:#2b7a2b}
.legend span{margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.legend i.solid{height:2px;background:#222}.legend i.dashed{height:0;border-top:2px dashed #888}
.legend i.rule{height:0;border-top:2px dashed #b22}.legend i.line{height:0;border-top:2px solid}.legend i.flipmark{width:2px;background:#b22}
</style></head><body>
<h1>spillway verify <small>${esc(report.spec)}, ${esc(report.startedAt)}</small></h1>
<table><tr><th>target</th><th>scenario</th><th>result</th><th>requests</th>${sessions ? "<th>sessions</th>" : ""}</tr>${summary}</table>
${report.runs.map((r) => runSection(r, colour)).join("\n")}
</body></html>
`;
}
