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
});
