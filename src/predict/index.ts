/**
 * `predict`: the proxy's connection count over time under a load, and from it
 * the share of requests each connection-count rule routes and the flip
 * point, before anything runs. Pure: no I/O, no clock; the same input gives
 * the same prediction.
 */
import { UsageError } from "../errors.js";
import { assumptions } from "./assumptions.js";
import { simulate } from "./simulate.js";
import type { PredictionJson } from "./json.js";
import type { Prediction, PredictInput } from "./types.js";
import { flipJson } from "../flip.js";

export type * from "./types.js";
export { h2loadSplit, planConnections } from "./schedule.js";
export { stageTarget } from "../spec/stages.js";

const isInt = (v: number): boolean => Number.isInteger(v);

/** Every problem with an input, in words; empty when it can be simulated. */
export function inputProblems(input: PredictInput): string[] {
  const { load, proxy, service } = input;
  const p: string[] = [];
  const positiveInt = (name: string, v: number | null, min = 1): void => {
    if (v !== null && (!isInt(v) || v < min)) p.push(`${name}: must be a whole number >= ${min}, got ${v}`);
  };
  const nonNegative = (name: string, v: number | null): void => {
    if (v !== null && !(Number.isFinite(v) && v >= 0)) p.push(`${name}: must be a number >= 0, got ${v}`);
  };
  positiveInt("load.connections", load.connections);
  positiveInt("load.streams", load.streams);
  positiveInt("load.requests", load.requests);
  positiveInt("load.workers", load.workers);
  positiveInt("load.closeAfterRequests", load.closeAfterRequests);
  nonNegative("load.durationMs", load.durationMs);
  nonNegative("load.warmupMs", load.warmupMs);
  nonNegative("load.thinkTimeMs", load.thinkTimeMs);
  nonNegative("load.closeAfterIdleMs", load.closeAfterIdleMs);
  positiveInt("proxy.maxconn", proxy.maxconn);
  positiveInt("proxy.closeAfterRequests", proxy.closeAfterRequests);
  positiveInt("proxy.maxConcurrentStreams", proxy.maxConcurrentStreams);
  positiveInt("proxy.otherConnections", proxy.otherConnections, 0);
  nonNegative("proxy.idleTimeoutMs", proxy.idleTimeoutMs);
  nonNegative("service.latencyMs", service.latencyMs);
  nonNegative("service.connectMs", service.connectMs);
  if (load.arrivalRate !== null && !(Number.isFinite(load.arrivalRate) && load.arrivalRate > 0)) p.push(`load.arrivalRate: must be a number > 0, got ${load.arrivalRate}`);
  if (service.capacityRps !== null && !(Number.isFinite(service.capacityRps) && service.capacityRps > 0)) {
    p.push(`service.capacityRps: must be a number > 0, got ${service.capacityRps}`);
  }
  if (service.capacityRps === null && input.backends.some((b) => (b.latencyMs ?? service.latencyMs) === 0)) {
    p.push("service: with no capacity and no latency every request would be answered the instant it is sent; give a latency (the stubs' or a measured p50) or a capacity in requests/s");
  }
  const a = load.arrivals;
  if (a.kind === "rate") {
    positiveInt("load.arrivals.perPeriod", a.perPeriod);
    if (!(a.periodMs > 0)) p.push(`load.arrivals.periodMs: must be > 0, got ${a.periodMs}`);
    if (a.perPeriod > load.connections) p.push(`load.arrivals.perPeriod: ${a.perPeriod} is more than the ${load.connections} connections (as h2load's --rate must be at most -c)`);
    if (a.perPeriod < load.workers) p.push(`load.arrivals.perPeriod: ${a.perPeriod} is fewer than the ${load.workers} workers (as h2load's --rate must be at least -t)`);
  } else if (a.kind === "stages") {
    if (a.stages.length === 0) p.push("load.arrivals.stages: give at least one stage");
    a.stages.forEach((s, i) => {
      nonNegative(`load.arrivals.stages[${i}].durationMs`, s.durationMs);
      positiveInt(`load.arrivals.stages[${i}].target`, s.target, 0);
      if (s.target > load.connections) p.push(`load.arrivals.stages[${i}].target: ${s.target} is more than the ${load.connections} connections`);
    });
    if (a.stages.reduce((t, s) => t + s.durationMs, 0) <= 0) p.push("load.arrivals.stages: the stages last 0 ms in all");
  }
  if (load.requests === null && load.durationMs === null && a.kind !== "stages") p.push("load: give requests, a duration or stages, so the run has an end");
  if (load.budget === "per-client") {
    if (load.requests === null) p.push("load.budget: per-client shares a request count; give requests");
    else if (load.requests < load.connections) p.push(`load.requests: ${load.requests} requests for ${load.connections} connections: a per-client share needs at least one request per connection`);
    if (load.arrivalRate !== null) p.push("load.budget: per-client cannot be combined with an arrival rate");
    if (a.kind === "stages") p.push("load.budget: per-client cannot be combined with stages");
  }
  if (load.arrivalRate !== null && load.thinkTimeMs > 0) p.push("load.thinkTimeMs: think time belongs to the closed model; it cannot be combined with an arrival rate");
  if (load.workers > load.connections) p.push(`load.workers: ${load.workers} workers for ${load.connections} connections`);
  const names = new Set<string>();
  for (const b of input.backends) {
    if (names.has(b.name)) p.push(`backends: ${b.name} is listed twice`);
    names.add(b.name);
    positiveInt(`backends.${b.name}.slots`, b.slots);
    nonNegative(`backends.${b.name}.latencyMs`, b.latencyMs);
  }
  if (!names.has(input.defaultBackend)) p.push(`defaultBackend: ${input.defaultBackend} is not among the backends`);
  input.rules.forEach((r, i) => {
    if (!names.has(r.backend)) p.push(`rules[${i}].backend: ${r.backend} is not among the backends`);
  });
  if (input.maxEvents !== undefined) positiveInt("maxEvents", input.maxEvents);
  if (input.edgeConns !== undefined) positiveInt("edgeConns", input.edgeConns, 0);
  if (input.timelineWindowMs !== undefined && !(input.timelineWindowMs >= 10)) p.push(`timelineWindowMs: must be at least 10, got ${input.timelineWindowMs}`);
  return p;
}

/** Predicts routing for one load against one proxy. Throws UsageError (exit 1) listing every problem with the input. */
export function predict(input: PredictInput): Prediction {
  const problems = inputProblems(input);
  if (problems.length > 0) throw new UsageError(`cannot predict:\n  ${problems.join("\n  ")}`, "fix the values above and run again");
  const sim = simulate(input);
  const total = sim.requests;
  const share = (n: number): number => (total > 0 ? n / total : 0);
  const backends = Object.fromEntries(Object.entries(sim.routed).map(([name, n]) => [name, share(n)]));
  const bands = Object.fromEntries(
    Object.keys(sim.routed).map((name): [string, [number, number]] => [name, [share(sim.surely[name]!), share(sim.possibly[name]!)]]),
  );
  return { ...sim, backends, bands, assumptions: assumptions(input, sim) };
}

/** One entry of `predict --json`'s `results`, flips named as in `verify --json`. */
export function predictionJson(target: string, scenario: string, p: Prediction): PredictionJson {
  return {
    target,
    scenario,
    backends: p.backends,
    bands: p.bands,
    routed: p.routed,
    refused: p.refused,
    flips: p.flips.map(flipJson),
    max_proxy_conns_seen: p.maxConnsAtRouting,
    max_conns: p.maxConns,
    duration_ms: p.durationMs,
    truncated: p.truncated,
    assumptions: p.assumptions,
  };
}
