/**
 * `spillway predict` as a user meets it: the built CLI in its own process on
 * the classic fixture, and `predictSpec` from the package's public face.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { loadSpec, predictSpec, SpillwayError, UsageError, type PredictReport } from "../src/index.js";
import { formatAssumptions, formatPrediction, predictedFlipText } from "../src/report/predict.js";
import type { PredictionJson } from "../src/predict/json.js";
import { runCli } from "./helpers/cli.js";

const CLASSIC = "fixtures/classic.yaml";
const tmp = () => mkdtempSync(join(tmpdir(), "spillway-predict-"));

/**
 * The classic spec with one more scenario whose outcome hangs on the service
 * time: h2load --rate=100 --rate-period=1s opens 100 connections a second.
 * If a client's 100 requests take 4 s (40 ms each), all 310 are open from
 * 3 s until the first burst finishes at 4 s, and a quarter of the requests
 * overflow; at 16,000 requests/s with no latency a burst is done long before
 * the next one opens, and nothing does.
 */
function burstsSpec(): string {
  const file = join(tmp(), "bursts.yaml");
  writeFileSync(file, `${readFileSync(CLASSIC, "utf8")}  bursts:\n    load: { h2load: "-c310 -n31000 --rate=100 --rate-period=1s" }\n`);
  return file;
}

function parse(stdout: string): PredictReport {
  return JSON.parse(stdout) as PredictReport;
}

function result(report: PredictReport, target: string, scenario: string) {
  const r = report.results.find((x) => x.target === target && x.scenario === scenario);
  if (r === undefined) throw new Error(`no result for ${target} / ${scenario} in ${JSON.stringify(report.results.map((x) => [x.target, x.scenario]))}`);
  return r;
}

describe("spillway predict on the classic fixture", () => {
  it("--json - writes the predictions on stdout: nothing overflows under the threshold, nearly everything over it", () => {
    const r = runCli(["predict", CLASSIC, "--json", "-"]);
    expect(r.code, r.stderr).toBe(0);
    const report = parse(r.stdout);
    expect(report.spec).toBe(CLASSIC);
    expect(report.results.map((x) => `${x.scenario}/${x.target}`)).toEqual(["under-threshold/haproxy", "under-threshold/nginx", "over-threshold/haproxy", "over-threshold/nginx"]);
    for (const target of ["haproxy", "nginx"]) {
      const under = result(report, target, "under-threshold");
      expect(under.backends.pbcoffee).toBe(0);
      expect(under.routed.pbcoffee).toBe(0);
      expect(under.flips[0]).toMatchObject({ rule: "too_many_connections", backend: "pbcoffee", default_backend: "ade", last_default_conns: 300, first_rule_conns: null, at_ms: null });
    }
    const over = result(report, "haproxy", "over-threshold");
    expect(over.backends.pbcoffee).toBeGreaterThanOrEqual(0.9);
    expect(over.flips[0]!.first_rule_conns).toBeGreaterThan(300);
    // nginx routes as HAProxy does, but refuses what its one full pbcoffee server cannot take.
    const nginx = result(report, "nginx", "over-threshold");
    expect(nginx.backends.pbcoffee).toBeGreaterThanOrEqual(0.9);
    expect(nginx.refused.pbcoffee! / nginx.routed.pbcoffee!).toBeGreaterThan(0.9);
    for (const x of report.results) {
      const shares = Object.values(x.backends);
      for (const s of shares) {
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
      }
      expect(shares.reduce((a, s) => a + s, 0)).toBeLessThanOrEqual(1 + 1e-9);
      expect(x.assumptions.length).toBeGreaterThan(3);
    }
    // The text went to stderr, so stdout holds the one JSON document.
    expect(r.stderr).toContain("haproxy / over-threshold");
  });

  it("prints a table per scenario and target, the flip in words, and the assumptions once per scenario", () => {
    const r = runCli(["predict", CLASSIC]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const out = r.stdout;
    for (const heading of ["haproxy / under-threshold", "nginx / under-threshold", "haproxy / over-threshold", "nginx / over-threshold"]) expect(out).toMatch(new RegExp(`^${heading}$`, "m"));
    expect(out).toMatch(/^ {2}backend +share +band +routed +refused$/m);
    expect(out).toMatch(/^ {2}pbcoffee +100% +100% +40000 +0$/m);
    expect(out).toContain("flip too_many_connections (fe_conn > 300): last at 300 connections on ade; none on pbcoffee");
    expect(out).toContain("flip too_many_connections (fe_conn > 300): none on ade; first at 310 connections on pbcoffee, at 1ms");
    // Durations read as durations, not milliseconds.
    expect(out).toMatch(/40000 requests in \d\.\ds;/);
    expect(out.match(/^assumptions \(/gm)).toEqual(["assumptions (", "assumptions ("]);
    // Shared assumptions once per scenario; each target's own under its name.
    expect(out.match(/A request is routed the moment it is sent/g)).toHaveLength(2);
    expect(out.match(/^ {2}nginx only:$/gm)).toHaveLength(2);
    expect(out).toMatch(/haproxy only:\n +\d+\. fe_conn counts the connections HAProxy has accepted/);
    expect(out).toContain("The service time is the model's weakest input");
    // Not a terminal: no colour.
    expect(out).not.toContain("\u001b[");
  });

  it("-q prints nothing and still writes --json FILE", () => {
    const file = join(tmp(), "p.json");
    const r = runCli(["predict", CLASSIC, "-q", "-s", "over-threshold", "--target", "haproxy", "--json", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("");
    const report = parse(readFileSync(file, "utf8"));
    expect(report.results.map((x) => [x.target, x.scenario])).toEqual([["haproxy", "over-threshold"]]);
  });

  it("--capacity and --latency are the service time the model runs on", () => {
    const spec = burstsSpec();
    const base = runCli(["predict", spec, "-s", "bursts", "--target", "haproxy", "--json", "-", "-q"]);
    expect(base.code, base.stderr).toBe(0);
    expect(result(parse(base.stdout), "haproxy", "bursts").backends.pbcoffee).toBe(0);
    const slow = runCli(["predict", spec, "-s", "bursts", "--target", "haproxy", "--capacity", "none", "--latency", "40ms", "--json", "-", "-q"]);
    expect(slow.code, slow.stderr).toBe(0);
    const r = result(parse(slow.stdout), "haproxy", "bursts");
    expect(r.backends.pbcoffee).toBeGreaterThan(0.2);
    expect(r.backends.pbcoffee).toBeLessThan(0.3);
    expect(r.flips[0]).toMatchObject({ last_default_conns: 300, first_rule_conns: 310 });
    expect(r.flips[0]!.at_ms).toBeGreaterThanOrEqual(3000);
    expect(r.assumptions.join("\n")).toContain("40ms of latency for every backend (--latency) and no capacity limit (--capacity)");
    expect(r.duration_ms).toBeGreaterThan(6000);
  });

  it("--help names the service time as the model's weakest input", () => {
    const r = runCli(["predict", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: spillway predict");
    expect(r.stdout).toContain("--capacity <req/s>");
    expect(r.stdout).toContain("--latency <duration>");
    expect(r.stdout).toContain("weakest input");
  });
});

describe("spillway predict: errors", () => {
  it.each([
    [["predict", CLASSIC, "-s", "over-treshold"], "no scenario 'over-treshold' in fixtures/classic.yaml; did you mean 'over-threshold'?", "Scenarios: under-threshold, over-threshold."],
    [["predict", CLASSIC, "--capacity", "fast"], '--capacity "fast" is not a rate in requests/s such as 8000, or none', null],
    [["predict", CLASSIC, "--capacity", "0"], '--capacity "0" is not a rate in requests/s such as 8000, or none', null],
    [["predict", CLASSIC, "--latency", "40"], '--latency "40" is not a duration such as 500ms, 30s or 2m', null],
    [["predict", CLASSIC, "--capacity", "none"], "--capacity none with no latency: every request to ade, pbcoffee would be answered the instant it is sent", "Give --latency a measured p50"],
    [["predict", CLASSIC, "--target", "envoy"], "Allowed choices are haproxy, nginx", null],
    [["predict", "fixtures/multi-frontend.yaml"], "fixtures/multi-frontend.yaml has no scenarios to predict", null],
    [["predict", "nope.yaml"], "spec file not found: nope.yaml", null],
  ])("exit 1, no stack trace, nothing on stdout: %j", (args, message, hint) => {
    const r = runCli(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    if (hint !== null) expect(r.stderr).toContain(hint);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe("");
  });

  it("a target none of the chosen scenarios runs on is a usage error", () => {
    const file = join(tmp(), "haproxy-only.yaml");
    writeFileSync(file, readFileSync(CLASSIC, "utf8").replace("targets: [haproxy, nginx]", "targets: [haproxy]"));
    const r = runCli(["predict", file, "--target", "nginx"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nothing to predict: no selected scenario runs on nginx (under-threshold runs on haproxy; over-threshold runs on haproxy)");
  });

  it("an invalid spec exits 2 with file:line:col", () => {
    const r = runCli(["predict", "fixtures/bad/unknown-key.yaml", "--json", "-"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("fixtures/bad/unknown-key.yaml:8:5: error: unknown key 'maxconns'; did you mean 'maxconn'?");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe("");
  });

  it("spillway --version loads none of predict's modules", () => {
    const dir = tmp();
    const log = join(dir, "loaded.txt");
    writeFileSync(log, "");
    writeFileSync(
      join(dir, "hooks.mjs"),
      `import { appendFileSync } from "node:fs";\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + "\\n"); return next(url, context); }\n`,
    );
    writeFileSync(join(dir, "register.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`);
    const version = runCli(["--version"], { env: { NODE_OPTIONS: `--import ${pathToFileURL(join(dir, "register.mjs")).href}` } });
    expect(version.code).toBe(0);
    const loaded = readFileSync(log, "utf8").split("\n").filter((u) => u.includes("/dist/"));
    // The hook saw the version load (bin/spillway.js answers --version from it alone), so an empty list below means something.
    expect(loaded.some((u) => u.endsWith("/dist/package-info.js"))).toBe(true);
    expect(loaded.filter((u) => /\/dist\/(predict\/|cli\/predict\.js|report\/predict\.js)/.test(u))).toEqual([]);
  });
});

describe("predictSpec, from the package's public face", () => {
  it("returns the object --json writes, from a path, a loaded spec or its model", () => {
    const fromPath = predictSpec(CLASSIC);
    const cli = runCli(["predict", CLASSIC, "--json", "-", "-q"]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(JSON.stringify(fromPath))).toEqual(parse(cli.stdout));
    const spec = loadSpec(CLASSIC);
    expect(predictSpec(spec)).toEqual(fromPath);
    expect(predictSpec(spec.model)).toEqual(fromPath);
  });

  it("takes scenarios, targets and the service time", () => {
    const report = predictSpec(CLASSIC, { scenarios: ["over-threshold"], targets: ["haproxy"] });
    expect(report.results.map((x) => [x.target, x.scenario])).toEqual([["haproxy", "over-threshold"]]);
    expect(report.results[0]!.backends.pbcoffee).toBeGreaterThanOrEqual(0.9);
    const spec = burstsSpec();
    expect(predictSpec(spec, { scenarios: ["bursts"], targets: ["haproxy"] }).results[0]!.backends.pbcoffee).toBe(0);
    const slow = predictSpec(spec, { scenarios: ["bursts"], targets: ["haproxy"], service: { capacityRps: null, latencyMs: 40 } }).results[0]!;
    expect(slow.backends.pbcoffee).toBeGreaterThan(0.2);
    expect(slow.assumptions.join("\n")).toContain("40ms of latency for every backend (given) and no capacity limit (given)");
  });

  it("an unknown scenario is a UsageError with exit code 1; a service it cannot simulate too", () => {
    let err: unknown;
    try {
      predictSpec(CLASSIC, { scenarios: ["abvoe-threshold"] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as SpillwayError).exitCode).toBe(1);
    expect((err as Error).message).toContain("no scenario 'abvoe-threshold' in fixtures/classic.yaml; did you mean 'over-threshold'?");
    expect(() => predictSpec(CLASSIC, { service: { capacityRps: null } })).toThrow(/scenario under-threshold on haproxy: cannot predict:\n {2}service: with no capacity and no latency/);
  });
});

describe("the predict report's text", () => {
  const flip = { rule: "too_many_connections", condition: "fe_conn > 300", backend: "pbcoffee", default_backend: "ade" };

  it("says the flip point in words", () => {
    expect(predictedFlipText({ ...flip, last_default_conns: 300, first_rule_conns: 301, at_ms: 1200 })).toBe(
      "flip too_many_connections (fe_conn > 300): last at 300 connections on ade, first at 301 on pbcoffee, at 1.2s",
    );
    expect(predictedFlipText({ ...flip, rule: "fe_conn > 300", last_default_conns: null, first_rule_conns: null, at_ms: null })).toBe(
      "flip fe_conn > 300: no request was routed on a connection count",
    );
  });

  const edge: PredictionJson = {
    target: "haproxy",
    scenario: "edge",
    backends: { ade: 0, pbcoffee: 1 },
    bands: { ade: [0, 1], pbcoffee: [0, 1] },
    routed: { ade: 0, pbcoffee: 3020 },
    refused: { ade: 0, pbcoffee: 0 },
    flips: [{ ...flip, last_default_conns: null, first_rule_conns: 302, at_ms: 1 }],
    max_proxy_conns_seen: 302,
    max_conns: 302,
    duration_ms: 61_000,
    truncated: true,
    assumptions: ["shared", "haproxy's own"],
  };

  it("shows a band as a range, colours a wide one and a truncated run only when asked", () => {
    const plain = formatPrediction(edge);
    expect(plain).toMatch(/^ {2}pbcoffee +100% +0%-100% +3020 +0$/m);
    expect(plain).toContain("3020 requests in 1m1s; the proxy held up to 302 connections, 302 while routing a request");
    expect(plain).toContain("TRUNCATED: the simulation hit its event bound");
    expect(plain).not.toContain("\u001b[");
    const coloured = formatPrediction(edge, { color: true });
    expect(coloured).toContain("\u001b[33m0%-100%\u001b[39m");
    expect(coloured).toContain("\u001b[31mTRUNCATED\u001b[39m");
    // Without its escape codes the coloured text is the plain one: the columns stay aligned.
    expect(coloured.replace(/\u001b\[\d+m/g, "")).toBe(plain);
  });

  it("lists assumptions once: the shared ones, then each target's own", () => {
    const nginx = { ...edge, target: "nginx", assumptions: ["shared", "nginx's own"] };
    expect(formatAssumptions([edge, nginx])).toBe(["assumptions (edge):", "  1. shared", "  haproxy only:", "  2. haproxy's own", "  nginx only:", "  3. nginx's own"].join("\n"));
    expect(formatAssumptions([edge])).toBe(["assumptions (edge):", "  1. shared", "  2. haproxy's own"].join("\n"));
  });
});
