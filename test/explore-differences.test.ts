/**
 * HAProxy beside nginx in one sentence, on hand-built measured cells for
 * specs rendered by the real renderer (whose fidelity rows the sentence
 * links to): each cause worded exactly, and the threshold below which the
 * two agree.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AGREE_POINTS, describeDifference, fidelityRowId, fidelityRows, pct } from "../src/explore/differences.js";
import type { MeasuredCell } from "../src/explore/types.js";
import { render } from "../src/render/index.js";
import { loadSpecText } from "../src/spec/load.js";
import type { Model } from "../src/spec/model.js";

const CLASSIC = readFileSync(new URL("../fixtures/classic.yaml", import.meta.url), "utf8");

/** A measured cell from counts: served per backend, routed per backend, failures by cause. */
function cell(sent: number, served: Record<string, number>, routed: Record<string, number>, failed: Record<string, number> = {}, maxConns: number | null = null): MeasuredCell {
  const succeeded = Object.values(served).reduce((a, n) => a + n, 0);
  return {
    backends: Object.fromEntries(Object.entries(served).map(([b, count]) => [b, { count, share: count / sent }])),
    routed,
    sent,
    succeeded,
    failed,
    latency_ms: { p50: 3, p99: 40 },
    rps: 10_000,
    max_proxy_conns_seen: maxConns,
    flips: [],
    timeline: [],
    window_ms: 100,
    duration_ms: 4000,
  };
}

function compare(text: string, haproxy: MeasuredCell | null, nginx: MeasuredCell | null, scenario = "over-threshold") {
  const model: Model = loadSpecText(text, "spec.yaml").model;
  return describeDifference({
    values: { "load.connections": "310" },
    haproxy,
    nginx,
    model,
    scenario: model.scenarios.find((s) => s.name === scenario)!,
    fidelity: render(model).fidelity,
  });
}

describe("describeDifference", () => {
  it("names a routing gap and its counter, and the refusals beside it (the issue's example)", () => {
    const h = cell(40_000, { pbcoffee: 35_200, ade: 4_800 }, { pbcoffee: 35_200, ade: 4_800 }, {}, 310);
    const n = cell(40_000, { pbcoffee: 200, ade: 3_000 }, { pbcoffee: 200, ade: 39_800 }, { "status-502-no-header": 36_800 }, 295);
    expect(compare(CLASSIC, h, n)).toEqual({
      values: { "load.connections": "310" },
      text:
        "nginx routed 0.5% to pbcoffee where HAProxy routed 88%: `$connections_active` counts every client connection of the whole nginx instance, " +
        "idle keep-alive ones included, where `fe_conn` counts this frontend's (at most 295 on nginx, 310 on HAProxy), " +
        "and 92% of nginx's requests were refused by ade's `max_conns` with no queue (502).",
      fidelity_row: "frontends.webserver.rules[0]#if",
    });
  });

  it("when both route alike, names what nginx could not serve and why (the classic fixture as measured)", () => {
    const h = cell(40_000, { pbcoffee: 39_920, ade: 80 }, { pbcoffee: 39_920, ade: 80 }, {}, 310);
    const n = cell(40_000, { pbcoffee: 800, ade: 80 }, { pbcoffee: 39_920, ade: 80 }, { "status-502-no-header": 39_120 }, 310);
    expect(compare(CLASSIC, h, n)).toMatchObject({
      text:
        "Both routed about 99.8% to pbcoffee, but nginx served 2% of all requests from pbcoffee where HAProxy served 99.8%: " +
        "97.8% of nginx's requests were refused by pbcoffee's `max_conns` with no queue (502).",
      fidelity_row: "backends.pbcoffee#maxconn",
    });
  });

  it(`says they agree below ${AGREE_POINTS} points, and names the gap from ${AGREE_POINTS} points on`, () => {
    const h = cell(10_000, { pbcoffee: 9_880, ade: 120 }, { pbcoffee: 9_880, ade: 120 });
    const close = cell(10_000, { pbcoffee: 9_391, ade: 609 }, { pbcoffee: 9_391, ade: 609 });
    expect(compare(CLASSIC, h, close).text).toBe("HAProxy and nginx agree within 5 points (HAProxy, nginx): ade 1.2% and 6.1%, pbcoffee 98.8% and 93.9%.");
    expect(compare(CLASSIC, h, close).fidelity_row).toBeNull();
    const apart = cell(10_000, { pbcoffee: 9_380, ade: 620 }, { pbcoffee: 9_380, ade: 620 });
    expect(compare(CLASSIC, h, apart).text).toMatch(/^nginx routed 93.8% to pbcoffee where HAProxy routed 98.8%: `\$connections_active` counts/);
  });

  it("blames an unrendered maxconn when nginx held more connections than HAProxy's cap and overflowed more", () => {
    const spec = CLASSIC.replace('if: "fe_conn > 300"', 'if: "fe_conn > 305"');
    const h = cell(40_000, { pbcoffee: 4_000, ade: 36_000 }, { pbcoffee: 4_000, ade: 36_000 }, {}, 310);
    const n = cell(40_000, { pbcoffee: 14_000, ade: 26_000 }, { pbcoffee: 14_000, ade: 26_000 }, {}, 340);
    expect(compare(spec, h, n)).toMatchObject({
      text: "nginx routed 35% to pbcoffee where HAProxy routed 10%: `maxconn 310` has no nginx equivalent, so nginx held up to 340 connections where HAProxy held at most 310.",
      fidelity_row: "frontends.webserver#maxconn",
    });
  });

  it("blames a rule nginx cannot render when HAProxy alone followed it", () => {
    const spec = CLASSIC.replace('if: "fe_conn > 300"', 'if: "be_conn(ade) > 100"');
    const h = cell(10_000, { pbcoffee: 3_000, ade: 7_000 }, { pbcoffee: 3_000, ade: 7_000 });
    const n = cell(10_000, { ade: 10_000 }, { ade: 10_000 });
    expect(compare(spec, h, n)).toMatchObject({
      text: "nginx routed 0% to pbcoffee where HAProxy routed 30%: nginx leaves out the rule `be_conn(ade) > 100`: it has no per-backend connection count or server health (be_conn, nbsrv) to read.",
      fidelity_row: "frontends.webserver.rules[0]#if",
    });
  });

  it("blames keep_alive.requests when nginx closes connections HAProxy 2.6 keeps, and nginx overflowed less", () => {
    const spec = CLASSIC.replace("    http2: { max_concurrent_streams: 100 }\n", "    http2: { max_concurrent_streams: 100 }\n    keep_alive: { requests: 100 }\n");
    const h = cell(40_000, { pbcoffee: 36_000, ade: 4_000 }, { pbcoffee: 36_000, ade: 4_000 }, {}, 310);
    const n = cell(40_000, { pbcoffee: 8_000, ade: 32_000 }, { pbcoffee: 8_000, ade: 32_000 }, {}, 304);
    expect(compare(spec, h, n)).toMatchObject({
      text: "nginx routed 20% to pbcoffee where HAProxy routed 90%: nginx closes each connection after 100 requests (`keepalive_requests`) and this HAProxy cannot, so nginx's count falls while HAProxy's stays up.",
      fidelity_row: "frontends.webserver.keep_alive#requests",
    });
  });

  it("compares what was served when the proxies stamp no route, and says the cause is not known", () => {
    const h = cell(10_000, { pbcoffee: 9_000, ade: 1_000 }, {});
    const n = cell(10_000, { pbcoffee: 6_000, ade: 4_000 }, {});
    expect(compare(CLASSIC, h, n)).toEqual({
      values: { "load.connections": "310" },
      text: "nginx served 60% from pbcoffee where HAProxy served 90% (no route stamps, so where each proxy routed is not known).",
      fidelity_row: null,
    });
  });

  it("names HAProxy's queue timeouts and connection-level failures in their own words", () => {
    const h = cell(10_000, { pbcoffee: 7_000, ade: 1_000 }, { pbcoffee: 9_000, ade: 1_000 }, { "status-503-no-header": 2_000 });
    const n = cell(10_000, { pbcoffee: 9_000, ade: 1_000 }, { pbcoffee: 9_000, ade: 1_000 });
    expect(compare(CLASSIC, h, n)).toMatchObject({
      text: "Both routed about 90% to pbcoffee, but nginx served 90% of all requests from pbcoffee where HAProxy served 70%: 20% of HAProxy's requests waited in pbcoffee's queue past `timeout queue` (503).",
      fidelity_row: "backends.pbcoffee#maxconn",
    });
    const reset = cell(10_000, { pbcoffee: 3_600, ade: 400 }, { pbcoffee: 3_600, ade: 400 }, { reset: 6_000 });
    expect(compare(CLASSIC, n, reset)).toMatchObject({
      text: "Both routed about 90% to pbcoffee, but nginx served 36% of all requests from pbcoffee where HAProxy served 90%: 60% of nginx's requests failed (reset).",
      fidelity_row: null,
    });
  });

  it("says when there is nothing to compare", () => {
    const h = cell(100, { ade: 100 }, { ade: 100 });
    expect(compare(CLASSIC, h, null)).toEqual({ values: { "load.connections": "310" }, text: "No comparison: the nginx run did not finish.", fidelity_row: null });
    expect(compare(CLASSIC, null, null).text).toBe("No comparison: the HAProxy and nginx run did not finish.");
    expect(compare(CLASSIC, cell(0, {}, {}), h).text).toBe("No comparison: HAProxy sent no requests.");
  });
});

describe("fidelity rows", () => {
  it("have ids that name the construct and its kind, the same whatever number a grid point gives it", () => {
    expect(fidelityRowId("backends.ade", "maxconn 200")).toBe("backends.ade#maxconn");
    const ids = (text: string) => fidelityRows(render(loadSpecText(text, "spec.yaml").model).fidelity).map((r) => r.id);
    const base = ids(CLASSIC);
    expect(new Set(base).size).toBe(base.length);
    expect(ids(CLASSIC.replace("maxconn: 310", "maxconn: 400").replace("ade: { servers: 2, maxconn: 200", "ade: { servers: 2, maxconn: 250"))).toEqual(base);
  });

  it("carry how nginx renders each construct", () => {
    const rows = fidelityRows(render(loadSpecText(CLASSIC, "spec.yaml").model).fidelity);
    expect(rows.find((r) => r.id === "frontends.webserver#maxconn")).toEqual({
      id: "frontends.webserver#maxconn",
      construct: "frontends.webserver (maxconn 310)",
      note: "unsupported: open-source nginx has no per-listener connection cap that queues like HAProxy's maxconn (limit_conn rejects with 503 and counts requests in progress); not rendered, so nginx accepts connections beyond it",
    });
    expect(rows.find((r) => r.id === "backends.ade#balance")?.note).toBe("round robin");
  });
});

describe("pct", () => {
  it("gives one decimal, none for a whole number", () => {
    expect([0.005, 0.88, 0.998, 1, 0, 0.0004].map(pct)).toEqual(["0.5%", "88%", "99.8%", "100%", "0%", "0%"]);
  });
});
