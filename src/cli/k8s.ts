/**
 * `spillway render --k8s-load N`: the split of the load worked out by the
 * driver's own modules (load/shard.ts, as `spillway load --shard` splits it)
 * and doctor's descriptor figure, handed to the pure renderer (render/k8s.ts).
 */
import { readFile } from "node:fs/promises";
import { SpillwayError, UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { driverFixedFds } from "../doctor/needs.js";
import { shardProfile, ShardProblem } from "../load/shard.js";
import { checkShardableLoad, K8sProblem, renderK8sLoadJob, shardUrl, type K8sLoadJob, type K8sLoadOptions, type K8sShardPlan } from "../render/k8s.js";
import { profileFor } from "../spec/load-profile.js";
import type { LoadedSpec } from "../spec/load.js";
import type { Model } from "../spec/model.js";

type MeasuredMemory = NonNullable<K8sShardPlan["memory"]>;

/** The Job for one scenario; K8sProblem when N or a flag does not fit the load. */
export function k8sLoadJob(model: Model, o: K8sLoadOptions, memory: MeasuredMemory | null = null): K8sLoadJob {
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
  return renderK8sLoadJob(model, o, { shardConnections, driverFixedFds: driverFixedFds(whole.workers), memory });
}

export interface K8sRequest {
  shards: number;
  scenario: string | undefined;
  target: string;
  image: string;
  forwarderImage: string;
  /** A `spillway doctor --json` report whose measured memory per connection sizes the pods' memory requests. */
  doctorReport: string | undefined;
}

const isKib = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/**
 * doctor's measured memory from its JSON report: null when it measured
 * none. As merge treats its parts: a file that cannot be read is exit 1, one
 * that is not a doctor report exit 2.
 */
export async function readDoctorMemory(file: string): Promise<MeasuredMemory | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`--k8s-doctor ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, "Give the file spillway doctor SPEC --json FILE wrote.");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SpillwayError(`--k8s-doctor ${file} is not JSON`, ExitCode.InvalidSpec, "Give the file spillway doctor SPEC --json FILE wrote.");
  }
  const report = json !== null && typeof json === "object" ? (json as Record<string, unknown>) : null;
  if (report === null || !("memory" in report) || !("facts" in report)) {
    throw new SpillwayError(`--k8s-doctor ${file} is not a spillway doctor report: it has no "facts" and "memory"`, ExitCode.InvalidSpec, "Give the file spillway doctor SPEC --json FILE wrote.");
  }
  const m = report.memory as Record<string, unknown> | null;
  if (m === null) return null;
  if (typeof m !== "object" || !isKib(m.driver) || !isKib(m.kernel) || !(m.haproxy === null || isKib(m.haproxy)) || !isKib(m.connections)) {
    throw new SpillwayError(`--k8s-doctor ${file}: its "memory" is not doctor's KiB per connection (driver, haproxy, kernel, connections)`, ExitCode.InvalidSpec, "Write the report again with spillway doctor SPEC --json FILE.");
  }
  return { driver: m.driver, haproxy: m.haproxy as number | null, kernel: m.kernel, connections: m.connections };
}

/** The Job's text for the chosen scenario; a spec without scenarios is the spec's fault (exit 2), a wrong name or flag the user's (exit 1). */
export async function renderK8sFile(spec: LoadedSpec, file: string, k8s: K8sRequest, generator: string): Promise<string> {
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
  const memory = k8s.doctorReport === undefined ? null : await readDoctorMemory(k8s.doctorReport);
  try {
    return k8sLoadJob(spec.model, { scenario, shards: k8s.shards, target: k8s.target, image: k8s.image, forwarderImage: k8s.forwarderImage, generator }, memory).text;
  } catch (err) {
    if (err instanceof K8sProblem) throw new UsageError(err.message, err.hint);
    throw err;
  }
}
