import { z } from "zod";

/**
 * The single source of the spec's shape. Runtime validation uses these zod
 * schemas, and `spillway schema` derives the JSON Schema from them.
 * Everything that reaches a rendered config is constrained here to a strict
 * character set, so no value can carry a newline, `;`, `{`, `#` or a quote.
 */

export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
export const DURATION_PATTERN = /^(0|[1-9][0-9]{0,8})(ms|s|m|h)$/;
const HOST_PATTERN = "(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}|\\[[0-9A-Fa-f:.]{2,45}\\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)";
const PORT_PATTERN = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})";
export const ADDRESS_PATTERN = new RegExp(`^${HOST_PATTERN}:${PORT_PATTERN}$`);
export const IPV4_PATTERN = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;
/** `0`, `>= 100`, `>= 90%`, `100%`, `< 1%`, `< 200ms`: an optional comparison, a number and a unit. */
export const EXPECTATION_PATTERN = /^\s*(>=|<=|==|>|<|=)?\s*([0-9]+(?:\.[0-9]+)?)\s*(%|ms|s|m)?\s*$/;
/** The rule condition language: checked fully by the condition parser; the pattern only keeps the schema honest for editors. */
const CONDITION_PATTERN = /^[A-Za-z0-9_()<>=!\s-]{1,500}$/;

export const TARGETS = ["haproxy", "nginx"] as const;
export const BALANCE = ["roundrobin", "leastconn", "first", "source", "random"] as const;
export const PROTOCOLS = ["h2c", "h1", "h1-close", "h2"] as const;

/** A string constrained by a pattern, with one message for a wrong type and a wrong form alike. */
const patterned = (pattern: RegExp, message: string) => z.string({ error: message }).regex(pattern, { error: message });
const name = patterned(NAME_PATTERN, "must start with a letter and hold only letters, digits, '_' or '-' (at most 63 characters)");
const duration = patterned(DURATION_PATTERN, "must be a whole number with a unit: ms, s, m or h (e.g. 500ms, 10s, 2m)");
const address = patterned(ADDRESS_PATTERN, "must be host:port, e.g. 127.0.0.1:8080 (an IPv4 address, [IPv6] or a DNS name)");
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
    name: name.optional().describe("Name for the generated HAProxy ACL"),
    if: patterned(CONDITION_PATTERN, 'must be a condition such as "fe_conn > 300"')
      .describe("fe_conn, be_conn(<backend>), nbsrv(<backend>) compared with > >= < <= == to integers; and, or, not, parentheses"),
    use_backend: name,
  })
  .describe("A routing rule; rules are tried in order and the first match wins");

export const frontendSchema = z.strictObject({
  bind: address.describe("Listening address, host:port"),
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
  protocol: z.enum(PROTOCOLS).optional(),
  connections: count(1, 100_000),
  streams: count(1, 10_000).optional(),
  connect_rate: count(1, 1_000_000).optional(),
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
  source_addresses: z.array(patterned(IPV4_PATTERN, "must be an IPv4 address in 127.0.0.0/8")).max(254).optional(),
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
        host: patterned(IPV4_PATTERN, "must be an IPv4 address in 127.0.0.0/8").optional(),
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
