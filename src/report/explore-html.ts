import { createHash } from "node:crypto";
import type { ExploreReport, TargetDifference } from "../explore/types.js";
import { chartLibrary } from "./chart-library.js";
import { EXPLORE_PAGE_SCRIPT } from "./explore-page-script.js";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/**
 * The report as the text of a `<script type="application/json">`: `<` as
 * `\u003c`, so no value (a spec name is user input) can close the element or
 * open a comment in it; JSON.parse reads the escape back as `<`.
 */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/** The shortest tail of each path that still tells the axes apart, as the page's script labels them. */
export function shortAxisNames(paths: readonly string[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const p of paths) {
    const parts = p.split(".");
    // websockets.connections, not connections: the HTTP load has a key of that name too.
    for (let n = p.startsWith("load.websockets.") ? 2 : 1; n <= parts.length; n++) {
      const tail = parts.slice(-n).join(".");
      const clash = paths.some((q) => q !== p && (q === tail || q.endsWith(`.${tail}`)));
      if (!clash || n === parts.length) {
        names.set(p, tail);
        break;
      }
    }
  }
  return names;
}

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
let scriptHashes: string[] | undefined;

/**
 * Only the page's own scripts may run, and nothing may be fetched: a value
 * that slipped past escaping could neither execute nor reach the network.
 */
function contentSecurityPolicy(scripts: readonly string[]): string {
  scriptHashes ??= scripts.map(sha256);
  return `default-src 'none'; script-src ${scriptHashes.join(" ")}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;
}

function differencesHtml(report: ExploreReport, short: Map<string, string>): string {
  if (report.differences.length === 0) {
    return `<p class="note">${report.targets.length > 1 ? "No difference between the targets worth a sentence." : "Only one target ran, so there is nothing to set beside it."}</p>`;
  }
  const rows = new Set(report.fidelity.map((f) => f.id));
  const construct = new Map(report.fidelity.map((f) => [f.id, f.construct]));
  const where = (d: TargetDifference) =>
    report.vary.map((a) => `${short.get(a.path) ?? a.path}=${d.values[a.path] ?? "?"}`).join(", ");
  const items = report.differences.map((d) => {
    const link =
      d.fidelity_row === null
        ? ""
        : rows.has(d.fidelity_row)
          ? ` <a class="fidelity-link" href="#fidelity-${esc(d.fidelity_row)}">fidelity: ${esc(construct.get(d.fidelity_row) ?? d.fidelity_row)}</a>`
          : ` <span class="note">(fidelity row ${esc(d.fidelity_row)} is not in this report)</span>`;
    return `<li>${report.vary.length ? `<b>${esc(where(d))}</b>: ` : ""}${esc(d.text)}${link}</li>`;
  });
  return `<ul class="differences">${items.join("")}</ul>`;
}

function fidelityHtml(report: ExploreReport): string {
  if (report.fidelity.length === 0) return `<p class="note">No fidelity rows: both targets render every construct exactly.</p>`;
  const rows = report.fidelity.map((f) => `<tr id="fidelity-${esc(f.id)}"><td><code>${esc(f.construct)}</code></td><td>${esc(f.note)}</td></tr>`);
  return `<table class="fidelity"><tr><th>construct</th><th>how nginx approximates it</th></tr>${rows.join("")}</table>`;
}

function configsHtml(report: ExploreReport): string {
  const entries = Object.entries(report.configs);
  if (entries.length === 0) return `<p class="note">No configs in this report.</p>`;
  return `<div class="configs">${entries.map(([name, text]) => `<details open><summary>${esc(name)}</summary><pre class="config">${esc(text)}</pre></details>`).join("")}</div>`;
}

const STYLE = `
body{font-family:sans-serif;max-width:1180px;margin:1.5em auto;padding:0 12px;color:#222}
h1 small,h2 small{color:#666;font-weight:normal}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.note{color:#666}.warn{background:#fff4e5;border:1px solid #f0b45c;padding:6px 10px}
.row{display:flex;flex-wrap:wrap;gap:16px}.heatmap{flex:1 1 420px;min-width:320px}.heatmap h3{margin:.3em 0}
.chart{position:relative;height:320px}.chart.heat{height:300px}.chart.square{height:380px;flex:0 0 420px}
.scale{display:flex;align-items:center;gap:6px;font-size:12px;color:#444;margin:.3em 0}
.scale i{display:inline-block;width:200px;height:10px;background:linear-gradient(90deg,rgb(255,247,236),rgb(253,212,158),rgb(252,141,89),rgb(215,48,31),rgb(127,0,0))}
#slice label{margin-right:14px}
pre{background:#f6f6f6;padding:8px 10px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
pre.config{max-height:420px;overflow:auto;white-space:pre;word-break:normal}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:.6em 0}dl.facts dt{color:#555}dl.facts dd{margin:0}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee}#cells td{white-space:nowrap}
#cells tr[data-cell]{cursor:pointer}#cells tr.selected{background:#fff2a8}#cells tr.big-gap td:nth-last-child(6){color:#b22;font-weight:bold}
#cells tr.broke td{color:#b22}#cells button{font-size:12px;padding:0 6px}
.pvm{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.pvm .cells{flex:1 1 480px;overflow-x:auto}
.knees .chart{flex:1 1 540px}i.swatch{display:inline-block;width:10px;height:10px;margin-right:6px}
table.fidelity tr:target{background:#fff2a8}ul.differences li{margin:.3em 0}
footer{margin-top:2em;color:#888;font-size:12px}
`;

/**
 * One self-contained page for `spillway explore`: the report embedded as
 * JSON, Chart.js inlined, and nothing fetched, so it opens offline from a
 * file. Text that needs no chart is rendered here, escaped; the page's
 * script draws the charts and follows the selected cell.
 */
export function toExploreHtml(report: ExploreReport): string {
  const lib = chartLibrary();
  const scripts = [...lib.scripts, EXPLORE_PAGE_SCRIPT];
  const short = shortAxisNames(report.vary.map((a) => a.path));
  const title = `spillway explore ${report.spec} --scenario ${report.scenario}`;
  const measured = report.cells.filter((c) => c.measured !== null).length;
  const broke = report.cells.filter((c) => c.error !== null).length;
  const grid = report.vary.reduce((n, a) => n * a.values.length, 1) * report.targets.length;
  const rules = report.thresholds.map((t) => `<code>${esc(t.rule)}</code> sends to <b>${esc(t.backend)}</b> above ${t.conns} connections`);
  const overflowBackends = [...new Set(report.thresholds.map((t) => t.backend))];
  const vary = report.vary.map((a) => `<li><code>${esc(a.path)}</code> = ${a.values.map(esc).join(", ")}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(scripts)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style></head><body>
<h1>spillway explore <small>${esc(report.spec)}, scenario ${esc(report.scenario)}, ${esc(report.started_at)}</small></h1>
${report.complete ? "" : `<p class="warn">This exploration stopped early: ${measured} of ${grid} cells measured. <code>spillway explore … --resume FILE</code> continues from the JSON report.</p>`}
<p>${report.cells.length} cells on ${report.targets.map(esc).join(" and ")}${broke ? `, <b>${broke} broke</b> (see the table)` : ""}. Varied:</p><ul>${vary || "<li>nothing: one cell per target</li>"}</ul>
<h2>Overflow share <small>per target</small></h2>
<p>${overflowBackends.length ? `The share of all requests sent that ${overflowBackends.map((b) => `<b>${esc(b)}</b>`).join(" and ")} served: ${rules.join("; ")}. Click a cell to see its timeline.` : "The scenario's frontend has no connection-count rule, so nothing can overflow; the cells show no share."}</p>
<div id="slice"></div>
<div id="heatmaps" class="row"></div>
<div class="scale">0%<i></i>100%<span class="note">, grey: no measurement</span></div>
<h2>Selected cell: <span id="cell-title"></span></h2>
<p>The command that reproduces it:</p>
<pre id="cell-command"></pre>
<div class="chart"><canvas id="timeline" role="img" aria-label="timeline of the selected cell"></canvas></div>
<p id="timeline-note" class="note"></p>
<dl id="cell-facts" class="facts"></dl>
<details id="assumptions-box"><summary>What the prediction assumed</summary><ul id="cell-assumptions"></ul></details>
<h2>Predicted vs measured <small>overflow share, every cell</small></h2>
<p id="pvm-note" class="note">Points on the dashed line were predicted exactly; a triangle is 10 percentage points or more off, a finding to look into.</p>
<div class="pvm"><div id="pvm-chart" class="chart square"><canvas id="pvm" role="img" aria-label="predicted against measured overflow share"></canvas></div>
<div class="cells"><table id="cells"></table></div></div>
<h2>WebSocket sessions <small>delivery and fan-out, every cell</small></h2>
<p id="ws-note" class="note">Messages delivered of those owed (each message sent, times the members of its room when it was sent), and the p99 of the time from a send to each receipt. A delivery below 100% is lost messages, however quietly.</p>
<div id="ws-chart" class="chart"><canvas id="ws" role="img" aria-label="WebSocket delivery and fan-out per cell"></canvas></div>
<h2>Capacity <small>knee curves</small></h2>
<p id="knee-note" class="note"></p>
<div id="knee-charts" class="knees"><div class="row"><div class="chart"><canvas id="knee-rps" role="img" aria-label="throughput against load"></canvas></div>
<div class="chart"><canvas id="knee-latency" role="img" aria-label="latency and errors against load"></canvas></div></div>
<table id="knees"></table></div>
<h2>HAProxy beside nginx</h2>
${differencesHtml(report, short)}
<h3>Fidelity</h3>
${fidelityHtml(report)}
<h2>Rendered configs <small>for the first grid point</small></h2>
${configsHtml(report)}
<footer>Charts drawn by ${lib.versions.map(esc).join(" and ")} (MIT), inlined in this file: it needs no network.</footer>
<script type="application/json" id="explore-data">${embedJson(report)}</script>
${scripts.map((s) => `<script>${s}</script>`).join("\n")}
</body></html>
`;
}
