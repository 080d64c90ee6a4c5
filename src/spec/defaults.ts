import { formatDuration } from "./duration.js";
import type { Target } from "./model.js";

/**
 * Every value spillway puts into a rendered config, or uses at run time for a
 * spec key, that the spec did not give: one table. The model builder fills
 * spec keys from it, the renderers take their fixed parts from it, the
 * fidelity report lists the entries a spec used, the spec reference shows the
 * spec keys' entries as their defaults, and the README's "Defaults" table is
 * this one (a test keeps them in step).
 *
 * The proxies' own defaults are quoted from HAProxy 2.6's configuration.txt
 * and nginx 1.22's documentation.
 */
export interface DefaultEntry {
  /** The spec key it stands in for, in the reference's notation (`backends.<backend>.keepalive`), or `proxy: directive` for a fixed part of a config. */
  name: string;
  /** `spec`: stands in for a spec key the spec left out; `fixed`: a part of a config no spec key sets. */
  kind: "spec" | "fixed";
  /** As a user would write or read it. */
  text: string;
  /** The directives, or the run-time behaviour, it feeds. */
  feeds: string;
  /** Why this value, and the proxy's own default where it differs. */
  why: string;
  /** The configs it reaches; empty when it only acts at run time. */
  targets: readonly (Target | "compose")[];
}

type Entry<V> = DefaultEntry & { value: V };
const entry = <V>(e: Entry<V>): Entry<V> => e;
const duration = (ms: number, e: Omit<Entry<number>, "value" | "text">): Entry<number> => ({ ...e, value: ms, text: formatDuration(ms) });

export const DEFAULTS = {
  targets: entry({
    name: "targets",
    kind: "spec",
    value: ["haproxy", "nginx"] as const,
    text: "[haproxy, nginx]",
    feeds: "the configs `render` writes and the proxies `check`, `up` and `verify` run",
    why: "comparing the two proxies on one spec is what spillway is for",
    targets: [],
  }),
  stubsHost: entry({
    name: "stubs.host",
    kind: "spec",
    value: "127.0.0.1",
    text: "127.0.0.1",
    feeds: "the address of every stub of `servers: N`, in HAProxy `server` and nginx upstream `server` lines",
    why: "spillway runs stubs on loopback only",
    targets: ["haproxy", "nginx"],
  }),
  stubsBasePort: entry({
    name: "stubs.base_port",
    kind: "spec",
    value: 9001,
    text: "9001",
    feeds: "the first stub's port; each further stub takes the next port, in the order the backends are written",
    why: "above 1024, so no privilege is needed, and apart from the 80 and 8080 that frontends usually bind",
    targets: ["haproxy", "nginx"],
  }),
  frontendConnections: entry({
    name: "frontends.<frontend>.maxconn",
    kind: "spec",
    value: 2000,
    text: "counted as 2000, not written",
    feeds: "the sums that size HAProxy's global `maxconn` and nginx's `worker_connections`; no frontend `maxconn` line is written",
    why: "HAProxy gives a frontend without maxconn the global maxconn, which it computes from `ulimit -n` when none is written, so the config would hold a different limit on every machine; nginx has no per-listener limit",
    targets: ["haproxy", "nginx"],
  }),
  timeoutClient: duration(30_000, {
    name: "frontends.<frontend>.timeouts.client",
    kind: "spec",
    feeds: "HAProxy frontend `timeout client` (and the `defaults` section's); nginx `client_body_timeout`, `send_timeout`",
    why: "HAProxy has none: an unset timeout client is infinite and warns at start-up; nginx 60s. 30s frees a connection whose client stopped reading within a run, well after any stub has answered",
    targets: ["haproxy", "nginx"],
  }),
  timeoutHttpKeepAlive: duration(10_000, {
    name: "frontends.<frontend>.timeouts.http_keep_alive",
    kind: "spec",
    feeds: "HAProxy `timeout http-keep-alive`; nginx `keepalive_timeout`",
    why: "HAProxy falls back to timeout http-request, then timeout client; nginx 75s. An idle client connection still counts in fe_conn and $connections_active, so it should close soon after a load stops sending",
    targets: ["haproxy", "nginx"],
  }),
  timeoutHttpRequest: duration(10_000, {
    name: "frontends.<frontend>.timeouts.http_request",
    kind: "spec",
    feeds: "HAProxy `timeout http-request`; nginx `client_header_timeout`",
    why: "HAProxy falls back to timeout client between chunks of the request; nginx 60s. HAProxy's manual: a few seconds is generally enough, plus 3 or more to cover TCP retransmits",
    targets: ["haproxy", "nginx"],
  }),
  timeoutConnect: duration(5_000, {
    name: "frontends.<frontend>.timeouts.connect",
    kind: "spec",
    feeds: "HAProxy backend `timeout connect` (and the `defaults` section's); nginx `proxy_connect_timeout`",
    why: "HAProxy has none (infinite, with a warning); nginx 60s. HAProxy's manual advises slightly above a multiple of 3 seconds, e.g. 4 or 5, to cover a lost SYN",
    targets: ["haproxy", "nginx"],
  }),
  timeoutServer: duration(30_000, {
    name: "frontends.<frontend>.timeouts.server",
    kind: "spec",
    feeds: "HAProxy backend `timeout server` (and the `defaults` section's); nginx `proxy_read_timeout`, `proxy_send_timeout`",
    why: "HAProxy has none (infinite, with a warning); nginx 60s. Equal to timeout client, as HAProxy's manual recommends",
    targets: ["haproxy", "nginx"],
  }),
  timeoutTunnel: duration(3_600_000, {
    name: "frontends.<frontend>.timeouts.tunnel",
    kind: "spec",
    feeds: "HAProxy backend `timeout tunnel`; nginx `proxy_read_timeout`, `proxy_send_timeout` in the location upgrades go to",
    why: "without it HAProxy holds a WebSocket to timeout client and server (30s here) and nginx to proxy_read_timeout, so a quiet session would close within a run; 1h is the value HAProxy's manual gives in its example for WebSocket, far longer than a chat test's sessions",
    targets: ["haproxy", "nginx"],
  }),
  http2Enabled: entry({
    name: "frontends.<frontend>.http2.enabled",
    kind: "spec",
    value: true,
    text: "true",
    feeds: "HAProxy `bind` without `proto h1`; nginx `listen ... http2` (before 1.25.1) or `http2 on`",
    why: "scenarios drive h2c by default; nginx speaks HTTP/2 only when told to, HAProxy detects the HTTP/2 preface on its own",
    targets: ["haproxy", "nginx"],
  }),
  maxConcurrentStreams: entry({
    name: "frontends.<frontend>.http2.max_concurrent_streams",
    kind: "spec",
    value: null,
    text: "not written: HAProxy 100, nginx 128",
    feeds: "HAProxy `tune.h2.max-concurrent-streams`; nginx `http2_max_concurrent_streams`",
    why: "each proxy keeps its own default, and they differ: HAProxy lets 100 streams run at once on a connection, nginx 128; set it to compare them at one value",
    targets: ["haproxy", "nginx"],
  }),
  keepAliveRequests: entry({
    name: "frontends.<frontend>.keep_alive.requests",
    kind: "spec",
    value: 10_000_000,
    text: "nginx: 10000000; HAProxy: not written",
    feeds: "nginx `keepalive_requests`",
    why: "HAProxy never closes a client connection after a number of requests; nginx closes it after 1000 (100 before 1.19.10), and every reconnect moves $connections_active. 10000000 keeps nginx's connections open as HAProxy keeps its own",
    targets: ["nginx"],
  }),
  serverConnections: entry({
    name: "backends.<backend>.maxconn",
    kind: "spec",
    value: 256,
    text: "counted as 256 per server, not written",
    feeds: "the sum that sizes nginx's `worker_connections`; no `maxconn` or `max_conns` is written",
    why: "an upstream connection takes a worker connection too; 256 per server leaves room for a busy server without a limit of its own",
    targets: ["nginx"],
  }),
  balance: entry({
    name: "backends.<backend>.balance",
    kind: "spec",
    value: "roundrobin" as const,
    text: "roundrobin",
    feeds: "HAProxy `balance roundrobin`; nginx writes no method line, which is its own round robin",
    why: "one of the two algorithms both proxies implement alike (leastconn is the other), and nginx's own when no method is named",
    targets: ["haproxy", "nginx"],
  }),
  upstreamKeepalive: entry({
    name: "backends.<backend>.keepalive",
    kind: "spec",
    value: 64,
    text: "64",
    feeds: "nginx upstream `keepalive`",
    why: "without it nginx keeps no idle upstream connection and opens one per request, where HAProxy keeps and reuses its server connections on its own (http-reuse safe); 64 is a cache of idle connections per worker, not a limit on open ones",
    targets: ["nginx"],
  }),
  stubLatency: duration(0, {
    name: "backends.<backend>.stub.latency",
    kind: "spec",
    feeds: "the stubs' delay before each response",
    why: "answer at once: what is measured is the routing, not the backend",
    targets: [],
  }),
  stubBodyBytes: entry({
    name: "backends.<backend>.stub.body_bytes",
    kind: "spec",
    value: null,
    text: "the text `<backend>/<server>` and a newline",
    feeds: "the stubs' response body",
    why: "a few bytes that also name who answered",
    targets: [],
  }),
  stubFailureRate: entry({
    name: "backends.<backend>.stub.failure_rate",
    kind: "spec",
    value: 0,
    text: "0",
    feeds: "the share of the stubs' responses that fail",
    why: "no failures unless a scenario asks for them",
    targets: [],
  }),
  stubFailureStatus: entry({
    name: "backends.<backend>.stub.failure_status",
    kind: "spec",
    value: 503,
    text: "503",
    feeds: "the status of a failed stub response",
    why: "503 Service Unavailable, what an overloaded server answers",
    targets: [],
  }),
  scenarioFrontend: entry({
    name: "scenarios.<scenario>.frontend",
    kind: "spec",
    value: null,
    text: "the first frontend",
    feeds: "where the scenario's load goes",
    why: "a spec with one frontend needs no name here",
    targets: [],
  }),
  scenarioTargets: entry({
    name: "scenarios.<scenario>.targets",
    kind: "spec",
    value: null,
    text: "the spec's targets",
    feeds: "the proxies the scenario runs on",
    why: "every scenario runs on every target unless it says otherwise",
    targets: [],
  }),
  haproxyGlobalMaxconn: entry({
    name: "haproxy: global maxconn",
    kind: "fixed",
    value: { floor: 256 },
    text: "the frontends' maxconn added up, at least 256",
    feeds: "HAProxy global `maxconn` (`up` and `verify` set it from the open-file limit instead)",
    why: "HAProxy computes it from `ulimit -n` when none is written; a fixed sum renders the same config everywhere. 256 is the global maxconn of the first example in HAProxy's manual; below it the frontends' own maxconn still refuse first",
    targets: ["haproxy"],
  }),
  haproxyTimeoutQueue: duration(30_000, {
    name: "haproxy: timeout queue",
    kind: "fixed",
    feeds: "HAProxy `timeout queue` in the `defaults` section: how long a request waits for a server at its maxconn before a 503",
    why: "HAProxy falls back to timeout connect (5s by default here), which would turn a queue of a few seconds into 503s; 30s lets requests queue as long as timeout server's default lets a server answer",
    targets: ["haproxy"],
  }),
  nginxWorkerProcesses: entry({
    name: "nginx: worker_processes",
    kind: "fixed",
    value: 1,
    text: "1, or the fewest that hold the busiest scenario's connections",
    feeds: "nginx `worker_processes`; with more than one, `reuseport` on every frontend's `listen` and `worker_rlimit_nofile` per worker",
    why: "nginx's own default is 1, and upstream keepalive and worker_connections are per worker, so with one worker they are the whole instance's numbers. A scenario whose connections (one per client, one more per request in flight up to the servers' connections) are more than one worker's worker_connections less the listeners gets the fewest workers that hold them with a tenth of each spare, since reuseport deals connections by a hash, not evenly (limit nginx-worker-connections)",
    targets: ["nginx"],
  }),
  nginxWorkerConnections: entry({
    name: "nginx: worker_connections",
    kind: "fixed",
    value: { floor: 1024, cap: 16_384, headroom: 64 },
    text: "the frontends' and servers' connections + 64, between 1024 and 16384, and at least the listeners + 64",
    feeds: "nginx `worker_connections` (`up` and `verify` set it from the open-file limit instead)",
    why: "nginx's own is 512. Every client and every upstream connection takes one, so both are added up, and 64 spare covers the listening sockets (limit nginx-worker-connections); at least 1024, the value of nginx's sample nginx.conf, and at most 16384, so a spec of huge maxconn values still gets a number one worker holds",
    targets: ["nginx"],
  }),
  nginxVariablesHashBucketSize: entry({
    name: "nginx: variables_hash_bucket_size",
    kind: "fixed",
    value: 128,
    text: "128",
    feeds: "nginx `variables_hash_bucket_size`",
    why: "nginx's own is 64, which holds variable names up to 46 characters; spillway's longest is 80 (limit variables-hash)",
    targets: ["nginx"],
  }),
  nginxZone: entry({
    name: "nginx: upstream zone",
    kind: "fixed",
    value: { minKib: 64, baseKib: 32, perServerKib: 2 },
    text: "max(64k, 32k + 2k per server)",
    feeds: "nginx upstream `zone`, which shares max_conns counts between workers",
    why: "nginx refuses a zone under 32k and runs out of room in 64k past 63 short server lines (limit nginx-zone)",
    targets: ["nginx"],
  }),
  nginxProxyHttpVersion: entry({
    name: "nginx: proxy_http_version",
    kind: "fixed",
    value: "1.1",
    text: "1.1",
    feeds: "nginx `proxy_http_version`, with `proxy_set_header Connection \"\"`",
    why: "nginx's own is 1.0, which closes every upstream connection after one request, so upstream keepalive would keep none",
    targets: ["nginx"],
  }),
  proxyVersions: entry({
    name: "render: proxy versions",
    kind: "fixed",
    value: { haproxy: { major: 2, minor: 6, patch: 0 }, nginx: { major: 1, minor: 22, patch: 0 } },
    text: "HAProxy 2.6, nginx 1.22",
    feeds: "the version-dependent lines (HTTP/2 stream limits, `http2 on`) when neither `--haproxy-version`/`--nginx-version` nor an installed proxy says otherwise",
    why: "Debian 12's packages, which spillway's tests and measurements run on",
    targets: ["haproxy", "nginx"],
  }),
  composeNofile: entry({
    name: "compose: ulimits nofile",
    kind: "fixed",
    value: 20_000,
    text: "20000",
    feeds: "the open-file limit of the HAProxy and nginx containers in `render --compose`'s docker-compose.yml",
    why: "the same limit on every Docker host, whatever the daemon's default; 20000 is above the 18,000 connections one driver process was measured holding",
    targets: ["compose"],
  }),
  composeImages: entry({
    name: "compose: images",
    kind: "fixed",
    value: { haproxy: "haproxy:2.6", nginx: "nginx:1.22", node: "node:20-bookworm-slim" },
    text: "haproxy:2.6, nginx:1.22, node:20-bookworm-slim",
    feeds: "the images of `render --compose`'s docker-compose.yml, unless SPILLWAY_HAPROXY_IMAGE, SPILLWAY_NGINX_IMAGE or SPILLWAY_NODE_IMAGE is set",
    why: "Debian 12's HAProxy and nginx, the versions `render` writes for when none is given or installed",
    targets: ["compose"],
  }),
} as const satisfies Record<string, Entry<unknown>>;

export type DefaultId = keyof typeof DEFAULTS;

/** One default that stood in for this spec: which entry, and for whom. */
export interface DefaultUse {
  id: DefaultId;
  /** The frontend, backend or scenario it stood in for; empty for the spec as a whole or a fixed part of a config. */
  owner: string;
  /** The value as written, when an entry is a rule rather than one value (e.g. `worker_connections 1024`). */
  written?: string;
}

/** The entry for a reference key such as `backends.<backend>.keepalive`, if a default stands in for it. */
export function defaultForKey(key: string): DefaultEntry | undefined {
  return Object.values(DEFAULTS as Record<string, DefaultEntry>).find((e) => e.kind === "spec" && e.name === key);
}
