import type { z } from "zod";
import { pathText, unknownKeyMessage, type Diagnostic } from "./diagnostics.js";
import { specSchema } from "./schema.js";
import { defsAt, keysOf } from "./schema-walk.js";
import { locate, type SpecSource } from "./source.js";

type Issue = z.core.$ZodIssue;


/** The keys the schema allows for the object at `path`, for "did you mean" hints. */
export function knownKeysAt(path: ReadonlyArray<PropertyKey>): string[] {
  return keysOf(defsAt(path));
}

function describeInput(input: unknown): string {
  if (input === undefined) return "nothing";
  if (input === null) return "null";
  if (Array.isArray(input)) return "a list";
  if (typeof input === "object") return "a map";
  if (typeof input === "string") return `the string ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`;
  return `${typeof input} ${String(input)}`;
}

const TYPE_WORDS: Record<string, string> = {
  number: "a number",
  int: "a whole number",
  string: "a string",
  boolean: "true or false",
  object: "a map",
  array: "a list",
  record: "a map",
};

function issueToDiagnostics(issue: Issue, source: SpecSource, base: ReadonlyArray<PropertyKey> = []): Diagnostic[] {
  const path = [...base, ...issue.path];
  const at = (p: ReadonlyArray<PropertyKey>, message: string, opts: { key?: boolean; hint?: string } = {}): Diagnostic => {
    const pos = locate(source, p, opts);
    return { severity: "error", message, path: pathText(p), file: source.file, line: pos.line, col: pos.col, ...(opts.hint ? { hint: opts.hint } : {}) };
  };
  switch (issue.code) {
    case "unrecognized_keys": {
      const input = issue.input !== null && typeof issue.input === "object" ? (issue.input as Record<string, unknown>) : {};
      return issue.keys.map((key) => {
        const { message, hint } = unknownKeyMessage(key, (rel) => knownKeysAt([...path, ...rel]), input[key]);
        return at([...path, key], message, { key: true, hint });
      });
    }
    case "invalid_type": {
      const parentPath = path.slice(0, -1);
      const last = path[path.length - 1];
      if (issue.input === undefined && last !== undefined) {
        return [at(parentPath, `missing required key '${String(last)}'`, { key: true })];
      }
      if (!issue.message.startsWith("Invalid input")) return [at(path, `${issue.message}, found ${describeInput(issue.input)}`)];
      const expected = TYPE_WORDS[issue.expected] ?? issue.expected;
      return [at(path, `expected ${expected}, found ${describeInput(issue.input)}`)];
    }
    case "invalid_union": {
      // Report the branch that got furthest: its issues are the most specific.
      let best: Issue[] | undefined;
      let bestDepth = -1;
      for (const branch of issue.errors) {
        const depth = Math.max(...branch.map((i) => i.path.length + (i.code === "invalid_type" ? 0 : 0.5)));
        if (depth > bestDepth) {
          best = branch;
          bestDepth = depth;
        }
      }
      if (best && bestDepth >= 1) return best.flatMap((i) => issueToDiagnostics(i, source, path));
      return [at(path, `${issue.message}: found ${describeInput(issue.input)}`)];
    }
    case "invalid_key":
      return issue.issues.map((inner) => at(path, `invalid name '${String(path[path.length - 1])}': ${inner.message}`, { key: true }));
    case "invalid_value":
      return [at(path, `must be ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}, found ${describeInput(issue.input)}`)];
    case "too_small":
      if (issue.origin === "array") return [at(path, `must have at least ${String(issue.minimum)} entr${issue.minimum === 1 ? "y" : "ies"}`)];
      return [at(path, `must be at least ${String(issue.minimum)}, found ${describeInput(issue.input)}`)];
    case "too_big":
      if (issue.origin === "array") return [at(path, `must have at most ${String(issue.maximum)} entries`)];
      if (issue.origin === "string") return [at(path, `is too long (at most ${String(issue.maximum)} characters)`)];
      return [at(path, `must be at most ${String(issue.maximum)}, found ${describeInput(issue.input)}`)];
    case "invalid_format":
      return [at(path, `${issue.message}, found ${describeInput(issue.input)}`)];
    default:
      return [at(path, issue.message)];
  }
}

/** Checks the document's shape against the schema; every problem is reported. */
export function validateShape(source: SpecSource, data: unknown): { ok: true; data: z.infer<typeof specSchema> } | { ok: false; diagnostics: Diagnostic[] } {
  const result = specSchema.safeParse(data, { reportInput: true });
  if (result.success) return { ok: true, data: result.data };
  const diagnostics = result.error.issues.flatMap((i) => issueToDiagnostics(i, source));
  return { ok: false, diagnostics };
}
