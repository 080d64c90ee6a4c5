import { z } from "zod";
import { bindProblem, isProblem, parseHostPort, parseIPv4 } from "./address.js";
import { isLoopbackIp } from "../wire.js";
import { DURATION_PATTERN } from "./duration.js";
export { DURATION_PATTERN } from "./duration.js";
import { MAX_TIMER_MS, OBJECT_MEMBER_NAMES, reservedAclName } from "./limits.js";
import { BUDGETS, LOAD_DEFAULTS, PROTOCOLS, WEBSOCKET_DEFAULTS, WS_HEADER_BYTES, WS_MAX_PAYLOAD_BYTES } from "./load-defaults.js";
export { BUDGETS, LOAD_DEFAULTS, PROTOCOLS, WEBSOCKET_DEFAULTS, WS_HEADER_BYTES, WS_MAX_PAYLOAD_BYTES } from "./load-defaults.js";

/**
 * The single source of the spec's shape. Runtime validation uses these zod
 * schemas, and `spillway schema` derives the JSON Schema from them.
 * Everything that reaches a rendered config is constrained here to a strict
 * character set, so no value can carry a newline, `;`, `{`, `#` or a quote.
 */

export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
/** For editors only: validation parses addresses (see address.ts) and says what is wrong with one. */
export const ADDRESS_HINT_PATTERN = "^(?:[0-9.]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$";
/** For editors only, as ADDRESS_HINT_PATTERN: validation parses the address. */
export const LOOPBACK_HINT_PATTERN = "^127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$";
/** `0`, `>= 100`, `>= 90%`, `100%`, `< 1%`, `< 200ms`: an optional comparison, a number and a unit. */
export const EXPECTATION_PATTERN = /^\s*(>=|<=|==|>|<|=)?\s*([0-9]+(?:\.[0-9]+)?)\s*(%|ms|s|m)?\s*$/;
/** The rule condition language: checked fully by the condition parser; the pattern only keeps the schema honest for editors. */
export const CONDITION_PATTERN = /^[A-Za-z0-9_()<>=!\s-]{1,500}$/;

export const TARGETS = ["haproxy", "nginx"] as const;
export const BALANCE = ["roundrobin", "leastconn", "first", "source", "random"] as const;

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
}).meta({ pattern: LOOPBACK_HINT_PATTERN });
const count = (min: number, max: number) => z.number().int().min(min).max(max);
const expectation = patterned(EXPECTATION_PATTERN, 'must be a quoted comparison such as "0", ">= 100", ">= 90%", "100%", "< 1%" or "< 200ms"');

/** One example for editors and the spec reference, kept next to the description it illustrates. */
const example = (value: unknown) => ({ examples: [value] });

export const timeoutsSchema = z
  .strictObject({
    client: duration
      .optional()
      .describe("Inactivity on the client side: HAProxy `timeout client`; nginx `client_body_timeout` and `send_timeout`, which count per read or write rather than for the whole connection")
      .meta(example("2m")),
    http_keep_alive: duration
      .optional()
      .describe("How long an idle client connection waits for its next request: HAProxy `timeout http-keep-alive`; nginx `keepalive_timeout`")
      .meta(example("10s")),
    http_request: duration
      .optional()
      .describe("Time a client has to send a whole request header: HAProxy `timeout http-request`; nginx `client_header_timeout`")
      .meta(example("10s")),
    connect: duration
      .optional()
      .describe("Time to open a connection to a server: HAProxy `timeout connect`; nginx `proxy_connect_timeout`. A backend that several frontends route to takes the longest of theirs")
      .meta(example("5s")),
    server: duration
      .optional()
      .describe("Inactivity on the server side: HAProxy `timeout server`; nginx `proxy_read_timeout` and `proxy_send_timeout`. A backend that several frontends route to takes the longest of theirs")
      .meta(example("2m")),
    tunnel: duration
      .optional()
      .describe(
        "Inactivity of an upgraded (WebSocket) connection, once the server has answered 101: HAProxy `timeout tunnel`, which replaces timeout client and server for it and counts silence in both directions; nginx `proxy_read_timeout` and `proxy_send_timeout` in the location upgrades go to, which count silence from the server only. A backend that several frontends route to takes the longest of theirs",
      )
      .meta(example("1h")),
  })
  .describe("Proxy timeouts. HAProxy names: timeout client, http-keep-alive, http-request, connect, server, tunnel.");

export const ruleSchema = z
  .strictObject({
    name: ruleName.optional().describe("Name for the generated HAProxy ACL").meta(example("too_many_connections")),
    if: patterned(CONDITION_PATTERN, 'must be a condition such as "fe_conn > 300"')
      .describe("fe_conn, be_conn(<backend>), nbsrv(<backend>) compared with > >= < <= == to integers; and, or, not, parentheses")
      .meta(example("fe_conn > 300")),
    use_backend: name.describe("The backend a request goes to when the condition holds").meta(example("pbcoffee")),
  })
  .describe("A routing rule; rules are tried in order and the first match wins")
  .meta(example({ if: "fe_conn > 300", use_backend: "pbcoffee" }));

export const frontendSchema = z
  .strictObject({
    bind: bindAddress.describe("Listening address, IP:port or [IPv6]:port").meta(example("127.0.0.1:8080")),
    maxconn: count(1, 1_000_000)
      .optional()
      .describe("Frontend connection limit (HAProxy maxconn): connections beyond it wait in the kernel's accept queue. nginx has no such limit and renders none")
      .meta(example(310)),
    timeouts: timeoutsSchema.optional().meta(example({ client: "2m", server: "2m" })),
    http2: z
      .strictObject({
        enabled: z.boolean().optional().describe("false serves HTTP/1.1 only; otherwise one port speaks HTTP/1.1 and h2c (HTTP/2 without TLS)").meta(example(false)),
        max_concurrent_streams: count(1, 65_535)
          .optional()
          .describe("Streams one client connection may have open at once: HAProxy `tune.h2.max-concurrent-streams` (one global value, the largest of all frontends; per frontend from 2.7), nginx `http2_max_concurrent_streams`")
          .meta(example(100)),
      })
      .optional()
      .describe("HTTP/2 on this frontend")
      .meta(example({ max_concurrent_streams: 100 })),
    keep_alive: z
      .strictObject({
        requests: count(1, 10_000_000)
          .optional()
          .describe("Requests per client connection before the proxy closes it (nginx `keepalive_requests`; HAProxy from 2.9 only for HTTP/2, as `tune.h2.fe.max-total-streams`)")
          .meta(example(1000)),
      })
      .optional()
      .describe("When the proxy closes a client connection that is still in use")
      .meta(example({ requests: 1000 })),
    rules: z.array(ruleSchema).max(64).optional().describe("Routing rules, tried in order; the first whose condition holds picks the backend"),
    default_backend: name.describe("The backend for requests no rule picks").meta(example("ade")),
  })
  .describe("A listening address, its limits and its routing rules")
  .meta(example({ bind: "127.0.0.1:8080", default_backend: "ade" }));

const serverEntry = z
  .strictObject({
    name: name.describe("Server name in HAProxy's `server` line and in reports").meta(example("s1")),
    address: address.describe("Address of a server spillway does not run: IP:port or [IPv6]:port").meta(example("127.0.0.1:9003")),
    maxconn: count(1, 1_000_000).optional().describe("Connections to this server at once; replaces the backend's maxconn for this server").meta(example(200)),
  })
  .describe("A server given by address; spillway starts no stub for it")
  .meta(example({ name: "s1", address: "127.0.0.1:9003" }));

export const backendSchema = z
  .strictObject({
    servers: z
      .union([count(1, 64), z.array(serverEntry).min(1).max(64)], {
        error: "must be a number of stubs (1 to 64) or a list of {name, address}",
      })
      .describe("A count of stubs spillway runs, or a list of {name, address}")
      .meta(example(2)),
    maxconn: count(1, 1_000_000)
      .optional()
      .describe("Per-server connection limit: HAProxy queues requests beyond it (until `timeout queue`), nginx `max_conns` answers them with 502 at once")
      .meta(example(200)),
    balance: z
      .enum(BALANCE)
      .optional()
      .describe("How a server is picked. nginx renders leastconn exactly, source as ip_hash and random with another method, and has no first (round robin instead)")
      .meta(example("leastconn")),
    keepalive: count(0, 10_000).optional().describe("Idle upstream connections nginx keeps per worker (nginx `keepalive`)").meta(example(32)),
    stub: z
      .strictObject({
        latency: duration.optional().describe("Delay before each response").meta(example("20ms")),
        body_bytes: count(0, 16 * 1024 * 1024).optional().describe("Response body size in bytes").meta(example(1024)),
        failure_rate: z
          .number()
          .min(0)
          .max(1)
          .optional()
          .describe("Share of responses, 0 to 1, answered with failure_status instead; spread evenly, the same on every run")
          .meta(example(0.01)),
        failure_status: count(200, 599).optional().describe("HTTP status of a failed response").meta(example(500)),
      })
      .optional()
      .describe("Behaviour of the stubs spillway starts for this backend")
      .meta(example({ latency: "20ms" })),
  })
  .describe("A group of servers the proxies balance requests over")
  .meta(example({ servers: 2, maxconn: 200 }));

/** A loopback IP a load's connections bind to: IPv4 in 127.0.0.0/8 as `loopbackIPv4` reads it, or IPv6 loopback (::1). */
const loopbackSource = z
  .string({ error: "must be a loopback IP address: 127.x.y.z or ::1" })
  .superRefine((v, ctx) => {
    if (!v.includes(":")) {
      const v4 = loopbackIPv4.safeParse(v);
      if (!v4.success) for (const issue of v4.error.issues) ctx.addIssue({ code: "custom", message: issue.message });
    } else if (!isLoopbackIp(v) || v.startsWith("[")) {
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)} is not on loopback: the IPv6 loopback address is ::1` });
    }
  })
  .meta({ pattern: "^(?:127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|::1)$" });


/** The reference's default for a key: documentation only, parsing leaves the key out. */
const documentedDefault = (value: unknown) => ({ default: value });

export const stageSchema = z
  .strictObject({
    duration: duration.describe("How long the stage lasts; 0s jumps to its target at once, as in k6").meta(example("30s")),
    target: count(0, 100_000).describe("Connections open at the end of the stage; the count ramps in whole connections from the previous stage's target, or from 0 for the first").meta(example(300)),
  })
  .describe("One stage of a k6-style ramp (k6's ramping-vus, with connections for VUs)")
  .meta(example({ duration: "30s", target: 300 }));

export const keepAliveSchema = z
  .strictObject({
    close_after_requests: count(1, 100_000_000)
      .optional()
      .describe("Requests a connection carries before the driver closes it and opens a new one. Default: no limit (protocol h1-close: 1)")
      .meta(example(100)),
    close_after_idle: duration
      .optional()
      .describe("How long a connection may stay idle before the driver closes it and opens a new one; above 0. Default: no limit")
      .meta(example("5s")),
  })
  .optional()
  .describe("When the driver closes a connection of its own accord. Default: connections stay open to the end of the run")
  .meta(example({ close_after_requests: 100 }));


export const websocketsSchema = z
  .strictObject({
    connections: count(1, 100_000)
      .describe("WebSocket sessions held at once, each on its own connection; at most 100000, as the HTTP load's connections")
      .meta(example(100)),
    rooms: count(0, 100_000)
      .optional()
      .describe(
        "Chat rooms the sessions are dealt over in turn (room-1, room-2, ...): every message a member sends reaches every member, the sender included. 0: no room, each message is echoed to its sender only. At most connections, so no room is empty",
      )
      .meta({ ...example(1), ...documentedDefault(WEBSOCKET_DEFAULTS.rooms) }),
    message_interval: duration
      .optional()
      .describe("Each session sends one message this often; at least 1ms")
      .meta({ ...example("1s"), ...documentedDefault(WEBSOCKET_DEFAULTS.message_interval) }),
    payload_bytes: count(WS_HEADER_BYTES, WS_MAX_PAYLOAD_BYTES)
      .optional()
      .describe(
        `Bytes in each message: at least ${WS_HEADER_BYTES}, the driver's header (sender id u32, sequence u32, send time f64) that fan-out latency and delivery are measured by; at most ${WS_MAX_PAYLOAD_BYTES} (1 MiB)`,
      )
      .meta({ ...example(64), ...documentedDefault(WEBSOCKET_DEFAULTS.payload_bytes) }),
    session: duration
      .describe("How long each session stays open (k6's ws_session_duration); a session that ends sooner fails. At least message_interval, so each session sends a message")
      .meta(example("10s")),
    connect_rate: count(1, 100_000)
      .optional()
      .describe("Sessions opened per second, spread evenly; at most 100000, as the HTTP load's connect_rate. Default: every session opens at the start")
      .meta(example(50)),
  });

export const loadSchema = z
  .strictObject({
    h2load: z
      .string()
      .min(1)
      .max(1000)
      .optional()
      .describe(
        "An h2load command line without the URL, run on spillway's driver as h2load means it. It sets protocol, connections, streams, requests, duration, warmup, connect_rate, connect_period, budget and workers, so none of those (nor stages, arrival_rate or think_time) may be given beside it",
      )
      .meta(example("-c310 -m40 -n40000 --rate=310")),
    protocol: z
      .enum(PROTOCOLS)
      .optional()
      .describe("What the driver speaks: h2c (HTTP/2 without TLS), h1 (HTTP/1.1 keep-alive), h1-close (HTTP/1.1, one request per connection), h2 (HTTP/2 over TLS, for an https:// URL, where it is the default)")
      .meta({ ...example("h1"), ...documentedDefault(LOAD_DEFAULTS.protocol) }),
    connections: count(1, 100_000)
      .optional()
      .describe("Connections the driver opens (h2load -c). A spec gives it unless h2load is given (spillway load: 1); with stages, the most open at once is the larger of this and the highest stage target")
      .meta(example(300)),
    streams: count(1, 10_000)
      .optional()
      .describe("Requests in flight at once on each connection (h2load -m): HTTP/2 streams; HTTP/1.1 carries 1")
      .meta({ ...example(40), ...documentedDefault(LOAD_DEFAULTS.streams) }),
    connect_rate: count(1, 100_000)
      .optional()
      .describe("h2load --rate: this many connections open at once at the start, then as many again every connect_period, up to connections (at least workers, at most connections). Not with stages. Default: every connection opens at the start")
      .meta(example(100)),
    connect_period: duration
      .optional()
      .describe("h2load --rate-period: the period of connect_rate's bursts; above 0, and only with connect_rate")
      .meta({ ...example("500ms"), ...documentedDefault(LOAD_DEFAULTS.connect_period) }),
    budget: z
      .enum(BUDGETS)
      .optional()
      .describe(
        "How requests are shared. per-client: requests split over connections as h2load -n is, each connection closing when its share is done (needs requests, at least as many as connections; not with stages or arrival_rate); pooled: one pool every connection draws from, connections staying open. Default: per-client when requests is given without stages or arrival_rate, otherwise pooled",
      )
      .meta(example("pooled")),
    requests: count(1, 100_000_000)
      .optional()
      .describe("Requests to send in all (h2load -n); the run ends when they have been answered. A load gives requests, duration or stages")
      .meta(example(40_000)),
    duration: duration
      .optional()
      .describe("How long to send requests after warmup; above 0 (h2load -D). With requests too, the run ends at whichever comes first")
      .meta(example("30s")),
    warmup: duration
      .optional()
      .describe("A first period whose requests are sent but left out of the result (h2load --warm-up-time)")
      .meta({ ...example("5s"), ...documentedDefault(LOAD_DEFAULTS.warmup) }),
    stages: z
      .array(stageSchema)
      .min(1)
      .max(100)
      .optional()
      .describe("A k6-style ramp: the number of open connections follows the stages in turn from 0, and the run ends with the last one. Not with connect_rate. Default: no ramp, every connection opens at the start")
      .meta(example([{ duration: "30s", target: 300 }, { duration: "10s", target: 0 }])),
    arrival_rate: z
      .number()
      .positive()
      .max(10_000_000)
      .optional()
      .describe(
        "Open model: requests per second for the whole run, each sent on a free stream at its scheduled time whatever the server's pace; latency counts from that time. Default: the closed model, where a stream sends its next request when the last one is answered",
      )
      .meta(example(500)),
    think_time: duration
      .optional()
      .describe("Closed model: a pause between a stream's requests. Not with arrival_rate")
      .meta({ ...example("100ms"), ...documentedDefault(LOAD_DEFAULTS.think_time) }),
    keep_alive: keepAliveSchema,
    reconnect: z
      .boolean()
      .optional()
      .describe("Open a new connection when the server closes one or sends GOAWAY")
      .meta({ ...example(false), ...documentedDefault(LOAD_DEFAULTS.reconnect) }),
    source_addresses: z
      .array(loopbackSource.describe("A loopback address: 127.x.y.z or ::1").meta(example("127.0.0.2")))
      .max(254)
      .optional()
      .describe("Local addresses the connections (and WebSocket sessions) bind to, taken in turn, so more connections fit than one address has ephemeral ports. Default: the system's choice")
      .meta(example(["127.0.0.2", "127.0.0.3"])),
    workers: count(1, 64)
      .optional()
      .describe("Worker threads the connections are spread over (h2load -t), at most connections; their results are merged")
      .meta({ ...example(2), ...documentedDefault(LOAD_DEFAULTS.workers) }),
    timeout: duration
      .optional()
      .describe("Per-request timeout, which also bounds connecting; above 0. A request unanswered this long fails with cause timeout (spillway load --timeout defaults to 10s)")
      .meta({ ...example("10s"), ...documentedDefault(LOAD_DEFAULTS.timeout) }),
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9._~\/-]{0,200}$/, { error: "must be a path such as /api" })
      .optional()
      .describe("The path every request and every WebSocket upgrade asks for; it replaces the URL's path")
      .meta({ ...example("/api"), ...documentedDefault("/") }),
    websockets: websocketsSchema
      .optional()
      .describe(
        "WebSocket sessions the load holds beside its HTTP requests, or instead of them (a load with websockets and no connections or h2load sends no HTTP request). Each upgrades on the scenario's frontend, so the proxy routes it by the same rules as a request",
      )
      .meta(example({ connections: 100, rooms: 1, message_interval: "1s", session: "10s" })),
  })
  .describe(
    "The load a scenario drives at its frontend; `spillway load` takes the same keys as flags, except websockets, which only a spec gives. A load is bounded: it gives requests, duration or stages, or only websockets, whose sessions end by themselves",
  )
  .meta(example({ connections: 300, streams: 40, requests: 40_000 }));

const share = (what: string, e: string) => expectation.optional().describe(what).meta(example(e));

export const websocketExpectSchema = z
  .strictObject({
    sessions: share("Sessions held for their whole length and closed by the driver, as a share of the sessions started (k6's ws_sessions) with %, or a count", "100%"),
    delivered: share(
      "The delivery ratio as a share with %: messages received by the members that were in the room when each was sent, of those owed (messages sent x members at that moment, the sender included)",
      ">= 99%",
    ),
    fanout_p50: share("Median fan-out latency, from a message's send to each receipt, as a duration", "< 50ms"),
    fanout_p99: share("99th percentile fan-out latency, from a message's send to each receipt, as a duration", "< 200ms"),
    upgrades: z
      .record(name, expectation.describe("Upgrades (101 responses) this backend took: a count, or a share of the sessions started with %").meta(example(">= 90%")))
      .optional()
      .describe("Thresholds on where upgrades went, by backend: the backend the proxy stamped on the 101 as its route, or the stub's own stamp where the proxy stamps none")
      .meta(example({ ade: "100%" })),
  })
  .describe("Thresholds on the load's WebSocket sessions (load.websockets)")
  .meta(example({ sessions: "100%", delivered: ">= 99%", fanout_p99: "< 200ms" }));

export const expectSchema = z
  .strictObject({
    backends: z
      .record(name, expectation.describe("Responses this backend must have given: a count, or a share of all requests sent with %").meta(example(">= 90%")))
      .optional()
      .describe("Thresholds on the responses each backend gave, by backend name")
      .meta(example({ pbcoffee: "0", ade: "100%" })),
    errors: share("Requests that got no 2xx response: a count, or a share of all requests sent with %", "0"),
    unattributed: share("Requests no backend answered (the proxy's own errors, resets, timeouts): a count, or a share with %", "< 1%"),
    latency: z
      .strictObject({
        p50: share("Median latency, as a duration", "< 50ms"),
        p90: share("90th percentile latency, as a duration", "< 100ms"),
        p99: share("99th percentile latency, as a duration", "< 200ms"),
        max: share("Highest latency, as a duration", "< 1s"),
      })
      .optional()
      .describe("Thresholds on latency, from send to response")
      .meta(example({ p99: "< 200ms" })),
    max_connections_seen: share("Highest connection count the proxy routed a request at (its x-spillway-proxy-conns stamp), as a count", ">= 301"),
    websockets: websocketExpectSchema.optional(),
  })
  .describe("Thresholds a run must meet; verify exits 4 when one fails")
  .meta(example({ backends: { pbcoffee: "0" }, errors: "0" }));

export const scenarioSchema = z
  .strictObject({
    description: z.string().max(500).optional().describe("Free text shown in reports, never rendered into a config").meta(example("300 connections x 40 streams")),
    targets: z.array(z.enum(TARGETS)).min(1).optional().describe("Run this scenario only on these targets").meta(example(["haproxy"])),
    frontend: name.optional().describe("The frontend the load goes to (default: the first one)").meta(example("webserver")),
    load: loadSchema,
    expect: expectSchema.optional(),
    expect_by_target: z
      .strictObject({
        haproxy: expectSchema.optional().describe("Expectations that replace `expect`'s same keys on HAProxy"),
        nginx: expectSchema.optional().describe("Expectations that replace `expect`'s same keys on nginx").meta(example({ backends: { ade: ">= 90%" } })),
      })
      .optional()
      .describe("Expectations for one target only; keys given here replace the same keys of `expect` for that target")
      .meta(example({ nginx: { errors: ">= 50%" } })),
  })
  .describe("A load run against one frontend, on each target, and what it must show")
  .meta(example({ load: { connections: 300, requests: 40000 }, expect: { errors: "0" } }));

export const specSchema = z
  .strictObject({
    version: z.literal(1).describe("The spec format's version: 1").meta(example(1)),
    targets: z.array(z.enum(TARGETS)).min(1).optional().describe("The proxies to render, check and verify").meta(example(["haproxy", "nginx"])),
    stubs: z
      .strictObject({
        host: loopbackIPv4.optional().describe("Address every stub listens on, in 127.0.0.0/8").meta(example("127.0.0.1")),
        base_port: count(1, 65_535)
          .optional()
          .describe("Port of the first stub; each further stub takes the next port, in the order the backends are written")
          .meta(example(9001)),
      })
      .optional()
      .describe("Where `servers: N` stubs listen: host and first port (default 127.0.0.1:9001)")
      .meta(example({ host: "127.0.0.1", base_port: 9001 })),
    frontends: z.record(name, frontendSchema).describe("The listening side, by name: HAProxy frontends and nginx server blocks"),
    backends: z.record(name, backendSchema).describe("Groups of servers, by name: HAProxy backends and nginx upstreams"),
    scenarios: z.record(name, scenarioSchema).optional().describe("Load runs for `verify`, by name"),
  })
  .describe("spillway spec, version 1");

export type SpecInput = z.infer<typeof specSchema>;
export type FrontendInput = z.infer<typeof frontendSchema>;
export type BackendInput = z.infer<typeof backendSchema>;
export type ScenarioInput = z.infer<typeof scenarioSchema>;
export type LoadInput = z.infer<typeof loadSchema>;
export type WebSocketsInput = z.infer<typeof websocketsSchema>;
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
