/**
 * fast-check arbitraries for random, valid-looking spillway specs.
 *
 * Every generated spec passes the zod schema's shapes and patterns (names,
 * durations, addresses, integer ranges, condition characters); whether the
 * semantic checks of `loadSpecText` accept it is the point of the property
 * tests. Each arbitrary mixes ordinary values with the edges of the schema:
 * 63-character names, names that differ only in case or in '-' / '_',
 * words the proxies reserve, the largest durations and counts, conditions
 * long enough to pass HAProxy's 64-words and 2048-characters line limits.
 *
 * The generated value carries the YAML text (what a user would write) and the
 * plain object it came from; fast-check prints the YAML for a counterexample.
 */
import fc from "fast-check";
import { stringify } from "yaml";

/** Limits copied from src/spec/schema.ts and src/spec/condition.ts, kept here so the generator sits right on them. */
export const LIMITS = {
  nameLength: 63,
  conditionLength: 500,
  conditionValue: 100_000_000,
  rulesPerFrontend: 64,
  serversPerBackend: 64,
  maxconn: 1_000_000,
  durationValue: 999_999_999,
  maxConcurrentStreams: 65_535,
  keepAliveRequests: 10_000_000,
  keepalive: 10_000,
  wsConnections: 100_000,
  wsPayloadBytes: 1_048_576,
  wsConnectRate: 100_000,
} as const;

export const BALANCE = ["roundrobin", "leastconn", "first", "source", "random"] as const;
const NAME_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const NAME_REST = `${NAME_FIRST}0123456789_-`;

/** Words with a meaning to HAProxy, nginx, YAML or spillway's condition language. */
export const RESERVED_WORDS = [
  "or", "and", "not", "if", "unless", "default", "TRUE", "FALSE", "true", "false", "yes", "no", "on", "off", "null", "Null",
  "HTTP", "HTTP_2", "LOCALHOST", "METH_GET", "WAIT_END", "backend", "frontend", "listen", "defaults", "global", "server",
  "upstream", "map", "http", "events", "location", "fe_conn", "be_conn", "nbsrv", "connections_active", "spillway", "s1", "s2",
] as const;

const ORDINARY_WORDS = ["web", "api", "ade", "pbcoffee", "overflow", "main", "spare", "static", "app", "edge"] as const;

// ---------------------------------------------------------------- names

const nameChars = (n: number) =>
  fc.tuple(fc.constantFrom(...NAME_FIRST), fc.array(fc.constantFrom(...NAME_REST), { minLength: n - 1, maxLength: n - 1 })).map(([a, rest]) => a + rest.join(""));

/** Any name the schema accepts: ordinary words, reserved words, random text, exactly 63 characters. */
export const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ORDINARY_WORDS) },
  { weight: 2, arbitrary: fc.constantFrom(...RESERVED_WORDS) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 20 }).chain(nameChars) },
  { weight: 1, arbitrary: fc.integer({ min: 40, max: LIMITS.nameLength }).chain(nameChars) },
  { weight: 1, arbitrary: nameChars(LIMITS.nameLength) },
);

/** Names of at most 20 characters, still with reserved words: for specs meant to reach the proxies. */
export const shortNameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ORDINARY_WORDS) },
  { weight: 2, arbitrary: fc.constantFrom(...RESERVED_WORDS.filter((w) => w !== "or")) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 20 }).chain(nameChars) },
);

/** A variant that stays a valid name: another case, or '-' and '_' swapped. */
function variantOf(name: string, how: number): string {
  switch (how % 4) {
    case 0:
      return name.toUpperCase();
    case 1:
      return name.toLowerCase() === name ? name[0]!.toUpperCase() + name.slice(1) : name.toLowerCase();
    case 2:
      return name.includes("-") || name.includes("_") ? name.replace(/[-_]/g, (c) => (c === "-" ? "_" : "-")) : `${name.slice(0, 61)}_x`;
    default:
      return name.length < LIMITS.nameLength ? `${name.slice(0, 61)}-x` : `${name.slice(0, 61)}_X`;
  }
}

/**
 * Entries with distinct names (distinct as YAML keys, i.e. exactly), where
 * some names are case or '-'/'_' variants of earlier ones.
 */
export function namedEntries<T>(item: fc.Arbitrary<T>, min: number, max: number, names: fc.Arbitrary<string> = nameArb): fc.Arbitrary<[string, T][]> {
  return fc
    // A variant about one entry in eight: a colliding pair refuses the whole spec, and most specs should still reach the proxies.
    .array(fc.record({ base: names, variant: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(3) }), of: fc.nat(30), item }), { minLength: min, maxLength: max })
    .map((entries) => {
      const out: [string, T][] = [];
      for (const e of entries) {
        let name = e.variant !== null && out.length > 0 ? variantOf(out[e.of % out.length]![0], e.variant) : e.base;
        for (let i = 2; out.some(([n]) => n === name); i++) name = `${name.slice(0, 60)}${i}`;
        out.push([name, e.item]);
      }
      return out;
    });
}

/** `min` to `max` distinct names, some variants of others. */
export function distinctNames(min: number, max: number, names: fc.Arbitrary<string> = nameArb): fc.Arbitrary<string[]> {
  return namedEntries(fc.constant(null), min, max, names).map((list) => list.map(([n]) => n));
}

// ---------------------------------------------------------------- values

/** Integers in [min, max] biased towards both ends and a few ordinary values. */
export function edgyInt(min: number, max: number, ordinary: number[] = []): fc.Arbitrary<number> {
  const inRange = ordinary.filter((v) => v >= min && v <= max);
  return fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min, max }) },
    { weight: 1, arbitrary: fc.constantFrom(min, Math.min(min + 1, max), max, Math.max(max - 1, min)) },
    ...(inRange.length > 0 ? [{ weight: 4, arbitrary: fc.constantFrom(...inRange) }] : []),
  );
}

const UNITS = ["ms", "s", "m", "h"] as const;

/**
 * A duration the pattern accepts, from 0 to 999999999h. Mostly ordinary: a
 * spec has up to five timeouts per frontend, and one past the timer limit
 * refuses the whole spec, so edges are rare enough that most specs still
 * reach the proxies.
 */
export const durationArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom("10s", "30s", "2m", "500ms", "5s", "1h") },
  { weight: 1, arbitrary: fc.constantFrom("0s", "0ms", "1ms", "999999999h", "999999999m", "999999999s", "999999999ms", "214748364ms", "2147483647ms", "2147483648ms", "2147483s", "2147484s", "35791m", "35792m", "596h", "597h") },
  { weight: 1, arbitrary: fc.tuple(edgyInt(0, LIMITS.durationValue, [1, 60, 1000]), fc.constantFrom(...UNITS)).map(([n, u]) => `${n}${u}`) },
);

// ---------------------------------------------------------------- addresses

const ipv4Arb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("127.0.0.1", "0.0.0.0", "10.0.0.1", "192.168.1.10", "255.255.255.255", "127.1.2.3") },
  { weight: 2, arbitrary: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join(".")) },
);

const hex = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
const ipv6Arb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("::1", "::", "fe80::1", "2001:db8::10", "::ffff:127.0.0.1", "2001:DB8:0:0:0:0:0:1", "0:0:0:0:0:0:0:1") },
  { weight: 2, arbitrary: fc.array(hex, { minLength: 8, maxLength: 8 }).map((g) => g.join(":")) },
  { weight: 1, arbitrary: fc.tuple(fc.array(hex, { minLength: 1, maxLength: 3 }), fc.array(hex, { minLength: 1, maxLength: 3 })).map(([a, b]) => `${a.join(":")}::${b.join(":")}`) },
);

/** Bracketed text the schema's address pattern takes for IPv6 (`[0-9A-Fa-f:.]{2,45}`) that is no IPv6 address. */
const notIpv6Arb = fc.oneof(
  fc.constantFrom("1:2", ":::", "::1.2", "12345::", "1.2.3.4", "1::2::3", "::0:", "1:2:3:4:5:6:7:8:9"),
  fc.array(fc.constantFrom(..."0123456789abcdef:."), { minLength: 2, maxLength: 12 }).map((c) => c.join("")),
);

/** An IP literal host as it appears before `:port`: IPv4, or IPv6 in brackets (rarely bracketed text that only looks like IPv6). */
export const hostArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 150, arbitrary: ipv4Arb },
  { weight: 50, arbitrary: ipv6Arb.map((h) => `[${h}]`) },
  { weight: 1, arbitrary: notIpv6Arb.map((h) => `[${h}]`) },
);

const portArb = edgyInt(1, 65_535, [80, 443, 8080, 8081, 8443, 1024]);

/**
 * Where frontends listen. `nginx -t` binds every listen address, so a bind
 * must be an address of this machine on a port nobody else holds: loopback
 * or a wildcard, on 20000-29999 (below Linux's ephemeral range and clear of
 * the ports the other tests use). Privileged ports fail for non-root users.
 */
const localBindHostArb = fc.constantFrom("127.0.0.1", "0.0.0.0", "127.0.0.2", "127.255.255.254", "[::1]", "[::]", "[0:0:0:0:0:0:0:1]");
const localBindPortArb = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 20_000, max: 29_999 }) }, { weight: 1, arbitrary: fc.constantFrom(20_000, 29_999) });

// ---------------------------------------------------------------- conditions

export type GenMetric = { kind: "fe_conn" } | { kind: "be_conn" | "nbsrv"; backend: string };
export type GenOp = ">" | ">=" | "<" | "<=" | "==";
export type GenCondition =
  | { kind: "cmp"; metric: GenMetric; op: GenOp; value: number }
  | { kind: "and" | "or"; operands: GenCondition[] }
  | { kind: "not"; operand: GenCondition };

const opArb = fc.constantFrom<GenOp>(">", ">=", "<", "<=", "==");

/**
 * A comparison before it knows its spec: backends by index (taken modulo the
 * spec's backend count) and fe_conn values relative to the frontend's
 * maxconn. No `chain` is needed, so fast-check shrinks a failing spec by
 * dropping frontends, backends, rules and operands.
 */
export type RawValue = { rel: number } | { abs: number } | { nearMaxconn: number };
export type RawCondition =
  | { kind: "cmp"; metric: "fe_conn" | "be_conn" | "nbsrv"; backend: number; op: GenOp; value: RawValue }
  | { kind: "and" | "or"; operands: RawCondition[] }
  | { kind: "not"; operand: RawCondition };

const feValueArb: fc.Arbitrary<RawValue> = fc.oneof(
  // Mostly a threshold a frontend can reach: within 0..maxconn+1 (0..5001 without maxconn).
  { weight: 24, arbitrary: fc.nat(1_000_000).map((rel) => ({ rel })) },
  { weight: 1, arbitrary: fc.integer({ min: -1, max: 1 }).map((nearMaxconn) => ({ nearMaxconn })) },
  { weight: 1, arbitrary: edgyInt(0, LIMITS.conditionValue, [1, 2, 10, 100, 300, 1000]).map((abs) => ({ abs })) },
);
const beConnValueArb: fc.Arbitrary<RawValue> = fc
  .oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 1000 }) }, { weight: 1, arbitrary: edgyInt(0, LIMITS.conditionValue, [0, 1, 200]) })
  .map((abs) => ({ abs }));
// nbsrv beyond a backend's server count can never hold, and the loader says so.
const nbsrvValueArb: fc.Arbitrary<RawValue> = fc
  .oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: edgyInt(0, LIMITS.conditionValue, [3, 63, 64, 65]) })
  .map((abs) => ({ abs }));

export const comparisonArb: fc.Arbitrary<RawCondition> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: opArb, value: feValueArb }).map(({ op, value }): RawCondition => ({ kind: "cmp", metric: "fe_conn", backend: 0, op, value })) },
  { weight: 2, arbitrary: fc.record({ backend: fc.nat(9), op: opArb, value: beConnValueArb }).map((r): RawCondition => ({ kind: "cmp", metric: "be_conn", ...r })) },
  { weight: 1, arbitrary: fc.record({ backend: fc.nat(9), op: opArb, value: nbsrvValueArb }).map((r): RawCondition => ({ kind: "cmp", metric: "nbsrv", ...r })) },
);

/** A condition tree of and / or / not / comparisons, at most `depth` levels of operators. */
export function conditionArb(depth = 3): fc.Arbitrary<RawCondition> {
  const { tree } = fc.letrec<{ tree: RawCondition; node: RawCondition }>((tie) => ({
    tree: fc.oneof({ depthSize: "small", maxDepth: depth, withCrossShrink: true }, { weight: 3, arbitrary: comparisonArb }, { weight: 1, arbitrary: tie("node") }),
    node: fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom<"and" | "or">("and", "or"), operands: fc.array(tie("tree"), { minLength: 2, maxLength: 3 }) }) },
      { weight: 1, arbitrary: tie("tree").map((operand): RawCondition => ({ kind: "not", operand })) },
    ),
  }));
  return tree;
}

/** Conditions made to be long: many alternatives or many conjuncts, filling up to the 500-character limit. */
export const longConditionArb: fc.Arbitrary<RawCondition> = fc.oneof(
  fc.array(comparisonArb, { minLength: 20, maxLength: 45 }).map((operands): RawCondition => ({ kind: "or", operands })),
  fc.array(comparisonArb, { minLength: 20, maxLength: 45 }).map((operands): RawCondition => ({ kind: "and", operands })),
  // (a or b) and (c or d) and ...: 2^k alternatives once in disjunctive form.
  fc
    .array(fc.array(comparisonArb, { minLength: 2, maxLength: 3 }), { minLength: 2, maxLength: 7 })
    .map((groups): RawCondition => ({ kind: "and", operands: groups.map((g) => ({ kind: "or", operands: g })) })),
  fc.array(comparisonArb, { minLength: 5, maxLength: 30 }).map((operands): RawCondition => ({ kind: "not", operand: { kind: "and", operands } })),
);

/** The condition in one spec: backend indices to names, fe_conn values placed against the frontend's maxconn. */
export function resolveCondition(c: RawCondition, backends: string[], maxconn: number | null): GenCondition {
  switch (c.kind) {
    case "cmp": {
      const v = c.value;
      const value = "abs" in v ? v.abs : "rel" in v ? v.rel % ((maxconn ?? 5000) + 2) : Math.max(0, (maxconn ?? 300) + v.nearMaxconn);
      const metric: GenMetric = c.metric === "fe_conn" ? { kind: "fe_conn" } : { kind: c.metric, backend: backends[c.backend % backends.length]! };
      return { kind: "cmp", metric, op: c.op, value };
    }
    case "not":
      return { kind: "not", operand: resolveCondition(c.operand, backends, maxconn) };
    default:
      return { kind: c.kind, operands: c.operands.map((o) => resolveCondition(o, backends, maxconn)) };
  }
}

export interface ConditionStyle {
  /** Spaces around operators; false writes `fe_conn>300`. */
  spaced: boolean;
  /** Wrap comparisons in redundant parentheses. */
  extraParens: boolean;
}

function metricText(m: GenMetric, style: ConditionStyle): string {
  return m.kind === "fe_conn" ? "fe_conn" : style.spaced ? `${m.kind}( ${m.backend} )` : `${m.kind}(${m.backend})`;
}

export function conditionText(c: GenCondition, style: ConditionStyle): string {
  const sp = style.spaced ? " " : "";
  switch (c.kind) {
    case "cmp": {
      const text = `${metricText(c.metric, style)}${sp}${c.op}${sp}${c.value}`;
      return style.extraParens ? `(${text})` : text;
    }
    case "not":
      return `not ${c.operand.kind === "cmp" || c.operand.kind === "not" ? conditionText(c.operand, style) : `(${conditionText(c.operand, style)})`}`;
    case "and":
    case "or":
      return c.operands
        .map((o) => (o.kind === "and" || o.kind === "or" ? `(${conditionText(o, style)})` : conditionText(o, style)))
        .join(` ${c.kind} `);
  }
}

/**
 * Whether a condition can hold for some fe_conn from 1 to maxconn, taking each
 * be_conn / nbsrv comparison as a free true-or-false (a rough stand-in for the
 * loader's reachability check, only used to shape what is generated).
 */
export function feConnSatisfiable(c: GenCondition, maxconn: number | null): boolean {
  const points = new Set<number>([1]);
  if (maxconn !== null) points.add(maxconn);
  const free: GenCondition[] = [];
  const visit = (x: GenCondition) => {
    if (x.kind === "cmp") {
      if (x.metric.kind === "fe_conn") for (const d of [-1, 0, 1]) points.add(x.value + d);
      else free.push(x);
    } else if (x.kind === "not") visit(x.operand);
    else x.operands.forEach(visit);
  };
  visit(c);
  if (free.length > 10) return true;
  const limit = maxconn ?? Infinity;
  const counts = [...points].filter((v) => v >= 1 && v <= limit);
  for (let mask = 0; mask < 1 << free.length; mask++) {
    const truth = new Map(free.map((x, i) => [x, (mask & (1 << i)) !== 0]));
    if (counts.some((v) => holds(c, v, truth))) return true;
  }
  return false;
}

function holds(c: GenCondition, fe: number, truth: Map<GenCondition, boolean>): boolean {
  switch (c.kind) {
    case "cmp":
      if (c.metric.kind !== "fe_conn") return truth.get(c) ?? true;
      return c.op === ">" ? fe > c.value : c.op === ">=" ? fe >= c.value : c.op === "<" ? fe < c.value : c.op === "<=" ? fe <= c.value : fe === c.value;
    case "not":
      return !holds(c.operand, fe, truth);
    case "and":
      return c.operands.every((o) => holds(o, fe, truth));
    case "or":
      return c.operands.some((o) => holds(o, fe, truth));
  }
}

/** `fe_conn > t` with t below maxconn, from the condition's first comparison value. */
function satisfiableStandIn(c: GenCondition, maxconn: number | null): GenCondition {
  let first = c;
  while (first.kind !== "cmp") first = first.kind === "not" ? first.operand : first.operands[0]!;
  const limit = maxconn ?? LIMITS.conditionValue;
  return { kind: "cmp", metric: { kind: "fe_conn" }, op: ">", value: Math.max(0, Math.min(first.value, limit - 1)) };
}

/** Drops trailing operands until the text fits the schema's 500 characters. */
export function fitCondition(c: GenCondition, style: ConditionStyle): GenCondition {
  let current = c;
  while (conditionText(current, style).length > LIMITS.conditionLength) {
    const shrunk = shrinkOnce(current);
    if (shrunk === current) break;
    current = shrunk;
  }
  return current;
}

function shrinkOnce(c: GenCondition): GenCondition {
  switch (c.kind) {
    case "cmp":
      return c;
    case "not": {
      const operand = shrinkOnce(c.operand);
      return operand === c.operand ? c : { kind: "not", operand };
    }
    case "and":
    case "or": {
      const last = c.operands[c.operands.length - 1]!;
      if (last.kind !== "cmp") {
        const inner = shrinkOnce(last);
        if (inner !== last) return { ...c, operands: [...c.operands.slice(0, -1), inner] };
      }
      if (c.operands.length <= 1) return c.operands[0] ?? c;
      return c.operands.length === 2 ? c.operands[0]! : { ...c, operands: c.operands.slice(0, -1) };
    }
  }
}

// ---------------------------------------------------------------- the spec

export interface GeneratedRule {
  name?: string;
  if: string;
  use_backend: string;
}

export interface GeneratedFrontend {
  bind: string;
  maxconn?: number;
  timeouts?: Partial<Record<"client" | "http_keep_alive" | "http_request" | "connect" | "server" | "tunnel", string>>;
  http2?: { enabled?: boolean; max_concurrent_streams?: number };
  keep_alive?: { requests?: number };
  rules?: GeneratedRule[];
  default_backend: string;
}

export interface GeneratedBackend {
  servers: number | { name: string; address: string; maxconn?: number }[];
  maxconn?: number;
  balance?: (typeof BALANCE)[number];
  keepalive?: number;
}

export interface GeneratedSpecData {
  version: 1;
  targets?: ("haproxy" | "nginx")[];
  stubs?: { host?: string; base_port?: number };
  frontends: Record<string, GeneratedFrontend>;
  backends: Record<string, GeneratedBackend>;
  scenarios?: Record<string, { load: { websockets: GeneratedWebSockets } }>;
}

export interface GeneratedWebSockets {
  connections: number;
  rooms?: number;
  message_interval?: string;
  payload_bytes?: number;
  session: string;
  connect_rate?: number;
}

export interface GeneratedSpec {
  data: GeneratedSpecData;
  yaml: string;
  /** Each frontend's rule conditions as generated, in rule order: the reference the rendered routing is compared with. */
  conditions: Record<string, GenCondition[]>;
}

const timeoutKeys = ["client", "http_keep_alive", "http_request", "connect", "server", "tunnel"] as const;

const timeoutsArb = (duration: fc.Arbitrary<string>) =>
  fc.record({ client: duration, http_keep_alive: duration, http_request: duration, connect: duration, server: duration, tunnel: duration }, { requiredKeys: [] });

/**
 * WebSocket sessions on the first frontend, within every limit and every
 * rule between the keys (rooms at most connections, session at least the
 * interval): their own errors are property tests of the loader elsewhere;
 * here they must render configs the proxies accept.
 */
const websocketsArb: fc.Arbitrary<GeneratedWebSockets> = fc
  .record(
    {
      connections: edgyInt(1, LIMITS.wsConnections, [1, 100, 200]),
      rooms: edgyInt(0, LIMITS.wsConnections, [0, 1, 10]),
      intervalMs: edgyInt(1, 3_600_000, [100, 1000]),
      payload_bytes: edgyInt(16, LIMITS.wsPayloadBytes, [16, 64, 1024]),
      extraMs: edgyInt(0, 3_600_000, [0, 10_000]),
      connect_rate: edgyInt(1, LIMITS.wsConnectRate, [10, 100]),
    },
    { requiredKeys: ["connections", "intervalMs", "extraMs"] },
  )
  .map(({ connections, rooms, intervalMs, extraMs, payload_bytes, connect_rate }) => ({
    connections,
    ...(rooms !== undefined ? { rooms: Math.min(rooms, connections) } : {}),
    message_interval: `${intervalMs}ms`,
    ...(payload_bytes !== undefined ? { payload_bytes } : {}),
    session: `${intervalMs + extraMs}ms`,
    ...(connect_rate !== undefined ? { connect_rate } : {}),
  }));

const serverListArb = (size: "small" | "large") =>
  fc
    .array(
      fc.record(
        { name: nameArb, host: hostArb, port: portArb, maxconn: edgyInt(1, LIMITS.maxconn, [10, 100, 200]) },
        { requiredKeys: ["name", "host", "port"] },
      ),
      { minLength: 1, maxLength: size === "small" ? 4 : LIMITS.serversPerBackend },
    )
    .map((list) => {
      // Distinct names and distinct host:port pairs within a backend, as a careful user writes them.
      const names = new Set<string>();
      const ports = new Set<number>();
      return list.map((s) => {
        let name = s.name;
        for (let i = 2; names.has(name); i++) name = `${name.slice(0, 60)}${i}`;
        names.add(name);
        let port = s.port;
        while (ports.has(port)) port = (port % 65_535) + 1;
        ports.add(port);
        return { name, address: `${s.host}:${port}`, ...(s.maxconn !== undefined ? { maxconn: s.maxconn } : {}) };
      });
    });

const backendBodyArb = (routing: boolean): fc.Arbitrary<GeneratedBackend> =>
  fc.record(
    {
      servers: routing
        ? fc.integer({ min: 1, max: 3 })
        : fc.oneof(
            { weight: 3, arbitrary: edgyInt(1, LIMITS.serversPerBackend, [1, 2, 3]) },
            { weight: 3, arbitrary: serverListArb("small") },
            { weight: 1, arbitrary: serverListArb("large") },
          ),
      maxconn: edgyInt(1, LIMITS.maxconn, [10, 100, 200]),
      balance: fc.constantFrom(...BALANCE),
      keepalive: edgyInt(routing ? 1 : 0, LIMITS.keepalive, [1, 16, 64]),
    },
    { requiredKeys: ["servers"] },
  );

interface FrontendShape {
  host: string;
  port: number;
  maxconn?: number;
  timeouts?: GeneratedFrontend["timeouts"];
  http2?: GeneratedFrontend["http2"];
  keepAlive?: GeneratedFrontend["keep_alive"];
}

const frontendShapeArb = (anyBind: boolean, routing: boolean): fc.Arbitrary<FrontendShape> => fc.record(
  {
    host: anyBind ? hostArb : localBindHostArb,
    port: anyBind ? portArb : localBindPortArb,
    maxconn: edgyInt(1, LIMITS.maxconn, [2, 10, 300, 310, 2000]),
    timeouts: timeoutsArb(routing ? fc.constantFrom("10s", "30s", "2m", "500ms", "5s", "1h") : durationArb),
    http2: fc.record(
      { enabled: fc.boolean(), max_concurrent_streams: edgyInt(1, LIMITS.maxConcurrentStreams, [100, 128]) },
      { requiredKeys: [] },
    ),
    keepAlive: fc.record({ requests: edgyInt(1, LIMITS.keepAliveRequests, [100, 1000]) }, { requiredKeys: [] }),
  },
  { requiredKeys: ["host", "port"] },
);

interface RawRule {
  condition: RawCondition;
  keepUnsatisfiable: boolean;
  style: ConditionStyle;
  /** null: no name; a string: this name; a number: the spec's shared rule name of that index. */
  name: string | number | null;
  useBackend: number;
}

const rawRuleArb = (names: fc.Arbitrary<string>): fc.Arbitrary<RawRule> => fc.record({
  condition: fc.oneof({ weight: 25, arbitrary: conditionArb() }, { weight: 1, arbitrary: longConditionArb }),
  // Most users write rules that can fire; one in ten unsatisfiable ones is kept, for the loader's check.
  keepUnsatisfiable: fc.nat(9).map((n) => n === 0),
  style: fc.record({ spaced: fc.boolean(), extraParens: fc.boolean() }),
  // A rule name: none, a fresh one, or one other rules of the spec also use.
  name: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: names }, { weight: 1, arbitrary: fc.nat(2) }),
  useBackend: fc.nat(9),
});

const rawRulesArb = (names: fc.Arbitrary<string>, routing: boolean): fc.Arbitrary<RawRule[]> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.array(rawRuleArb(names), { minLength: routing ? 1 : 0, maxLength: 5 }) },
    { weight: 1, arbitrary: fc.array(rawRuleArb(names), { minLength: 6, maxLength: routing ? 16 : LIMITS.rulesPerFrontend }) },
  );

function resolveRule(r: RawRule, backends: string[], maxconn: number | null, ruleNames: string[]): { rule: GeneratedRule; condition: GenCondition } {
  let condition = fitCondition(resolveCondition(r.condition, backends, maxconn), r.style);
  if (!r.keepUnsatisfiable && !feConnSatisfiable(condition, maxconn)) condition = satisfiableStandIn(condition, maxconn);
  const name = typeof r.name === "number" ? ruleNames[r.name % ruleNames.length]! : r.name;
  return { rule: { ...(name !== null ? { name } : {}), if: conditionText(condition, r.style), use_backend: backends[r.useBackend % backends.length]! }, condition };
}

/** Nudges ports so that binds are distinct and clear of the stub port range. */
function placeBinds(shapes: FrontendShape[], stubRange: [number, number], anyBind: boolean): string[] {
  const used = new Set<number>();
  return shapes.map((s) => {
    let port = s.port;
    const taken = (p: number) => used.has(p) || (p >= stubRange[0] && p < stubRange[1]);
    const [lo, hi] = anyBind ? [1, 65_535] : [20_000, 29_999];
    for (let i = 0; taken(port) && i < 70_000; i++) port = port >= hi ? lo : port + 1;
    used.add(port);
    return `${s.host}:${port}`;
  });
}

export interface SpecGenOptions {
  maxFrontends?: number;
  maxBackends?: number;
  /**
   * Frontends bind any IP address and port the schema accepts, not only this
   * machine's loopback and wildcard addresses on unprivileged ports: the
   * configs are then only as good as the machine `nginx -t` runs on.
   */
  anyBind?: boolean;
  /**
   * For routing properties: specs that should reach both proxies. Short names
   * (still with case and '-'/'_' variants and reserved words), ordinary
   * timeouts, 1-3 stub servers, keepalive of at least 1, at least one rule
   * per frontend; conditions as varied as ever.
   */
  routing?: boolean;
}

/** A whole spec: version, optional targets and stubs, frontends with rules, backends. */
export function specArb(options: SpecGenOptions = {}): fc.Arbitrary<GeneratedSpec> {
  const maxFrontends = options.maxFrontends ?? 4;
  const maxBackends = options.maxBackends ?? 5;
  const anyBind = options.anyBind ?? false;
  const routing = options.routing ?? false;
  const names = routing ? shortNameArb : nameArb;
  const frontendArb = fc.record({ shape: frontendShapeArb(anyBind, routing), rules: rawRulesArb(names, routing), defaultBackend: fc.nat(9) });
  return fc
    .record({
      frontends: namedEntries(frontendArb, routing ? 2 : 1, maxFrontends, names),
      backends: namedEntries(backendBodyArb(routing), 1, maxBackends, names),
      ruleNames: distinctNames(1, 3, names),
      targets: fc.option(fc.constantFrom<("haproxy" | "nginx")[]>(["haproxy", "nginx"], ["nginx", "haproxy"]), { freq: 4 }),
      websockets: fc.option(websocketsArb, { freq: 3 }),
      stubs: fc.option(
        fc.record(
          {
            host: fc.constantFrom("127.0.0.1", "127.0.0.2", "127.255.255.254"),
            base_port: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(9001, 20000, 30000) }, { weight: 1, arbitrary: edgyInt(1, 65_535, [1, 65_000, 65_535]) }),
          },
          { requiredKeys: [] },
        ),
        { freq: 3 },
      ),
    })
    .map(({ frontends, backends, ruleNames, targets, stubs, websockets }): GeneratedSpec => {
      const backendNames = backends.map(([n]) => n);
      const basePort = stubs?.base_port ?? 9001;
      const stubCount = backends.reduce((n, [, b]) => n + (typeof b.servers === "number" ? b.servers : 0), 0);
      const binds = placeBinds(frontends.map(([, f]) => f.shape), [basePort, basePort + stubCount], anyBind);
      const resolved = frontends.map(([name, f]) => ({ name, f, rules: f.rules.map((r) => resolveRule(r, backendNames, f.shape.maxconn ?? null, ruleNames)) }));
      const data: GeneratedSpecData = {
        version: 1,
        ...(targets ? { targets } : {}),
        ...(stubs ? { stubs } : {}),
        frontends: Object.fromEntries(
          resolved.map(({ name, f, rules }, i) => {
            const s = f.shape;
            const fe: GeneratedFrontend = {
              bind: binds[i]!,
              ...(s.maxconn !== undefined ? { maxconn: s.maxconn } : {}),
              ...(s.timeouts && Object.keys(s.timeouts).length > 0 ? { timeouts: orderKeys(s.timeouts, timeoutKeys) } : {}),
              ...(s.http2 ? { http2: s.http2 } : {}),
              ...(s.keepAlive ? { keep_alive: s.keepAlive } : {}),
              ...(rules.length > 0 ? { rules: rules.map((r) => r.rule) } : {}),
              default_backend: backendNames[f.defaultBackend % backendNames.length]!,
            };
            return [name, fe];
          }),
        ),
        backends: Object.fromEntries(backends),
        ...(websockets ? { scenarios: { chat: { load: { websockets } } } } : {}),
      };
      return withYaml(data, Object.fromEntries(resolved.map(({ name, rules }) => [name, rules.map((r) => r.condition)])));
    });
}

function orderKeys<T extends Record<string, unknown>>(obj: T, keys: readonly string[]): T {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]])) as T;
}

/** The YAML a user would write for the data; fast-check prints it for a counterexample. */
export function withYaml(data: GeneratedSpecData, conditions: Record<string, GenCondition[]>): GeneratedSpec {
  const yaml = stringify(data, { lineWidth: 0 });
  return {
    data,
    yaml,
    conditions,
    [fc.toStringMethod]: () => `\n--- spec.yaml\n${yaml}---`,
  } as GeneratedSpec;
}
