/**
 * `spillway doctor`: the machine's limits, and for each scenario and target
 * which one it meets first. The reads are in facts.ts; the rest is pure.
 */
import { UsageError } from "../errors.js";
import type { Model, Target } from "../spec/model.js";
import type { MachineFacts } from "./facts.js";
import { proxyLimits } from "../runtime/limits.js";
import { needsFor, needsInput, type MemoryPerConnection } from "./needs.js";
import { verdictFor, type Verdict } from "./verdict.js";

export { readFacts, parsePortRange, parseSysctlNumber, parseCapSysResource, type MachineFacts, type PortRange } from "./facts.js";
export { needsFor, needsInput, type MemoryPerConnection, type Need, type NeedsInput, type LimitId, type Participant } from "./needs.js";
export { verdictFor, fixFor, type Fix, type FixKind, type LimitVerdict, type Verdict } from "./verdict.js";

export interface DoctorResult extends Verdict {
  scenario: string;
}

/** The most connections HAProxy's one process holds here. */
export interface HaproxyCeiling {
  /** Global maxconn as `up` and `verify` render it from the soft open-file limit: two descriptors per connection, 128 kept aside. */
  maxconn: number;
  /** The same at the hard limit, the most a `ulimit -n` without CAP_SYS_RESOURCE can give. */
  atHardLimit: number;
}

export interface DoctorReport {
  /** The spec file, or null when only the facts were asked for. */
  spec: string | null;
  facts: MachineFacts;
  haproxyCeiling: HaproxyCeiling;
  /** KiB per connection, measured here; null: not measured (--no-measure, or no proxy installed), and memory is not checked. */
  memory: MemoryPerConnection | null;
  /** Every scenario fits on every target (true without a spec). */
  fits: boolean;
  results: DoctorResult[];
}

export interface DoctorOptions {
  scenarios?: string[];
  targets?: Target[];
  /** Measured memory per connection, checked against MemAvailable. */
  memory?: MemoryPerConnection | null;
}

export function haproxyCeiling(facts: MachineFacts): HaproxyCeiling {
  return { maxconn: proxyLimits(facts.openFiles.soft).haproxyMaxconn, atHardLimit: proxyLimits(facts.openFiles.hard).haproxyMaxconn };
}

/** Every selected scenario on every selected target it runs on, against the facts. */
export function diagnose(model: Model | null, facts: MachineFacts, opts: DoctorOptions = {}, file: string | null = null): DoctorReport {
  const memory = opts.memory ?? null;
  const common = { spec: file, facts, haproxyCeiling: haproxyCeiling(facts), memory };
  if (model === null) return { ...common, fits: true, results: [] };
  const unknown = (opts.scenarios ?? []).filter((s) => !model.scenarios.some((x) => x.name === s));
  if (unknown.length > 0) {
    throw new UsageError(`no scenario named ${unknown.map((s) => `'${s}'`).join(", ")} in ${file ?? "the spec"}`, `Scenarios: ${model.scenarios.map((s) => s.name).join(", ")}.`);
  }
  const results: DoctorResult[] = [];
  for (const scenario of model.scenarios) {
    if (opts.scenarios !== undefined && !opts.scenarios.includes(scenario.name)) continue;
    for (const target of scenario.targets) {
      if (opts.targets !== undefined && !opts.targets.includes(target)) continue;
      const input = needsInput(model, scenario, target);
      results.push({ scenario: scenario.name, ...verdictFor(input, needsFor(input, facts, memory), facts) });
    }
  }
  return { ...common, fits: results.every((r) => r.fits), results };
}
