/**
 * A grid point applied to a spec: each path set to the point's value in the
 * YAML document (comments and layout kept), then judged by the normal spec
 * loader, so a value that makes the spec invalid is refused with the spec's
 * own words. Pure: text in, text and model out.
 */
import { isMap, isScalar, isSeq, type Document, type Node } from "yaml";
import { UsageError } from "../errors.js";
import { H2LOAD_KEYS, parseH2loadCommand } from "../spec/h2load-args.js";
import type { LoadInput } from "../spec/load-profile.js";
import { didYouMean, formatDiagnostics, listSome, SpecError, type Diagnostic } from "../spec/diagnostics.js";
import { loadSpecText } from "../spec/load.js";
import type { Model, Scenario } from "../spec/model.js";
import { locate, parseSource, type SpecSource } from "../spec/source.js";
import { joinPath, splitPath, type LeafKind } from "./paths.js";
import type { GridPoint, ParsedAxis } from "./vary.js";

/** The spec a grid is applied to, prepared once for every point. */
export interface GridSpec {
  file: string;
  /** The spec as the user wrote it. */
  text: string;
  /** The text each point is applied to: `text`, or `text` with the scenario's h2load line written as keys. */
  base: string;
  scenario: string;
  axes: readonly ParsedAxis[];
  model: Model;
  /** Says how the scenario's load was rewritten, when it was; null when it was not. */
  note: string | null;
}

export interface AppliedPoint {
  values: GridPoint;
  text: string;
  model: Model;
  scenario: Scenario;
  warnings: Diagnostic[];
}

/** A grid point the spec does not accept: exit 1, since the value came from the command line. */
export class VaryValueError extends UsageError {
  readonly values: GridPoint;
  readonly diagnostics: readonly Diagnostic[];
  constructor(message: string, values: GridPoint, diagnostics: readonly Diagnostic[], hint?: string) {
    super(message, hint);
    this.name = "VaryValueError";
    this.values = values;
    this.diagnostics = diagnostics;
  }
}

const STRINGIFY = { lineWidth: 0 } as const;

/**
 * Loads the spec (SpecError, exit 2, when it is invalid as written), finds
 * the scenario, and, when a load path that an h2load line sets is varied on
 * a scenario written as `load: { h2load: ... }`, rewrites that line as the
 * keys it stands for. The rewrite is exact or refused: the keys must give the
 * very load model the line gave.
 */
export function prepareGrid(text: string, file: string, scenario: string, axes: readonly ParsedAxis[]): GridSpec {
  const { model } = loadSpecText(text, file);
  const found = model.scenarios.find((s) => s.name === scenario);
  if (!found) {
    const names = model.scenarios.map((s) => s.name);
    const guess = didYouMean(scenario, names);
    throw new UsageError(
      `no scenario '${scenario}' in ${file}${guess ? `; did you mean '${guess}'?` : ""}`,
      names.length > 0 ? `Scenarios: ${listSome(names, 10)}.` : "Add a `scenarios:` block with a load (see fixtures/classic.yaml).",
    );
  }
  const source = parseSource(text, file);
  const loadNode = source.doc.getIn(["scenarios", scenario, "load"], true);
  const setByLine = axes.filter((a) => a.resolved.scope === "load" && (H2LOAD_KEYS as readonly string[]).includes(String(a.resolved.docPath[3])));
  if (!isMap(loadNode) || !loadNode.has("h2load") || setByLine.length === 0 || axes.some((a) => a.path === "load.h2load")) {
    return { file, text, base: text, scenario, axes, model, note: null };
  }
  const line = String(loadNode.get("h2load"));
  const keys = h2loadAsKeys(parseH2loadCommand(line).load);
  const varied = setByLine.map((a) => a.path).join(", ");
  const refuse = (why: string): never => {
    throw new UsageError(
      `--vary ${varied}: scenario '${scenario}' gives its load as h2load "${line}", and ${why}`,
      `Write the scenario's load as keys${keys.length > 0 ? ` (${keysText(keys)})` : ""} and vary those.`,
    );
  };
  const noOption = setByLine.filter((a) => !["connections", "streams", "requests", "workers", "connect_rate", "connect_period", "duration", "warmup"].includes(String(a.resolved.docPath[3])));
  loadNode.delete("h2load");
  for (const [k, v] of keys) loadNode.set(k, v);
  const base = source.doc.toString(STRINGIFY);
  let rewritten: Model | undefined;
  try {
    rewritten = loadSpecText(base, file).model;
  } catch (err) {
    if (!(err instanceof SpecError)) throw err;
    refuse(`its keys (${keysText(keys)}) are not a valid load: ${err.diagnostics.find((d) => d.severity === "error")?.message ?? "see the spec's diagnostics"}`);
  }
  const before = JSON.stringify(found.load);
  const after = JSON.stringify(rewritten?.scenarios.find((s) => s.name === scenario)?.load);
  if (before !== after) refuse(`that line does not translate exactly into load keys here`);
  const how = noOption.length > 0 ? `, since h2load has no option for ${noOption.map((a) => a.path).join(", ")}` : "";
  return {
    file,
    text,
    base,
    scenario,
    axes,
    model,
    note: `scenario '${scenario}': h2load "${line}" runs as the load keys it stands for (${keysText(keys)}; the same load, checked), so ${varied} can vary${how}`,
  };
}

/** The load keys that give the same load as an h2load line, in the order a person would write them. */
function h2loadAsKeys(load: LoadInput): [string, string | number][] {
  const order = ["protocol", "connections", "streams", "requests", "budget", "duration", "warmup", "connect_rate", "connect_period", "workers"] as const;
  const out: [string, string | number][] = [];
  for (const key of order) {
    const value = load[key];
    if (value === undefined || (key === "workers" && value === 1)) continue;
    out.push([key, value as string | number]);
  }
  return out;
}

function keysText(keys: readonly [string, string | number][]): string {
  return keys.map(([k, v]) => `${k}: ${v}`).join(", ");
}

/** A value as the schema wants it in YAML: numbers as numbers, true/false as booleans, durations as strings. */
export function typedValue(value: string, kind: LeafKind): string | number | boolean {
  if (kind === "number" && /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/.test(value)) return Number(value);
  if (kind === "boolean" && (value === "true" || value === "false")) return value === "true";
  // A zero needs no unit; the spec's durations all carry one.
  if (kind === "duration" && value === "0") return "0ms";
  return value;
}

/** Sets a value, creating missing maps on the way as flow maps, so the lines around it stay where they were. */
function setPath(doc: Document, path: readonly (string | number)[], value: string | number | boolean): void {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (!isMap(node) && !isSeq(node)) throw new Error(`cannot set ${joinPath(path)}: ${joinPath(path.slice(0, i))} is not a map or a list`);
    const last = i === path.length - 1;
    const child = node.get(seg, true) as Node | undefined;
    if (last) {
      const fresh = doc.createNode(value);
      if (child !== undefined) {
        // A string written in quotes stays in quotes; a number that replaces one is written plain.
        if (isScalar(child) && isScalar(fresh) && typeof child.value === "string" && typeof value === "string") fresh.type = child.type;
        fresh.comment = child.comment;
        fresh.commentBefore = child.commentBefore;
        fresh.spaceBefore = child.spaceBefore;
      }
      node.set(seg, fresh);
      return;
    }
    if (child === undefined || (isScalar(child) && child.value === null)) {
      const map = doc.createNode({}, { flow: true });
      node.set(seg, map);
      node = map;
    } else {
      node = child;
    }
  }
}

/** Where a diagnostic made on the varied text stands in the file the user wrote. */
function remap(d: Diagnostic, varied: SpecSource, original: SpecSource): Diagnostic {
  const segments = d.path ? splitPath(d.path) : null;
  if (segments === null) return d;
  const value = locate(varied, segments);
  const key = locate(varied, segments, { key: true });
  const onKey = d.line === key.line && d.col === key.col && (key.line !== value.line || key.col !== value.col);
  const from = onKey ? key : value;
  const to = locate(original, segments, { key: onKey });
  const line = to.line + (d.line - from.line);
  const col = d.line === from.line ? to.col + (d.col - from.col) : d.col;
  return { ...d, line: Math.max(1, line), col: Math.max(1, col) };
}

export function pointText(values: GridPoint): string {
  return Object.entries(values).map(([k, v]) => `${k}=${v}`).join(", ");
}

/** Applies one grid point. Throws VaryValueError (exit 1) with the spec's diagnostics when the spec does not accept it. */
export function applyPoint(grid: GridSpec, values: GridPoint): AppliedPoint {
  const source = parseSource(grid.base, grid.file);
  for (const axis of grid.axes) {
    const value = values[axis.path];
    if (value === undefined) throw new Error(`grid point ${pointText(values)} has no value for ${axis.path}`);
    setPath(source.doc, axis.resolved.docPath, typedValue(value, axis.resolved.kind));
  }
  const text = source.doc.toString(STRINGIFY);
  try {
    const { model, warnings } = loadSpecText(text, grid.file);
    const scenario = model.scenarios.find((s) => s.name === grid.scenario);
    if (!scenario) throw new Error(`scenario ${grid.scenario} vanished from the varied spec`);
    return { values, text, model, scenario, warnings };
  } catch (err) {
    if (!(err instanceof SpecError)) throw err;
    const varied = parseSource(text, grid.file);
    const original = parseSource(grid.text, grid.file);
    const diagnostics = err.diagnostics.map((d) => remap(d, varied, original));
    const errors = diagnostics.filter((d) => d.severity === "error");
    const culprits = grid.axes.filter((a) => {
      const at = joinPath(a.resolved.docPath);
      return errors.some((d) => d.path === at || d.path.startsWith(`${at}.`) || d.path.startsWith(`${at}[`));
    });
    const blamed = culprits.length > 0 ? culprits : grid.axes.length === 1 ? grid.axes : [];
    const named = blamed.length > 0 ? blamed.map((a) => `--vary ${a.path}=${values[a.path]}`).join(" and ") : `the grid point ${pointText(values)}`;
    const rest = blamed.length > 0 && blamed.length < grid.axes.length ? ` (at the grid point ${pointText(values)})` : "";
    const how = grid.note ? `\n(${grid.note})` : "";
    throw new VaryValueError(`${named} makes the spec invalid${rest}:\n${formatDiagnostics(diagnostics)}${how}`, values, diagnostics, "Choose values the spec accepts, or leave this one out.");
  }
}

/**
 * Applies every point before anything runs. Throws one VaryValueError for
 * the first point the spec refuses, naming how many others it refuses too.
 */
export function applyGrid(grid: GridSpec, points: readonly GridPoint[]): AppliedPoint[] {
  const applied: AppliedPoint[] = [];
  let first: VaryValueError | null = null;
  const failed: GridPoint[] = [];
  for (const p of points) {
    try {
      applied.push(applyPoint(grid, p));
    } catch (err) {
      if (!(err instanceof VaryValueError)) throw err;
      first ??= err;
      failed.push(p);
    }
  }
  if (first) {
    if (failed.length === 1) throw first;
    const others = failed.slice(1).map(pointText);
    throw new VaryValueError(`${first.message}\n${others.length} more grid point${others.length === 1 ? " is" : "s are"} invalid: ${listSome(others.map((o) => `(${o})`), 5)}`, first.values, first.diagnostics, first.hint);
  }
  return applied;
}
