/**
 * `spillway predict`: the model on a spec's scenarios, before anything runs.
 * The flags become `predictSpec`'s options; the report module draws the text.
 */
import { detectVersion } from "../check/index.js";
import { UsageError } from "../errors.js";
import { predictSpec, serviceSource } from "../predict/spec.js";
import type { PredictReport } from "../predict/json.js";
import type { PredictService } from "../predict/types.js";
import { DEFAULT_CAPACITY_RPS } from "../predict/from-spec.js";
import { formatPredictReport } from "../report/predict.js";
import { DEFAULT_VERSIONS, type Version } from "../render/version.js";
import type { LoadedSpec } from "../spec/load.js";
import type { Target } from "../spec/model.js";

export interface PredictCliOptions {
  target?: Target[];
  scenario?: string[];
  /** --capacity: requests/s, or `none` for no limit. */
  capacity?: number | "none";
  /** --latency, in ms. */
  latency?: number;
  haproxyVersion?: Version;
  color: boolean;
}

/**
 * The HAProxy version only matters when a scenario's frontend closes
 * connections after a number of requests (2.9 and later can); only then is
 * the installed haproxy asked, as `render` asks it.
 */
async function haproxyVersionFor(spec: LoadedSpec, opts: PredictCliOptions): Promise<Version> {
  if (opts.haproxyVersion !== undefined) return opts.haproxyVersion;
  const frontends = new Set(spec.model.scenarios.filter((s) => opts.scenario === undefined || opts.scenario.includes(s.name)).map((s) => s.frontend));
  const matters = spec.model.frontends.some((f) => frontends.has(f.name) && f.keepAliveRequests !== null);
  if (!matters || (opts.target !== undefined && !opts.target.includes("haproxy"))) return DEFAULT_VERSIONS.haproxy;
  return (await detectVersion("haproxy"))?.version ?? DEFAULT_VERSIONS.haproxy;
}

/** The report `--json` writes and the text for the terminal. */
export async function runPredict(spec: LoadedSpec, opts: PredictCliOptions): Promise<{ report: PredictReport; text: string }> {
  if (opts.capacity === "none" && (opts.latency ?? 0) === 0) {
    const instant = spec.model.backends.filter((b) => opts.latency !== undefined || !b.servers.some((s) => s.stub) || b.stub.latencyMs === 0).map((b) => b.name);
    if (instant.length > 0) {
      throw new UsageError(
        `--capacity none with no latency: every request to ${instant.join(", ")} would be answered the instant it is sent, and the model cannot tell when connections free up`,
        "Give --latency a measured p50 (such as --latency 20ms), or --capacity a measured run's req/s.",
      );
    }
  }
  const given: Partial<PredictService> = {
    ...(opts.capacity !== undefined ? { capacityRps: opts.capacity === "none" ? null : opts.capacity } : {}),
    ...(opts.latency !== undefined ? { latencyMs: opts.latency } : {}),
  };
  const report = predictSpec(spec, {
    ...(opts.scenario !== undefined ? { scenarios: opts.scenario } : {}),
    ...(opts.target !== undefined ? { targets: opts.target } : {}),
    ...(Object.keys(given).length > 0 ? { service: { ...given, source: serviceSource(given, { capacity: "--capacity", latency: "--latency" }) } } : {}),
    haproxyVersion: await haproxyVersionFor(spec, opts),
  });
  const descriptions = Object.fromEntries(spec.model.scenarios.map((s) => [s.name, s.description]));
  let text = formatPredictReport(report, { color: opts.color, descriptions });
  if (opts.capacity === undefined && opts.latency === undefined) {
    text +=
      `\nThe service time is the model's weakest input; these numbers took the stubs' latency and a capacity of ${DEFAULT_CAPACITY_RPS} requests/s. ` +
      "Give a measured run's req/s with --capacity, or its p50 with --latency and --capacity none.\n";
  }
  return { report, text };
}
