/**
 * The explore page in a real browser: Debian's chromium driven by
 * playwright-core (no browser download). Every request is routed: the page
 * itself is served from memory and anything else fails the test, so "opens
 * offline" is checked, not assumed. Skipped when chromium is not installed,
 * unless SPILLWAY_REQUIRE_BROWSER=1, which makes it fail instead.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { chromium as playwright, type Browser, type BrowserServer, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExploreReport } from "../src/explore/types.js";
import { embedJson, shortAxisNames, toExploreHtml } from "../src/report/explore-html.js";
import { HOSTILE, exploreGridReport, exploreRampReport, exploreWsReport } from "./helpers/explore-report.js";

const chromiumPath = spawnSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).stdout.trim();
const required = process.env.SPILLWAY_REQUIRE_BROWSER === "1";
const OUTPUT = "test-output";
// Served from memory by the route below; nothing listens there, so even a leak would go nowhere.
const PAGE_URL = "http://127.0.0.1:9/explore.html";

describe("toExploreHtml", () => {
  it("embeds the report as JSON that no value can close, and references nothing outside the file", () => {
    const report = exploreGridReport({ hostile: true });
    const html = toExploreHtml(report);
    const json = /<script type="application\/json" id="explore-data">([^]*?)<\/script>/.exec(html);
    expect(json).not.toBeNull();
    expect(json![1]).not.toContain("<");
    expect(JSON.parse(json![1]!)).toEqual(report);
    // The hostile text appears only escaped: no element it would open survives.
    expect(html.includes("<img")).toBe(false);
    expect(html).toContain(HOSTILE.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;"));
    // No tag points anywhere: no src=, no href= other than in-page anchors, no stylesheet or font URL.
    const markup = html.replace(/<script\b[^>]*>[^]*?<\/script>/g, "<script></script>");
    expect(markup.length).toBeLessThan(40_000);
    const tags = [...markup.matchAll(/<([a-z][a-z0-9]*)((?:\s+[a-z-]+(?:="[^"]*")?)*)\s*>/gi)];
    // Every tag parsed: no attribute unquoted, single-quoted or broken by a value.
    expect(tags.length).toBe(markup.match(/<[a-z]/gi)!.length);
    const attrs = tags.flatMap((t) => [...t[2]!.matchAll(/\s([a-z-]+)(?:="([^"]*)")?/gi)].map((a) => ({ tag: t[1]!, name: a[1]!.toLowerCase(), value: a[2] ?? "" })));
    expect(attrs.filter((a) => a.name === "src" || a.name.startsWith("on"))).toEqual([]);
    const hrefs = attrs.filter((a) => a.name === "href").map((a) => a.value);
    expect(hrefs.length).toBeGreaterThan(0);
    expect(hrefs.filter((h) => !h.startsWith("#"))).toEqual([]);
    expect(/url\(|@import/.exec(markup)?.[0]).toBeUndefined();
    // The libraries are inlined, and the policy lets only the page's own three scripts run.
    expect(html).toContain("Chart.js v4");
    expect(html).toContain("chartjs-chart-matrix v3");
    expect(html).not.toContain("sourceMappingURL");
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)![1]!;
    expect(csp).toMatch(/^default-src 'none'; script-src ('sha256-[A-Za-z0-9+/=]+' ?){3};/);
    expect(embedJson({ s: "</script><!--" })).toBe('{"s":"\\u003c/script>\\u003c!--"}');
  });

  it("labels axes by the shortest tail of their paths that tells them apart", () => {
    expect([...shortAxisNames(["frontends.webserver.timeouts.http_keep_alive", "load.think_time"]).values()]).toEqual(["http_keep_alive", "think_time"]);
    expect([...shortAxisNames(["frontends.a.timeouts.client", "frontends.b.timeouts.client", "load.rate"]).values()]).toEqual(["a.timeouts.client", "b.timeouts.client", "rate"]);
    // The sessions' keys keep their parent: `connections` alone reads as the HTTP load's.
    expect([...shortAxisNames(["load.websockets.connections", "load.think_time"]).values()]).toEqual(["websockets.connections", "think_time"]);
  });
});

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Loaded {
  page: Page;
  /** Every request the page made, the page's own included. */
  requests: string[];
  problems: string[];
}

interface CanvasInfo {
  id: string;
  within: string;
  width: number;
  height: number;
  /** Pixels drawn on (alpha > 0): Chart.js leaves the rest transparent. */
  inked: number;
  datasets: number;
  points: number;
}

describe.skipIf(!chromiumPath && !required)("explore report in headless Chromium", () => {
  let server: BrowserServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    expect(chromiumPath, "chromium is not installed (apt-get install chromium)").not.toBe("");
    mkdirSync(OUTPUT, { recursive: true });
    server = await playwright.launchServer({
      executablePath: chromiumPath,
      headless: true,
      args: [
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
      ],
    });
    browser = await playwright.connect(server.wsEndpoint());
  });

  afterAll(async () => {
    const pgid = server?.process().pid;
    await browser?.close();
    await server?.close();
    if (pgid === undefined) return;
    // Its helpers exit with it, as zombies that init reaps a moment later; a group still there after 10 s failed to stop.
    for (let i = 0; i < 100 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
    if (groupAlive(pgid)) {
      process.kill(-pgid, "SIGKILL");
      throw new Error("chromium left processes behind");
    }
  });

  async function load(report: ExploreReport): Promise<Loaded> {
    const html = toExploreHtml(report);
    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: "block" });
    const page = await context.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url === PAGE_URL) return route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: html });
      problems.push(`request: ${url}`);
      return route.abort("blockedbyclient");
    });
    page.on("request", (r) => requests.push(r.url()));
    page.on("websocket", (ws) => problems.push(`websocket: ${ws.url()}`));
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(PAGE_URL, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready='1']", { timeout: 10_000 });
    // Two frames: the charts' resize observers have run, so what is measured is what a person sees.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    return { page, requests, problems };
  }

  function canvases(page: Page): Promise<CanvasInfo[]> {
    return page.evaluate(() =>
      [...document.querySelectorAll("canvas")].map((c) => {
        const chart = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): { data: { datasets: { data: unknown[] }[] } } | undefined } }).Chart.getChart(c);
        const r = c.getBoundingClientRect();
        let inked = 0;
        if (c.width > 0 && c.height > 0) {
          // Read through a copy made for reading, so the page's canvases see no readback (Chromium warns of repeated ones).
          const copy = document.createElement("canvas");
          copy.width = c.width;
          copy.height = c.height;
          const ctx = copy.getContext("2d", { willReadFrequently: true })!;
          ctx.drawImage(c, 0, 0);
          const px = ctx.getImageData(0, 0, c.width, c.height).data;
          for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) inked++;
        }
        return {
          id: c.id,
          within: c.closest("[data-target]")?.getAttribute("data-target") ?? "",
          width: r.width,
          height: r.height,
          inked,
          datasets: chart?.data.datasets.length ?? 0,
          points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0,
        };
      }),
    );
  }

  /** The timeline chart's series as drawn, and the page's selection. */
  function selection(page: Page) {
    return page.evaluate(() => {
      const chart = (window as unknown as { Chart: { getChart(c: Element): { data: { labels: unknown[]; datasets: { label: string; data: unknown[] }[] } } } }).Chart.getChart(document.getElementById("timeline")!);
      return {
        selected: Number(document.body.dataset.selected),
        title: document.getElementById("cell-title")!.textContent,
        command: document.getElementById("cell-command")!.textContent,
        series: Object.fromEntries(chart.data.datasets.map((d) => [d.label, d.data])),
        png: (document.getElementById("timeline") as HTMLCanvasElement).toDataURL(),
        row: document.querySelector("#cells tr.selected")?.getAttribute("data-cell"),
      };
    });
  }

  /** Where heatmap cell k of a target is on the page, with the report cell it shows and the colour of its corner. */
  function heatCell(page: Page, target: string, k: number) {
    return page.evaluate(
      ([target, k]) => {
        const canvas = document.querySelector(`.heatmap[data-target="${target}"] canvas`) as HTMLCanvasElement;
        const chart = (window as unknown as { Chart: { getChart(c: Element): { getDatasetMeta(i: number): { data: { x: number; y: number; width: number; height: number; getCenterPoint(): { x: number; y: number } }[] }; data: { datasets: { data: { i: number; v: number | null }[] }[] } } } }).Chart.getChart(canvas);
        const e = chart.getDatasetMeta(0).data[k as number]!;
        const r = canvas.getBoundingClientRect();
        const c = e.getCenterPoint();
        const scale = canvas.width / r.width;
        const copy = document.createElement("canvas");
        copy.width = canvas.width;
        copy.height = canvas.height;
        const ctx = copy.getContext("2d", { willReadFrequently: true })!;
        ctx.drawImage(canvas, 0, 0);
        const corner = ctx.getImageData(Math.round((e.x + 8) * scale), Math.round((e.y + 8) * scale), 1, 1).data;
        const d = chart.data.datasets[0]!.data[k as number]!;
        return { x: r.left + c.x, y: r.top + c.y, cell: d.i, share: d.v, luminance: 0.2126 * corner[0]! + 0.7152 * corner[1]! + 0.0722 * corner[2]! };
      },
      [target, k] as const,
    );
  }

  /**
   * Clicks where a heatmap cell is drawn. Chart.js handles pointer events on
   * the next animation frame, so the page has reacted once it names the cell
   * as selected; a click that selects nothing times out here.
   */
  async function click(page: Page, at: { x: number; y: number; cell: number }) {
    await page.mouse.click(at.x, at.y);
    await page.waitForFunction((cell) => document.body.dataset.selected === String(cell), at.cell, { timeout: 5_000 });
  }

  function expectClean(l: Loaded) {
    expect(l.problems).toEqual([]);
    expect(l.requests).toEqual([PAGE_URL]);
  }

  function expectDrawn(infos: CanvasInfo[], ids: string[]) {
    const drawn = infos.filter((c) => c.datasets > 0);
    expect(drawn.map((c) => c.id || `heatmap:${c.within}`).sort()).toEqual([...ids].sort());
    for (const c of drawn) {
      const name = c.id || `heatmap:${c.within}`;
      expect(c.width, name).toBeGreaterThan(100);
      expect(c.height, name).toBeGreaterThan(100);
      expect(c.points, name).toBeGreaterThan(0);
      // Axes and labels alone ink a few thousand pixels; the data itself several thousand more.
      expect(c.inked, name).toBeGreaterThan(5000);
    }
  }

  it("the 3 x 3 grid: loads offline without an error, draws every chart, and a heatmap click moves the timeline and the command", async () => {
    const report = exploreGridReport();
    const t0 = performance.now();
    const html = toExploreHtml(report);
    const renderMs = performance.now() - t0;
    console.log(`explore page for the 3 x 3 grid on 2 targets: ${(html.length / 1024).toFixed(0)} KiB, rendered in ${renderMs.toFixed(1)} ms`);
    const l = await load(report);
    const { page } = l;
    try {
      expectDrawn(await canvases(page), ["heatmap:haproxy", "heatmap:nginx", "timeline", "pvm"]);
      expect(await page.locator("#knee-charts").isHidden()).toBe(true);
      expect(await page.locator("#knee-note").textContent()).toMatch(/no knee curves/);

      // The heatmap's colour follows the share: the fullest cell is darker than the emptiest.
      const cellsOf = async (target: string) => Promise.all(Array.from({ length: 9 }, (_, k) => heatCell(page, target, k)));
      const haproxy = await cellsOf("haproxy");
      const byShare = [...haproxy].sort((a, b) => a.share! - b.share!);
      expect(byShare[8]!.share! - byShare[0]!.share!).toBeGreaterThan(0.5);
      expect(byShare[8]!.luminance).toBeLessThan(byShare[0]!.luminance - 60);
      // x = keep-alive, y = think time: each heatmap cell shows the report cell with those values.
      for (const [k, h] of haproxy.entries()) {
        const c = report.cells[h.cell]!;
        expect(c.target).toBe("haproxy");
        expect(c.values).toEqual({ [report.vary[0]!.path]: report.vary[0]!.values[k % 3], [report.vary[1]!.path]: report.vary[1]!.values[Math.floor(k / 3)] });
      }

      const before = await selection(page);
      expect(before.selected).toBe(0);
      expect(before.command).toBe(report.cells[0]!.command);
      expect(before.row).toBe("0");

      // The nginx cell at keep-alive 10s, think 2s: another target and other values than the first.
      const target = (await cellsOf("nginx"))[8]!;
      const cell = report.cells[target.cell]!;
      expect(cell.target).toBe("nginx");
      await click(page, target);
      const after = await selection(page);
      expect(after.selected).toBe(target.cell);
      expect(after.command).toBe(cell.command);
      expect(after.command).not.toBe(before.command);
      expect(after.title).toBe("nginx · http_keep_alive=10s, think_time=2s");
      expect(after.row).toBe(String(target.cell));
      // The timeline now draws the clicked cell's windows: its series and its pixels changed.
      const tl = cell.measured!.timeline;
      expect(after.series.ade).toEqual(tl.map((w) => w.by_backend.ade ?? 0));
      expect(after.series.failed).toEqual(tl.map((w) => w.errors));
      expect(after.series["connections the proxy routed at"]).toEqual(tl.map((w) => w.max_proxy_conns));
      expect(after.series["threshold: too_many_connections → pbcoffee (300)"]).toEqual(tl.map(() => 300));
      expect(after.series.ade).not.toEqual(before.series.ade);
      expect(after.png).not.toBe(before.png);
      // Predicted vs measured rings the clicked cell's point, and only that one.
      const radii = await page.evaluate(() => {
        const chart = (window as unknown as { Chart: { getChart(c: Element): { data: { datasets: { data: { i?: number }[] }[] }; getDatasetMeta(i: number): { data: { options: { radius: number } }[] } } } }).Chart.getChart(document.getElementById("pvm")!);
        return chart.data.datasets.flatMap((d, di) => d.data.map((p, k) => ({ cell: p.i, radius: chart.getDatasetMeta(di).data[k]!.options.radius }))).filter((p) => p.cell !== undefined);
      });
      expect(radii).toHaveLength(report.cells.length);
      expect(radii.filter((p) => p.radius > 5).map((p) => p.cell)).toEqual([target.cell]);

      // A difference links to its fidelity row.
      const link = page.locator("a.fidelity-link").first();
      const href = await link.getAttribute("href");
      await link.click();
      expect(await page.evaluate(() => document.querySelector(":target")?.id)).toBe(href!.slice(1));

      // Off the charts, so no tooltip covers them in the picture.
      await page.mouse.move(0, 0);
      await page.screenshot({ path: join(OUTPUT, "explore.png"), fullPage: true });
      expect(statSync(join(OUTPUT, "explore.png")).size).toBeGreaterThan(20_000);
      expectClean(l);
    } finally {
      await page.context().close();
    }
  }, 60_000);

  it("the ramp of 1 vs 2 upstreams: one heatmap row per target, and both knee curves with their knees", async () => {
    const report = exploreRampReport();
    const l = await load(report);
    const { page } = l;
    try {
      expectDrawn(await canvases(page), ["heatmap:haproxy", "heatmap:nginx", "timeline", "knee-rps", "knee-latency"]);
      // No cell was predicted, and the page says so instead of drawing an empty chart.
      expect(await page.locator("#pvm-chart").isHidden()).toBe(true);
      const knees = await page.evaluate(() => {
        const get = (id: string) => (window as unknown as { Chart: { getChart(c: Element): { data: { datasets: { label: string; marker?: boolean; data: { x: number; y: number }[] }[] } } } }).Chart.getChart(document.getElementById(id)!).data.datasets;
        return { rps: get("knee-rps"), latency: get("knee-latency") };
      });
      const curves = knees.rps.filter((d) => !d.marker);
      expect(curves.map((d) => d.label)).toEqual(report.cells.map((c) => `${c.target} · servers=${c.values["backends.ade.servers"]}`));
      // Each knee marker sits on its curve at the load the report names.
      for (const c of report.cells) {
        const label = `${c.target} · servers=${c.values["backends.ade.servers"]}`;
        const plateau = knees.rps.find((d) => d.marker && d.label.startsWith(`${label}: throughput`))!;
        expect(plateau.data[0]!.x).toBe(c.knee!.throughput_plateau_at);
        expect(plateau.data[0]!.y).toBe(c.knee!.curve.find((p) => p.load === c.knee!.throughput_plateau_at)!.rps);
        expect(knees.latency.find((d) => d.marker && d.label === `${label}: latency turns up at ${c.knee!.latency_turn_at}`)).toBeDefined();
        expect(knees.latency.find((d) => d.marker && d.label === `${label}: errors start at ${c.knee!.errors_start_at}`)).toBeDefined();
      }
      // 2 upstreams hold twice the throughput of 1.
      const top = (servers: string) => Math.max(...report.cells.find((c) => c.target === "haproxy" && c.values["backends.ade.servers"] === servers)!.knee!.curve.map((p) => p.rps));
      expect(top("2")).toBeGreaterThan(1.8 * top("1"));
      expect(await page.locator("#knees tr").count()).toBe(1 + report.cells.length);

      // One axis: a single heatmap row; clicking its second cell shows servers=2.
      const second = await heatCell(page, "haproxy", 1);
      await click(page, second);
      const after = await selection(page);
      expect(report.cells[after.selected]!.values["backends.ade.servers"]).toBe("2");
      expect(after.command).toBe(report.cells[after.selected]!.command);

      await page.mouse.move(0, 0);
      await page.screenshot({ path: join(OUTPUT, "explore-ramp.png"), fullPage: true });
      expectClean(l);
    } finally {
      await page.context().close();
    }
  }, 60_000);

  it("three axes and a broken cell: a selector picks the slice, and text from the report stays text", async () => {
    const report = exploreGridReport({ connectionsAxis: true, brokenCell: 1, hostile: true });
    const l = await load(report);
    const { page } = l;
    try {
      expectDrawn(await canvases(page), ["heatmap:haproxy", "heatmap:nginx", "timeline", "pvm"]);
      // The hostile spec name is shown as written, and nothing it spells ran or loaded.
      expect(await page.locator("h1 small").textContent()).toContain(HOSTILE);
      expect(await page.locator("#cell-command").textContent()).toContain(HOSTILE);
      expect(await page.locator("pre.config").first().textContent()).toContain(HOSTILE);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.locator("img").count()).toBe(0);
      expect(await page.locator("script").count()).toBe(4);

      const select = page.locator('#slice select[data-path="load.connections"]');
      expect(await select.inputValue()).toBe("300");
      const shown = async () => (await heatCell(page, "haproxy", 0)).cell;
      const at300 = await shown();
      await select.selectOption("310");
      const at310 = await shown();
      expect(report.cells[at300]!.values["load.connections"]).toBe("300");
      expect(report.cells[at310]!.values["load.connections"]).toBe("310");
      // 300 connections never pass a threshold of 300; 310 do, at least in the first burst.
      expect(report.cells[at300]!.measured!.backends.pbcoffee).toBeUndefined();

      // The broken cell (haproxy, 100ms, 0, 310) says why instead of drawing a timeline.
      const broken = await heatCell(page, "haproxy", 0);
      expect(broken.cell).toBe(1);
      expect(broken.share).toBeNull();
      await click(page, broken);
      expect((await selection(page)).selected).toBe(1);
      expect(await page.locator("#timeline-note").textContent()).toContain("haproxy did not come up");
      expect(await page.locator(".warn").textContent()).toContain("35 of 36 cells measured");
      expectClean(l);
    } finally {
      await page.context().close();
    }
  }, 60_000);

  it("a chat room grown to 200: delivery and fan-out per cell, a loss shown as a loss, and a cell's messages on its timeline", async () => {
    const report = exploreWsReport();
    const l = await load(report);
    const { page } = l;
    try {
      expectDrawn(await canvases(page), ["heatmap:haproxy", "heatmap:nginx", "timeline", "ws"]);
      // Sessions alone: nothing to predict, and the page says so instead of drawing an empty chart.
      expect(await page.locator("#pvm-chart").isHidden()).toBe(true);
      const ws = await page.evaluate(() => {
        const chart = (window as unknown as { Chart: { getChart(c: Element): { data: { labels: string[]; datasets: { label: string; data: (number | null)[] }[] } } } }).Chart.getChart(document.getElementById("ws")!);
        return { labels: chart.data.labels, sets: Object.fromEntries(chart.data.datasets.map((d) => [d.label, d.data])) };
      });
      expect(ws.labels).toEqual(["websockets.connections=50", "websockets.connections=100", "websockets.connections=200"]);
      const ratio = (target: string, v: string) => report.cells.find((c) => c.target === target && c.values["load.websockets.connections"] === v)!.measured!.websockets!;
      expect(ws.sets["haproxy delivered"]).toEqual([100, 100, 100]);
      expect(ws.sets["nginx delivered"]!.slice(0, 2)).toEqual([100, 100]);
      expect(ws.sets["nginx delivered"]![2]).toBeCloseTo(ratio("nginx", "200").delivery_ratio! * 100, 6);
      expect(ws.sets["nginx delivered"]![2]).toBeLessThan(100);
      expect(ws.sets["nginx fan-out p99"]).toEqual(["50", "100", "200"].map((v) => ratio("nginx", v).fanout_ms.p99));

      // The cells table: the loss reads 99.9x%, never a rounded 100%.
      const header = await page.locator("#cells tr").first().locator("th").allTextContents();
      expect(header.slice(-3)).toEqual(["sessions", "delivered", "fan-out p99 ms"]);
      const lossy = report.cells.findIndex((c) => c.target === "nginx" && c.values["load.websockets.connections"] === "200");
      const row = await page.locator(`#cells tr[data-cell="${lossy}"] td.ws`).allTextContents();
      const shown = Math.floor(ratio("nginx", "200").delivery_ratio! * 10_000) / 100;
      expect(row).toEqual(["200/200", `${shown.toFixed(2)}%`, ratio("nginx", "200").fanout_ms.p99!.toFixed(1)]);
      expect(shown).toBeLessThan(100);

      // Selecting that cell shows its sessions and messages, and its timeline draws what was owed and not delivered.
      await page.locator(`#cells tr[data-cell="${lossy}"] button`).click();
      await page.waitForFunction((cell) => document.body.dataset.selected === String(cell), lossy, { timeout: 5_000 });
      const facts = await page.locator("#cell-facts").textContent();
      expect(facts).toContain("WebSocket sessions200 of 200 opened, 199 held their whole length, 1 failed (closed-early-1006 1)");
      expect(facts).toContain(`${ratio("nginx", "200").delivered} of ${ratio("nginx", "200").expected} owed delivered`);
      expect(facts).not.toContain("req/s");
      const series = await page.evaluate(() => {
        const chart = (window as unknown as { Chart: { getChart(c: Element): { data: { datasets: { label: string; data: number[] }[] } } } }).Chart.getChart(document.getElementById("timeline")!);
        return Object.fromEntries(chart.data.datasets.map((d) => [d.label, d.data]));
      });
      const tl = ratio("nginx", "200").timeline;
      expect(series["WebSocket messages received"]).toEqual(tl.map((w) => w.received));
      expect(series["owed, not delivered"]).toEqual(tl.map((w) => w.expected - w.delivered));
      expect(series["owed, not delivered"]!.filter((x) => x > 0)).toHaveLength(1);
      expect(series["sessions open"]).toEqual(tl.map((w) => w.open_sessions));
      expect(await page.evaluate(() => (window as unknown as { Chart: { getChart(c: Element): { options: { scales: { y: { title: { text: string } } } } } } }).Chart.getChart(document.getElementById("timeline")!).options.scales.y.title.text)).toBe("messages per window");

      await page.mouse.move(0, 0);
      await page.screenshot({ path: join(OUTPUT, "explore-ws.png"), fullPage: true });
      expectClean(l);
    } finally {
      await page.context().close();
    }
  }, 60_000);
});
