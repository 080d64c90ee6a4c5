import { z } from "zod";
import { bindProblem, isProblem, parseHostPort, parseIPv4 } from "./address.js";
import { isLoopbackIp } from "../wire.js";
import { DURATION_PATTERN } from "./duration.js";
export { DURATION_PATTERN } from "./duration.js";
import { MAX_TIMER_MS, OBJECT_MEMBER_NAMES, reservedAclName } from "./limits.js";

/**
 * The single source of the spec's shape. Runtime validation uses these zod
 * schemas, and `spillway schema` derives the JSON Schema from them.
 * Everything that reaches a rendered config is constrained here to a strict
 * character set, so no value can carry a newline, `;`, `{`, `#` or a quote.
 */

export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
/** For editors only: validation parses addresses (see address.ts) and says what is wrong with one. */
const ADDRESS_HINT_PATTERN = "^(?:[0-9.]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$";
/** `0`, `>= 100`, `>= 90%`, `100%`, `< 1%`, `< 200ms`: an optional comparison, a number and a unit. */
export const EXPECTATION_PATTERN = /^\s*(>=|<=|==|>|<|=)?\s*([0-9]+(?:\.[0-9]+)?)\s*(%|ms|s|m)?\s*$/;
/** The rule condition language: checked fully by the condition parser; the pattern only keeps the schema honest for editors. */
const CONDITION_PATTERN = /^[A-Za-z0-9_()<>=!\s-]{1,500}$/;

export const TARGETS = ["haproxy", "nginx"] as const;
export const BALANCE = ["roundrobin", "leastconn", "first", "source", "random"] as const;
export const PROTOCOLS = ["h2c", "h1", "h1-close", "h2"] as const;

/** A string constrained by a pattern, with one message for a wrong type and a wrong form alike. */
const patterned = (pattern: RegExp, message: string) => z.string({ error: message }).regex(pattern, { error: message });
const NAME_MESSAGE = "must start with a letter and hold only letters, digits, '_' or '-' (at most 63 characters)";
/** Names become proxy identifiers and JavaScript object keys: `constructor` or `toString` would shadow a built-in member. */
const name = patterned(NAME_PATTERN, NAME_MESSAGE).refine((v) => !OBJECT_MEMBER_NAMES.includes(v), {
  error: (issue) => `'${String(issue.input)}' is reserved (a member of every JavaScript object); choose another name`,
});
const ruleName = name.refine((v) => reservedAclName(v) === null, {
  error: (issue) =>
    `'${String(issue.input)}' cannot name an HAProxy ACL: it is ${reservedAclName(String(issue.input)) === "grammar" ? "the 'or' of HAProxy's condition grammar (in any letter case)" : "one of HAProxy's predefined ACLs"} (limit: acl-name)`,
});
const DURATION_MESSAGE = "must be a whole number with a unit: ms, s, m or h (e.g. 500ms, 10s, 2m)";
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const duration = patterned(DURATION_PATTERN, DURATION_MESSAGE).refine(
  (v) => {
    const m = DURATION_PATTERN.exec(v);
    return !m || Number(m[1]) * UNIT_MS[m[2]!]! <= MAX_TIMER_MS;
  },
  { error: (issue) => `${String(issue.input)} is longer than the longest timer HAProxy, nginx and Node accept, ${MAX_TIMER_MS}ms (about 24 days) (limit: timer)` },
);
const address = z
  .string({ error: "must be host:port with an IP address, e.g. 127.0.0.1:8080 or [::1]:8080" })
  .superRefine((v, ctx) => {
    const parsed = parseHostPort(v);
    if (isProblem(parsed)) ctx.addIssue({ code: "custom", message: `address ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)} ${parsed.reason} (limit: address)` });
  })
  .meta({ pattern: ADDRESS_HINT_PATTERN });
const bindAddress = address.superRefine((v, ctx) => {
  const parsed = parseHostPort(v);
  const problem = isProblem(parsed) ? null : bindProblem(parsed.host);
  if (problem) ctx.addIssue({ code: "custom", message: `address ${JSON.stringify(v)} ${problem} (limit: address)` });
});
const loopbackIPv4 = z.string({ error: "must be an IPv4 address in 127.0.0.0/8" }).superRefine((v, ctx) => {
  const parsed = parseIPv4(v);
  if (isProblem(parsed)) ctx.addIssue({ code: "custom", message: `${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)} ${parsed.reason}` });
  else if (!isLoopbackIp(parsed)) ctx.addIssue({ code: "custom", message: `${v} is not on loopback: spillway runs stubs and drives load only within 127.0.0.0/8` });
}).meta({ pattern: "^127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$" });
const count = (min: number, max: number) => z.number().int().min(min).max(max);
const expectation = patterned(EXPECTATION_PATTERN, 'must be a quoted comparison such as "0", ">= 100", ">= 90%", "100%", "< 1%" or "< 200ms"');

export const timeoutsSchema = z
  .strictObject({
    client: duration.optional(),
    http_keep_alive: duration.optional(),
    http_request: duration.optional(),
    connect: duration.optional(),
    server: duration.optional(),
  })
  .describe("Proxy timeouts. HAProxy names: timeout client, http-keep-alive, http-request, connect, server.");

export const ruleSchema = z
  .strictObject({
    name: ruleName.optional().describe("Name for the generated HAProxy ACL"),
    if: patterned(CONDITION_PATTERN, 'must be a condition such as "fe_conn > 300"')
      .describe("fe_conn, be_conn(<backend>), nbsrv(<backend>) compared with > >= < <= == to integers; and, or, not, parentheses"),
    use_backend: name,
  })
  .describe("A routing rule; rules are tried in order and the first match wins");

export const frontendSchema = z.strictObject({
  bind: bindAddress.describe("Listening address, IP:port or [IPv6]:port"),
  maxconn: count(1, 1_000_000).optional().describe("Frontend connection limit (HAProxy maxconn)"),
  timeouts: timeoutsSchema.optional(),
  http2: z
    .strictObject({
      enabled: z.boolean().optional(),
      max_concurrent_streams: count(1, 65_535).optional(),
    })
    .optional(),
  keep_alive: z
    .strictObject({
      requests: count(1, 10_000_000).optional().describe("Requests per client connection before the proxy closes it"),
    })
    .optional(),
  rules: z.array(ruleSchema).max(64).optional(),
  default_backend: name,
});

const serverEntry = z.strictObject({
  name,
  address,
  maxconn: count(1, 1_000_000).optional(),
});

export const backendSchema = z.strictObject({
  servers: z
    .union([count(1, 64), z.array(serverEntry).min(1).max(64)], {
      error: "must be a number of stubs (1 to 64) or a list of {name, address}",
    })
    .describe("A count of stubs spillway runs, or a list of {name, address}"),
  maxconn: count(1, 1_000_000).optional().describe("Per-server connection limit"),
  balance: z.enum(BALANCE).optional(),
  keepalive: count(0, 10_000).optional().describe("Idle upstream connections nginx keeps per worker (nginx `keepalive`)"),
  stub: z
    .strictObject({
      latency: duration.optional(),
      body_bytes: count(0, 16 * 1024 * 1024).optional(),
      failure_rate: z.number().min(0).max(1).optional(),
      failure_status: count(200, 599).optional(),
    })
    .optional()
    .describe("Behaviour of the stubs spillway starts for this backend"),
});

const stage = z.strictObject({ duration, target: count(0, 100_000) });

export const loadSchema = z.strictObject({
  h2load: z
    .string()
    .min(1)
    .max(1000)
    .optional()
    .describe("An h2load command line without the URL (e.g. \"-c310 -m40 -n40000 --rate=310\"), run on spillway's driver; replaces connections, streams, requests, duration, connect_rate, connect_period, workers, warmup and protocol"),
  protocol: z.enum(PROTOCOLS).optional(),
  connections: count(1, 100_000).optional().describe("Required unless h2load is given"),
  streams: count(1, 10_000).optional(),
  connect_rate: count(1, 100_000)
    .optional()
    .describe("h2load --rate: this many connections open at once at the start, then as many again every connect_period, up to connections (at least workers, at most connections)"),
  connect_period: duration.optional().describe("h2load --rate-period: the period of connect_rate's bursts (default 1s)"),
  budget: z
    .enum(["per-client", "pooled"])
    .optional()
    .describe("per-client (default with requests): requests split over connections as h2load -n is, each connection closing when its share is done; pooled: one pool, connections stay open"),
  requests: count(1, 100_000_000).optional(),
  duration: duration.optional(),
  warmup: duration.optional(),
  stages: z.array(stage).min(1).max(100).optional(),
  arrival_rate: count(1, 10_000_000).optional(),
  think_time: duration.optional(),
  keep_alive: z
    .strictObject({
      close_after_requests: count(1, 100_000_000).optional(),
      close_after_idle: duration.optional(),
    })
    .optional(),
  reconnect: z.boolean().optional(),
  source_addresses: z.array(loopbackIPv4).max(254).optional(),
  workers: count(1, 64).optional(),
  timeout: duration.optional(),
  path: z.string().regex(/^\/[A-Za-z0-9._~\/-]{0,200}$/, { error: "must be a path such as /api" }).optional(),
});

export const expectSchema = z.strictObject({
  backends: z.record(name, expectation).optional(),
  errors: expectation.optional(),
  unattributed: expectation.optional(),
  latency: z
    .strictObject({ p50: expectation.optional(), p90: expectation.optional(), p99: expectation.optional(), max: expectation.optional() })
    .optional(),
  max_connections_seen: expectation.optional(),
});

export const scenarioSchema = z.strictObject({
  description: z.string().max(500).optional().describe("Free text shown in reports, never rendered into a config"),
  targets: z.array(z.enum(TARGETS)).min(1).optional().describe("Run this scenario only on these targets"),
  frontend: name.optional().describe("The frontend the load goes to (default: the first one)"),
  load: loadSchema,
  expect: expectSchema.optional(),
  expect_by_target: z
    .strictObject({ haproxy: expectSchema.optional(), nginx: expectSchema.optional() })
    .optional()
    .describe("Expectations for one target only; keys given here replace the same keys of `expect` for that target"),
});

export const specSchema = z
  .strictObject({
    version: z.literal(1),
    targets: z.array(z.enum(TARGETS)).min(1).optional(),
    stubs: z
      .strictObject({
        host: loopbackIPv4.optional(),
        base_port: count(1, 65_535).optional(),
      })
      .optional()
      .describe("Where `servers: N` stubs listen: host and first port (default 127.0.0.1:9001)"),
    frontends: z.record(name, frontendSchema),
    backends: z.record(name, backendSchema),
    scenarios: z.record(name, scenarioSchema).optional(),
  })
  .describe("spillway spec, version 1");

export type SpecInput = z.infer<typeof specSchema>;
export type FrontendInput = z.infer<typeof frontendSchema>;
export type BackendInput = z.infer<typeof backendSchema>;
export type ScenarioInput = z.infer<typeof scenarioSchema>;
export type LoadInput = z.infer<typeof loadSchema>;
export type ExpectInput = z.infer<typeof expectSchema>;

/** The JSON Schema for editors, derived from the zod schemas above. */
export function specJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(specSchema, { target: "draft-2020-12" }) as Record<string, unknown>;
  return {
    $id: "urn:spillway:spec:1",
    title: "spillway spec",
    ...schema,
  };
}
