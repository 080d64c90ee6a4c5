/**
 * `spillway load`'s flags held to the load's schema without loading zod,
 * whose 95 modules were a third of the command's start-up. The schema's JSON
 * form (schema/spillway.schema.json: generated from the zod schema, and
 * checked equal to it by the spec tests) is read, and each flag's value is
 * checked against its key there.
 *
 * It only ever says yes. Whatever it is not sure of goes to the zod schema,
 * which then names the problem, as before: a value the JSON form refuses, a
 * keyword it does not know, and what the zod schema checks beyond its JSON
 * form (a source address's octets, a duration past Node's longest timer, an
 * h2load command line held to the keys' limits).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../package-info.js";
import { DURATION_PATTERN, parseDuration } from "../spec/duration.js";
import { MAX_TIMER_MS } from "../spec/limits.js";

type JsonSchema = Record<string, unknown>;

/** Keys whose zod checks go further than their JSON form says. */
const BEYOND_JSON = new Set(["source_addresses", "h2load"]);

const KNOWN = new Set([
  "type",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "pattern",
  "enum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "items",
  "properties",
  "required",
  "additionalProperties",
  "description",
  "examples",
  "default",
]);

const num = (node: JsonSchema, key: string): number | null => (typeof node[key] === "number" ? node[key] : null);

function withinBounds(node: JsonSchema, v: number): boolean {
  const [min, max, xmin, xmax] = [num(node, "minimum"), num(node, "maximum"), num(node, "exclusiveMinimum"), num(node, "exclusiveMaximum")];
  return (min === null || v >= min) && (max === null || v <= max) && (xmin === null || v > xmin) && (xmax === null || v < xmax);
}

function lengthWithin(node: JsonSchema, n: number, lo: string, hi: string): boolean {
  const [min, max] = [num(node, lo), num(node, hi)];
  return (min === null || n >= min) && (max === null || n <= max);
}

function matches(pattern: string, v: string): boolean {
  try {
    return new RegExp(pattern).test(v);
  } catch {
    return false;
  }
}

/** True only when `v` meets every keyword of `node` and every keyword is one this reads. */
function fits(node: unknown, v: unknown): boolean {
  if (node === null || typeof node !== "object" || Array.isArray(node)) return false;
  const n = node as JsonSchema;
  if (!Object.keys(n).every((k) => KNOWN.has(k))) return false;
  if (Array.isArray(n.enum) && !n.enum.includes(v)) return false;
  switch (n.type) {
    case "integer":
      return typeof v === "number" && Number.isSafeInteger(v) && withinBounds(n, v);
    case "number":
      return typeof v === "number" && Number.isFinite(v) && withinBounds(n, v);
    case "boolean":
      return typeof v === "boolean";
    case "string": {
      if (typeof v !== "string" || !lengthWithin(n, v.length, "minLength", "maxLength")) return false;
      if (n.pattern === undefined) return true;
      if (typeof n.pattern !== "string" || !matches(n.pattern, v)) return false;
      // The duration's one check beyond its pattern.
      return n.pattern !== DURATION_PATTERN.source || parseDuration(v) <= MAX_TIMER_MS;
    }
    case "array":
      return Array.isArray(v) && lengthWithin(n, v.length, "minItems", "maxItems") && v.every((x) => fits(n.items, x));
    case "object": {
      if (v === null || typeof v !== "object" || Array.isArray(v) || n.additionalProperties !== false) return false;
      const props = (n.properties ?? {}) as Record<string, unknown>;
      const o = v as Record<string, unknown>;
      const required = Array.isArray(n.required) ? (n.required as string[]) : [];
      if (!required.every((k) => o[k] !== undefined)) return false;
      // An optional key may hold undefined; a key the map does not know is refused even then, as zod's strict objects do.
      return Object.entries(o).every(([k, x]) => Object.hasOwn(props, k) && (x === undefined || fits(props[k], x)));
    }
    default:
      return false;
  }
}

/** The load's JSON form in the spec's; null when the file is missing or shaped otherwise (then zod decides). */
function loadJsonSchema(text: string): JsonSchema | null {
  try {
    const spec = JSON.parse(text) as JsonSchema;
    const scenarios = (spec.properties as Record<string, JsonSchema> | undefined)?.scenarios;
    const scenario = scenarios?.additionalProperties as JsonSchema | undefined;
    const load = (scenario?.properties as Record<string, unknown> | undefined)?.load;
    return load !== null && typeof load === "object" ? (load as JsonSchema) : null;
  } catch {
    return null;
  }
}

export const SCHEMA_FILE = join(PACKAGE_ROOT, "schema", "spillway.schema.json");

/**
 * True when the zod schema surely accepts `input` as it is (it transforms
 * nothing in a load, so the input is then what it would return); false: ask
 * it. `schemaText` is the JSON Schema's text, read from the package by default.
 */
export function acceptedByJsonSchema(input: Record<string, unknown>, schemaText?: string): boolean {
  if (Object.entries(input).some(([k, v]) => v !== undefined && BEYOND_JSON.has(k))) return false;
  let text = schemaText;
  if (text === undefined) {
    try {
      text = readFileSync(SCHEMA_FILE, "utf8");
    } catch {
      return false;
    }
  }
  const load = loadJsonSchema(text);
  return load !== null && fits(load, input);
}
