/**
 * `spillway explore` through the real proxies: small grids of short loads.
 * Every cell is measured as `verify` measures a scenario, a load-only step
 * keeps the proxy that is running, an abort or Ctrl-C keeps the cells
 * measured before it and --resume measures only the rest, and nothing is
 * left running afterwards.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rampArg } from "../src/cli/explore.js";
import { UsageError } from "../src/errors.js";
import { explore, type ExploreCell, type ExploreReport, type LoadResult } from "../src/index.js";
import { rampRateAt } from "../src/explore/ramp.js";
import { cellCommand, checkResume, planExplore, shellWord } from "../src/explore/run.js";
import { formatExploreCsv, formatExploreProgress, formatExploreTables } from "../src/report/explore.js";
import { pidAlive, type RunRecord } from "../src/runtime/registry.js";
import { loadSpecText } from "../src/spec/load.js";
import { evaluateExpectations } from "../src/verify/evaluate.js";
import { flipPoints } from "../src/verify/routes.js";
import { runCli } from "./helpers/cli.js";
import { MARK_VAR, describeProcesses, findProcesses, killLeftovers, newMarker, spawnCli } from "./helpers/processes.js";

const scratch = mkdtempSync(join(tmpdir(), "spillway-explore-"));
// Runs record what they start here, so this file sees its own runs only; the marker finds what they started.
process.env["SPILLWAY_RUNS_DIR"] = join(scratch, "runs");
const MARK = newMarker("explore-run");
process.env[MARK_VAR] = MARK;

afterAll(() => {
  const left = findProcesses({ marker: MARK, paths: [scratch] });
  killLeftovers({ marker: MARK, paths: [scratch] });
  rmSync(scratch, { recursive: true, force: true });
  expect(left, describeProcesses(left)).toEqual([]);
});

const SPEC_TEXT = `
version: 1
frontends:
  web:
    bind: "127.0.0.1:18080"
    maxconn: 50
    timeouts: { client: 10s, http_keep_alive: 1s, http_request: 5s, connect: 5s, server: 10s }
    rules:
      - { if: "fe_conn > 40", use_backend: over }
    default_backend: main
backends:
  main: { servers: 2, stub: { latency: 2ms } }
  over: { servers: 1 }
scenarios:
  small:
    load: { connections: 4, streams: 2, requests: 100 }
    # Always true: they make verify compute its numbers, which the cells must match.
    expect: { backends: { main: ">= 0%", over: ">= 0%" }, errors: ">= 0%", latency: { p50: ">= 0ms", p99: ">= 0ms" }, max_connections_seen: ">= 0" }
  timed:
    load: { connections: 2, streams: 1, duration: 1s }
  open:
    load: { connections: 8, streams: 1, arrival_rate: 50, duration: 1s }
`;
const SPEC = join(scratch, "explore.yaml");
writeFileSync(SPEC, SPEC_TEXT);
const model = loadSpecText(SPEC_TEXT, SPEC).model;
const small = model.scenarios.find((s) => s.name === "small")!;

function records(): RunRecord[] {
  const dir = process.env["SPILLWAY_RUNS_DIR"]!;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as RunRecord);
}

function haproxyPid(): number | null {
  const p = records().flatMap((r) => r.processes).find((x) => x.name === "haproxy");
  return p ? p.pid : null;
}

/** RFC 4180, as far as a CSV of numbers and quoted text needs. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  return rows;
}

describe("explore() through the real proxies", () => {
  it("measures every cell on both targets, keeps the proxy across a load-only step, and each cell's numbers are verify's", async () => {
    const loads: { target: string; values: Record<string, string>; result: Promise<LoadResult> }[] = [];
    const pidAtCell: (number | null)[] = [];
    const stacks: string[][] = [];
    // Where each run kept its configs: nginx rewrites its environment, so it is found by its directory.
    const dirs = new Set<string>();
    const report = await explore(SPEC, {
      scenario: "small",
      vary: ["frontends.web.timeouts.http_keep_alive=1s,2s", "load.requests=100,200"],
      onLoad: (run, start) => loads.push({ target: start.target, values: start.values, result: run.done }),
      onStack: (s) => stacks.push(s.proxies.map((p) => `${p.target} ${p.where}`)),
      onCell: (cell) => {
        if (cell.target === "haproxy") pidAtCell.push(haproxyPid());
        for (const r of records()) for (const d of r.dirs) dirs.add(d);
      },
    });
    expect(report).toMatchObject({ spec: SPEC, scenario: "small", targets: ["haproxy", "nginx"], complete: true, ramp: null });
    expect(report.spec_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(report.vary).toEqual([
      { path: "frontends.web.timeouts.http_keep_alive", values: ["1s", "2s"] },
      { path: "load.requests", values: ["100", "200"] },
    ]);
    // Target by target, each in grid order, the first axis slowest.
    expect(report.cells.map((c) => `${c.target} ${c.values["frontends.web.timeouts.http_keep_alive"]} ${c.values["load.requests"]} ${c.stack}`)).toEqual([
      "haproxy 1s 100 new",
      "haproxy 1s 200 reused",
      "haproxy 2s 100 new",
      "haproxy 2s 200 reused",
      "nginx 1s 100 new",
      "nginx 1s 200 reused",
      "nginx 2s 100 new",
      "nginx 2s 200 reused",
    ]);
    // Two stacks (one per keep-alive value), each proxy started once in each.
    expect(stacks).toHaveLength(4);
    expect(pidAtCell).toHaveLength(4);
    expect(pidAtCell[0]).not.toBeNull();
    expect(pidAtCell[1], "the load-only step ran on the same haproxy").toBe(pidAtCell[0]);
    expect(pidAtCell[2], "the keep-alive step started another haproxy").not.toBe(pidAtCell[0]);
    expect(pidAtCell[3]).toBe(pidAtCell[2]);

    for (const cell of report.cells) {
      const where = `${cell.target} ${JSON.stringify(cell.values)}`;
      expect(cell.error, where).toBeNull();
      const m = cell.measured!;
      const requests = Number(cell.values["load.requests"]);
      // fe_conn never passes 4 of the rule's 40: every request goes to main.
      expect(m.sent, where).toBe(requests);
      expect(m.succeeded, where).toBe(requests);
      expect(m.backends, where).toEqual({ main: { count: requests, share: 1 } });
      expect(m.routed, where).toEqual({ main: requests });
      expect(m.failed, where).toEqual({});
      expect(m.max_proxy_conns_seen, where).toBeLessThanOrEqual(4);
      expect(m.timeline.length, where).toBeGreaterThan(0);
      expect(m.timeline.reduce((a, w) => a + (w.by_backend.main ?? 0), 0), where).toBe(requests);
      expect(cell.predicted!.backends.main, where).toBeCloseTo(1, 6);
      expect(cell.gap, where).toEqual({ main: 0, over: 0 });
      expect(cell.knee).toBeNull();
      expect(cell.overhead_ms).toBeGreaterThanOrEqual(0);
      expect(cell.command).toBe(
        `spillway explore ${shellWord(SPEC)} --scenario small --target ${cell.target} --vary frontends.web.timeouts.http_keep_alive=${cell.values["frontends.web.timeouts.http_keep_alive"]} --vary load.requests=${requests}`,
      );
    }

    // The same load results through verify's own functions give the cells' numbers.
    expect(loads).toHaveLength(8);
    for (const l of loads) {
      const result = await l.result;
      const cell = report.cells.find((c) => c.target === l.target && JSON.stringify(c.values) === JSON.stringify(l.values))!;
      const checks = Object.fromEntries(evaluateExpectations(small.expect[l.target as "haproxy" | "nginx"], result).map((e) => [e.name, e.value]));
      const m = cell.measured!;
      expect((m.backends.main?.share ?? 0) * 100).toBeCloseTo(checks["backends.main"]!, 9);
      expect((m.backends.over?.share ?? 0) * 100).toBeCloseTo(checks["backends.over"]!, 9);
      expect((Object.values(m.failed).reduce((a, n) => a + n, 0) / m.sent) * 100).toBeCloseTo(checks["errors"]!, 9);
      expect(m.latency_ms).toEqual({ p50: checks["latency.p50"], p99: checks["latency.p99"] });
      expect(m.max_proxy_conns_seen).toBe(checks["max_connections_seen"]);
      expect(m.rps).toBe(result.rps);
      expect(m.flips).toEqual(
        flipPoints(model.frontends[0]!, result).map((f) => ({ rule: f.rule, backend: f.backend, last_default_conns: f.lastDefaultConns, first_rule_conns: f.firstRuleConns, at_ms: f.atMs })),
      );
    }

    expect(report.differences.map((d) => d.values)).toEqual(report.cells.filter((c) => c.target === "haproxy").map((c) => c.values));
    for (const d of report.differences) expect(d.text).toMatch(/^HAProxy and nginx agree within 5 points/);
    expect(report.thresholds).toEqual([{ rule: "fe_conn > 40", backend: "over", conns: 40 }]);
    expect(report.configs.haproxy).toContain("acl");
    expect(report.configs.nginx).toContain("upstream");
    expect(report.fidelity.length).toBeGreaterThan(0);

    const tables = formatExploreTables(report);
    expect(tables).toContain("haproxy: share served by over, measured / predicted");
    expect(tables).toMatch(/^http_keep_alive \\ requests\s+100\s+200$/m);
    expect(tables).toMatch(/^1s\s+0% \/ 0%\s+0% \/ 0%$/m);
    expect(tables).toMatch(/Mean overhead per cell beyond its load: .* when it started its proxy \(4 cells\), .* on the proxy the previous cell left up \(4\)\./);

    for (const pid of pidAtCell) expect(pidAlive(pid!), `haproxy ${pid}`).toBe(false);
    expect(records(), "run records left").toEqual([]);
    expect(dirs.size, "two stacks, one run directory each").toBe(2);
    const left = findProcesses({ marker: MARK, paths: [...dirs] });
    expect(left, describeProcesses(left)).toEqual([]);
    for (const d of dirs) expect(existsSync(d), d).toBe(false);
  }, 120_000);

  it("an abort keeps the cells measured before it; resume measures only the rest; a report of another grid is refused", async () => {
    const controller = new AbortController();
    const opts = { scenario: "small", vary: ["load.requests=100,200"], targets: ["haproxy" as const] };
    let abortedAt = 0;
    const partial = await explore(SPEC, {
      ...opts,
      signal: controller.signal,
      onCell: () => {
        abortedAt = Date.now();
        controller.abort(new Error("enough"));
      },
    });
    expect(Date.now() - abortedAt, "the abort ended the exploration at once").toBeLessThan(3000);
    expect(partial.complete).toBe(false);
    expect(partial.cells.map((c) => c.values["load.requests"])).toEqual(["100"]);
    expect(records(), "torn down before it resolved").toEqual([]);

    const started: string[] = [];
    const full = await explore(SPEC, { ...opts, resume: partial, onCellStart: (s) => started.push(s.values["load.requests"]!) });
    expect(started).toEqual(["200"]);
    expect(full.complete).toBe(true);
    expect(full.started_at).toBe(partial.started_at);
    expect(full.cells[0]).toEqual(partial.cells[0]);
    expect(full.cells[1]!.measured!.sent).toBe(200);

    await expect(explore(SPEC, { ...opts, vary: ["load.requests=100,300"], resume: partial })).rejects.toThrow(
      /^--resume: the report was made by another exploration: the grid load.requests=100,200 \(now load.requests=100,300\)$/,
    );
  }, 60_000);

  it("--ramp: one run per cell climbs through the stages, each window with its p99, and the knee is computed", async () => {
    const report = await explore(SPEC, { scenario: "small", vary: ["backends.main.servers=1"], targets: ["haproxy"], ramp: rampArg("0:1,2s:8,1s:8") });
    expect(report.ramp).toBe("0s:1,2s:8,1s:8");
    const cell = report.cells[0]!;
    expect(cell.error).toBeNull();
    expect(cell.command).toMatch(/ --ramp 0s:1,2s:8,1s:8$/);
    const m = cell.measured!;
    // The ramp replaced the 100 requests: it ran for the stages' 3 s.
    expect(m.sent).toBeGreaterThan(100);
    expect(m.window_ms).toBe(100);
    expect(Math.max(...m.timeline.map((w) => w.open_connections))).toBe(8);
    for (const w of m.timeline) {
      const served = Object.values(w.by_backend).reduce((a, n) => a + n, 0);
      // Each window's p99 comes from the responses in that window: none, none; some, at least the stub's 2 ms.
      if (served === 0) expect(w.p99_ms, `window at ${w.t_ms} ms`).toBeNull();
      else expect(w.p99_ms, `window at ${w.t_ms} ms`).toBeGreaterThanOrEqual(2);
    }
    expect(cell.knee!.load).toBe("connections");
    expect(cell.knee!.curve).toHaveLength(m.timeline.length);
    expect(records()).toEqual([]);
  }, 60_000);

  it("--ramp on an open model: a staircase of one-rate runs, one window each, the knee over the rate", async () => {
    const report = await explore(SPEC, { scenario: "open", vary: ["backends.main.servers=1"], targets: ["haproxy"], ramp: rampArg("0:20,3s:80") });
    const cell = report.cells[0]!;
    expect(cell.error).toBeNull();
    const m = cell.measured!;
    expect(m.window_ms).toBe(1000);
    expect(m.timeline.map((w) => w.t_ms)).toEqual([0, 1000, 2000]);
    // The rate at the middle of each second: 30, 50 and 70 requests/s, one run each.
    expect(cell.knee!.load).toBe("arrival_rate");
    expect(cell.knee!.curve.map((p) => p.load)).toEqual([30, 50, 70]);
    expect(m.sent).toBe(30 + 50 + 70);
    expect(m.backends.main!.count).toBe(150);
    for (const w of m.timeline) expect(w.p99_ms).toBeGreaterThanOrEqual(2);
    // The model takes one rate per run: a ramped rate has no prediction, rather than a wrong one.
    expect(cell.predicted).toBeNull();
    expect(cell.gap).toBeNull();
  }, 60_000);
});

describe("spillway explore", () => {
  it("Ctrl-C writes the cells measured so far; --resume measures the rest; CSV and HTML are written", async () => {
    const j1 = join(scratch, "first.json");
    const args = ["explore", SPEC, "--scenario", "timed", "--target", "haproxy", "--vary", "load.duration=1s,2s"];
    const cli = spawnCli([...args, "--json", j1, "--csv", join(scratch, "first.csv"), "--html", join(scratch, "first.html")], { [MARK_VAR]: MARK });
    const deadline = Date.now() + 30_000;
    while (!cli.stderr().includes("cell 1/2")) {
      if (Date.now() > deadline) throw new Error(`no cell finished in 30 s:\n${cli.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The second cell's load runs for 2 s: the signal lands in it.
    cli.child.kill("SIGINT");
    const exit = await cli.waitExit(30_000);
    expect(exit.code, cli.stderr()).toBe(130);
    expect(cli.stderr()).toContain("SIGINT received");
    const first = JSON.parse(readFileSync(j1, "utf8")) as ExploreReport;
    expect(first.complete).toBe(false);
    expect(first.cells.map((c) => c.values["load.duration"])).toEqual(["1s"]);
    expect(readFileSync(join(scratch, "first.html"), "utf8")).toContain("This exploration stopped early");
    expect(findProcesses({ marker: MARK }).filter((p) => p.pid !== cli.pid)).toEqual([]);

    const j2 = join(scratch, "second.json");
    const csv = join(scratch, "second.csv");
    const html = join(scratch, "second.html");
    const r = runCli([...args, "--resume", j1, "--json", j2, "--csv", csv, "--html", html], { env: { [MARK_VAR]: MARK }, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^spillway: cell 1\/1 haproxy load.duration=2s: over 0% \(predicted 0%\), \d+ req\/s, errors 0%, .* \(new stack\)$/m);
    expect(r.stdout).toMatch(/^haproxy: share served by over, measured \/ predicted$/m);
    const second = JSON.parse(readFileSync(j2, "utf8")) as ExploreReport;
    expect(second.complete).toBe(true);
    expect(second.cells[0]).toEqual(first.cells[0]);
    expect(second.cells.map((c: ExploreCell) => c.values["load.duration"])).toEqual(["1s", "2s"]);

    const rows = parseCsv(readFileSync(csv, "utf8"));
    expect(rows[0]!.slice(0, 3)).toEqual(["target", "load.duration", "sent"]);
    expect(rows).toHaveLength(3);
    const col = (name: string) => rows[0]!.indexOf(name);
    for (const [i, row] of rows.slice(1).entries()) {
      const cell = second.cells[i]!;
      expect(row).toHaveLength(rows[0]!.length);
      expect(row[col("target")]).toBe("haproxy");
      expect(Number(row[col("sent")])).toBe(cell.measured!.sent);
      expect(Number(row[col("main_share")])).toBe(1);
      expect(Number(row[col("over_predicted_share")])).toBe(cell.predicted!.backends.over);
      expect(row[col("command")]).toBe(cell.command);
    }
    const page = readFileSync(html, "utf8");
    const embedded = /<script type="application\/json" id="explore-data">([^]*?)<\/script>/.exec(page)![1]!;
    expect(JSON.parse(embedded)).toEqual(second);

    const refused = runCli([...args.slice(0, -1), "load.duration=1s,3s", "--resume", j1], { env: { [MARK_VAR]: MARK } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("spillway: --resume: the report was made by another exploration: the grid load.duration=1s,2s (now load.duration=1s,3s)");
    expect(findProcesses({ marker: MARK })).toEqual([]);
  }, 120_000);

  it("refuses what it cannot run before anything starts, with exit 1", () => {
    const bad = (extra: string[]) => runCli(["explore", SPEC, "--scenario", "small", ...extra], { env: { [MARK_VAR]: MARK } });
    const noVary = bad([]);
    expect(noVary.code).toBe(1);
    expect(noVary.stderr).toContain("explore needs at least one --vary PATH=V1,V2,...");
    const ramped = bad(["--vary", "load.connections=2,4", "--ramp", "0:1,2s:4"]);
    expect(ramped.code).toBe(1);
    expect(ramped.stderr).toContain("--vary load.connections with --ramp: the ramp sets the connections and the length of every cell's run");
    const ramp = bad(["--vary", "load.streams=1", "--ramp", "1:4"]);
    expect(ramp.code).toBe(1);
    expect(ramp.stderr).toContain('--ramp: stage 1 "1:4" is not DURATION:TARGET');
  });
});

describe("explore's pure parts", () => {
  const plan = planExplore(SPEC_TEXT, "spec.yaml", { scenario: "small", vary: ["load.think_time=0,10ms"] });

  it("ramps an open model's rate linearly within each stage, from the last target", () => {
    const stages = rampArg("0:10,10s:110,5s:110,10s:0");
    expect([0, 5000, 10_000, 12_000, 20_000, 25_000, 30_000].map((t) => rampRateAt(stages, t))).toEqual([10, 60, 110, 110, 55, 0, 0]);
    expect(rampRateAt(rampArg("10s:100"), 2500)).toBe(25);
  });

  it("reads --ramp as k6 stages, a bare 0 being an instant jump", () => {
    expect(rampArg("0:10,60s:400")).toEqual([
      { duration: "0s", target: 10 },
      { duration: "1m", target: 400 },
    ]);
    expect(() => rampArg("10:5")).toThrow(UsageError);
  });

  it("writes the command that reproduces a cell so a shell reads it back unchanged", () => {
    expect(cellCommand({ ...plan, file: "my spec.yaml" }, "nginx", { "load.think_time": "10ms" })).toBe("spillway explore 'my spec.yaml' --scenario small --target nginx --vary load.think_time=10ms");
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
  });

  it("refuses a resume file of another spec text or ramp", () => {
    const report = { spec: "spec.yaml", spec_sha256: "0".repeat(64), scenario: "small", vary: [{ path: "load.think_time", values: ["0", "10ms"] }], targets: ["haproxy", "nginx"], ramp: null, cells: [] } as unknown as ExploreReport;
    expect(() => checkResume(plan, report)).toThrow("the text of spec.yaml, which has changed since");
    expect(() => checkResume(plan, { ...report, spec_sha256: plan.sha256, ramp: "0s:1,1s:2" })).toThrow("ramp 0s:1,1s:2 (now none)");
    expect(() => checkResume(plan, { ...report, spec_sha256: plan.sha256 })).not.toThrow();
  });

  it("estimates the time left from the cells so far", () => {
    expect(formatExploreProgress({ done: 0, total: 18, meanCellMs: null, cellElapsedMs: 0, current: "haproxy think_time=0" })).toBe(
      "explore [....................] 0/18 cells, time left: after the first cell · haproxy think_time=0",
    );
    expect(formatExploreProgress({ done: 9, total: 18, meanCellMs: 6000, cellElapsedMs: 2000, current: "nginx" })).toBe("explore [##########..........] 9/18 cells, 52.0s left · nginx");
  });

  it("quotes CSV fields that hold commas, quotes or newlines", () => {
    const report = {
      vary: [{ path: "load.think_time", values: ["0"] }],
      cells: [{ target: "haproxy", values: { "load.think_time": "0" }, measured: null, predicted: null, gap: null, knee: null, error: 'broke, "badly"\nreally', command: "spillway explore x", overhead_ms: 5, stack: "new" }],
    } as unknown as ExploreReport;
    const rows = parseCsv(formatExploreCsv(report));
    expect(rows[1]![rows[0]!.indexOf("error")]).toBe('broke, "badly"\nreally');
    expect(rows[1]![rows[0]!.indexOf("sent")]).toBe("");
  });
});
