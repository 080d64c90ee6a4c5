/**
 * One load profile, from what a user writes to what the engine runs.
 *
 * The input is the spec's `load:` keys (`loadSchema`), whether it comes from
 * a spec, from `spillway load`'s flags or from a library caller. After the
 * schema, `checkLoad` finds what the schema alone cannot (keys that
 * contradict each other) and fills in the defaults: a `NormalizedLoad`,
 * which is what a scenario holds. `profileFor` adds where to send it and the
 * run's own bounds: the `LoadProfile` that `startLoad` runs.
 *
 * Pure: no engine, no I/O. Problems come back as data with their key paths,
 * so the spec loader can point at `file:line:col` and the CLI can name the flag.
 * This module holds what needs the schema (zod); the rest is load-check.ts,
 * re-exported here.
 */
import type { z } from "zod";
import { didYouMean } from "./diagnostics.js";
import { checkLoadWith, fail, profileFor, runProblems, SPEC_NAMES, type CheckedLoad, type KeyNames, type KeyPath, type LoadProblem, type LoadProfile, type NormalizedLoad, type RunOptions } from "./load-check.js";
import { keepAliveSchema, loadSchema, stageSchema, websocketsSchema, type LoadInput } from "./schema.js";

export * from "./load-check.js";

/**
 * Checks a load the schema accepted: an h2load command line is read into
 * the keys it stands for and held to the schema's limits, then the keys are
 * checked against each other. `tls`: whether the target is https://, where
 * the protocol defaults to h2.
 */
export function checkLoad(l: LoadInput, opts: { names?: KeyNames; tls?: boolean } = {}): CheckedLoad {
  return checkLoadWith(l, opts, (input, named) => {
    const again = loadSchema.safeParse(input, { reportInput: true });
    return again.success ? [] : again.error.issues.flatMap((i) => issueProblems(i, named));
  });
}

/** Validates a load given as data (a library caller's, or the CLI's flags): the schema, then `checkLoad`. */
export function validateLoad(input: unknown, opts: { names?: KeyNames; tls?: boolean } = {}): Omit<CheckedLoad, "load"> & { load: NormalizedLoad | null } {
  const parsed = loadSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) return { load: null, problems: parsed.error.issues.flatMap((i) => issueProblems(i, opts.names ?? SPEC_NAMES)), urls: [] };
  return checkLoad(parsed.data, opts);
}

/**
 * A load in the spec's keys and where to run it, for a library caller:
 * `runLoad(parseLoadProfile({ connections: 10, duration: "30s" }, { url }))`.
 * UsageError (exit 1) listing every problem, named by key.
 */
export function parseLoadProfile(input: LoadInput, run: RunOptions): LoadProfile {
  const tls = /^https:/i.test(String(run.url));
  const checked = validateLoad(input, { tls });
  const problems = [...checked.problems];
  for (const u of checked.urls) problems.push({ path: ["h2load"], message: `h2load holds a URL (${u.url}): give it as the run's url`, offset: u.offset });
  problems.push(...runProblems(checked.load, run));
  if (problems.length > 0 || checked.load === null) fail(problems);
  return profileFor(checked.load, run);
}

const TYPE_WORDS: Record<string, string> = { number: "a number", int: "a whole number", string: "a string", boolean: "true or false", object: "a map", array: "a list" };

function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** Keys allowed in the map at `path`, for "did you mean". */
function keysAt(path: KeyPath): string[] {
  if (path.length === 0) return Object.keys(loadSchema.shape);
  if (path[0] === "keep_alive") return Object.keys(keepAliveSchema.unwrap().shape);
  if (path[0] === "stages") return Object.keys(stageSchema.shape);
  if (path[0] === "websockets") return Object.keys(websocketsSchema.shape);
  return [];
}

/**
 * A schema issue as a problem naming its key. The spec reports schema issues
 * through its own diagnostics (validate.ts), with positions; this is for
 * input that has no file: the CLI's flags and a library caller's object.
 */
function issueProblems(issue: z.core.$ZodIssue, names: KeyNames): LoadProblem[] {
  const path = issue.path.filter((s): s is string | number => typeof s !== "symbol");
  const name = names.name(path);
  const value = "input" in issue && issue.input !== undefined ? ` ${shown(issue.input)}` : "";
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => {
        const known = keysAt(path);
        const guess = didYouMean(key, known);
        return { path: [...path, key], message: `unknown key '${key}'${guess ? `; did you mean '${guess}'?` : ""}`, key: true, hint: `Known here: ${known.join(", ")}.` };
      });
    case "invalid_type":
      if (issue.input === undefined) return [{ path, message: `${name} is missing`, key: true }];
      return [{ path, message: `${name}${value}: expected ${TYPE_WORDS[issue.expected] ?? issue.expected}` }];
    case "too_small":
      if (issue.origin === "array") return [{ path, message: `${name}: give at least ${String(issue.minimum)}` }];
      return [{ path, message: `${name}${value}: must be ${issue.inclusive ? "at least" : "above"} ${String(issue.minimum)}` }];
    case "too_big":
      if (issue.origin === "array") return [{ path, message: `${name}: give at most ${String(issue.maximum)}` }];
      if (issue.origin === "string") return [{ path, message: `${name}: too long (at most ${String(issue.maximum)} characters)` }];
      return [{ path, message: `${name}${value}: must be at most ${String(issue.maximum)}` }];
    case "invalid_value":
      return [{ path, message: `${name}${value}: must be ${issue.values.map((v) => String(v)).join(" or ")}` }];
    default:
      return [{ path, message: `${name}${value}: ${issue.message}` }];
  }
}
