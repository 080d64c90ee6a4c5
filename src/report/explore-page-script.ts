/**
 * The explore page's own script: it reads the report from the page's
 * `<script type="application/json" id="explore-data">` and draws the charts
 * with Chart.js. It runs in the browser, so it is kept as text here (the
 * compiler's lib has no DOM, and tsc copies no .js assets into dist). Text
 * from the report reaches the page only through textContent and canvas
 * text, never as markup. Plain ES2020 without template literals, so this
 * raw string needs no escaping.
 */
export const EXPLORE_PAGE_SCRIPT = String.raw`(function () {
"use strict";
var R = JSON.parse(document.getElementById("explore-data").textContent);
var PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac"];
var ERROR_COLOUR = "#e15759";
var TARGET_COLOUR = { haproxy: "#1f5fa8", nginx: "#2e8b3a" };
var SHARE_STOPS = [[255, 247, 236], [253, 212, 158], [252, 141, 89], [215, 48, 31], [127, 0, 0]];
var BIG_GAP_PP = 10;

Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.family = "sans-serif";
Chart.defaults.font.size = 11;

function $(id) { return document.getElementById(id); }
function el(tag, attrs, text) {
  var e = document.createElement(tag);
  if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function pct(v) { return v === null || v === undefined ? "-" : (v * 100).toFixed(1) + "%"; }
function pp(v) { return v === null || v === undefined ? "-" : (v > 0 ? "+" : "") + v.toFixed(1) + " pp"; }
function delivered(r) { return r === null || r === undefined ? "-" : r >= 1 ? "100%" : (Math.floor(r * 10000) / 100).toFixed(2) + "%"; }
var WS = R.cells.some(function (c) { return c.measured && c.measured.websockets; });
function num(v, d) { return v === null || v === undefined ? "-" : Number(v).toFixed(d || 0); }

/** The shortest tail of each path that tells the axes apart: timeouts.http_keep_alive, think_time. */
function shortNames(paths) {
  var names = {};
  paths.forEach(function (p) {
    var parts = p.split(".");
    // websockets.connections, not connections: the HTTP load has a key of that name too.
    for (var n = p.indexOf("load.websockets.") === 0 ? 2 : 1; n <= parts.length; n++) {
      var tail = parts.slice(-n).join(".");
      var clash = paths.some(function (q) { return q !== p && (q === tail || q.slice(-tail.length - 1) === "." + tail); });
      if (!clash || n === parts.length) { names[p] = tail; return; }
    }
  });
  return names;
}

var axes = R.vary;
var SHORT = shortNames(axes.map(function (a) { return a.path; }));
var ruleBackends = [];
R.thresholds.forEach(function (t) { if (ruleBackends.indexOf(t.backend) < 0) ruleBackends.push(t.backend); });

var backendNames = [];
R.cells.forEach(function (c) {
  var names = Object.keys((c.measured && c.measured.backends) || {});
  if (c.measured) c.measured.timeline.forEach(function (w) { names = names.concat(Object.keys(w.by_backend)); });
  names.forEach(function (b) { if (backendNames.indexOf(b) < 0) backendNames.push(b); });
});
backendNames.sort();
function backendColour(b) { var i = backendNames.indexOf(b); return PALETTE[(i < 0 ? 0 : i) % PALETTE.length]; }

/** Share of all requests sent that the rules' backends served: the overflow. */
function measuredOverflow(c) {
  if (!c.measured || ruleBackends.length === 0) return null;
  return ruleBackends.reduce(function (s, b) { var x = c.measured.backends[b]; return s + (x ? x.share : 0); }, 0);
}
function predictedOverflow(c) {
  if (!c.predicted || ruleBackends.length === 0) return null;
  return ruleBackends.reduce(function (s, b) { return s + (c.predicted.backends[b] || 0); }, 0);
}
function overflowGap(c) {
  if (!c.gap || ruleBackends.length === 0) return null;
  return ruleBackends.reduce(function (s, b) { return s + (c.gap[b] || 0); }, 0);
}
function valuesText(values) {
  return axes.map(function (a) { return SHORT[a.path] + "=" + values[a.path]; }).join(", ");
}
function cellLabel(c) { return c.target + (axes.length ? " · " + valuesText(c.values) : ""); }

function shareColour(v) {
  if (v === null) return "#d9d9d9";
  var x = Math.max(0, Math.min(1, v)) * (SHARE_STOPS.length - 1);
  var i = Math.min(SHARE_STOPS.length - 2, Math.floor(x));
  var f = x - i;
  var a = SHARE_STOPS[i], b = SHARE_STOPS[i + 1];
  return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * f); }).join(",") + ")";
}

var selected = 0;
for (var k = 0; k < R.cells.length; k++) if (R.cells[k].measured) { selected = k; break; }

// Axes beyond the second are chosen with a selector; the heatmaps show one slice.
var xAxis = axes[0] || null, yAxis = axes[1] || null, extra = axes.slice(2);
var xs = xAxis ? xAxis.values : [""], ys = yAxis ? yAxis.values : [""];
var slice = {};
extra.forEach(function (a) { slice[a.path] = a.values[0]; });

function inSlice(c) { return extra.every(function (a) { return c.values[a.path] === slice[a.path]; }); }
function cellAt(target, x, y) {
  for (var i = 0; i < R.cells.length; i++) {
    var c = R.cells[i];
    if (c.target !== target || !inSlice(c)) continue;
    if (xAxis && c.values[xAxis.path] !== x) continue;
    if (yAxis && c.values[yAxis.path] !== y) continue;
    return i;
  }
  return -1;
}
function heatPoints(target) {
  var pts = [];
  ys.forEach(function (y) {
    xs.forEach(function (x) {
      var i = cellAt(target, x, y);
      var c = i >= 0 ? R.cells[i] : null;
      pts.push({ x: x, y: y, i: i, v: c ? measuredOverflow(c) : null, p: c ? predictedOverflow(c) : null, err: c ? c.error : "not measured yet" });
    });
  });
  return pts;
}

var cellText = {
  id: "cellText",
  afterDatasetsDraw: function (chart) {
    var ctx = chart.ctx;
    var data = chart.data.datasets[0].data;
    chart.getDatasetMeta(0).data.forEach(function (e, k) {
      var d = data[k];
      // Too narrow for a label in a long axis: the tooltip still tells.
      if (e.width < 34) return;
      var c = e.getCenterPoint();
      var size = Math.max(9, Math.min(16, Math.round(Math.min(e.height, e.width) / 4)));
      var both = d.p !== null && e.width >= 96;
      ctx.save();
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillStyle = d.v !== null && d.v > 0.55 ? "#fff" : "#222";
      ctx.font = "bold " + size + "px sans-serif";
      ctx.fillText(d.v !== null ? pct(d.v) : d.i >= 0 && R.cells[d.i].error ? "error" : "—", c.x, c.y - (both ? size * 0.45 : 0));
      if (both) {
        ctx.font = Math.round(size * 0.75) + "px sans-serif";
        ctx.fillText("predicted " + pct(d.p), c.x, c.y + size * 0.75);
      }
      ctx.restore();
    });
  },
};

var heatmaps = [];
function buildHeatmaps() {
  var row = $("heatmaps");
  // Every box is in place before the first chart is made, so each chart starts at its final width.
  var canvases = R.targets.map(function (target) {
    var box = el("div", { "class": "heatmap", "data-target": target });
    box.appendChild(el("h3", null, target));
    var wrap = el("div", { "class": "chart heat" });
    // One axis is one row: a full-height chart would stretch it into tall bars.
    wrap.style.height = Math.min(300, 70 + 80 * ys.length) + "px";
    var canvas = el("canvas", { "aria-label": "overflow share for " + target, role: "img" });
    wrap.appendChild(canvas);
    box.appendChild(wrap);
    row.appendChild(box);
    return canvas;
  });
  R.targets.forEach(function (target, n) {
    var chart = new Chart(canvases[n], {
      type: "matrix",
      data: { datasets: [{
        label: target,
        data: heatPoints(target),
        backgroundColor: function (ctx) { var d = ctx.raw; return d ? shareColour(d.v) : "#fff"; },
        borderColor: function (ctx) { return ctx.raw && ctx.raw.i === selected ? "#111" : "#fff"; },
        borderWidth: function (ctx) { return ctx.raw && ctx.raw.i === selected ? 3 : 1; },
        width: function (ctx) { var a = ctx.chart.chartArea; return a ? a.width / xs.length - 2 : 10; },
        height: function (ctx) { var a = ctx.chart.chartArea; return a ? a.height / ys.length - 2 : 10; },
      }] },
      options: {
        onClick: function (e, els, ch) {
          if (!els.length) return;
          var d = ch.data.datasets[0].data[els[0].index];
          if (d.i >= 0) select(d.i);
        },
        onHover: function (e, els) { if (e.native) e.native.target.style.cursor = els.length ? "pointer" : "default"; },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) { var d = items[0].raw; return d.i >= 0 ? cellLabel(R.cells[d.i]) : target; },
            label: function (item) {
              var d = item.raw;
              if (d.v === null) return d.err || "no measurement";
              return "measured " + pct(d.v) + (d.p !== null ? ", predicted " + pct(d.p) : "");
            },
          } },
        },
        scales: {
          x: { type: "category", labels: xs, offset: true, grid: { display: false }, title: { display: !!xAxis, text: xAxis ? SHORT[xAxis.path] : "" } },
          y: { type: "category", labels: ys, offset: true, grid: { display: false }, ticks: { display: !!yAxis }, title: { display: !!yAxis, text: yAxis ? SHORT[yAxis.path] : "" } },
        },
      },
      plugins: [cellText],
    });
    heatmaps.push({ target: target, chart: chart });
  });
}
function refreshHeatmaps() {
  heatmaps.forEach(function (h) {
    h.chart.data.datasets[0].data = heatPoints(h.target);
    h.chart.update();
  });
}

function buildSliceSelectors() {
  var box = $("slice");
  extra.forEach(function (a) {
    var label = el("label", null, SHORT[a.path] + " ");
    var sel = el("select", { "data-path": a.path });
    a.values.forEach(function (v) { var o = el("option", { value: v }, v); sel.appendChild(o); });
    sel.addEventListener("change", function () { slice[a.path] = sel.value; refreshHeatmaps(); });
    label.appendChild(sel);
    box.appendChild(label);
  });
}
function showSliceOf(c) {
  var changed = false;
  extra.forEach(function (a) {
    if (slice[a.path] !== c.values[a.path]) { slice[a.path] = c.values[a.path]; changed = true; }
    var sel = document.querySelector("#slice select[data-path=\"" + CSS.escape(a.path) + "\"]");
    if (sel) sel.value = slice[a.path];
  });
  return changed;
}

/** Decimals that tell consecutive windows apart: 0.25 s windows need two. */
function secondsLabel(tMs, windowMs) {
  var d = windowMs % 1000 === 0 ? 0 : windowMs % 100 === 0 ? 1 : 2;
  return (tMs / 1000).toFixed(d);
}
function flipSeries(timeline, windowMs, flips) {
  var out = timeline.map(function () { return null; });
  flips.forEach(function (f) {
    if (f.at_ms === null || f.first_rule_conns === null || !timeline.length) return;
    var i = Math.min(timeline.length - 1, Math.max(0, Math.floor(f.at_ms / windowMs)));
    out[i] = f.first_rule_conns;
  });
  return out;
}
function wsTimelineData(w) {
  var tl = w.timeline;
  return { yTitle: "messages per window", y2Title: "sessions", labels: tl.map(function (x) { return secondsLabel(x.t_ms, w.window_ms); }), datasets: [
    { type: "bar", label: "WebSocket messages received", stack: "requests", yAxisID: "y", backgroundColor: PALETTE[0], data: tl.map(function (x) { return x.received; }), order: 2 },
    { type: "bar", label: "owed, not delivered", stack: "requests", yAxisID: "y", backgroundColor: ERROR_COLOUR, data: tl.map(function (x) { return Math.max(0, x.expected - x.delivered); }), order: 2 },
    { type: "line", label: "sessions open", yAxisID: "y2", borderColor: "#888", backgroundColor: "#888", borderDash: [4, 3], borderWidth: 2, pointRadius: 0, data: tl.map(function (x) { return x.open_sessions; }), order: 1 },
  ] };
}
function timelineData(c) {
  var m = c.measured;
  if (!m) return { labels: [], datasets: [] };
  // A load of sessions alone has no HTTP timeline: its messages are drawn instead.
  if (m.sent === 0 && m.websockets) return wsTimelineData(m.websockets);
  var tl = m.timeline;
  var ds = backendNames.map(function (b) {
    return { type: "bar", label: b, stack: "requests", yAxisID: "y", backgroundColor: backendColour(b), data: tl.map(function (w) { return w.by_backend[b] || 0; }), order: 2 };
  });
  ds.push({ type: "bar", label: "failed", stack: "requests", yAxisID: "y", backgroundColor: ERROR_COLOUR, data: tl.map(function (w) { return w.errors; }), order: 2 });
  ds.push({ type: "line", label: "connections the proxy routed at", yAxisID: "y2", borderColor: "#222", backgroundColor: "#222", borderWidth: 2, pointRadius: 0, data: tl.map(function (w) { return w.max_proxy_conns; }), order: 1 });
  ds.push({ type: "line", label: "connections open (client)", yAxisID: "y2", borderColor: "#888", backgroundColor: "#888", borderDash: [4, 3], borderWidth: 2, pointRadius: 0, data: tl.map(function (w) { return w.open_connections; }), order: 1 });
  R.thresholds.forEach(function (t) {
    ds.push({ type: "line", label: "threshold: " + t.rule + " → " + t.backend + " (" + t.conns + ")", yAxisID: "y2", borderColor: "#b22", backgroundColor: "#b22", borderDash: [6, 3], borderWidth: 1.5, pointRadius: 0, data: tl.map(function () { return t.conns; }), order: 0 });
  });
  var flipM = flipSeries(tl, m.window_ms, m.flips);
  if (flipM.some(function (v) { return v !== null; })) ds.push({ type: "line", label: "flip (measured)", yAxisID: "y2", showLine: false, pointRadius: 6, pointStyle: "circle", borderColor: "#b22", backgroundColor: "#b22", data: flipM, order: 0 });
  var flipP = c.predicted ? flipSeries(tl, m.window_ms, c.predicted.flips) : [];
  if (flipP.some(function (v) { return v !== null; })) ds.push({ type: "line", label: "flip (predicted)", yAxisID: "y2", showLine: false, pointRadius: 7, pointStyle: "circle", borderWidth: 2, borderColor: "#b22", backgroundColor: "rgba(255,255,255,0)", data: flipP, order: 0 });
  return { yTitle: "responses per window", y2Title: "connections", labels: tl.map(function (w) { return secondsLabel(w.t_ms, m.window_ms); }), datasets: ds };
}

var timeline = null;
function buildTimeline() {
  var top = Math.max.apply(null, [1].concat(R.thresholds.map(function (t) { return t.conns; })));
  timeline = new Chart($("timeline"), {
    data: timelineData(R.cells[selected] || { measured: null }),
    options: {
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        x: { stacked: true, title: { display: true, text: "seconds" }, ticks: { maxTicksLimit: 20 } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: "responses per window" } },
        y2: { position: "right", beginAtZero: true, suggestedMax: Math.ceil(top * 1.1), grid: { drawOnChartArea: false }, title: { display: true, text: "connections" } },
      },
    },
  });
}

var pvm = null;
function pvmData() {
  var sets = R.targets.map(function (t) {
    var pts = [];
    R.cells.forEach(function (c, i) {
      var mv = measuredOverflow(c), pv = predictedOverflow(c);
      if (c.target === t && mv !== null && pv !== null) pts.push({ x: pv, y: mv, i: i });
    });
    return { type: "scatter", label: t, data: pts, backgroundColor: TARGET_COLOUR[t] || "#555", borderColor: "#111",
      pointRadius: function (ctx) { return ctx.raw && ctx.raw.i === selected ? 9 : 5; },
      borderWidth: function (ctx) { return ctx.raw && ctx.raw.i === selected ? 3 : 0; },
      pointStyle: function (ctx) { var c = ctx.raw ? R.cells[ctx.raw.i] : null; var g = c ? overflowGap(c) : null; return g !== null && Math.abs(g) >= BIG_GAP_PP ? "triangle" : "circle"; } };
  });
  sets.push({ type: "line", label: "predicted = measured", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: "#999", borderDash: [5, 4], borderWidth: 1, pointRadius: 0 });
  return { datasets: sets };
}
function buildPvm() {
  var d = pvmData();
  var n = d.datasets.reduce(function (s, x) { return s + (x.type === "scatter" ? x.data.length : 0); }, 0);
  if (n === 0) {
    $("pvm-note").textContent = ruleBackends.length === 0 ? "The scenario's frontend has no connection-count rule, so there is no overflow share to compare." : "No cell has both a prediction and a measurement.";
    $("pvm-chart").hidden = true;
    return;
  }
  pvm = new Chart($("pvm"), {
    data: d,
    options: {
      onClick: function (e, els, ch) {
        if (!els.length) return;
        var raw = ch.data.datasets[els[0].datasetIndex].data[els[0].index];
        if (raw && raw.i !== undefined) select(raw.i);
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: function (item) {
          var raw = item.raw;
          if (raw.i === undefined) return "predicted = measured";
          var c = R.cells[raw.i];
          return cellLabel(c) + ": measured " + pct(raw.y) + ", predicted " + pct(raw.x) + ", gap " + pp(overflowGap(c));
        } } },
      },
      scales: {
        x: { type: "linear", min: 0, max: 1, title: { display: true, text: "predicted overflow share" }, ticks: { callback: function (v) { return Math.round(v * 100) + "%"; } } },
        y: { type: "linear", min: 0, max: 1, title: { display: true, text: "measured overflow share" }, ticks: { callback: function (v) { return Math.round(v * 100) + "%"; } } },
      },
    },
  });
}

function buildCellsTable() {
  var table = $("cells");
  var head = el("tr");
  ["cell", "target"].concat(axes.map(function (a) { return SHORT[a.path]; }), ["measured", "predicted", "gap", "max conns measured", "predicted", "errors", "p99 ms", "req/s"], WS ? ["sessions", "delivered", "fan-out p99 ms"] : []).forEach(function (h) { head.appendChild(el("th", null, h)); });
  table.appendChild(head);
  R.cells.forEach(function (c, i) {
    var tr = el("tr", { "data-cell": String(i) });
    var g = overflowGap(c);
    if (g !== null && Math.abs(g) >= BIG_GAP_PP) tr.className = "big-gap";
    if (c.error) tr.className += " broke";
    var td = el("td");
    var b = el("button", { type: "button", title: "show this cell" }, String(i + 1));
    b.addEventListener("click", function () { select(i); });
    td.appendChild(b);
    tr.appendChild(td);
    tr.appendChild(el("td", null, c.target));
    axes.forEach(function (a) { tr.appendChild(el("td", null, c.values[a.path])); });
    var m = c.measured;
    var failed = m ? Object.keys(m.failed).reduce(function (s, k) { return s + m.failed[k]; }, 0) : null;
    [pct(measuredOverflow(c)), pct(predictedOverflow(c)), pp(g), m ? num(m.max_proxy_conns_seen) : "-", c.predicted ? num(c.predicted.max_proxy_conns_seen) : "-",
      m ? (m.sent ? pct(failed / m.sent) : "-") : (c.error ? "broke" : "-"), m ? num(m.latency_ms.p99, 1) : "-", m ? num(m.rps) : "-"].forEach(function (v) { tr.appendChild(el("td", null, v)); });
    if (WS) {
      var w = m ? m.websockets : null;
      [w ? w.sessions.opened + "/" + w.sessions.asked : "-", w ? delivered(w.delivery_ratio) : "-", w ? num(w.fanout_ms.p99, 1) : "-"].forEach(function (v) { tr.appendChild(el("td", { "class": "ws" }, v)); });
    }
    tr.addEventListener("click", function (e) { if (e.target === tr || e.target.tagName === "TD") select(i); });
    table.appendChild(tr);
  });
}

function fact(dl, name, value) {
  dl.appendChild(el("dt", null, name));
  dl.appendChild(el("dd", null, value));
}
function flipText(f) {
  return f.rule + " → " + f.backend + (f.first_rule_conns !== null ? " from " + f.first_rule_conns + " connections" : "") + (f.at_ms !== null ? " at " + (f.at_ms / 1000).toFixed(2) + " s" : "");
}
function showCell(c) {
  $("cell-title").textContent = cellLabel(c);
  $("cell-command").textContent = c.command;
  var dl = $("cell-facts");
  dl.textContent = "";
  var m = c.measured;
  if (c.error) fact(dl, "error", c.error);
  // A load of sessions alone sent no HTTP: its facts are the sessions' only.
  if (m && (m.sent > 0 || !m.websockets)) {
    fact(dl, "sent", m.sent + " in " + (m.duration_ms / 1000).toFixed(1) + " s, " + num(m.rps) + " req/s");
    fact(dl, "served", Object.keys(m.backends).sort().map(function (b) { return b + " " + m.backends[b].count + " (" + pct(m.backends[b].share) + ")"; }).join(", ") || "none");
    fact(dl, "routed", Object.keys(m.routed).sort().map(function (b) { return b + " " + m.routed[b]; }).join(", ") || "no route stamps");
    var causes = Object.keys(m.failed);
    fact(dl, "failed", causes.length ? causes.map(function (k) { return k + " " + m.failed[k]; }).join(", ") : "none");
    fact(dl, "latency", "p50 " + num(m.latency_ms.p50, 1) + " ms, p99 " + num(m.latency_ms.p99, 1) + " ms");
    fact(dl, "highest proxy connection count", num(m.max_proxy_conns_seen));
    fact(dl, "flips", m.flips.length ? m.flips.map(flipText).join("; ") : "none");
  }
  if (m && m.websockets) {
    var w = m.websockets;
    var wc = Object.keys(w.failed_by_cause);
    fact(dl, "WebSocket sessions", w.sessions.opened + " of " + w.sessions.asked + " opened, " + w.sessions.completed + " held their whole length, " + w.sessions.failed + " failed" + (wc.length ? " (" + wc.map(function (k) { return k + " " + w.failed_by_cause[k]; }).join(", ") + ")" : "") + ", at most " + w.sessions.max_open + " open at once");
    fact(dl, "WebSocket messages", w.msgs_sent + " sent, " + w.msgs_received + " received; " + w.delivered + " of " + w.expected + " owed delivered (" + delivered(w.delivery_ratio) + ")");
    fact(dl, "fan-out", "p50 " + num(w.fanout_ms.p50, 1) + " ms, p99 " + num(w.fanout_ms.p99, 1) + " ms");
    fact(dl, "upgrades by backend", Object.keys(w.upgrades).sort().map(function (b) { return b + " " + w.upgrades[b]; }).join(", ") || "none stamped");
  }
  if (c.predicted) {
    fact(dl, "predicted", Object.keys(c.predicted.backends).sort().map(function (b) { return b + " " + pct(c.predicted.backends[b]); }).join(", ") + (c.predicted.flips.length ? "; " + c.predicted.flips.map(flipText).join("; ") : ""));
    if (c.gap) fact(dl, "gap (measured − predicted)", Object.keys(c.gap).sort().map(function (b) { return b + " " + pp(c.gap[b]); }).join(", "));
  }
  fact(dl, "overhead beyond the load", c.overhead_ms + " ms");
  var ul = $("cell-assumptions");
  ul.textContent = "";
  (c.predicted ? c.predicted.assumptions : []).forEach(function (a) { ul.appendChild(el("li", null, a)); });
  $("assumptions-box").hidden = !c.predicted || c.predicted.assumptions.length === 0;
  $("timeline-note").textContent = m ? "" : "No timeline: " + (c.error || "this cell was not measured.");
  document.querySelectorAll("#cells tr[data-cell]").forEach(function (tr) { tr.classList.toggle("selected", Number(tr.getAttribute("data-cell")) === selected); });
  document.body.setAttribute("data-selected", String(selected));
}

function select(i) {
  if (i < 0 || i >= R.cells.length) return;
  selected = i;
  var c = R.cells[i];
  if (showSliceOf(c)) refreshHeatmaps(); else heatmaps.forEach(function (h) { h.chart.update(); });
  var d = timelineData(c);
  timeline.data.labels = d.labels;
  timeline.data.datasets = d.datasets;
  timeline.options.scales.y.title.text = d.yTitle || "responses per window";
  timeline.options.scales.y2.title.text = d.y2Title || "connections";
  timeline.update();
  if (pvm) pvm.update();
  showCell(c);
}

function kneeY(curve, load, key) {
  var best = null;
  curve.forEach(function (p) { if (p[key] !== null && (best === null || Math.abs(p.load - load) < Math.abs(best.load - load))) best = p; });
  return best ? best[key] : null;
}
function buildKnees() {
  var withKnee = [];
  R.cells.forEach(function (c, i) { if (c.knee && c.knee.curve.length) withKnee.push(i); });
  if (!withKnee.length) {
    $("knee-note").textContent = "No cell ran a ramp (--ramp), so there are no knee curves.";
    $("knee-charts").hidden = true;
    return;
  }
  var loads = withKnee.map(function (i) { return R.cells[i].knee.load; });
  var xTitle = loads.every(function (l) { return l === "connections"; }) ? "connections" : loads.every(function (l) { return l === "arrival_rate"; }) ? "arrival rate (connections/s)" : "load";
  var rps = [], lat = [];
  withKnee.forEach(function (i, n) {
    var c = R.cells[i], k = c.knee, colour = PALETTE[n % PALETTE.length];
    var label = cellLabel(c);
    rps.push({ type: "line", label: label, borderColor: colour, backgroundColor: colour, pointRadius: 0, borderWidth: 2, data: k.curve.map(function (p) { return { x: p.load, y: p.rps }; }) });
    lat.push({ type: "line", label: label + " p99", yAxisID: "y", borderColor: colour, backgroundColor: colour, pointRadius: 0, borderWidth: 2, data: k.curve.map(function (p) { return { x: p.load, y: p.p99_ms }; }) });
    lat.push({ type: "line", label: label + " errors", yAxisID: "y2", borderColor: colour, backgroundColor: colour, borderDash: [4, 3], pointRadius: 0, borderWidth: 1.5, data: k.curve.map(function (p) { return { x: p.load, y: p.error_rate * 100 }; }) });
    if (k.throughput_plateau_at !== null) rps.push({ type: "scatter", marker: true, label: label + ": throughput stops rising at " + k.throughput_plateau_at, pointStyle: "triangle", pointRadius: 9, borderColor: "#111", borderWidth: 1, backgroundColor: colour, data: [{ x: k.throughput_plateau_at, y: kneeY(k.curve, k.throughput_plateau_at, "rps") }] });
    if (k.latency_turn_at !== null) lat.push({ type: "scatter", marker: true, label: label + ": latency turns up at " + k.latency_turn_at, yAxisID: "y", pointStyle: "rectRot", pointRadius: 8, borderColor: "#111", borderWidth: 1, backgroundColor: colour, data: [{ x: k.latency_turn_at, y: kneeY(k.curve, k.latency_turn_at, "p99_ms") }] });
    if (k.errors_start_at !== null) lat.push({ type: "scatter", marker: true, label: label + ": errors start at " + k.errors_start_at, yAxisID: "y2", pointStyle: "crossRot", pointRadius: 9, borderColor: colour, borderWidth: 3, backgroundColor: colour, data: [{ x: k.errors_start_at, y: (kneeY(k.curve, k.errors_start_at, "error_rate") || 0) * 100 }] });
  });
  var legend = { position: "bottom", labels: { boxWidth: 12, filter: function (item, data) { return !data.datasets[item.datasetIndex].marker; } } };
  new Chart($("knee-rps"), { data: { datasets: rps }, options: { plugins: { legend: legend, title: { display: true, text: "throughput (▲ where it stops rising)" } }, scales: {
    x: { type: "linear", title: { display: true, text: xTitle } }, y: { beginAtZero: true, title: { display: true, text: "req/s" } } } } });
  new Chart($("knee-latency"), { data: { datasets: lat }, options: { plugins: { legend: legend, title: { display: true, text: "p99 latency (◆ where it turns up) and errors (✕ where they start)" } }, scales: {
    x: { type: "linear", title: { display: true, text: xTitle } }, y: { beginAtZero: true, title: { display: true, text: "p99 ms" } },
    y2: { position: "right", beginAtZero: true, suggestedMax: 5, grid: { drawOnChartArea: false }, title: { display: true, text: "errors %" } } } } });
  var table = $("knees");
  var head = el("tr");
  ["cell", "throughput stops rising at", "latency turns up at", "errors start at"].forEach(function (h) { head.appendChild(el("th", null, h)); });
  table.appendChild(head);
  withKnee.forEach(function (i, n) {
    var c = R.cells[i], k = c.knee;
    var tr = el("tr");
    var td = el("td");
    var swatch = el("i", { "class": "swatch" });
    swatch.style.background = PALETTE[n % PALETTE.length];
    td.appendChild(swatch);
    td.appendChild(document.createTextNode(cellLabel(c)));
    tr.appendChild(td);
    [k.throughput_plateau_at, k.latency_turn_at, k.errors_start_at].forEach(function (v) { tr.appendChild(el("td", null, v === null ? "not reached" : v + " " + (k.load === "connections" ? "connections" : "conn/s"))); });
    table.appendChild(tr);
  });
}

function buildWs() {
  if (!WS) {
    $("ws-note").textContent = "No cell held WebSocket sessions.";
    $("ws-chart").hidden = true;
    return;
  }
  var labels = [], keys = [];
  R.cells.forEach(function (c) { var k = axes.length ? valuesText(c.values) : "this load"; if (keys.indexOf(k) < 0) { keys.push(k); labels.push(k); } });
  var sets = [];
  R.targets.forEach(function (t) {
    var colour = TARGET_COLOUR[t] || "#555";
    var at = function (k) { return R.cells.filter(function (c) { return c.target === t && (axes.length ? valuesText(c.values) : "this load") === k; })[0]; };
    sets.push({ type: "line", label: t + " delivered", yAxisID: "y", borderColor: colour, backgroundColor: colour, borderWidth: 2, pointRadius: 4,
      data: keys.map(function (k) { var c = at(k); var w = c && c.measured && c.measured.websockets; return w && w.delivery_ratio !== null ? w.delivery_ratio * 100 : null; }) });
    sets.push({ type: "line", label: t + " fan-out p99", yAxisID: "y2", borderColor: colour, backgroundColor: colour, borderDash: [5, 4], borderWidth: 1.5, pointRadius: 3, pointStyle: "rect",
      data: keys.map(function (k) { var c = at(k); var w = c && c.measured && c.measured.websockets; return w ? w.fanout_ms.p99 : null; }) });
  });
  new Chart($("ws"), { data: { labels: labels, datasets: sets }, options: {
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } }, tooltip: { callbacks: { label: function (item) {
      var v = item.raw; if (v === null) return item.dataset.label + ": -";
      return item.dataset.yAxisID === "y" ? item.dataset.label + " " + delivered(v / 100) : item.dataset.label + " " + num(v, 1) + " ms";
    } } } },
    scales: {
      x: { title: { display: true, text: axes.length ? axes.map(function (a) { return SHORT[a.path]; }).join(", ") : "cell" } },
      y: { suggestedMin: 90, max: 100, title: { display: true, text: "messages delivered of those owed, %" } },
      y2: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "fan-out p99, ms" } },
    } } });
}

buildSliceSelectors();
buildHeatmaps();
buildTimeline();
buildPvm();
buildCellsTable();
buildKnees();
buildWs();
if (R.cells.length) select(selected);
document.body.setAttribute("data-ready", "1");
})();
`;
