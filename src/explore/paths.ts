/**
 * A `--vary` path (`frontends.webserver.timeouts.http_keep_alive`,
 * `backends.ade.servers`, `load.think_time`, `frontends.web.rules[0].if`),
 * checked against the spec's own schema (src/spec/schema.ts) and the names
 * the spec defines, and resolved to where it stands in the YAML document.
 * Pure: the schema is read, never the file.
 */
import { UsageError } from "../errors.js";
import { didYouMean, listSome } from "../spec/diagnostics.js";
import { DURATION_PATTERN } from "../spec/duration.js";
import type { Model, Scenario } from "../spec/model.js";
import { defsAt, keysOf, type SchemaDef } from "../spec/schema-walk.js";

/** What a path's value is, as the schema wants it written in YAML. */
export type LeafKind = "number" | "boolean" | "duration" | "string";

export interface ResolvedPath {
  /** The path as spillway writes it: segments joined by `.`, list indexes as `[N]`. */
  text: string;
  /** Where it stands in the spec document (load paths under the scenario's `load:`). */
  docPath: (string | number)[];
  /** `load` paths change only the load; every other path changes the proxies or the stubs. */
  scope: "load" | "stack";
  kind: LeafKind;
}

/** Where the grid's paths may point: the scenario's frontend, the spec's backends, the scenario's load. */
export interface VaryScope {
  scenario: string;
  frontend: string;
  frontends: readonly string[];
  backends: readonly string[];
  /** The length of the list at a spec path, or null when the spec holds no list there. */
  listLength(docPath: readonly (string | number)[]): number | null;
}

export function varyScope(model: Model, scenario: Scenario): VaryScope {
  const frontend = model.frontends.find((f) => f.name === scenario.frontend);
  return {
    scenario: scenario.name,
    frontend: scenario.frontend,
    frontends: model.frontends.map((f) => f.name),
    backends: model.backends.map((b) => b.name),
    listLength(docPath) {
      const [top, name, key] = docPath;
      if (docPath.length !== 3 && !(top === "scenarios" && docPath.length === 4)) return null;
      if (top === "frontends" && frontend !== undefined && name === frontend.name && key === "rules") return frontend.rules.length;
      if (top === "backends" && key === "servers") {
        const b = model.backends.find((x) => x.name === name);
        // `servers: N` is a count of stubs, not a list; a list names its servers' addresses.
        return b !== undefined && b.servers.every((s) => !s.stub) ? b.servers.length : null;
      }
      if (top === "scenarios" && name === scenario.name && key === "load") {
        const field = docPath[3];
        if (field === "stages") return scenario.load.stages !== null && scenario.load.stages.length > 0 ? scenario.load.stages.length : null;
        if (field === "source_addresses") return scenario.load.sourceAddresses.length > 0 ? scenario.load.sourceAddresses.length : null;
      }
      return null;
    },
  };
}


const isDuration = (d: SchemaDef): boolean =>
  d.type === "string" && (d.checks ?? []).some((c) => c._zod.def.format === "regex" && c._zod.def.pattern?.source === DURATION_PATTERN.source);

/** A scalar the schema accepts here, numbers first: `servers` is a count or a list, and a grid varies the count. */
function leafKind(defs: readonly SchemaDef[]): LeafKind | null {
  if (defs.some((d) => d.type === "number" || d.type === "int")) return "number";
  if (defs.some((d) => d.type === "boolean")) return "boolean";
  if (defs.some(isDuration)) return "duration";
  if (defs.some((d) => d.type === "string" || d.type === "enum" || d.type === "literal")) return "string";
  return null;
}

const SEGMENT = /^([A-Za-z][A-Za-z0-9_-]*)((?:\[[0-9]{1,4}\])*)$/;
const ROOTS = ["frontends", "backends", "load"] as const;
const EXAMPLES = "frontends.<frontend>.<key>, backends.<backend>.<key> or load.<key>, e.g. load.think_time";

/** Splits `a.b[0].c` into `a`, `b`, 0, `c`; null when it is not of that form. */
export function splitPath(text: string): (string | number)[] | null {
  if (text.length === 0 || text.length > 200) return null;
  const out: (string | number)[] = [];
  for (const part of text.split(".")) {
    const m = SEGMENT.exec(part);
    if (!m) return null;
    out.push(m[1]!);
    for (const idx of m[2]!.matchAll(/\[([0-9]+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

export function joinPath(segments: readonly (string | number)[]): string {
  let out = "";
  for (const s of segments) out += typeof s === "number" ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

/**
 * Checks a path against the schema and the spec's names. Throws UsageError
 * (exit 1) saying what is wrong, with a did-you-mean where one is close.
 */
export function resolvePath(text: string, scope: VaryScope): ResolvedPath {
  const where = `--vary ${text}`;
  const segments = splitPath(text);
  if (segments === null) {
    throw new UsageError(`${where}: not a path; a path is names joined by '.', with [N] for a list entry`, `Vary ${EXAMPLES}.`);
  }
  const [root, ...rest] = segments as [string, ...(string | number)[]];
  let docPath: (string | number)[];
  let checked: number;
  if (root === "load") {
    docPath = ["scenarios", scope.scenario, "load"];
    checked = 1;
  } else if (root === "frontends" || root === "backends") {
    const name = rest[0];
    if (typeof name !== "string") throw new UsageError(`${where}: name a ${root.slice(0, -1)} after '${root}.'`, `Vary ${EXAMPLES}.`);
    const names = root === "frontends" ? scope.frontends : scope.backends;
    if (!names.includes(name)) {
      const guess = didYouMean(name, names);
      throw new UsageError(`${where}: the spec has no ${root.slice(0, -1)} '${name}'${guess ? `; did you mean '${guess}'?` : ""}`, `${root}: ${listSome(names, 10)}.`);
    }
    if (root === "frontends" && name !== scope.frontend) {
      throw new UsageError(
        `${where}: scenario '${scope.scenario}' sends its load to frontend '${scope.frontend}', so keys of frontend '${name}' change nothing it measures`,
        `Vary frontends.${scope.frontend}.<key>, or choose a scenario whose frontend is '${name}'.`,
      );
    }
    docPath = [root, name];
    checked = 2;
  } else {
    if (root === "scenarios") {
      throw new UsageError(`${where}: scenario keys are varied as load.<key>, on the scenario chosen with --scenario ('${scope.scenario}')`, "For example load.connections or load.think_time.");
    }
    const guess = didYouMean(root, ROOTS);
    const known = ["version", "targets", "stubs"].includes(root);
    throw new UsageError(`${where}: ${known ? `'${root}' cannot be varied` : `unknown key '${root}'${guess ? `; did you mean '${guess}'?` : ""}`}`, `Vary ${EXAMPLES}.`);
  }
  for (const seg of segments.slice(checked)) {
    const defs = defsAt(docPath);
    if (typeof seg === "number") {
      const length = defs.some((d) => d.type === "array") ? scope.listLength(docPath) : null;
      if (length === null) throw new UsageError(`${where}: ${joinPath(visible(docPath, root))} is not a list in this spec, so [${seg}] names nothing`);
      if (seg >= length) throw new UsageError(`${where}: ${joinPath(visible(docPath, root))} has ${length} entr${length === 1 ? "y" : "ies"}, so [${seg}] names none (the first is [0])`);
    } else {
      const keys = keysOf(defs);
      if (!keys.includes(seg)) {
        const at = joinPath(visible(docPath, root));
        if (keys.length === 0) throw new UsageError(`${where}: ${at} is a single value, with no key '${seg}'`);
        const guess = didYouMean(seg, keys);
        throw new UsageError(`${where}: unknown key '${seg}' under ${at}${guess ? `; did you mean '${guess}'?` : ""}`, `Allowed here: ${keys.join(", ")}.`);
      }
    }
    docPath = [...docPath, seg];
  }
  const defs = defsAt(docPath);
  const kind = leafKind(defs);
  const canonical = joinPath(segments);
  if (kind === null) {
    const keys = keysOf(defs);
    if (keys.length > 0) throw new UsageError(`${where}: ${canonical} is a map; vary one of its keys`, `Keys: ${keys.join(", ")}.`);
    throw new UsageError(`${where}: ${canonical} is a list; vary one value, or one entry's key with [N]`);
  }
  return { text: canonical, docPath, scope: root === "load" ? "load" : "stack", kind };
}

/** The document path as the user wrote it: `load.x` rather than `scenarios.s.load.x`. */
function visible(docPath: readonly (string | number)[], root: string): (string | number)[] {
  return root === "load" ? ["load", ...docPath.slice(3)] : [...docPath];
}
