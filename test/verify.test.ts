import { describe, expect, it } from "vitest";
import { XMLParser } from "fast-xml-parser";
import type { LoadResult } from "../src/load/index.js";
import { toJson } from "../src/report/json.js";
import { toJunit } from "../src/report/junit.js";
import { timelineSvg, toHtml } from "../src/report/html.js";
import { formatRun, formatSummary } from "../src/report/terminal.js";
import { parseThreshold } from "../src/spec/load.js";
import type { Expectations } from "../src/spec/model.js";
import { evaluateExpectations } from "../src/verify/evaluate.js";
import { parseShowStat } from "../src/verify/counters.js";
import { reconcile } from "../src/verify/reconcile.js";
import type { ScenarioRun, VerifyReport } from "../src/verify/types.js";
import { verifyExitCode } from "../src/cli/verify.js";

const lat = { min: 1, mean: 5, p50: 4, p90: 8, p99: 12, max: 20 };

function result(backends: Record<string, number>, unattributed: Record<string, number> = {}, failedResponses = 0): LoadResult {
  const attributed = Object.values(backends).reduce((a, b) => a + b, 0);
  const un = Object.values(unattributed).reduce((a, b) => a + b, 0);
  return {
    requests: { sent: attributed + un, completed: attributed + (unattributed["status-502-no-header"] ?? 0), succeeded: attributed - failedResponses, failed: un + failedResponses, retried: 0 },
    backends: Object.fromEntries(Object.entries(backends).map(([k, n]) => [k, { count: n, servers: { [`${k}/s1`]: n }, statuses: { "200": n }, latency: lat }])),
    unattributed: { total: un, byCause: unattributed },
    statuses: { "200": attributed },
    latency: lat,
    timeline: [],
    connections: { opened: 10, maxOpen: 10, failed: 0, goaways: 0 },
    maxProxyConnsSeen: 310,
    warmup: { responses: 0, byBackend: {} },
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
      { name: "backends.pbcoffee", expected: ">= 90%", actual: "5.0% (50 of 1000)", passed: false },
      { name: "backends.ade", expected: ">= 900", actual: "950 (95.0% of 1000)", passed: true },
      { name: "errors", expected: "0", actual: "0 (0% of 1000)", passed: true },
      { name: "latency.p99", expected: "< 200ms", actual: "12.0ms", passed: true },
      { name: "max_connections_seen", expected: ">= 301", actual: "310", passed: true },
    ]);
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
    expect(evaluateExpectations(expectations({ maxConns: ">= 1" }), r)[0]).toMatchObject({ passed: false, actual: "not stamped by the proxy" });
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
    expect(rec).toEqual({ ok: true, rows: [{ backend: "ade", driver: 100, stubs: 100, proxy: 100 }, { backend: "pbcoffee", driver: 20, stubs: 20, proxy: 20 }], proxyTotal: null, problems: [] });
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

  it("reads req_tot of each backend from `show stat`", () => {
    const csv = "# pxname,svname,qcur,req_tot,x\nwebserver,FRONTEND,0,120,\nade,s1,0,,\nade,BACKEND,0,100,\npbcoffee,BACKEND,0,20,\n";
    expect(parseShowStat(csv)).toEqual({ ade: 100, pbcoffee: 20 });
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
    expectations: [{ name: "backends.ade", expected: "100%", actual: "100% (40 of 40)", passed: true }],
    reconciliation: { ok: true, rows: [{ backend: "ade", driver: 40, stubs: 40, proxy: 40 }], proxyTotal: null, problems: [] },
    durationMs: 1234,
  };
  const failed: ScenarioRun = {
    ...passed,
    scenario: "over",
    status: "failed",
    expectations: [{ name: "backends.pbcoffee", expected: ">= 50%", actual: "10.0% (4 of 40)", passed: false }],
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
    expect(json.results[0]).toMatchObject({
      target: "haproxy",
      scenario: "under",
      requests: { sent: 40, completed: 40 },
      backends: { ade: 40 },
      unattributed: 0,
      errors: { unattributed: {}, statuses: { "200": 40 } },
      expectations: [{ name: "backends.ade", expected: "100%", actual: "100% (40 of 40)", passed: true }],
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
