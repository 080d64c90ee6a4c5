/**
 * `--ramp`: a cell's load becomes a k6-style ramp of connections (the
 * spec's `stages:`), or of the arrival rate for an open-model scenario, so
 * the cell climbs through load levels and its timeline shows where
 * throughput stops rising. The scenario's load is rewritten in
 * its YAML, keys that fix the connection count or the run's length taken
 * out, and the normal loader judges the result, as for a grid point. Pure.
 */
import { isMap } from "yaml";
import { UsageError } from "../errors.js";
import { parseH2loadCommand } from "../spec/h2load-args.js";
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
 * Refuses a --vary path the ramp overrides, whose values would all run the
 * same load: the connection count and the run's length, and an open model's
 * arrival rate.
 */
export function checkRamp(scenario: Scenario, axes: readonly ParsedAxis[]): void {
  const open = scenario.load.arrivalRate !== null;
  for (const a of axes) {
    const key = a.resolved.scope === "load" ? String(a.resolved.docPath[3]) : null;
    if (key === null) continue;
    if ((RAMP_REPLACES as readonly string[]).includes(key) && !(open && key === "connections")) {
      throw new UsageError(
        `--vary ${a.path} with --ramp: the ramp sets ${open ? "the arrival rate" : "the connections"} and the length of every cell's run, so load.${key} would change nothing`,
        `Vary it without --ramp, or vary a key the ramp keeps (${open ? "load.connections, load.streams" : "load.streams, load.think_time"}, a frontend or backend key).`,
      );
    }
    if (open && key === "arrival_rate") {
      throw new UsageError(`--vary ${a.path} with --ramp: the ramp sets the arrival rate of every cell`, "Vary it without --ramp, or vary a key the ramp keeps.");
    }
  }
}

/**
 * The arrival rate at `t` ms into a ramp of an open-model scenario: linear
 * within each stage, from the previous stage's target (0 before the first),
 * as k6's ramping-arrival-rate moves it; the last target after the end.
 */
export function rampRateAt(stages: readonly RampStage[], t: number): number {
  let from = 0;
  let at = 0;
  for (const s of stages) {
    const ms = parseDuration(s.duration);
    if (t < at + ms) return from + ((s.target - from) * (t - at)) / ms;
    at += ms;
    from = s.target;
  }
  return from;
}

/**
 * The spec text with the scenario's load rewritten as the ramp: `stages:`
 * set and `connections` to their highest target, the other keys in
 * RAMP_REPLACES removed (an h2load line keeps its protocol, streams and
 * workers as keys). Throws UsageError when the scenario has no
 * load map to rewrite.
 */
export function applyRamp(text: string, file: string, scenario: string, stages: readonly RampStage[], open: boolean): string {
  const source = parseSource(text, file);
  const load = source.doc.getIn(["scenarios", scenario, "load"], true);
  if (!isMap(load)) throw new UsageError(`--ramp: scenario '${scenario}' in ${file} has no load map to ramp`);
  if (open) {
    // The rate is ramped run by run (see explore/run.ts); the spec keeps the connections and gets the ramp's length.
    for (const key of RAMP_REPLACES) if (key !== "connections") load.delete(key);
    load.set("duration", formatDuration(Math.max(1, rampMs(stages))));
    return source.doc.toString({ lineWidth: 0 });
  }
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
