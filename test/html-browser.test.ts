/**
 * The HTML report as a real browser lays it out: headless Chromium (Debian
 * `chromium`, no npm package) loads the page with a probe script appended and
 * dumps the DOM, with the probe's measurements in it. Skipped when chromium is
 * not installed, unless SPILLWAY_REQUIRE_BROWSER=1, which makes it fail instead.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { LoadResult } from "../src/load/index.js";
import { toHtml } from "../src/report/html.js";
import { loadSpecFile } from "../src/spec/load.js";
import { flipPoints, proxyFailures } from "../src/verify/routes.js";
import { emptyWsRunData, toWsResult } from "../src/load/ws/index.js";
import type { ScenarioRun } from "../src/verify/types.js";

const chromium = spawnSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).stdout.trim();
const required = process.env.SPILLWAY_REQUIRE_BROWSER === "1";

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs chromium in its own process group and makes sure nothing of that group
 * is left. Its helpers exit with it, as zombies that init reaps a moment
 * later; a group still there after 10 s is killed and fails the test.
 */
function dumpDom(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(chromium, [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      // Nothing may leave the machine: Chromium otherwise reaches out for updates, sync, field trials and QUIC.
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-domain-reliability",
      "--disable-client-side-phishing-detection",
      `--user-data-dir=${join(file, "..", "profile")}`, "--dump-dom", `file://${file}`], {
      detached: true,
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("exit", async (code) => {
      clearTimeout(timer);
      const pgid = child.pid!;
      for (let i = 0; i < 100 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
      if (groupAlive(pgid)) {
        process.kill(-pgid, "SIGKILL");
        reject(new Error("chromium left processes behind"));
      } else if (code !== 0) reject(new Error(`chromium exited ${code}`));
      else resolve(out);
    });
  });
}

const PROBE = `<script>
const rect = (e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; };
const charts = [...document.querySelectorAll("svg")].map((svg) => ({
  svg: { ...rect(svg), isSvg: svg instanceof SVGSVGElement },
  thresholds: [...svg.querySelectorAll("g.threshold")].map((g) => ({ conns: Number(g.dataset.threshold), line: rect(g.querySelector("line")), stroke: getComputedStyle(g.querySelector("line")).stroke })),
  flips: [...svg.querySelectorAll("g.flip")].map((g) => ({ atMs: Number(g.dataset.flipMs), line: rect(g.querySelector("line")), dot: rect(g.querySelector("circle")), label: rect(g.querySelector("text")) })),
  texts: [...svg.querySelectorAll("text")].map((t) => ({ text: t.textContent, ...rect(t) })),
}));
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify(charts);
document.body.append(out);
</script>`;

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}
interface Chart {
  svg: Rect & { isSvg: boolean };
  thresholds: { conns: number; line: Rect; stroke: string }[];
  flips: { atMs: number; line: Rect; dot: Rect; label: Rect }[];
  texts: (Rect & { text: string })[];
}

describe.skipIf(!chromium && !required)("HTML report in headless Chromium", () => {
  it("draws each rule's threshold and each flip where the data puts them, every label inside its chart", async () => {
    expect(chromium, "chromium is not installed (apt-get install chromium)").not.toBe("");
    const { model } = loadSpecFile("fixtures/classic.yaml");
    const lat = { min: 1, mean: 5, p50: 4, p90: 8, p99: 12, max: 20 };
    // Two runs: the flip early (label right of the line) and late (label left of it; nginx flipped at 1.02 s of a 1.2 s run).
    const run = (target: "haproxy" | "nginx", atMs: number): ScenarioRun => {
      const load = {
        requests: { sent: 1000, completed: 1000, succeeded: 960, failed: 40, retried: 0 },
        backends: { ade: { count: 900, servers: {}, statuses: { "200": 900 }, latency: lat }, pbcoffee: { count: 60, servers: {}, statuses: { "200": 60 }, latency: lat } },
        routed: {
          ade: { count: 940, served: { ade: 900 }, proxyStatuses: { "502": 40 }, minConns: 1, maxConns: 300, firstMs: 0, lastMs: atMs - 10 },
          pbcoffee: { count: 60, served: { pbcoffee: 60 }, proxyStatuses: {}, minConns: 301, maxConns: 310, firstMs: atMs, lastMs: 1990 },
        },
        unattributed: { total: 40, byCause: { "status-502-no-header": 40 } },
        statuses: { "200": 960, "502": 40 },
        latency: lat,
        timelineWindowMs: 40,
        timeline: Array.from({ length: 50 }, (_, i) => ({ tMs: i * 40, byBackend: i * 40 < atMs ? { ade: 18 } : { ade: 2, pbcoffee: 12 }, openConnections: 310, errors: 1, maxProxyConns: i * 40 < atMs ? 300 : 310 })),
        connections: { opened: 310, maxOpen: 310, failed: 0, failedByCause: {}, goaways: 0, unfinished: { connecting: 0, handshaking: 0 } },
        maxProxyConnsSeen: 310,
        warmup: { responses: 0, byBackend: {}, routed: {} },
        stoppedEarly: null,
        durationMs: 2000,
        rps: 500,
      } satisfies LoadResult;
      return {
        target,
        scenario: "over-threshold",
        description: null,
        runtime: "process",
        proxy: { version: "x", details: "x" },
        status: "passed",
        error: null,
        load,
        expectations: [],
        reconciliation: null,
        proxyFailures: proxyFailures(target, model, load),
        flips: flipPoints(model.frontends[0]!, load),
        durationMs: 2500,
      };
    };
    const dir = mkdtempSync(join(tmpdir(), "spillway-html-"));
    try {
      const file = join(dir, "report.html");
      const html = toHtml({ spec: "classic.yaml", startedAt: "2026-11-23T00:00:00.000Z", runs: [run("haproxy", 120), run("nginx", 1900)], passed: true });
      writeFileSync(file, html.replace("</body>", `${PROBE}</body>`));
      const dom = await dumpDom(file);
      const probe = /<pre id="probe">([^<]*)<\/pre>/.exec(dom);
      expect(probe, "the probe script did not run").not.toBeNull();
      const charts = JSON.parse(probe![1]!.replace(/&quot;/g, '"').replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&amp;/g, "&")) as Chart[];
      expect(charts).toHaveLength(2);
      for (const [i, atMs] of [120, 1900].entries()) {
        const c = charts[i]!;
        expect(c.svg.isSvg).toBe(true);
        // The plot is 648 x 208 px from (56, 16) in the chart; the connection axis tops at 500 (310 rounded up).
        const yOf = (conns: number) => c.svg.y + 16 + 208 - (208 * conns) / 500;
        const xOf = (ms: number) => c.svg.x + 56 + (ms / 40) * (648 / 50);
        expect(c.thresholds.map((t) => t.conns)).toEqual([300.5]);
        const t = c.thresholds[0]!;
        expect(t.stroke).toBe("rgb(187, 34, 34)");
        expect(t.line.y + t.line.h / 2).toBeCloseTo(yOf(300.5), 0);
        expect(t.line.w).toBeCloseTo(648, 0);
        expect(c.flips.map((f) => f.atMs)).toEqual([atMs]);
        const f = c.flips[0]!;
        expect(f.line.x + f.line.w / 2).toBeCloseTo(xOf(atMs), 0);
        expect(f.dot.x + f.dot.w / 2).toBeCloseTo(xOf(atMs), 0);
        expect(f.dot.y + f.dot.h / 2).toBeCloseTo(yOf(301), 0);
        // Every label, the flip's included, lies inside its chart.
        for (const tx of c.texts) {
          expect(tx.x, tx.text).toBeGreaterThanOrEqual(c.svg.x - 0.5);
          expect(tx.x + tx.w, tx.text).toBeLessThanOrEqual(c.svg.x + c.svg.w + 0.5);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it("draws the WebSocket chart: received and delivered bars where the data puts them, sessions open and the proxy's count on the connection axis", async () => {
    expect(chromium, "chromium is not installed (apt-get install chromium)").not.toBe("");
    // 20 windows of 100 ms: 20 sessions open from window 2, each window 40 sent, 800 received, 790 delivered; the proxy counted 20, then 0.
    const data = emptyWsRunData();
    data.timelineWindowMs = 100;
    data.durationMs = 2000;
    data.timeline = Array.from({ length: 20 }, (_, i) => ({ tMs: i * 100, openSessions: i < 2 ? i * 10 : 20, opened: i < 2 ? 10 : 0, failed: 0, sent: 40, received: 800, expected: 800, delivered: 790 }));
    Object.assign(data.sessions, { started: 20, opened: 20, closed: 20, completed: 20, maxOpen: 20 });
    Object.assign(data.messages, { sent: 800, received: 16_000, expected: 16_000, delivered: 15_800 });
    const ws = toWsResult(data);
    const kernel = { inuse: 0, orphan: 0, tw: 0, alloc: 0, mem_pages: 0, estab: null, established_on_port: null };
    const run: ScenarioRun = {
      target: "haproxy",
      scenario: "chat",
      description: null,
      runtime: "process",
      proxy: { version: "x", details: "x" },
      status: "passed",
      error: null,
      load: null,
      websockets: ws,
      expectations: [],
      reconciliation: null,
      counts: {
        interval_ms: 1000,
        proxy: { kind: "haproxy", counts: "" },
        port: null,
        samples: [0, 1000, 2000].map((t) => ({ t_ms: t, driver_open: 20, proxy_current: t < 2000 ? 20 : 0, kernel })),
        disagreements: [],
        verdict: "",
        note: null,
      },
      proxyFailures: [],
      flips: [],
      durationMs: 2500,
    };
    const dir = mkdtempSync(join(tmpdir(), "spillway-html-"));
    const probe = `<script>
const r = (e) => { const b = e.getBoundingClientRect(); return { x: b.x, y: b.y, w: b.width, h: b.height }; };
const svg = document.querySelector("svg.ws-timeline");
const pt = (p) => { const m = p.getScreenCTM(); return [...p.points].map((q) => ({ x: q.x * m.a + m.e, y: q.y * m.d + m.f })); };
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify({
  svg: r(svg),
  received: [...svg.querySelectorAll("rect.received")].map(r),
  delivered: [...svg.querySelectorAll("rect.delivered")].map(r),
  open: pt(svg.querySelector("polyline.open")),
  proxy: pt(svg.querySelector("polyline.proxy")),
  sent: pt(svg.querySelector("polyline.sent")),
  texts: [...svg.querySelectorAll("text")].map((t) => ({ text: t.textContent, ...r(t) })),
});
document.body.append(out);
</script>`;
    try {
      const file = join(dir, "report.html");
      writeFileSync(file, toHtml({ spec: "chat.yaml", startedAt: "2026-11-23T00:00:00.000Z", runs: [run], passed: true }).replace("</body>", `${probe}</body>`));
      const dom = await dumpDom(file);
      const m = /<pre id="probe">([^<]*)<\/pre>/.exec(dom);
      expect(m, "the probe script did not run").not.toBeNull();
      const c = JSON.parse(m![1]!.replace(/&quot;/g, '"').replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&amp;/g, "&")) as {
        svg: Rect;
        received: Rect[];
        delivered: Rect[];
        open: { x: number; y: number }[];
        proxy: { x: number; y: number }[];
        sent: { x: number; y: number }[];
        texts: (Rect & { text: string })[];
      };
      // The plot is 648 x 168 px from (56, 16); messages top at 1000 (800 rounded up), connections at 20.
      const yMsg = (v: number) => c.svg.y + 16 + 168 - (168 * v) / 1000;
      const yConn = (v: number) => c.svg.y + 16 + 168 - (168 * v) / 20;
      expect(c.received).toHaveLength(20);
      expect(c.delivered).toHaveLength(20);
      for (const [i, b] of c.received.entries()) {
        expect(b.y, "received bar top").toBeCloseTo(yMsg(800), 0);
        expect(b.y + b.h, "bars stand on the axis").toBeCloseTo(yMsg(0), 0);
        expect(b.x + b.w / 2).toBeCloseTo(c.svg.x + 56 + (i + 0.5) * (648 / 20), 0);
        expect(c.delivered[i]!.y).toBeCloseTo(yMsg(790), 0);
      }
      expect(c.sent.map((p) => p.y)).toEqual(Array(20).fill(expect.closeTo(yMsg(40), 0)));
      expect(c.open[0]!.y).toBeCloseTo(yConn(0), 0);
      expect(c.open[5]!.y).toBeCloseTo(yConn(20), 0);
      // The proxy's samples at 0, 1 and 2 s of a 2 s chart: the last at the right edge, at 0 connections.
      expect(c.proxy.map((p) => p.x)).toEqual([c.svg.x + 56, c.svg.x + 56 + 324, c.svg.x + 56 + 648].map((x) => expect.closeTo(x, 0)));
      expect(c.proxy.map((p) => p.y)).toEqual([20, 20, 0].map((v) => expect.closeTo(yConn(v), 0)));
      for (const tx of c.texts) {
        expect(tx.x, tx.text).toBeGreaterThanOrEqual(c.svg.x - 0.5);
        expect(tx.x + tx.w, tx.text).toBeLessThanOrEqual(c.svg.x + c.svg.w + 0.5);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
