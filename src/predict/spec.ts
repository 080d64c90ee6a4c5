/**
 * `predictSpec`: the model run on a spec's scenarios, target by target, as
 * `spillway predict` runs it. Nothing is started or measured; the one read is
 * the spec file when a path is given.
 */
import { UsageError } from "../errors.js";
import { atLeast, DEFAULT_VERSIONS, type Version } from "../render/version.js";
import { didYouMean } from "../spec/diagnostics.js";
import { formatDuration } from "../spec/duration.js";
import { loadSpecFile, type LoadedSpec } from "../spec/load.js";
import type { Model, Scenario, Target } from "../spec/model.js";
import { DEFAULT_CAPACITY_RPS, predictInputFromSpec } from "./from-spec.js";
import { predict, predictionJson } from "./index.js";
import type { PredictionJson, PredictReport } from "./json.js";
import type { PredictService } from "./types.js";

export interface PredictSpecOptions {
  /** Only these scenarios, each of which must exist; default: all. */
  scenarios?: string[];
  /** Only these proxies; default: the spec's targets. A scenario is predicted only on the targets it runs on. */
  targets?: Target[];
  /**
   * Where requests spend their time, the model's weakest input. Default: the
   * stubs' configured latency, and a capacity of DEFAULT_CAPACITY_RPS
   * requests/s shared by client, proxy and stubs. `latencyMs` replaces every
   * backend's own stub latency; `capacityRps: null` takes the limit away, so a
   * request is answered `latencyMs` after it is sent (give a measured p50).
   */
  service?: Partial<PredictService>;
  /**
   * The HAProxy version the configs are rendered for: 2.9 and later close an
   * HTTP/2 connection after keep_alive.requests, 2.6 cannot. Default: Debian
   * 12's (DEFAULT_VERSIONS).
   */
  haproxyVersion?: Version;
}

/** Which scenarios are predicted: all, or the named ones (each must exist). */
export function selectPredictScenarios(model: Model, names: readonly string[] | undefined): Scenario[] {
  const all = model.scenarios.map((s) => s.name);
  if (model.scenarios.length === 0) {
    throw new UsageError(`${model.file} has no scenarios to predict`, "Add a `scenarios:` block with a load (see fixtures/classic.yaml).");
  }
  if (names === undefined) return model.scenarios;
  return [...new Set(names)].map((n) => {
    const s = model.scenarios.find((x) => x.name === n);
    if (s === undefined) {
      const guess = didYouMean(n, all);
      throw new UsageError(`no scenario '${n}' in ${model.file}${guess !== undefined ? `; did you mean '${guess}'?` : ""}`, `Scenarios: ${all.join(", ")}.`);
    }
    return s;
  });
}

/** Where the service numbers come from, in words; `given` names how a value was given ("--capacity"). */
export function serviceSource(service: Partial<PredictService>, given: { capacity: string; latency: string } = { capacity: "given", latency: "given" }): string {
  const capacity =
    service.capacityRps === undefined
      ? `spillway's default capacity of ${DEFAULT_CAPACITY_RPS} requests/s`
      : service.capacityRps === null
        ? `no capacity limit (${given.capacity})`
        : `a capacity of ${service.capacityRps} requests/s (${given.capacity})`;
  const latency =
    service.latencyMs === undefined
      ? "the stubs' configured latency"
      : `${Number.isInteger(service.latencyMs) && service.latencyMs >= 0 ? formatDuration(service.latencyMs) : `${service.latencyMs}ms`} of latency for every backend (${given.latency})`;
  return `${latency} and ${capacity}`;
}

function toModel(spec: string | LoadedSpec | Model): Model {
  if (typeof spec === "string") return loadSpecFile(spec).model;
  return "model" in spec ? spec.model : spec;
}

/**
 * Predicts, for every selected scenario on every selected target it runs on,
 * the share of requests each backend is routed, the flip points and the
 * assumptions behind them: the object `spillway predict --json` writes.
 * Throws SpecError for an invalid spec, UsageError for an unknown scenario,
 * nothing left to predict, or a load or service the model cannot simulate.
 */
export function predictSpec(spec: string | LoadedSpec | Model, options: PredictSpecOptions = {}): PredictReport {
  const model = toModel(spec);
  const scenarios = selectPredictScenarios(model, options.scenarios);
  const targets = options.targets !== undefined ? [...new Set(options.targets)] : model.targets;
  const service: Partial<PredictService> | undefined =
    options.service === undefined ? undefined : { ...options.service, source: options.service.source ?? serviceSource(options.service) };
  const haproxyClosesAfterRequests = atLeast(options.haproxyVersion ?? DEFAULT_VERSIONS.haproxy, 2, 9);
  const results: (PredictionJson & { target: Target })[] = [];
  // The model predicts where HTTP requests go: a load of WebSocket sessions alone sends none.
  const sessionsOnly = scenarios.filter((s) => !s.load.http).map((s) => s.name);
  if (sessionsOnly.length === scenarios.length) {
    throw new UsageError(
      `nothing to predict: ${sessionsOnly.length === 1 ? `scenario ${sessionsOnly[0]} sends` : `scenarios ${sessionsOnly.join(", ")} send`} no HTTP requests, only WebSocket sessions, and the model predicts where HTTP requests are routed`,
      "Measure the sessions with spillway verify or spillway explore; predict a scenario with an HTTP load.",
    );
  }
  for (const scenario of scenarios) {
    if (!scenario.load.http) continue;
    for (const target of targets) {
      if (!scenario.targets.includes(target)) continue;
      const input = predictInputFromSpec(model, scenario, target, { ...(service !== undefined ? { service } : {}), haproxyClosesAfterRequests });
      let prediction;
      try {
        prediction = predict(input);
      } catch (err) {
        if (err instanceof UsageError) throw new UsageError(`scenario ${scenario.name} on ${target}: ${err.message}`, err.hint);
        throw err;
      }
      results.push({ ...predictionJson(target, scenario.name, prediction), target });
    }
  }
  if (results.length === 0) {
    const where = scenarios.map((s) => `${s.name} runs on ${s.targets.join(" and ")}`).join("; ");
    throw new UsageError(`nothing to predict: no selected scenario runs on ${targets.join(" or ")} (${where})`, "Choose targets the scenarios run on, or leave the targets out.");
  }
  return { spec: model.file, results };
}
