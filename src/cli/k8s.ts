/**
 * `spillway render --k8s-load N`: the split of the load worked out by the
 * driver's own modules (load/shard.ts, as `spillway load --shard` splits it)
 * and doctor's descriptor figure, handed to the pure renderer (render/k8s.ts).
 */
import { SpillwayError, UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { driverFixedFds } from "../doctor/needs.js";
import { shardProfile, ShardProblem } from "../load/shard.js";
import { checkShardableLoad, K8sProblem, renderK8sLoadJob, shardUrl, type K8sLoadJob, type K8sLoadOptions } from "../render/k8s.js";
import { profileFor } from "../spec/load-profile.js";
import type { LoadedSpec } from "../spec/load.js";
import type { Model } from "../spec/model.js";

/** The Job for one scenario; K8sProblem when N or a flag does not fit the load. */
export function k8sLoadJob(model: Model, o: K8sLoadOptions): K8sLoadJob {
  checkShardableLoad(o.scenario);
  const n = o.shards;
  const whole = profileFor(o.scenario.load, { url: shardUrl(model, o.scenario, o.target) });
  const shardConnections = Array.from({ length: Number.isInteger(n) && n > 0 ? n : 0 }, (_, i) => {
    try {
      return shardProfile(whole, { index: i + 1, count: n }, whole.workers).connections;
    } catch (err) {
      if (err instanceof ShardProblem) throw new K8sProblem(err.message.replace(/^--shard [0-9]+\/[0-9]+/, `--k8s-load ${n}`), "Give a smaller --k8s-load, or change the scenario's load in the spec.");
      throw err;
    }
  });
  return renderK8sLoadJob(model, o, { shardConnections, driverFixedFds: driverFixedFds(whole.workers) });
}

export interface K8sRequest {
  shards: number;
  scenario: string | undefined;
  target: string;
  image: string;
  forwarderImage: string;
}

/** The Job's text for the chosen scenario; a spec without scenarios is the spec's fault (exit 2), a wrong name or flag the user's (exit 1). */
export function renderK8sFile(spec: LoadedSpec, file: string, k8s: K8sRequest, generator: string): string {
  const scenarios = spec.model.scenarios;
  const names = scenarios.map((s) => s.name).join(", ");
  if (scenarios.length === 0) {
    throw new SpillwayError(`${file} has no scenarios: --k8s-load runs a scenario's load`, ExitCode.InvalidSpec, "Add a scenario with a load: block to the spec.");
  }
  let scenario = scenarios[0]!;
  if (k8s.scenario !== undefined) {
    const found = scenarios.find((s) => s.name === k8s.scenario);
    if (!found) throw new UsageError(`no scenario named '${k8s.scenario}' in ${file}`, `Scenarios: ${names}.`);
    scenario = found;
  } else if (scenarios.length > 1) {
    throw new UsageError(`${file} has ${scenarios.length} scenarios: say which one's load the Job runs`, `Give --scenario, one of: ${names}.`);
  }
  try {
    return k8sLoadJob(spec.model, { scenario, shards: k8s.shards, target: k8s.target, image: k8s.image, forwarderImage: k8s.forwarderImage, generator }).text;
  } catch (err) {
    if (err instanceof K8sProblem) throw new UsageError(err.message, err.hint);
    throw err;
  }
}
