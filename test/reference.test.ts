import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { DEFAULTS, type DefaultEntry } from "../src/spec/defaults.js";
import { KEY_ALIASES, normalizeSpelling, suggestKey } from "../src/spec/diagnostics.js";
import { PROXY_LIMITS } from "../src/spec/limits.js";
import { referenceEntries, specReference, VALUE_TYPES, type ReferenceEntry } from "../src/spec/reference.js";
import { specSchema } from "../src/spec/schema.js";
import { knownKeysAt } from "../src/spec/validate.js";
import { ROOT, runCli } from "./helpers/cli.js";

const entries = referenceEntries(specSchema);
const paths = new Set(entries.map((e) => e.path));

type Def = { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; valueType?: z.ZodType; element?: z.ZodType; options?: z.ZodType[]; in?: z.ZodType };
const def = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The zod schemas a reference path names: through optional wrappers, unions, maps' values and lists' entries. */
function zodAt(path: string): z.ZodType[] {
  const unwrap = (s: z.ZodType): z.ZodType[] => {
    const d = def(s);
    if (["optional", "default", "nullable", "readonly", "prefault"].includes(d.type) && d.innerType) return unwrap(d.innerType);
    if (d.type === "pipe" && d.in) return unwrap(d.in);
    if (d.type === "union" && d.options) return [s, ...d.options.flatMap(unwrap)];
    return [s];
  };
  let at = unwrap(specSchema);
  for (const seg of path.split(".").flatMap((s) => (s.endsWith("[]") ? [s.slice(0, -2), "[]"] : [s]))) {
    at = at.flatMap((s) => {
      const d = def(s);
      if (seg === "[]") return d.type === "array" && d.element ? unwrap(d.element) : [];
      if (seg.startsWith("<")) return d.type === "record" && d.valueType ? unwrap(d.valueType) : [];
      return d.type === "object" && d.shape?.[seg] ? unwrap(d.shape[seg]) : [];
    });
  }
  return at;
}

describe("docs/spec.md", () => {
  it("is what `npm run docs` writes from the schema now", () => {
    const shipped = readFileSync(join(ROOT, "docs", "spec.md"), "utf8");
    // A stale file fails here: run `npm run docs` and commit the result.
    expect(shipped === specReference(specSchema), "docs/spec.md is stale: run `npm run docs`").toBe(true);
  });

  it("describes every key of the schema", () => {
    // Keys of the scenario `load:` block are described by the load-profile work; until it is merged, they are listed here.
    const undescribed = entries.filter((e) => !e.description?.trim()).map((e) => e.path);
    expect(undescribed, `keys without a .describe(): ${undescribed.join(", ")}`).toEqual([]);
  });

  it("lists every key validation knows, at every level", () => {
    const keysOf = (prefix: string) => entries.filter((e) => e.path.startsWith(`${prefix}.`) && !e.path.slice(prefix.length + 1).includes(".") && !e.path.endsWith("[]")).map((e) => e.path.slice(prefix.length + 1));
    expect(keysOf("frontends.<frontend>")).toEqual(knownKeysAt(["frontends", "x"]));
    expect(keysOf("backends.<backend>")).toEqual(knownKeysAt(["backends", "x"]));
    expect(keysOf("scenarios.<scenario>")).toEqual(knownKeysAt(["scenarios", "x"]));
    // Whatever schema scenarioSchema.load is, and wherever it is defined.
    expect(keysOf("scenarios.<scenario>.load")).toEqual(knownKeysAt(["scenarios", "x", "load"]));
    expect(keysOf("scenarios.<scenario>.load").length).toBeGreaterThan(10);
    expect(entries.filter((e) => !e.path.includes(".")).map((e) => e.path)).toEqual(knownKeysAt([]));
  });

  it("gives every key a type, an example the schema accepts, and a default or 'required'", () => {
    expect(entries.length).toBeGreaterThan(80);
    const refused: string[] = [];
    for (const e of entries) {
      expect(e.type, e.path).not.toBe("any value");
      const candidates = zodAt(e.path);
      expect(candidates.length, e.path).toBeGreaterThan(0);
      if (!candidates.some((s) => s.safeParse(e.example).success)) refused.push(`${e.path}: ${JSON.stringify(e.example)}`);
    }
    expect(refused).toEqual([]);
  });

  it("shows the defaults table's value, type and limits where they apply", () => {
    const at = (path: string): ReferenceEntry => entries.find((e) => e.path === path)!;
    expect(at("frontends.<frontend>.timeouts.client")).toMatchObject({ type: "[duration](#value-types)", default: "30s", required: false });
    expect(at("frontends.<frontend>.timeouts.client").limits.join(" ")).toMatch(/`timer`.*`zero-timeout`/);
    expect(at("backends.<backend>.keepalive")).toMatchObject({ default: "64", limits: [expect.stringContaining("0 to 10000"), expect.stringContaining("`nginx-keepalive`")] });
    expect(at("frontends.<frontend>.bind")).toMatchObject({ required: true, exampleText: 'bind: "127.0.0.1:8080"' });
    expect(at("backends.<backend>.servers").type).toBe("whole number, or list of maps (`backends.<backend>.servers[]`)");
    expect(at("backends.<backend>.balance").type).toBe("one of `roundrobin`, `leastconn`, `first`, `source`, `random`");
    expect(at("scenarios.<scenario>.expect.latency.p99")).toMatchObject({ type: "[threshold](#value-types)", exampleText: 'p99: "< 200ms"' });
    const doc = specReference(specSchema);
    expect(doc).toContain("### `scenarios.<scenario>.load.keep_alive.close_after_requests`");
    expect(doc).toContain("| `close_after` | `keep_alive.close_after_requests` or `keep_alive.requests` | spillway load --close-after |");
  });

  it("names only keys, value types and table entries that exist", () => {
    for (const e of Object.values(DEFAULTS) as DefaultEntry[]) if (e.kind === "spec") expect(paths, e.name).toContain(e.name);
    for (const limit of PROXY_LIMITS) {
      for (const key of limit.appliesTo.keys ?? []) expect(paths, `${limit.id}: ${key}`).toContain(key);
      for (const type of limit.appliesTo.types ?? []) expect(VALUE_TYPES.map((t) => t.type), `${limit.id}: ${type}`).toContain(type);
    }
  });

  it("follows $ref, allOf and anyOf, as zod writes them for a schema with an id used twice, an intersection and a union", () => {
    const shared = z.strictObject({ depth: z.number().int().min(1).describe("How deep") }).describe("A shared part").meta({ id: "Shared" });
    const schema = z.strictObject({
      a: shared.describe("First use"),
      b: shared.optional().describe("Second use"),
      c: z.intersection(z.object({ x: z.string().describe("X") }), z.object({ y: z.boolean().describe("Y") }).meta({ id: "WithY" })).describe("Both"),
      d: z.intersection(z.object({ x: z.string().describe("X") }), z.union([z.object({ y: z.boolean().describe("Y") }), z.object({ w: z.number().describe("W") })])).describe("Either"),
    });
    const json = JSON.stringify(z.toJSONSchema(schema, { io: "input" }));
    // The forms this test is about, so a zod that stops writing them shows here rather than as a test that proves nothing.
    for (const form of ['"$ref":"#/$defs/Shared"', '"allOf":[', '"anyOf":[']) expect(json).toContain(form);
    const got = referenceEntries(schema).map((e) => `${e.path} ${e.type} ${e.description}`);
    expect(got).toEqual([
      "a map First use",
      "a.depth whole number How deep",
      "b map Second use",
      "b.depth whole number How deep",
      "c map Both",
      "c.x string X",
      "c.y `true` or `false` Y",
      "d map Either",
      "d.x string X",
      "d.y `true` or `false` Y",
      "d.w number W",
    ]);
  });
});

describe("spellings that are not keys", () => {
  const keysAt = (base: string[]) => (rel: readonly string[]) => knownKeysAt([...base, ...rel]);
  const load = ["scenarios", "s", "load"];

  it("each name a key that exists where the spelling belongs", () => {
    for (const alias of KEY_ALIASES) {
      for (const key of alias.keys) {
        const [head, ...rest] = key.split(".");
        const somewhere = entries.some((e) => e.path.endsWith(`.${key}`) || e.path === key) || (rest.length > 0 && entries.some((e) => e.path.endsWith(`.${head}`)));
        expect(somewhere, `${alias.spellings.join("/")} -> ${key}`).toBe(true);
      }
      for (const s of alias.spellings) expect(normalizeSpelling(s), s).toBe(s);
    }
  });

  it("cover every flag of `spillway load` whose spec key is spelt otherwise", () => {
    const r = runCli(["load", "--help"]);
    expect(r.code).toBe(0);
    const flags = [...r.stdout.matchAll(/^\s+(?:-(\w), )?--([a-z0-9-]+)/gm)].flatMap((m) => [m[1], m[2]]).filter((f): f is string => f !== undefined && f !== "help" && f !== "h");
    expect(flags).toEqual(expect.arrayContaining(["c", "clients", "close-after", "no-reconnect", "D", "duration", "timeout"]));
    const loadKeys = knownKeysAt(load);
    const uncovered = flags.filter((flag) => {
      const spelling = normalizeSpelling(flag);
      if (loadKeys.includes(spelling)) return false;
      const s = suggestKey(flag, keysAt(load));
      // An alias from the table, naming a key of the load block or saying there is none.
      return !(s?.alias && (s.key === null || loadKeys.includes(s.key.split(".")[0]!)));
    });
    expect(uncovered, "add these flags to KEY_ALIASES in src/spec/diagnostics.ts").toEqual([]);
  });

  it("name the key meant where it was written", () => {
    expect(suggestKey("close_after", keysAt(load))).toMatchObject({ key: "keep_alive.close_after_requests" });
    expect(suggestKey("close_after", keysAt(["frontends", "web"]))).toMatchObject({ key: "keep_alive.requests" });
    expect(suggestKey("latency_p99", keysAt(["scenarios", "s", "expect"]))).toMatchObject({ key: "latency.p99" });
    expect(suggestKey("latency_p99", keysAt(["scenarios", "s", "expect_by_target", "nginx"]))).toMatchObject({ key: "latency.p99" });
    expect(suggestKey("max_concurrent_streams", keysAt(load))).toMatchObject({ key: "streams" });
    expect(suggestKey("max_concurrent_streams", keysAt(["frontends", "web"]))).toMatchObject({ key: "http2.max_concurrent_streams" });
    expect(suggestKey("t", keysAt(load))).toMatchObject({ key: "workers" });
    expect(suggestKey("D", keysAt(load))).toMatchObject({ key: "duration" });
    expect(suggestKey("keep_alive.close_after_requests", keysAt(load))).toMatchObject({ key: "keep_alive.close_after_requests" });
    expect(suggestKey("--rate-period", keysAt(load))).toMatchObject({ key: "connect_period" });
    expect(suggestKey("count_by", keysAt(load))).toMatchObject({ key: null });
    // Ordinary typos still go to the closest key.
    expect(suggestKey("maxconns", keysAt(["frontends", "web"]))).toEqual({ key: "maxconn" });
    expect(suggestKey("zzzz", keysAt(["frontends", "web"]))).toBeUndefined();
  });
});
