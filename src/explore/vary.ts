/**
 * `--vary PATH=V1,V2,...` and `--vary PATH=A..B/STEP`: the axes of an
 * exploration, and the grid they span. Pure: paths are checked against the
 * schema and the spec's names, values are only split and expanded here (the
 * spec loader judges each value when a grid point is applied, see apply.ts).
 */
import { UsageError } from "../errors.js";
import { DURATION_PATTERN, formatDuration, parseDuration } from "../spec/duration.js";
import { resolvePath, type LeafKind, type ResolvedPath, type VaryScope } from "./paths.js";
import type { VaryAxis } from "./types.js";

/**
 * Grid points at most. Each point is one bounded run per target; 400 of them
 * is already hours of load on a shared machine, and a typo in a range
 * (280..32000/10) should be refused, not started.
 */
export const MAX_GRID_POINTS = 400;

export interface ParsedAxis extends VaryAxis {
  resolved: ResolvedPath;
}

/** One grid point: PATH -> value, in the axes' order. */
export type GridPoint = Record<string, string>;

const NUMBER = /^(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;

function decimals(text: string): number {
  const dot = text.indexOf(".");
  return dot < 0 ? 0 : text.length - dot - 1;
}

function numberRange(where: string, a: string, b: string, step: string): string[] {
  const d = Math.max(decimals(a), decimals(b), decimals(step));
  if (d > 6) throw new UsageError(`${where}: at most 6 decimals in a range`);
  const scale = 10 ** d;
  const [lo, hi, st] = [a, b, step].map((v) => Math.round(Number(v) * scale)) as [number, number, number];
  return expand(where, lo, hi, st, (n) => (d === 0 ? String(n) : String(Number((n / scale).toFixed(d)))), step);
}

function durationRange(where: string, a: string, b: string, step: string, stepText: string): string[] {
  const [lo, hi, st] = [a, b, step].map(parseDuration) as [number, number, number];
  return expand(where, lo, hi, st, formatDuration, stepText);
}

/** lo..hi in steps of st, in integer units; refuses what the user could not have meant. */
function expand(where: string, lo: number, hi: number, st: number, show: (n: number) => string, stepText: string): string[] {
  if (st <= 0) throw new UsageError(`${where}: the step must be above 0, found ${stepText}`);
  if (hi < lo) throw new UsageError(`${where}: the range runs downward (${show(lo)} to ${show(hi)})`, `Write the smaller value first: ${show(hi)}..${show(lo)}/${stepText}.`);
  const count = Math.floor((hi - lo) / st) + 1;
  if (count > MAX_GRID_POINTS) {
    throw new UsageError(`${where}: the range gives ${count} values, more than the ${MAX_GRID_POINTS} grid points an exploration may have`, "Take a larger step or a narrower range.");
  }
  const values = Array.from({ length: count }, (_, i) => show(lo + i * st));
  if ((hi - lo) % st !== 0) {
    const last = lo + (count - 1) * st;
    throw new UsageError(
      `${where}: ${stepText} steps from ${show(lo)} do not land on ${show(hi)}: the range would give ${values.join(", ")}`,
      `End the range on a step: ${show(lo)}..${show(last)}/${stepText} or ${show(lo)}..${show(last + st)}/${stepText}, or list the values.`,
    );
  }
  return values;
}

/** A value, or the values of an `A..B/STEP` range, for a path of this kind. */
function expandValue(where: string, value: string, kind: LeafKind): string[] {
  if (!value.includes("..")) return [value];
  if (kind !== "number" && kind !== "duration") return [value];
  const m = /^([^./]+(?:\.[0-9]+)?)\.\.([^/]+)(?:\/(.+))?$/.exec(value);
  if (!m) throw new UsageError(`${where}: '${value}' is not a range; a range is A..B/STEP, e.g. 280..320/10`);
  const [, a, b, step] = m as unknown as [string, string, string, string | undefined];
  if (step === undefined) throw new UsageError(`${where}: the range ${value} has no step`, `Add one, e.g. ${value}/${kind === "duration" ? "100ms" : "1"}.`);
  if (kind === "number") {
    if (step.startsWith("-")) throw new UsageError(`${where}: the step must be above 0, found ${step}`);
    for (const v of [a, b, step]) if (!NUMBER.test(v)) throw new UsageError(`${where}: '${v}' in ${value} is not a number >= 0`);
    return numberRange(where, a, b, step);
  }
  if (step.startsWith("-")) throw new UsageError(`${where}: the step must be above 0, found ${step}`);
  // A zero needs no unit, as in a single value (apply.ts typedValue).
  const [from, to, by] = [a, b, step].map((v) => (v === "0" ? "0ms" : v)) as [string, string, string];
  for (const [v, written] of [[from, a], [to, b], [by, step]] as const) {
    if (!DURATION_PATTERN.test(v)) throw new UsageError(`${where}: '${written}' in ${value} is not a duration (a whole number and ms, s, m or h)`);
  }
  return durationRange(where, from, to, by, step);
}

/** Values that mean the same (1 and 1.0, 1s and 1000ms) run the same cell twice. */
function sameness(value: string, kind: LeafKind): string {
  if (kind === "number" && NUMBER.test(value)) return String(Number(value));
  if (kind === "duration" && DURATION_PATTERN.test(value)) return `${parseDuration(value)}ms`;
  if (kind === "duration" && value === "0") return "0ms";
  return value;
}

/** Parses one `--vary` argument. Throws UsageError (exit 1) naming the argument and what is wrong. */
export function parseVaryArg(arg: string, scope: VaryScope): ParsedAxis {
  const eq = arg.indexOf("=");
  if (eq < 0) throw new UsageError(`--vary ${arg}: expected PATH=V1,V2,... or PATH=A..B/STEP`, "For example --vary load.connections=280..320/10 or --vary frontends.webserver.timeouts.http_keep_alive=100ms,1s,10s.");
  const resolved = resolvePath(arg.slice(0, eq).trim(), scope);
  const where = `--vary ${resolved.text}`;
  const raw = arg.slice(eq + 1).split(",").map((v) => v.trim());
  const empty = raw.findIndex((v) => v === "");
  if (empty >= 0) {
    throw new UsageError(`${where}: value ${empty + 1} of ${raw.length} is empty`, "Separate values with single commas and leave none blank, e.g. 1,2,3.");
  }
  const values: string[] = [];
  for (const v of raw) {
    values.push(...expandValue(where, v, resolved.kind));
    if (values.length > MAX_GRID_POINTS) {
      throw new UsageError(`${where}: more than ${MAX_GRID_POINTS} values, the most grid points an exploration may have`);
    }
  }
  const seen = new Map<string, string>();
  for (const v of values) {
    const key = sameness(v, resolved.kind);
    const prior = seen.get(key);
    if (prior !== undefined) {
      throw new UsageError(`${where}: ${prior === v ? `the value ${v} is given twice` : `${prior} and ${v} are the same value`}`, "Give each value once; every value is a run.");
    }
    seen.set(key, v);
  }
  return { path: resolved.text, values, resolved };
}

/** Parses every `--vary` argument; refuses a path given twice and a grid of more than MAX_GRID_POINTS. */
export function parseVary(args: readonly string[], scope: VaryScope): ParsedAxis[] {
  if (args.length === 0) throw new UsageError("explore needs at least one --vary PATH=V1,V2,...", "For example --vary load.connections=280..320/10.");
  const axes: ParsedAxis[] = [];
  for (const arg of args) {
    const axis = parseVaryArg(arg, scope);
    const prior = axes.find((a) => a.path === axis.path);
    if (prior) throw new UsageError(`--vary ${axis.path} is given twice`, `Put all its values in one --vary: ${axis.path}=${[...prior.values, ...axis.values].join(",")}.`);
    axes.push(axis);
  }
  const points = axes.reduce((n, a) => n * a.values.length, 1);
  if (points > MAX_GRID_POINTS) {
    throw new UsageError(
      `the grid has ${axes.map((a) => a.values.length).join(" x ")} = ${points} points, more than the ${MAX_GRID_POINTS} grid points an exploration may have`,
      "Vary fewer values, or split the grid over several explorations.",
    );
  }
  return axes;
}

/** The cartesian product of the axes, the first axis slowest: the order cells run and are reported in. */
export function gridPoints(axes: readonly VaryAxis[]): GridPoint[] {
  let points: GridPoint[] = [{}];
  for (const axis of axes) points = points.flatMap((p) => axis.values.map((v) => ({ ...p, [axis.path]: v })));
  return axes.length === 0 ? [] : points;
}

/**
 * What running `next` after `prev` needs: `load-only` when only load paths
 * changed (the proxies and stubs already running serve it), `stack` when
 * anything else did, or when nothing runs yet (`prev` null).
 */
export function stepKind(axes: readonly ParsedAxis[], prev: GridPoint | null, next: GridPoint): "load-only" | "stack" {
  if (prev === null) return "stack";
  return axes.some((a) => a.resolved.scope === "stack" && prev[a.path] !== next[a.path]) ? "stack" : "load-only";
}

/** The step kind before each point of the grid, in grid order. */
export function gridSteps(axes: readonly ParsedAxis[], points: readonly GridPoint[]): ("load-only" | "stack")[] {
  return points.map((p, i) => stepKind(axes, i === 0 ? null : points[i - 1]!, p));
}
