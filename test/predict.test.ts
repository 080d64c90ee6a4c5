/**
 * The prediction model on cases worked out by hand. Most use a pure delay
 * (no capacity) so every instant can be reasoned out; the comment above each
 * case gives the reasoning behind its numbers.
 */
import { describe, expect, it } from "vitest";
import { loadSpecFile } from "../src/spec/load.js";
import { predict, predictionJson, type PredictInput, type PredictLoad, type PredictProxy } from "../src/predict/index.js";
import { predictInputFromSpec } from "../src/predict/from-spec.js";
import { h2loadSplit, planConnections } from "../src/predict/schedule.js";
import { stageTarget } from "../src/spec/stages.js";
import { UsageError } from "../src/errors.js";
import { readFileSync } from "node:fs";
import { loadSpecText } from "../src/spec/load.js";
import { predictSpec } from "../src/predict/spec.js";

const OVER_300 = [{ lo: 301, hi: Infinity }];

function load(over: Partial<PredictLoad>): PredictLoad {
  return {
    connections: 310,
    streams: 1,
    arrivals: { kind: "all-at-once" },
    arrivalRate: null,
    requests: null,
    budget: "per-client",
    durationMs: null,
    warmupMs: 0,
    workers: 1,
    thinkTimeMs: 0,
    closeAfterRequests: null,
    closeAfterIdleMs: null,
    ...over,
  };
}

const haproxy = (over: Partial<PredictProxy> = {}): PredictProxy => ({
  target: "HAProxy",
  counter: "fe_conn",
  maxconn: 310,
  idleTimeoutMs: 10_000,
  closeAfterRequests: null,
  maxConcurrentStreams: 100,
  otherConnections: 0,
  whenFull: "queue",
  ...over,
});

/** The classic frontend: `use_backend pbcoffee if { fe_conn gt 300 }`, default ade. */
function classic(l: Partial<PredictLoad>, proxy: Partial<PredictProxy> = {}, service: Partial<PredictInput["service"]> = {}): PredictInput {
  return {
    load: load(l),
    proxy: haproxy(proxy),
    rules: [{ name: "too_many_connections", condition: "fe_conn > 300", backend: "pbcoffee", conns: OVER_300 }],
    defaultBackend: "ade",
    backends: [
      { name: "ade", slots: null, latencyMs: null },
      { name: "pbcoffee", slots: null, latencyMs: null },
    ],
    service: { latencyMs: 10, capacityRps: null, connectMs: 1, source: "test", ...service },
  };
}

describe("schedule: h2load's splits", () => {
  it("splits -n over clients in creation order, the first n % c one more", () => {
    const plan = planConnections(load({ requests: 40_000 }));
    expect(plan.slice(0, 10).every((p) => p.share === 130)).toBe(true);
    expect(plan.slice(10).every((p) => p.share === 129)).toBe(true);
    expect(plan.reduce((a, p) => a + p.share!, 0)).toBe(40_000);
  });

  it("splits -c, -n and --rate over threads first", () => {
    // -c5 -t2 -n11 --rate=2: thread 0 holds clients 0, 2, 4 with 6 requests and rate 1; thread 1 holds 1, 3 with 5 and rate 1.
    const plan = planConnections(load({ connections: 5, workers: 2, requests: 11, arrivals: { kind: "rate", perPeriod: 2, periodMs: 1000 } }));
    expect(plan.map((p) => p.worker)).toEqual([0, 1, 0, 1, 0]);
    expect(plan.map((p) => p.share)).toEqual([2, 3, 2, 2, 2]);
    expect(plan.map((p) => p.startMs)).toEqual([0, 0, 1000, 1000, 2000]);
    expect(h2loadSplit(310, 3, 4)).toBe(77);
  });

  it("k6 stages: a staircase from 0, floor of the linear ramp", () => {
    const stages = [{ durationMs: 1000, target: 10 }, { durationMs: 1000, target: 0 }];
    expect([0, 99, 100, 950, 1000, 1500, 2000].map((t) => stageTarget(stages, t))).toEqual([0, 0, 1, 9, 10, 5, 0]);
  });
});

describe("predict: hand-worked cases", () => {
  it("h2load -c300 -m40 -n40000: fe_conn never passes 300, nothing overflows", () => {
    const p = predict(classic({ connections: 300, streams: 40, requests: 40_000, arrivals: { kind: "rate", perPeriod: 300, periodMs: 1000 } }, {}, { capacityRps: 16_000, latencyMs: 0 }));
    expect(p.routed).toEqual({ ade: 40_000, pbcoffee: 0 });
    expect(p.backends).toEqual({ ade: 1, pbcoffee: 0 });
    expect(p.maxConns).toBe(300);
    expect(p.flips).toEqual([
      { rule: "too_many_connections", condition: "fe_conn > 300", backend: "pbcoffee", defaultBackend: "ade", lastDefaultConns: 300, firstRuleConns: null, atMs: null },
    ]);
  });

  it("h2load -c310 -m40 -n40000 --rate=310: every request overflows while all 310 are open", () => {
    // The burst is counted before its first request. Clients send 129 or 130 requests in rounds of 40,
    // and first-come first-served service keeps the rounds apart, so every client has sent its last
    // request before the first one's last response closes it.
    const p = predict(classic({ streams: 40, requests: 40_000, arrivals: { kind: "rate", perPeriod: 310, periodMs: 1000 } }, {}, { capacityRps: 16_000, latencyMs: 0 }));
    expect(p.routed).toEqual({ ade: 0, pbcoffee: 40_000 });
    expect(p.flips[0]).toMatchObject({ lastDefaultConns: null, firstRuleConns: 310, atMs: 1 });
    // 40,000 requests at 16,000/s.
    expect(p.durationMs).toBeGreaterThanOrEqual(2500);
    expect(p.durationMs).toBeLessThan(2600);
  });

  it("-c310 -n630: the tail after the first clients finish goes to the default backend", () => {
    // Clients 0-9 send 3 requests, the other 300 send 2. At 21 ms the 300 answer their second and
    // close; the 10 still sending then route at fe_conn 10.
    const p = predict(classic({ requests: 630 }));
    expect(p.routed).toEqual({ ade: 10, pbcoffee: 620 });
    expect(p.flips[0]).toMatchObject({ lastDefaultConns: 10, firstRuleConns: 310, atMs: 1 });
  });

  it("a keep-alive timeout shorter than the think time closes connections between requests, and overflow drops", () => {
    // --rate=31 per 10 ms: burst j opens at 1 + 10j ms and routes at fe_conn 31(j+1), so only the 10th
    // burst (310) overflows. Each client sends 4 requests, each answered in 10 ms, then thinks 500 ms.
    // In round 4 each burst closes at its last answer, so burst j routes at 310 - 31j: only burst 0 overflows.
    const base = { requests: 1240, thinkTimeMs: 500, arrivals: { kind: "rate" as const, perPeriod: 31, periodMs: 10 } };
    // Kept open: rounds 2 and 3 route at 310. 31 + 310 + 310 + 31 = 682 overflow.
    const kept = predict(classic(base, { idleTimeoutMs: 10_000 }));
    expect(kept.routed).toEqual({ ade: 558, pbcoffee: 682 });
    // Closed 100 ms into every think: each round reopens burst by burst as the first did, so rounds
    // 1-3 overflow 31 each; in round 4 burst 9 reopens at 1624 ms, when bursts 0-8 have finished.
    const closed = predict(classic(base, { idleTimeoutMs: 100 }));
    expect(closed.routed).toEqual({ ade: 1147, pbcoffee: 93 });
    expect(closed.backends.pbcoffee).toBeCloseTo(0.075, 10);
    // The client's own idle close, on its 100 ms sweep, closes every round's connections before the
    // next round too.
    const clientClosed = predict(classic({ ...base, closeAfterIdleMs: 100 }, { idleTimeoutMs: null }));
    expect(clientClosed.routed).toEqual({ ade: 1147, pbcoffee: 93 });
  });

  it("with every connection in step, closing between requests changes nothing: they come back together", () => {
    const base = { requests: 1240, thinkTimeMs: 500 };
    expect(predict(classic(base, { idleTimeoutMs: 100 })).routed).toEqual({ ade: 0, pbcoffee: 1240 });
  });

  it("--rate=100 --rate-period=1s: fe_conn climbs by bursts and falls as clients finish", () => {
    // Bursts at 1, 1001, 2001, 3001 ms (100, 100, 100, 10 connections), each client sending 100
    // requests 40 ms apart for 4 s. fe_conn is 310 only from 3001 ms until burst 0 finishes at 4001 ms:
    // 25 requests from every client, 7,750 of 31,000.
    const p = predict(classic({ requests: 31_000, arrivals: { kind: "rate", perPeriod: 100, periodMs: 1000 } }, {}, { latencyMs: 40 }));
    expect(p.routed).toEqual({ ade: 23_250, pbcoffee: 7750 });
    expect(p.flips[0]).toMatchObject({ lastDefaultConns: 300, firstRuleConns: 310, atMs: 3001 });
    expect(p.maxConns).toBe(310);
  });

  it("HAProxy maxconn: connections beyond it wait uncounted; nginx counts them all", () => {
    // -c320 -n640: 310 accepted at 1 ms, 10 wait. At 21 ms the 310 finish; the first 10 to close let the
    // waiting 10 in, and those route both their requests at fe_conn 10.
    const h = predict(classic({ connections: 320, requests: 640 }));
    expect(h.routed).toEqual({ ade: 20, pbcoffee: 620 });
    expect(h.maxConns).toBe(310);
    const n = predict(classic({ connections: 320, requests: 640 }, { target: "nginx", counter: "$connections_active", maxconn: null, whenFull: "reject" }));
    expect(n.routed).toEqual({ ade: 0, pbcoffee: 640 });
    expect(n.maxConns).toBe(320);
  });

  it("k6 stages: the flip comes at the first 50 ms tick past 300", () => {
    // Target t/10 connections, applied every 50 ms: 300 at 3000 ms (routing at 300), 305 at 3050 ms.
    const p = predict(classic({ budget: "pooled", arrivals: { kind: "stages", stages: [{ durationMs: 3100, target: 310 }, { durationMs: 1000, target: 310 }] } }));
    expect(p.flips[0]).toMatchObject({ lastDefaultConns: 300, firstRuleConns: 305, atMs: 3051 });
    expect(p.backends.pbcoffee).toBeGreaterThan(0.35);
    expect(p.backends.pbcoffee).toBeLessThan(0.45);
    // Requests routed at 296-305 on the way up could go either way: the band holds the share.
    const [lo, hi] = p.bands.pbcoffee!;
    expect(lo).toBeLessThan(p.backends.pbcoffee!);
    expect(hi).toBeGreaterThan(p.backends.pbcoffee!);
  });

  it("bands: a count held right at the edge is flagged; one that cannot reach it is not", () => {
    // 302 connections: every request routes at 302, 2 above the edge, so any of them could have gone either way.
    const edge = predict(classic({ connections: 302, requests: 3020 }));
    expect(edge.backends.pbcoffee).toBe(1);
    expect(edge.bands).toEqual({ ade: [0, 1], pbcoffee: [0, 1] });
    expect(edge.assumptions.some((a) => a.startsWith("100% of the requests were routed within 5 connections of a rule's edge"))).toBe(true);
    // 300 connections route at 300, but the count can never pass the 300 the client holds.
    const under = predict(classic({ connections: 300, requests: 3000 }));
    expect(under.bands).toEqual({ ade: [1, 1], pbcoffee: [0, 0] });
    expect(under.assumptions.some((a) => /^\d+% of the requests were routed within/.test(a))).toBe(false);
  });

  it("open model: the client's idle close lets the count fall to what the rate needs", () => {
    const base = { budget: "pooled" as const, arrivalRate: 100, requests: 2000 };
    expect(predict(classic(base, { idleTimeoutMs: null })).backends.pbcoffee).toBe(1);
    const idle = predict(classic({ ...base, closeAfterIdleMs: 100 }, { idleTimeoutMs: null }));
    expect(idle.backends.pbcoffee).toBeLessThan(0.05);
    expect(idle.routed.ade! + idle.routed.pbcoffee!).toBe(2000);
  });

  it("nginx refuses at once what a full backend cannot take; HAProxy queues it", () => {
    const l = { streams: 40, requests: 40_000 };
    const backends = [
      { name: "ade", slots: 400, latencyMs: null },
      { name: "pbcoffee", slots: 200, latencyMs: null },
    ];
    const h = predict({ ...classic(l, {}, { capacityRps: 16_000, latencyMs: 0 }), backends });
    expect(h.refused).toEqual({ ade: 0, pbcoffee: 0 });
    const n = predict({ ...classic(l, { maxconn: null, whenFull: "reject" }, { capacityRps: 16_000, latencyMs: 0 }), backends });
    expect(n.routed.pbcoffee).toBe(40_000);
    // 12,400 streams in flight against 200 slots: almost everything is refused.
    expect(n.refused.pbcoffee! / 40_000).toBeGreaterThan(0.9);
  });

  it("is deterministic and fast: 300 connections x 40 streams x 40,000 requests well under a second", () => {
    const input = classic({ connections: 300, streams: 40, requests: 40_000, thinkTimeMs: 500 }, { idleTimeoutMs: 100 }, { capacityRps: 16_000, latencyMs: 0 });
    const first = predict(input);
    const cpu = process.cpuUsage();
    const second = predict(input);
    const used = process.cpuUsage(cpu);
    expect(second).toEqual(first);
    expect((used.user + used.system) / 1000).toBeLessThan(1000);
  });

  it("refuses an input it cannot simulate, naming every problem", () => {
    const bad = classic({ requests: 100, arrivalRate: 50, thinkTimeMs: 10 }, {}, { latencyMs: 0 });
    bad.defaultBackend = "nowhere";
    let err: unknown;
    try {
      predict(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const msg = (err as Error).message;
    for (const part of ["100 requests for 310 connections", "per-client cannot be combined with an arrival rate", "think time belongs to the closed model", "answered the instant it is sent", "defaultBackend: nowhere"]) {
      expect(msg).toContain(part);
    }
  });
});

describe("predict from a spec", () => {
  const model = loadSpecFile("fixtures/classic.yaml").model;
  const scenario = (name: string) => model.scenarios.find((s) => s.name === name)!;

  it("reads what each proxy counts and limits as spillway renders it", () => {
    const h = predictInputFromSpec(model, scenario("over-threshold"), "haproxy");
    expect(h.proxy).toMatchObject({ counter: "fe_conn", maxconn: 310, idleTimeoutMs: 10_000, whenFull: "queue", maxConcurrentStreams: 100 });
    expect(h.load).toMatchObject({ connections: 310, streams: 40, requests: 40_000, budget: "per-client", arrivals: { kind: "rate", perPeriod: 310, periodMs: 1000 } });
    expect(h.rules).toEqual([{ name: "too_many_connections", condition: "fe_conn > 300", backend: "pbcoffee", conns: OVER_300 }]);
    expect(h.backends).toEqual([
      { name: "ade", slots: 400, latencyMs: 0 },
      { name: "pbcoffee", slots: 200, latencyMs: 0 },
    ]);
    const n = predictInputFromSpec(model, scenario("over-threshold"), "nginx");
    expect(n.proxy).toMatchObject({ counter: "$connections_active", maxconn: null, whenFull: "reject" });
  });

  it("predicts the classic fixture: nothing under the threshold, everything over it, with assumptions stated", () => {
    for (const target of ["haproxy", "nginx"] as const) {
      const under = predict(predictInputFromSpec(model, scenario("under-threshold"), target));
      expect(under.backends).toEqual({ ade: 1, pbcoffee: 0 });
      const over = predict(predictInputFromSpec(model, scenario("over-threshold"), target));
      expect(over.backends.pbcoffee).toBe(1);
      const json = predictionJson(target, "over-threshold", over);
      expect(json).toMatchObject({ target, scenario: "over-threshold", backends: { ade: 0, pbcoffee: 1 } });
      expect((json.flips as Record<string, unknown>[])[0]).toEqual({
        rule: "too_many_connections", condition: "fe_conn > 300", backend: "pbcoffee", default_backend: "ade",
        last_default_conns: null, first_rule_conns: 310, at_ms: 1,
      });
      expect(over.assumptions.join("\n")).toContain(target === "haproxy" ? "fe_conn counts" : "$connections_active counts every connection");
    }
  });
});

describe("predict with held WebSocket sessions", () => {
  it("counts fixtures/mixed.yaml's held sessions in the rule's count: 150 + 100 stay under 300, 250 + 100 overflow", () => {
    const mixed = loadSpecFile("fixtures/mixed.yaml").model;
    for (const target of ["haproxy", "nginx"] as const) {
      const at = (name: string) => predictInputFromSpec(mixed, mixed.scenarios.find((s) => s.name === name)!, target);
      const held150 = at("held-150");
      expect(held150.proxy.otherConnections).toBe(150);
      const under = predict(held150);
      expect(under.backends).toEqual({ main: 1, overflow: 0 });
      expect(under.maxConnsAtRouting).toBe(250);
      expect(under.assumptions.join("\n")).toContain("The count includes 150 held WebSocket sessions (load.websockets), each one connection in the count for its whole life, taken as held through the whole load (they open within 0.5 s and each lasts 12 s)");
      const over = predict(at("held-250"));
      expect(over.backends).toEqual({ main: 0, overflow: 1 });
      expect(over.maxConnsAtRouting).toBe(350);
    }
  });

  it("says when the sessions open after the warmup or end before the load", () => {
    const text = readFileSync("fixtures/mixed.yaml", "utf8").replace("session: 12s, connect_rate: 300", "session: 5s, connect_rate: 50");
    const mixed = loadSpecText(text, "mixed.yaml").model;
    const input = predictInputFromSpec(mixed, mixed.scenarios.find((s) => s.name === "held-150")!, "haproxy");
    expect(input.proxy.otherConnectionsWhat).toContain("but the last opens 3 s in, after the 2 s warmup, so the count is overstated early in the measured part, and each lasts 5 s, less than the load's 10 s, so the count is overstated after 5 s");
  });

  it("refuses a spec whose scenarios send no HTTP (exit 1), naming them: the model predicts HTTP routing", () => {
    expect(() => predictSpec("fixtures/chat.yaml")).toThrow(UsageError);
    expect(() => predictSpec("fixtures/chat.yaml")).toThrow("nothing to predict: scenario room-of-100 sends no HTTP requests, only WebSocket sessions");
  });
});

