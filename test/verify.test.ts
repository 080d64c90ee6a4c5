import { describe, expect, it } from "vitest";
import { XMLParser } from "fast-xml-parser";
import type { LoadResult } from "../src/load/index.js";
import { toJson, toJsonReport } from "../src/report/json.js";
import { toJunit } from "../src/report/junit.js";
import { timelineSvg, toHtml } from "../src/report/html.js";
import { formatRun, formatSummary } from "../src/report/terminal.js";
import { formatElapsed } from "../src/spec/duration.js";
import { loadSpecFile, parseThreshold } from "../src/spec/load.js";
import type { Expectations } from "../src/spec/model.js";
import { evaluateExpectations } from "../src/verify/evaluate.js";
import { parseShowStat } from "../src/verify/counters.js";
import { reconcile } from "../src/verify/reconcile.js";
import { flipPoints, proxyFailureCause, proxyFailures, thresholds } from "../src/verify/routes.js";
import type { ScenarioRun, VerifyReport } from "../src/verify/types.js";
import { verifyExitCode } from "../src/verify/verify.js";

const lat = { min: 1, mean: 5, p50: 4, p90: 8, p99: 12, max: 20 };

function result(backends: Record<string, number>, unattributed: Record<string, number> = {}, failedResponses = 0): LoadResult {
  const attributed = Object.values(backends).reduce((a, b) => a + b, 0);
  const un = Object.values(unattributed).reduce((a, b) => a + b, 0);
  return {
    requests: { sent: attributed + un, completed: attributed + (unattributed["status-502-no-header"] ?? 0), succeeded: attributed - failedResponses, failed: un + failedResponses, retried: 0 },
    backends: Object.fromEntries(Object.entries(backends).map(([k, n]) => [k, { count: n, servers: { [`${k}/s1`]: n }, statuses: { "200": n }, latency: lat }])),
    routed: {},
    unattributed: { total: un, byCause: unattributed },
    statuses: { "200": attributed },
    latency: lat,
    timeline: [],
    timelineWindowMs: 1000,
    connections: { opened: 10, maxOpen: 10, failed: 0, failedByCause: {}, goaways: 0, unfinished: { connecting: 0, handshaking: 0 } },
    maxProxyConnsSeen: 310,
    warmup: { responses: 0, byBackend: {}, routed: {} },
    stoppedEarly: null,
    durationMs: 1000,
    rps: attributed + un,
  };
}

function expectations(partial: { backends?: Record<string, string>; errors?: string; p99?: string; maxConns?: string }): Expectations {
  return {
    backends: Object.fromEntries(Object.entries(partial.backends ?? {}).map(([k, t]) => [k, parseThreshold(t, "count")])),
    errors: partial.errors ? parseThreshold(partial.errors, "count") : null,
    unattributed: null,
    latency: partial.p99 ? { p99: parseThreshold(partial.p99, "ms") } : {},
    maxConnectionsSeen: partial.maxConns ? parseThreshold(partial.maxConns, "count") : null,
  };
}

describe("expectations", () => {
  it("checks shares of every request sent, counts, errors, latency and connections seen", () => {
    const r = result({ ade: 950, pbcoffee: 50 });
    const out = evaluateExpectations(expectations({ backends: { pbcoffee: ">= 90%", ade: ">= 900" }, errors: "0", p99: "< 200ms", maxConns: ">= 301" }), r);
    expect(out).toEqual([
      { name: "backends.pbcoffee", expected: ">= 90%", actual: "5.0% (50 of 1000)", passed: false, op: ">=", threshold: 90, value: 5, unit: "%" },
      { name: "backends.ade", expected: ">= 900", actual: "950 (95.0% of 1000)", passed: true, op: ">=", threshold: 900, value: 950, unit: "count" },
      { name: "errors", expected: "0", actual: "0 (0% of 1000)", passed: true, op: "==", threshold: 0, value: 0, unit: "count" },
      { name: "latency.p99", expected: "< 200ms", actual: "12.0ms", passed: true, op: "<", threshold: 200, value: 12, unit: "ms" },
      { name: "max_connections_seen", expected: ">= 301", actual: "310", passed: true, op: ">=", threshold: 301, value: 310, unit: "count" },
    ]);
  });

  it("carries the numbers unrounded, in the spec's unit: a share of every request sent, seconds as ms", () => {
    const r = result({ ade: 6464, pbcoffee: 17684 });
    const [share, p99] = evaluateExpectations(expectations({ backends: { ade: "< 30%" }, p99: "<= 2s" }), r);
    expect(share).toMatchObject({ actual: "26.8% (6464 of 24148)", value: (6464 / 24148) * 100, threshold: 30, unit: "%", passed: true });
    expect(p99).toMatchObject({ expected: "<= 2s", threshold: 2000, unit: "ms" });
  });

  it("counts unattributed requests against a 100% share and as errors", () => {
    const r = result({ ade: 990 }, { refused: 10 });
    const out = evaluateExpectations(expectations({ backends: { ade: "100%", pbcoffee: "0" }, errors: "< 1%" }), r);
    expect(out.map((e) => [e.name, e.passed, e.actual])).toEqual([
      ["backends.ade", false, "99.0% (990 of 1000)"],
      ["backends.pbcoffee", true, "0 (0% of 1000)"],
      ["errors", false, "1.0% (10 of 1000)"],
    ]);
  });

  it("fails a connections-seen expectation when the proxy did not stamp it", () => {
    const r = { ...result({ ade: 1 }), maxProxyConnsSeen: null };
    expect(evaluateExpectations(expectations({ maxConns: ">= 1" }), r)[0]).toMatchObject({ passed: false, actual: "not stamped by the proxy", value: null, threshold: 1 });
  });
});

describe("reconciliation", () => {
  const counts = (served: number) => ({ served, byStatus: { "200": served }, byProtocol: { h1: served, h2: 0 }, connections: 1 });

  it("agrees when driver, stubs and HAProxy's req_tot agree", () => {
    const rec = reconcile(
      "haproxy",
      result({ ade: 100, pbcoffee: 20 }),
      { before: { "ade/s1": counts(0), "ade/s2": counts(0), "pbcoffee/s1": counts(0) }, after: { "ade/s1": counts(60), "ade/s2": counts(40), "pbcoffee/s1": counts(20) } },
      { before: { kind: "haproxy", backendRequests: { ade: 2, pbcoffee: 0 } }, after: { kind: "haproxy", backendRequests: { ade: 102, pbcoffee: 20 } } },
    );
    expect(rec).toEqual({ ok: true, rows: [{ backend: "ade", driver: 100, stubs: 100, routed: null, proxy: 100 }, { backend: "pbcoffee", driver: 20, stubs: 20, routed: null, proxy: 20 }], proxyTotal: null, problems: [] });
  });

  it("names a lost response and a proxy count that differs", () => {
    const rec = reconcile(
      "haproxy",
      result({ ade: 99 }),
      { before: { "ade/s1": counts(0) }, after: { "ade/s1": counts(100) } },
      { before: { kind: "haproxy", backendRequests: { ade: 0 } }, after: { kind: "haproxy", backendRequests: { ade: 101 } } },
    );
    expect(rec.ok).toBe(false);
    expect(rec.problems).toEqual([
      "ade: the stubs served 100 responses but the driver received 99: 1 lost between stub and driver",
      "ade: HAProxy counted 101 requests (req_tot) but the driver 99",
    ]);
  });

  it("checks nginx's request total, less its own status reads", () => {
    const nginx = (requests: number) => ({ kind: "nginx" as const, requests, accepts: 0, handled: 0, active: 1 });
    const ok = reconcile("nginx", result({ ade: 10 }), { before: { "ade/s1": counts(0) }, after: { "ade/s1": counts(10) } }, { before: nginx(5), after: nginx(16) });
    expect(ok).toMatchObject({ ok: true, proxyTotal: { proxy: 10, driver: 10 } });
    const short = reconcile("nginx", result({ ade: 10 }), { before: { "ade/s1": counts(0) }, after: { "ade/s1": counts(10) } }, { before: nginx(5), after: nginx(10) });
    expect(short.problems).toEqual(["nginx counted 4 requests but the driver received 10 responses"]);
  });

  it("with route stamps, HAProxy's req_tot is held to the routed count, its own 503s included, and a misrouted response is named", () => {
    const r = result({ ade: 100, pbcoffee: 20 }, { "status-503-no-header": 5 });
    r.routed = {
      ade: { count: 105, served: { ade: 100 }, proxyStatuses: { "503": 5 }, minConns: 1, maxConns: 300, firstMs: 0, lastMs: 900 },
      pbcoffee: { count: 20, served: { pbcoffee: 20 }, proxyStatuses: {}, minConns: 301, maxConns: 310, firstMs: 500, lastMs: 900 },
    };
    const stubs = { before: {}, after: { "ade/s1": counts(100), "pbcoffee/s1": counts(20) } };
    const haproxy = (ade: number, pbcoffee: number) => ({ kind: "haproxy" as const, backendRequests: { ade, pbcoffee } });
    const ok = reconcile("haproxy", r, stubs, { before: haproxy(0, 0), after: haproxy(105, 20) });
    expect(ok.problems).toEqual([]);
    expect(ok.rows).toEqual([
      { backend: "ade", driver: 100, stubs: 100, routed: 105, proxy: 105 },
      { backend: "pbcoffee", driver: 20, stubs: 20, routed: 20, proxy: 20 },
    ]);
    // Before the route stamp, these 5 could only be compared with what the stubs served, and differed.
    const short = reconcile("haproxy", r, stubs, { before: haproxy(0, 0), after: haproxy(104, 20) });
    expect(short.problems).toEqual(["ade: HAProxy counted 104 requests (req_tot) but stamped 105 responses as routed there"]);
    const crossed = structuredClone(r);
    crossed.routed["pbcoffee"]!.served = { pbcoffee: 19, ade: 1 };
    expect(reconcile("haproxy", crossed, stubs, { before: haproxy(0, 0), after: haproxy(105, 20) }).problems).toEqual([
      "pbcoffee: the proxy routed 1 requests to pbcoffee that a stub of ade answered",
    ]);
  });

  it("reads req_tot of each backend from `show stat`", () => {
    const csv = "# pxname,svname,qcur,req_tot,x\nwebserver,FRONTEND,0,120,\nade,s1,0,,\nade,BACKEND,0,100,\npbcoffee,BACKEND,0,20,\n";
    expect(parseShowStat(csv)).toEqual({ ade: 100, pbcoffee: 20 });
  });
});

describe("routes and flips", () => {
  const { model } = loadSpecFile("fixtures/classic.yaml");
  const frontend = model.frontends[0]!;
  const routedResult = (): LoadResult => {
    const r = result({ ade: 900, pbcoffee: 60 }, { "status-502-no-header": 40 });
    r.routed = {
      ade: { count: 930, served: { ade: 900 }, proxyStatuses: { "502": 30 }, minConns: 1, maxConns: 300, firstMs: 0, lastMs: 1500 },
      pbcoffee: { count: 70, served: { pbcoffee: 60 }, proxyStatuses: { "502": 10 }, minConns: 301, maxConns: 310, firstMs: 1234, lastMs: 2000 },
    };
    return r;
  };

  it("names the cause of each status a proxy answers itself, from the backend's limits", () => {
    const ade = model.backends.find((b) => b.name === "ade")!;
    expect(proxyFailureCause("nginx", 502, ade)).toBe("refused by nginx: every server at max_conns, and nginx has no queue (or none reachable)");
    expect(proxyFailureCause("nginx", 502, { ...ade, maxconn: null, servers: ade.servers.map((s) => ({ ...s, maxconn: null })) })).toMatch(/^refused by nginx: no server reachable/);
    expect(proxyFailureCause("haproxy", 503, ade)).toMatch(/timeout queue/);
    expect(proxyFailureCause("haproxy", 504, ade)).toMatch(/timeout server/);
    expect(proxyFailureCause("haproxy", 418, ade)).toBe("answered 418 by haproxy itself");
    expect(proxyFailures("nginx", model, routedResult())).toEqual([
      { backend: "ade", status: 502, count: 30, cause: proxyFailureCause("nginx", 502, ade) },
      { backend: "pbcoffee", status: 502, count: 10, cause: proxyFailureCause("nginx", 502, model.backends.find((b) => b.name === "pbcoffee")) },
    ]);
  });

  it("states the flip point of each fe_conn rule from the routed connection counts", () => {
    expect(flipPoints(frontend, routedResult())).toEqual([
      {
        rule: "too_many_connections",
        condition: "fe_conn > 300",
        backend: "pbcoffee",
        defaultBackend: "ade",
        ruleConns: [{ lo: 301, hi: Infinity }],
        lastDefaultConns: 300,
        firstRuleConns: 301,
        atMs: 1234,
      },
    ]);
    // Nothing routed to the rule's backend: no flip moment, the default's highest count still stated.
    const under = routedResult();
    delete under.routed["pbcoffee"];
    expect(flipPoints(frontend, under)[0]).toMatchObject({ lastDefaultConns: 300, firstRuleConns: null, atMs: null });
    // No route stamps at all: nothing to state.
    expect(flipPoints(frontend, result({ ade: 1 }))).toEqual([]);
    expect(thresholds([{ lo: 301, hi: Infinity }])).toEqual([300.5]);
    expect(thresholds([{ lo: 0, hi: 10 }, { lo: 20, hi: Infinity }])).toEqual([10.5, 19.5]);
  });

  const run: ScenarioRun = {
    target: "nginx",
    scenario: "over",
    description: null,
    runtime: "process",
    proxy: { version: "1.22.1", details: "nginx" },
    status: "passed",
    error: null,
    load: {
      ...routedResult(),
      timelineWindowMs: 100,
      timeline: Array.from({ length: 20 }, (_, i) => ({ tMs: i * 100, byBackend: i < 12 ? { ade: 45 } : { ade: 15, pbcoffee: 12 }, openConnections: 310, errors: 2, maxProxyConns: i < 12 ? 300 : 310 })),
    },
    expectations: [],
    reconciliation: null,
    proxyFailures: proxyFailures("nginx", model, routedResult()),
    flips: flipPoints(frontend, routedResult()),
    durationMs: 2500,
  };
  const report: VerifyReport = { spec: "classic.yaml", startedAt: "2026-11-23T00:00:00.000Z", runs: [run], passed: true };

  it("terminal: routed and served per backend, failures at the proxy with their cause, the flip", () => {
    const text = formatRun(run);
    expect(text).toMatch(/^\s+backend\s+routed\s+served\s+share/m);
    expect(text).toMatch(/^\s+ade\s+930\s+900\s+90\.0%/m);
    expect(text).toMatch(/^\s+pbcoffee\s+70\s+60\s+6\.0%/m);
    expect(text).toContain("failed at the proxy: 30 (3.0%) routed to ade, answered 502 by nginx: refused by nginx: every server at max_conns, and nginx has no queue (or none reachable)");
    expect(text).toContain("flip (too_many_connections: fe_conn > 300): pbcoffee from 301 connections at 1.2s; last to ade at 300");
  });

  it("JSON: routed per backend, failures at the proxy, flips", () => {
    const json = JSON.parse(toJson(report)).results[0];
    expect(json.routed).toEqual({ ade: 930, pbcoffee: 70 });
    expect(json.backends).toEqual({ ade: 900, pbcoffee: 60 });
    expect(json.failedAtProxy).toEqual([
      { backend: "ade", status: 502, count: 30, cause: expect.stringMatching(/max_conns/) },
      { backend: "pbcoffee", status: 502, count: 10, cause: expect.stringMatching(/max_conns/) },
    ]);
    expect(json.flips).toEqual([{ rule: "too_many_connections", condition: "fe_conn > 300", backend: "pbcoffee", default_backend: "ade", last_default_conns: 300, first_rule_conns: 301, at_ms: 1234 }]);
    expect(json.timelineWindowMs).toBe(100);
  });

  it("JUnit: the suite's system-out says what was routed, served and refused, and the flip", () => {
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(toJunit(report));
    const out: string = doc.testsuites.testsuite["system-out"];
    expect(out.split("\n")).toEqual([
      "ade: routed 930, served 900 (90.0% of 1000)",
      "pbcoffee: routed 70, served 60 (6.0% of 1000)",
      expect.stringMatching(/^failed at the proxy: 30 \(3\.0%\) routed to ade, answered 502 by nginx: /),
      expect.stringMatching(/^failed at the proxy: 10 \(1\.0%\) routed to pbcoffee, answered 502 by nginx: /),
      "flip (too_many_connections: fe_conn > 300): pbcoffee from 301 connections at 1.2s; last to ade at 300",
    ]);
  });

  it("HTML: the rule's threshold on the connection axis and the flip moment on the time axis, where the data puts them", () => {
    const html = toHtml(report);
    // Chart geometry (timelineSvg): plot from x=56 to 704, y=16 to 224; the connection axis tops at niceMax(310) = 500.
    const threshold = /<g class="threshold" data-threshold="300.5"><line x1="56" x2="704" y1="([\d.]+)" y2="([\d.]+)"/.exec(html);
    expect(threshold).not.toBeNull();
    expect(Number(threshold![1])).toBeCloseTo(16 + 208 - (208 * 300.5) / 500, 1);
    const flip = /<g class="flip" data-flip-ms="1234"><line x1="([\d.]+)" x2="([\d.]+)" y1="16" y2="224"[^>]*\/><circle cx="([\d.]+)" cy="([\d.]+)"/.exec(html);
    expect(flip).not.toBeNull();
    // 20 windows of 100 ms over 648 px: 1234 ms is 12.34 windows in.
    expect(Number(flip![1])).toBeCloseTo(56 + 12.34 * (648 / 20), 1);
    expect(Number(flip![4])).toBeCloseTo(16 + 208 - (208 * 301) / 500, 1);
    expect(html).toContain("fe_conn &gt; 300 → pbcoffee");
    expect(html).toMatch(/<tr data-backend="ade"><td>ade<\/td><td class="routed">930<\/td><td class="served">900<\/td>/);
    expect(html).toContain(`<li class="flip">flip (too_many_connections: fe_conn &gt; 300): pbcoffee from 301 connections at 1.2s; last to ade at 300</li>`);
  });
});

describe("reports", () => {
  const passed: ScenarioRun = {
    target: "haproxy",
    scenario: "under",
    description: null,
    runtime: "process",
    proxy: { version: "2.6.12", details: "haproxy" },
    status: "passed",
    error: null,
    load: result({ ade: 40 }),
    expectations: [{ name: "backends.ade", expected: "100%", actual: "100% (40 of 40)", passed: true, op: "==", threshold: 100, value: 100, unit: "%" }],
    reconciliation: { ok: true, rows: [{ backend: "ade", driver: 40, stubs: 40, routed: null, proxy: 40 }], proxyTotal: null, problems: [] },
    proxyFailures: [],
    flips: [],
    durationMs: 1234,
  };
  const failed: ScenarioRun = {
    ...passed,
    scenario: "over",
    status: "failed",
    expectations: [{ name: "backends.pbcoffee", expected: ">= 50%", actual: "10.0% (4 of 40)", passed: false, op: ">=", threshold: 50, value: 10, unit: "%" }],
  };
  const broken: ScenarioRun = { ...passed, target: "nginx", status: "error", error: "nginx did not answer <in time> & died", load: null, expectations: [], reconciliation: null };
  const report: VerifyReport = { spec: "classic.yaml", startedAt: "2026-11-23T00:00:00.000Z", runs: [passed, failed, broken], passed: false };

  it("exit code: an infrastructure error outranks a failed expectation", () => {
    expect(verifyExitCode([passed])).toBe(0);
    expect(verifyExitCode([passed, failed])).toBe(4);
    expect(verifyExitCode([failed, broken])).toBe(3);
  });

  it("JSON carries the documented shape", () => {
    const json = JSON.parse(toJson(report));
    // --json writes the very object the library's verify() returns: nothing in it is lost or changed by JSON.
    expect(json).toStrictEqual(toJsonReport(report));
    expect(json.results[0]).toMatchObject({
      target: "haproxy",
      scenario: "under",
      requests: { sent: 40, completed: 40 },
      backends: { ade: 40 },
      unattributed: 0,
      errors: { unattributed: {}, statuses: { "200": 40 } },
      expectations: [{ name: "backends.ade", expected: "100%", actual: "100% (40 of 40)", passed: true, op: "==", threshold: 100, value: 100, unit: "%" }],
      passed: true,
    });
    expect(json.results[1].passed).toBe(false);
    expect(json.results[2]).toMatchObject({ status: "error", error: "nginx did not answer <in time> & died", passed: false });
  });

  it("JUnit: a failed expectation is a failure, a broken run an error, text escaped", () => {
    const xml = toJunit(report);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(xml);
    expect(doc.testsuites).toMatchObject({ tests: "5", failures: "1", errors: "1" });
    const suites = doc.testsuites.testsuite;
    expect(suites[1].testcase[0].failure).toMatchObject({ type: "expectation", message: "expected backends.pbcoffee >= 50%, got 10.0% (4 of 40)" });
    expect(suites[2].testcase.error.message).toBe("nginx did not answer <in time> & died");
  });

  it("terminal: a table per run and a summary", () => {
    expect(formatRun(failed)).toContain("FAIL  backends.pbcoffee >= 50%: got 10.0% (4 of 40)");
    expect(formatRun(passed)).toContain("reconciled: driver, stubs and HAProxy's req_tot agree on every backend");
    expect(formatSummary(report)).toMatch(/1 passed, 1 failed, 1 errored$/);
  });

  it("terminal: PASS, FAIL and ERROR in colour only when asked, the summary's columns still aligned", () => {
    const plain = formatSummary(report);
    expect(plain).not.toContain("\u001b[");
    expect(formatRun(failed)).not.toContain("\u001b[");
    expect(formatRun(failed, { color: true })).toMatch(/^\u001b\[31mFAIL\u001b\[39m  haproxy \/ over/);
    expect(formatRun(failed, { color: true })).toContain("\u001b[31mFAIL\u001b[39m  backends.pbcoffee >= 50%");
    expect(formatRun(passed, { color: true })).toContain("\u001b[32mok\u001b[39m    backends.ade 100%");
    const coloured = formatSummary(report, { color: true });
    expect(coloured).toContain("\u001b[32mPASS\u001b[39m");
    expect(coloured).toContain("\u001b[31mERROR\u001b[39m");
    // Without its escape codes, the coloured table is the plain one, byte for byte.
    expect(coloured.replace(/\u001b\[[0-9]+m/g, "")).toBe(plain);
  });

  it("terminal: measured times as durations", () => {
    expect([0, 0.4, 850, 1234, 59_949, 65_000, 300_000, 3_725_000].map(formatElapsed)).toEqual(["0s", "0ms", "850ms", "1.2s", "59.9s", "1m5s", "5m", "1h2m5s"]);
    expect(formatSummary(report)).toMatch(/^haproxy\s+under\s+PASS\s+40\s+1\/1\s+1\.2s$/m);
  });

  it("HTML: one timeline chart per run that has a load, every text escaped", () => {
    const withTimeline: ScenarioRun = {
      ...passed,
      load: { ...result({ ade: 40 }), timeline: [{ tMs: 0, byBackend: { ade: 30 }, openConnections: 10, errors: 2, maxProxyConns: 10 }, { tMs: 100, byBackend: { ade: 10 }, openConnections: 10, errors: 0, maxProxyConns: 12 }] },
    };
    const html = toHtml({ ...report, runs: [withTimeline, broken] });
    expect(html.match(/<svg /g)?.length).toBe(1);
    expect(html).toContain("nginx did not answer &lt;in time&gt; &amp; died");
    expect(html).not.toContain("<in time>");
    const svg = timelineSvg(withTimeline.load!.timeline, new Map([["ade", "#4e79a7"]]), 100);
    // Two windows: a bar for ade in each and one for the failures of the first, and the routed-at line.
    expect(svg.match(/fill="#4e79a7"/g)?.length).toBe(2);
    expect(svg.match(/fill="#e15759"/g)?.length).toBe(1);
    expect(svg).toMatch(/<polyline points="[0-9., ]+" fill="none" stroke="#222"/);
  });
});
