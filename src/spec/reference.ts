import { z } from "zod";
import { defaultForKey } from "./defaults.js";
import { KEY_ALIASES } from "./diagnostics.js";
import { PROXY_LIMITS } from "./limits.js";
import { ADDRESS_HINT_PATTERN, CONDITION_PATTERN, DURATION_PATTERN, EXPECTATION_PATTERN, LOOPBACK_HINT_PATTERN, NAME_PATTERN } from "./schema.js";

/**
 * The spec reference (docs/spec.md), generated from the zod schema through
 * zod's own JSON Schema conversion, so a schema imported from another module
 * is walked like the rest. Pure: `npm run docs` writes the file, and a test
 * fails when the file is stale or a key has no description.
 */

type Node = Record<string, unknown>;

/** One key of the spec, as the reference shows it. */
export interface ReferenceEntry {
  /** `frontends.<frontend>.timeouts.client`; `<frontend>` stands for any name, `[]` for any entry of a list. */
  path: string;
  description: string | null;
  type: string;
  /** Whether the map it sits in must hold it; null for a map's value or a list's entry. */
  required: boolean | null;
  /** A map of keys of its own: left out, each of its keys takes its own default. */
  map: boolean;
  default: string | null;
  limits: string[];
  example: unknown;
  /** The example as a YAML line: `client: 2m`. */
  exampleText: string;
}

/** Value types that are strings of one form, known by the pattern the schema gives them. */
export const VALUE_TYPES = [
  { type: "duration", pattern: DURATION_PATTERN.source, example: "10s", form: "a whole number and a unit: `ms`, `s`, `m` or `h`, such as `500ms`, `10s`, `2m`" },
  { type: "name", pattern: NAME_PATTERN.source, example: "app", form: "a letter, then letters, digits, `_` or `-`, at most 63 characters" },
  { type: "address", pattern: ADDRESS_HINT_PATTERN, example: "127.0.0.1:8080", form: "an IP literal and a port: dotted-quad IPv4 without leading zeros, or `[IPv6]`; never a host name" },
  { type: "loopback address", pattern: LOOPBACK_HINT_PATTERN, example: "127.0.0.1", form: "an IPv4 address in 127.0.0.0/8" },
  { type: "threshold", pattern: EXPECTATION_PATTERN.source, example: ">= 90%", form: 'a quoted comparison, a number and a unit: `"0"`, `">= 100"`, `">= 90%"`, `"100%"`, `"< 1%"`, `"< 200ms"`; without a comparison it means `==`' },
  { type: "condition", pattern: CONDITION_PATTERN.source, example: "fe_conn > 300", form: "`fe_conn`, `be_conn(<backend>)` and `nbsrv(<backend>)` compared with `>`, `>=`, `<`, `<=`, `==` to whole numbers, combined with `and`, `or`, `not` and parentheses; at most 500 characters" },
] as const;

const README_LIMITS = "../README.md#proxy-limits-the-spec-is-held-to";
const README_DEFAULTS = "../README.md#defaults";
/** Names the examples use for `<frontend>`, `<backend>` and `<scenario>`. */
const SAMPLE_NAMES: Record<string, string> = { frontend: "web", backend: "app", scenario: "steady", server: "s1" };

function isNode(v: unknown): v is Node {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

class Walker {
  readonly entries: ReferenceEntry[] = [];
  constructor(private readonly root: Node) {}

  /** A `$ref` to the root or its `$defs`, resolved; zod writes one for a schema used twice with an id, or a cycle. */
  deref(n: Node, seen = 0): Node {
    const ref = n.$ref;
    if (typeof ref !== "string" || seen > 20) return n;
    const target = ref === "#" ? this.root : ref.replace(/^#\//, "").split("/").reduce<unknown>((at, seg) => (isNode(at) ? at[seg.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined), this.root);
    if (!isNode(target)) throw new Error(`unresolved $ref ${ref}`);
    const { $ref: _, ...rest } = n;
    return { ...this.deref(target, seen + 1), ...rest };
  }

  branches(n: Node): Node[] {
    const list = (n.anyOf ?? n.oneOf) as unknown;
    return Array.isArray(list) ? list.filter(isNode).map((b) => this.deref(b)) : [];
  }

  /** allOf, as zod writes it for an intersection: one map with every part's keys. */
  merged(n: Node): Node {
    const d = this.deref(n);
    if (!Array.isArray(d.allOf)) return d;
    const parts = (d.allOf as unknown[]).filter(isNode).map((p) => this.merged(p));
    const properties = Object.assign({}, ...parts.map((p) => (isNode(p.properties) ? p.properties : {})), isNode(d.properties) ? d.properties : {});
    const required = [...parts.flatMap((p) => (Array.isArray(p.required) ? p.required : [])), ...(Array.isArray(d.required) ? d.required : [])];
    return { ...d, type: "object", properties, required };
  }

  walk(n: Node, path: string) {
    const d = this.merged(n);
    for (const b of this.branches(d)) this.walk(b, path);
    if (isNode(d.properties)) {
      const required = Array.isArray(d.required) ? (d.required as string[]) : [];
      for (const [key, child] of Object.entries(d.properties)) {
        if (!isNode(child)) continue;
        const p = path ? `${path}.${key}` : key;
        this.add(child, p, key, required.includes(key));
        this.walk(child, p);
      }
    }
    if (isNode(d.additionalProperties)) {
      const name = placeholder(path);
      const p = `${path}.<${name}>`;
      this.add(d.additionalProperties, p, SAMPLE_NAMES[name] ?? name, null);
      this.walk(d.additionalProperties, p);
    }
    if (isNode(d.items) && this.isMap(d.items)) {
      const p = `${path}[]`;
      this.add(d.items, p, "-", null);
      this.walk(d.items, p);
    }
  }

  isMap(n: Node): boolean {
    const d = this.merged(n);
    return d.type === "object" || this.branches(d).some((b) => this.isMap(b));
  }

  add(n: Node, path: string, key: string, required: boolean | null) {
    // A key in two branches of a union (an intersection with a union writes the shared keys into each) is one key.
    if (this.entries.some((e) => e.path === path)) return;
    const d = this.merged(n);
    const description = typeof n.description === "string" ? n.description : typeof d.description === "string" ? d.description : null;
    const type = this.type(d, path);
    const fromTable = defaultForKey(path);
    const dflt = fromTable ? fromTable.text : "default" in d ? flow(d.default) : null;
    const example = this.example(n, path);
    const exampleText = key === "-" ? `- ${flow(example)}` : `${key}: ${flow(example)}`;
    const map = isNode(d.properties);
    this.entries.push({ path, description, type, required, map, default: dflt, limits: this.limits(d, path), example, exampleText });
  }

  format(d: Node): (typeof VALUE_TYPES)[number] | undefined {
    return d.type === "string" && typeof d.pattern === "string" ? VALUE_TYPES.find((f) => f.pattern === d.pattern) : undefined;
  }

  type(n: Node, path: string): string {
    const d = this.merged(n);
    const branches = this.branches(d);
    if (branches.length > 0) return [...new Set(branches.map((b) => this.type(b, path)))].join(", or ");
    if ("const" in d) return `\`${flow(d.const)}\``;
    if (Array.isArray(d.enum)) return `one of ${d.enum.map((v) => `\`${flow(v)}\``).join(", ")}`;
    const format = this.format(d);
    if (format) return `[${format.type}](#value-types)`;
    switch (d.type) {
      case "string":
        return "string";
      case "integer":
        return "whole number";
      case "number":
        return "number";
      case "boolean":
        return "`true` or `false`";
      case "array":
        return isNode(d.items) ? (this.isMap(d.items) ? `list of maps (\`${path}[]\`)` : `list of ${this.type(d.items, path)}`) : "list";
      case "object":
        if (isNode(d.additionalProperties) && !isNode(d.properties)) return `map from [name](#value-types) to ${this.isMap(d.additionalProperties) ? "map" : this.type(d.additionalProperties, path)}`;
        return "map";
      default:
        return "any value";
    }
  }

  limits(d: Node, path: string): string[] {
    const out: string[] = [];
    const branches = this.branches(d);
    if (branches.length > 0) {
      for (const b of branches) {
        const own = this.limits(b, path).filter((l) => !l.startsWith("proxy limit"));
        if (own.length > 0) out.push(`as a ${this.type(b, path).replace(/ \(.*\)$/, "")}: ${own.join("; ")}`);
      }
    }
    const range = (lo: unknown, hi: unknown, unit: string) => {
      const units = (n: number) => (unit && n === 1 ? unit.replace(/ies$/, "y").replace(/s$/, "") : unit);
      if (typeof lo === "number" && typeof hi === "number") out.push(`${lo} to ${hi}${unit}`);
      else if (typeof lo === "number") out.push(`at least ${lo}${units(lo)}`);
      else if (typeof hi === "number") out.push(`at most ${hi}${units(hi)}`);
    };
    if (d.type === "integer" || d.type === "number") {
      range(d.minimum, d.maximum, "");
      if (typeof d.exclusiveMinimum === "number") out.push(`above ${d.exclusiveMinimum}`);
      if (typeof d.exclusiveMaximum === "number") out.push(`below ${d.exclusiveMaximum}`);
    }
    const format = this.format(d);
    if (d.type === "string") {
      range(d.minLength, d.maxLength, " characters");
      if (typeof d.pattern === "string" && !format) out.push(`matches \`${d.pattern}\``);
    }
    if (d.type === "array") range(d.minItems, d.maxItems, " entries");
    for (const limit of PROXY_LIMITS) {
      const byKey = limit.appliesTo.keys?.includes(path) ?? false;
      const byType = format !== undefined && (limit.appliesTo.types?.includes(format.type) ?? false);
      if (byKey || byType) out.push(`proxy limit [\`${limit.id}\`](${README_LIMITS}): ${limit.what}: ${limit.value}`);
    }
    return out;
  }

  example(n: Node, path: string): unknown {
    const own = Array.isArray(n.examples) && n.examples.length > 0 ? n.examples[0] : undefined;
    if (own !== undefined) return own;
    const d = this.merged(n);
    if (Array.isArray(d.examples) && d.examples.length > 0) return d.examples[0];
    if ("default" in d) return d.default;
    const branches = this.branches(d);
    if (branches.length > 0) return this.example(branches[0]!, path);
    if ("const" in d) return d.const;
    if (Array.isArray(d.enum)) return d.enum[0];
    switch (d.type) {
      case "string": {
        const format = this.format(d);
        if (format) return format.example;
        if (typeof d.pattern === "string") {
          const re = new RegExp(d.pattern);
          return ["/", "/api", "text", "a", "1"].find((c) => re.test(c)) ?? "";
        }
        return "text";
      }
      case "integer":
      case "number":
        return typeof d.minimum === "number" && d.minimum > 0 ? d.minimum : typeof d.maximum === "number" && d.maximum < 1 ? d.maximum : 1;
      case "boolean":
        return true;
      case "array":
        return isNode(d.items) ? [this.example(d.items, `${path}[]`)] : [];
      case "object": {
        if (isNode(d.additionalProperties) && !isNode(d.properties)) {
          const name = placeholder(path);
          return { [SAMPLE_NAMES[name] ?? name]: this.example(d.additionalProperties, `${path}.<${name}>`) };
        }
        const props = isNode(d.properties) ? Object.entries(d.properties).filter(([, v]) => isNode(v)) : [];
        const required = Array.isArray(d.required) ? (d.required as string[]) : [];
        const chosen = props.filter(([k]) => required.includes(k));
        return Object.fromEntries((chosen.length > 0 ? chosen : props.slice(0, 1)).map(([k, v]) => [k, this.example(v as Node, `${path}.${k}`)]));
      }
      default:
        return null;
    }
  }
}

/** `frontends` → `frontend`: what one key of a map stands for. */
function placeholder(path: string): string {
  const last = path.split(".").pop()!.replace(/\[\]$/, "").replace(/^<(.*)>$/, "$1");
  return last.endsWith("s") && last.length > 1 ? last.slice(0, -1) : "name";
}

/** A value as YAML flow: plain where YAML reads it back as the same string, quoted otherwise. */
export function flow(v: unknown): string {
  if (typeof v === "string") {
    const plain = /^[A-Za-z_\/][A-Za-z0-9_.\/-]*$/.test(v) || /^[0-9]+(ms|s|m|h)$/.test(v);
    return plain && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(v) ? v : JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(flow).join(", ")}]`;
  if (isNode(v)) return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${flow(x)}`).join(", ")} }`;
  return String(v);
}

/** Every key of the spec, parents before their children, in the schema's order. */
export function referenceEntries(schema: z.ZodType): ReferenceEntry[] {
  // Input: what a user writes, before any transform; a transform or refinement zod cannot express is written as "any value" rather than refused.
  const root = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as Node;
  const walker = new Walker(root);
  walker.walk(root, "");
  return walker.entries;
}

/** docs/spec.md: the value types, every key, and the spellings that are not keys. */
export function specReference(schema: z.ZodType): string {
  const entries = referenceEntries(schema);
  const out: string[] = [
    "# The spec, key by key",
    "",
    "<!-- Generated from src/spec/schema.ts by `npm run docs`; edit the schema, not this file. -->",
    "",
    "Every key of a spillway spec, with its type, its default, its limits and an",
    "example. `<frontend>`, `<backend>` and `<scenario>` stand for any",
    "[name](#value-types); `[]` for any entry of a list. A default is the value",
    `spillway uses when the key is left out; the [Defaults](${README_DEFAULTS}) table`,
    "in the README says why each. Proxy limits are the",
    `[limits of HAProxy and nginx](${README_LIMITS}) a value is held to.`,
    "",
    "## Value types",
    "",
    "| type | written as | example |",
    "|---|---|---|",
    ...VALUE_TYPES.map((t) => `| ${t.type} | ${t.form} | \`${flow(t.example)}\` |`),
    "",
    "## Keys",
    "",
  ];
  for (const e of entries) {
    out.push(`### \`${e.path}\``, "", e.description ? `${e.description.replace(/\s+$/, "")}${/[.!?]$/.test(e.description) ? "" : "."}` : "*No description.*", "");
    out.push(`- type: ${e.type}`);
    if (e.required === true) out.push("- required");
    else if (e.required === false) out.push(`- default: ${e.default ?? (e.map ? "each key's own" : "none")}`);
    out.push(`- limits: ${e.limits.length > 0 ? e.limits.join("; ") : "none"}`);
    out.push(`- example: \`${e.exampleText}\``, "");
  }
  out.push(
    "## Spellings that are not keys",
    "",
    "Flags of `spillway load` and h2load, the proxies' directive names and flattened",
    "paths that people write for a key: validation names the key meant. Where two",
    "keys are listed, the first that exists where the spelling was written is named.",
    "",
    "| written | the key meant | where the spelling comes from |",
    "|---|---|---|",
    ...KEY_ALIASES.map((a) => {
      const written = a.spellings.map((s) => `\`${s}\``).join(", ");
      const meant = a.keys.length > 0 ? a.keys.map((k) => `\`${k}\``).join(" or ") + (a.note ? ` (\`${a.note}\`)` : "") : `no spec key: ${a.note ?? ""}`;
      return `| ${written} | ${meant} | ${a.from} |`;
    }),
    "",
  );
  return out.join("\n");
}
