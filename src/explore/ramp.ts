/**
 * `--ramp`: a cell's load becomes a k6-style ramp of connections (the
 * spec's `stages:`), so one run climbs through load levels and its timeline
 * shows where throughput stops rising. The scenario's load is rewritten in
 * its YAML, keys that fix the connection count or the run's length taken
 * out, and the normal loader judges the result, as for a grid point. Pure.
 */
import { isMap } from "yaml";
import { UsageError } from "../errors.js";
import { parseH2loadCommand } from "../load/h2load-args.js";
import { formatDuration, parseDuration } from "../spec/duration.js";
import type { Scenario } from "../spec/model.js";
import { parseSource } from "../spec/source.js";
import type { ParsedAxis } from "./vary.js";

/** One stage, as the spec's `stages:` writes it. */
export interface RampStage {
  duration: string;
  target: number;
}

/**
 * Load keys a ramp decides: how many connections are open and when, and how
 * long the run lasts. Warm-up goes too: every window of a ramp is a load
 * level to measure, the first ones included.
 */
export const RAMP_REPLACES = ["connections", "requests", "duration", "warmup", "stages", "connect_rate", "connect_period", "budget", "h2load"] as const;

/** What an h2load line sets that a ramp keeps: how each connection speaks. */
const KEPT_FROM_H2LOAD = ["protocol", "streams", "workers"] as const;

/** The ramp as `--ramp` takes it back: `0s:10,1m:400`. */
export function rampText(stages: readonly RampStage[]): string {
  return stages.map((s) => `${formatDuration(parseDuration(s.duration))}:${s.target}`).join(",");
}

/** Total length of the ramp, in ms. */
export function rampMs(stages: readonly RampStage[]): number {
  return stages.reduce((t, s) => t + parseDuration(s.duration), 0);
}

/**
 * Refuses what a ramp cannot measure: an open-model scenario (the driver
 * holds an arrival rate steady, it does not ramp one), and a --vary path the
 * ramp overrides, whose values would all run the same load.
 */
export function checkRamp(scenario: Scenario, axes: readonly ParsedAxis[]): void {
  if (scenario.load.arrivalRate !== null) {
    throw new UsageError(
      `--ramp ramps connections, and scenario '${scenario.name}' is an open model (arrival_rate ${scenario.load.arrivalRate}/s): spillway's driver holds an arrival rate steady through a run and cannot ramp it`,
      `Measure each rate as a cell instead, e.g. --vary load.arrival_rate=100..800/100, or drop arrival_rate from the scenario to ramp its connections.`,
    );
  }
  for (const a of axes) {
    const key = a.resolved.scope === "load" ? String(a.resolved.docPath[3]) : null;
    if (key !== null && (RAMP_REPLACES as readonly string[]).includes(key)) {
      throw new UsageError(
        `--vary ${a.path} with --ramp: the ramp sets the connections and the length of every cell's run, so load.${key} would change nothing`,
        "Vary it without --ramp, or vary a key the ramp keeps (load.streams, load.think_time, a frontend or backend key).",
      );
    }
  }
}

/**
 * The spec text with the scenario's load rewritten as the ramp: `stages:`
 * set and `connections` to their highest target, the other keys in
 * RAMP_REPLACES removed (an h2load line keeps its protocol, streams and
 * workers as keys). Throws UsageError when the scenario has no
 * load map to rewrite.
 */
export function applyRamp(text: string, file: string, scenario: string, stages: readonly RampStage[]): string {
  const source = parseSource(text, file);
  const load = source.doc.getIn(["scenarios", scenario, "load"], true);
  if (!isMap(load)) throw new UsageError(`--ramp: scenario '${scenario}' in ${file} has no load map to ramp`);
  const line = load.get("h2load");
  if (typeof line === "string") {
    const cmd = parseH2loadCommand(line).load;
    for (const key of KEPT_FROM_H2LOAD) {
      const v = cmd[key];
      if (v !== undefined && !load.has(key)) load.set(key, v);
    }
  }
  for (const key of RAMP_REPLACES) load.delete(key);
  // A scenario names its connections; with stages the most open at once is the highest target.
  load.set("connections", Math.max(1, ...stages.map((s) => s.target)));
  load.set("stages", source.doc.createNode(stages.map((s) => ({ duration: s.duration, target: s.target })), { flow: true }));
  return source.doc.toString({ lineWidth: 0 });
}
