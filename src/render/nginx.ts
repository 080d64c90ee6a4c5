import { conditionText } from "../spec/condition.js";
import { DEFAULTS, type DefaultUse } from "../spec/defaults.js";
import { formatDuration } from "../spec/duration.js";
import { complement, feConnSet, intersect } from "../spec/intervals.js";
import type { Model } from "../spec/model.js";
import type { FidelityNote } from "./fidelity.js";
import { backendTimeouts, carriesWebSockets, frontendConnections, hostPort, viewReport, type RuntimeRenderOptions, type ViewReport } from "./common.js";
import { intervalsRegexChunks } from "./int-regex.js";
import { NGINX_MAP_REGEX_MAX, nginxZoneKib } from "../spec/limits.js";
import { safeHttpVersion, safeInt, safeName, safeRegex } from "./safe.js";
import { atLeast, type Version } from "./version.js";
import { PROXY_CONNS_HEADER, ROUTE_HEADER } from "../wire.js";

interface NginxView {
  header: string;
  workerProcesses: string;
  workerConnections: string;
  variablesHashBucketSize: string;
  proxyHttpVersion: string;
  rlimitNofile: string | null;
  upstreams: { name: string; origin: string; method: string | null; keepalive: string | null; zoneKib: string; servers: { address: string; maxConns: string | null }[] }[];
  servers: {
    name: string;
    origin: string;
    listen: string;
    listenHttp2: boolean;
    reuseport: boolean;
    http2On: boolean;
    maxStreams: string | null;
    keepaliveTimeout: string;
    keepaliveRequests: string;
    clientHeaderTimeout: string;
    clientTimeout: string;
    connectTimeout: string;
    serverTimeout: string;
    /** The named location WebSocket upgrades go to, without its '@'. */
    upgradeLocation: string;
    tunnelTimeout: string;
    connsVar: string;
    routeVar: string | null;
    defaultBackend: string;
    routes: { origin: string; regex: string; backend: string }[];
    stamp: string | null;
    routeStamp: string;
  }[];
  status: { listen: string } | null;
}

const UPSTREAM_METHOD = { roundrobin: null, leastconn: "least_conn", source: "ip_hash", random: "random", first: null } as const;

export function buildNginxView(model: Model, version: Version, runtime: RuntimeRenderOptions | null, header: string): { view: NginxView; notes: FidelityNote[]; defaults: DefaultUse[] } {
  const report = viewReport("nginx");
  const { note } = report;
  const http2Directive = atLeast(version, 1, 25, 1);

  const servers = model.frontends.map((f) => {
    const fpath = `frontends.${f.name}`;
    const connsVar = `spillway_${f.name.replace(/-/g, "_")}_conns`;
    const routes: NginxView["servers"][number]["routes"] = [];
    let reachable = [{ lo: 1, hi: Infinity }];
    for (const rule of f.rules) {
      const set = feConnSet(rule.condition);
      const what = `if ${rule.text} use ${rule.useBackend}`;
      if (!set) {
        note(rule.origin.path, what, "unsupported",
          `nginx has no per-backend connection count or server health in a variable (be_conn, nbsrv): the rule '${conditionText(rule.condition)}' is left out and never fires on nginx`);
        continue;
      }
      const own = intersect(set, reachable);
      reachable = intersect(reachable, complement(set));
      if (own.length === 0) {
        note(rule.origin.path, what, "unsupported", "an earlier rule already takes every connection count this rule matches; nothing is rendered for it");
        continue;
      }
      for (const regex of intervalsRegexChunks(own, NGINX_MAP_REGEX_MAX)) {
        routes.push({ origin: `${rule.origin.path} (line ${rule.origin.line})`, regex: safeRegex(regex), backend: safeName(rule.useBackend) });
      }
      // One count for all workers: ngx_event_module_init places ngx_stat_active in the shared zone it maps before forking them, so several workers route on the instance's count, as one does.
      note(rule.origin.path, what, "approximate",
        "map on $connections_active (stub_status module) read when the request's rewrite phase runs. It counts every client connection of the whole nginx instance " +
          "(all server blocks and workers, idle keep-alive connections included), not one frontend's, and under HTTP/2 it is re-read for every request, as HAProxy's fe_conn is");
    }
    if (f.maxconn !== null) {
      note(fpath, `maxconn ${f.maxconn}`, "unsupported",
        "open-source nginx has no per-listener connection cap that queues like HAProxy's maxconn (limit_conn rejects with 503 and counts requests in progress); not rendered, so nginx accepts connections beyond it");
    }
    note(`${fpath}.bind`, `bind ${f.bind.host}:${f.bind.port}`, !f.http2.enabled || http2Directive ? "exact" : "approximate",
      !f.http2.enabled
        ? "HTTP/1.1 only"
        : http2Directive
          ? "listen + http2 on: one port for HTTP/1.1 and h2c"
          : "listen ... http2: before nginx 1.25.1 a cleartext HTTP/2 port speaks only h2c (prior knowledge); HTTP/1.1 clients fail on it");
    note(`${fpath}.timeouts`, "timeouts", "approximate",
      "http_keep_alive -> keepalive_timeout, http_request -> client_header_timeout, client -> client_body_timeout and send_timeout (per operation, not whole-connection inactivity), connect -> proxy_connect_timeout, server -> proxy_read_timeout and proxy_send_timeout");
    if (carriesWebSockets(model, f)) {
      note(`${fpath}.timeouts`, `tunnel ${formatDuration(f.timeouts.tunnelMs)}`, "approximate",
        "proxy_read_timeout and proxy_send_timeout in the location upgrades go to: nginx closes a tunnel when the server has sent nothing for that long, even while the client is sending (HAProxy's timeout tunnel waits for silence in both directions); writes to the client are still bounded by send_timeout (timeouts.client); a backend shared by frontends takes the longest");
      const upgradesFail = f.http2.enabled && !http2Directive;
      note(fpath, "WebSocket upgrades", upgradesFail ? "unsupported" : "exact",
        (upgradesFail ? "before nginx 1.25.1 a port with HTTP/2 speaks only h2c, so an upgrade (an HTTP/1.1 request) fails on it; nginx has no WebSocket over HTTP/2 (RFC 8441) either. Where it can reach nginx, " : "") +
        "a request with an Upgrade header goes (error_page 418 and return, the safe use of if) to a named location with the same proxy_pass and map, proxy_http_version 1.1, Upgrade and Connection: upgrade passed on, the tunnel timeouts and the same add_header stamps, which reach the 101; every other request keeps Connection \"\" and upstream keep-alive. $connections_active counts the client connection for the whole life of the tunnel, as HAProxy's fe_conn does (and, as for every request, counts every server block's and worker's connections)");
    }
    if (f.http2.enabled && f.http2.maxConcurrentStreams !== null) {
      note(`${fpath}.http2`, `max_concurrent_streams ${f.http2.maxConcurrentStreams}`, "exact", "http2_max_concurrent_streams in the server block");
    }
    const keepaliveRequests = f.keepAliveRequests ?? DEFAULTS.keepAliveRequests.value;
    if (f.keepAliveRequests === null) report.used("keepAliveRequests", f.name);
    note(`${fpath}.keep_alive`, `requests ${f.keepAliveRequests ?? "unlimited"}`, "exact",
      `keepalive_requests ${keepaliveRequests}` + (f.keepAliveRequests === null ? " (nginx's default of 1000 would close busy connections that HAProxy keeps)" : ""));
    const t = backendTimeouts(model, model.backends.find((b) => b.name === f.defaultBackend)!);
    return {
      name: safeName(f.name),
      origin: `${fpath} (line ${f.origin.line})`,
      listen: hostPort(f.bind),
      listenHttp2: f.http2.enabled && !http2Directive,
      http2On: f.http2.enabled && http2Directive,
      maxStreams: f.http2.enabled && f.http2.maxConcurrentStreams !== null ? safeInt(f.http2.maxConcurrentStreams) : null,
      keepaliveTimeout: formatDuration(f.timeouts.httpKeepAliveMs),
      keepaliveRequests: safeInt(keepaliveRequests),
      clientHeaderTimeout: formatDuration(f.timeouts.httpRequestMs),
      clientTimeout: formatDuration(f.timeouts.clientMs),
      connectTimeout: formatDuration(Math.max(f.timeouts.connectMs, t.connectMs)),
      serverTimeout: formatDuration(Math.max(f.timeouts.serverMs, t.serverMs)),
      upgradeLocation: `spillway_${f.name.replace(/-/g, "_")}_upgrade`,
      tunnelTimeout: formatDuration(Math.max(f.timeouts.tunnelMs, t.tunnelMs)),
      connsVar,
      routeVar: routes.length > 0 ? `spillway_${f.name.replace(/-/g, "_")}_backend` : null,
      defaultBackend: safeName(f.defaultBackend),
      routes,
      stamp: runtime?.stamp ? PROXY_CONNS_HEADER : null,
      routeStamp: ROUTE_HEADER,
    };
  });

  const upstreams = model.backends.map((b) => {
    const bpath = `backends.${b.name}`;
    const method = UPSTREAM_METHOD[b.balance];
    note(bpath, `balance ${b.balance}`, b.balance === "roundrobin" || b.balance === "leastconn" ? "exact" : b.balance === "first" ? "unsupported" : "approximate",
      b.balance === "first"
        ? "nginx has no 'first' method (fill the first server up to maxconn); rendered as round robin"
        : b.balance === "source"
          ? "ip_hash: hashes the client address like HAProxy's source, but with another hash, so clients map to other servers"
          : b.balance === "random"
            ? "random: nginx picks uniformly; HAProxy's random uses consistent hashing over weights"
            : method ?? "round robin");
    if (b.servers.some((s) => s.maxconn !== null)) {
      note(bpath, `maxconn ${b.maxconn ?? "per server"}`, "approximate",
        "max_conns on each server (shared through a zone): open-source nginx has no queue, so a request arriving when every server is at max_conns fails with 502 instead of waiting as in HAProxy");
    }
    note(bpath, `keepalive ${b.keepalive}`, "exact",
      b.keepalive > 0
        ? `keepalive ${b.keepalive}: idle upstream connections kept per worker (HAProxy reuses server connections on its own)`
        : "no keepalive directive: nginx keeps no idle upstream connection (it refuses keepalive 0)");
    const zoneKib = nginxZoneKib(b.servers.length);
    report.used("nginxZone", b.name, `${zoneKib}k`);
    return {
      name: safeName(b.name),
      origin: `${bpath} (line ${b.origin.line})`,
      method,
      // nginx refuses `keepalive 0`; without the directive it keeps no idle upstream connection, which is what 0 asks for.
      keepalive: b.keepalive > 0 ? safeInt(b.keepalive) : null,
      zoneKib: safeInt(zoneKib),
      servers: b.servers.map((s) => ({ address: hostPort(s.address), maxConns: s.maxconn === null ? null : safeInt(s.maxconn) })),
    };
  });

  const sizing = nginxSizing(model, runtime, report);
  report.used("nginxWorkerProcesses", "", String(sizing.workers));
  for (const id of ["nginxVariablesHashBucketSize", "nginxProxyHttpVersion"] as const) report.used(id);
  /*
   * nginx's listen docs: reuseport "instructs to create an individual listening
   * socket for each worker process (using the SO_REUSEPORT socket option),
   * allowing a kernel to distribute incoming connections between worker
   * processes". Without it the workers share one socket and whoever wakes
   * first accepts: the SO_REUSEPORT commit (Linux c617f398) saw up to 3:1
   * between the busiest and the idlest, so one worker would run out of
   * worker_connections while the others sit half empty.
   */
  const reuseport = sizing.workers > 1;

  return {
    view: {
      header,
      workerProcesses: safeInt(sizing.workers),
      workerConnections: safeInt(sizing.workerConnections),
      variablesHashBucketSize: safeInt(DEFAULTS.nginxVariablesHashBucketSize.value),
      proxyHttpVersion: safeHttpVersion(DEFAULTS.nginxProxyHttpVersion.value),
      rlimitNofile: sizing.rlimitNofile === null ? null : safeInt(sizing.rlimitNofile),
      upstreams,
      servers: servers.map((s) => ({ ...s, reuseport })),
      status: runtime?.nginxStatusListen ? { listen: hostPort(runtime.nginxStatusListen) } : null,
    },
    notes: report.notes,
    defaults: report.defaults,
  };
}

/**
 * Of each worker's connections, the share the sizing fills when there are
 * several. `reuseport` deals connections to the workers by a hash of each
 * connection's addresses and ports (Linux's SO_REUSEPORT, commit c617f398
 * "soreuseport: TCP/IPv4 implementation"), so their shares are binomial, not
 * equal: a tenth spare per worker is more than 4 standard deviations above
 * the mean from 1,600 connections a worker on.
 */
export const NGINX_WORKER_FILL = 0.9;

export interface NginxSizing {
  workers: number;
  /** Per worker. */
  workerConnections: number;
  /** Per worker; null: the worker keeps the open-file limit nginx was started with. */
  rlimitNofile: number | null;
  /** Worker connections the busiest scenario on nginx asks for: its clients and their upstream connections. */
  demand: number;
}

/** The most connections one scenario on nginx opens at once: its pool, or its ramp's highest target. */
export function scenarioClients(model: Model): number {
  return Math.max(0, ...nginxScenarios(model).map(clientsOf));
}

function nginxScenarios(model: Model): Model["scenarios"] {
  return model.scenarios.filter((s) => s.targets.includes("nginx"));
}

/** A scenario's HTTP connections at their most. */
function httpClientsOf(s: Model["scenarios"][number]): number {
  return Math.max(s.load.connections, ...(s.load.stages ?? []).map((st) => st.target));
}

/** A scenario's client connections at their most: its HTTP ones and its held WebSocket sessions. */
function clientsOf(s: Model["scenarios"][number]): number {
  return httpClientsOf(s) + (s.load.websockets?.connections ?? 0);
}

/**
 * Worker connections the busiest scenario on nginx takes: one per client
 * connection, and one upstream per request in flight, at most every stream
 * of every connection, and at most the servers' connections; a WebSocket
 * session takes two for its whole life, its client side and its tunnel's
 * upstream.
 */
export function scenarioDemand(model: Model, upstreamConnections: number): number {
  return Math.max(
    0,
    ...nginxScenarios(model).map((s) => httpClientsOf(s) + Math.min(upstreamConnections, httpClientsOf(s) * s.load.streams) + 2 * (s.load.websockets?.connections ?? 0)),
  );
}

/** The fewest workers of `perWorker` connections, less the listeners each one holds, that hold `demand`. */
export function nginxWorkersFor(demand: number, perWorker: number, listeners: number, fewest: number): number {
  const usable = perWorker - listeners;
  if (demand <= usable) return fewest;
  return Math.max(fewest, Math.ceil(demand / Math.max(1, Math.floor(usable * NGINX_WORKER_FILL))));
}

/**
 * worker_processes, worker_connections and worker_rlimit_nofile for a spec.
 * A client connection takes one worker connection, a proxied request one
 * more for its upstream. One worker holds what one worker_connections (from
 * the table, or from the open-file limit at run time) holds; past that, the
 * fewest workers that hold the busiest scenario's connections, each with the
 * whole per-worker number: every worker is a process with its own open-file
 * limit.
 */
export function nginxSizing(model: Model, runtime: Pick<RuntimeRenderOptions, "nginxWorkerConnections" | "nginxRlimitNofile" | "nginxStatusListen"> | null, report: ViewReport = viewReport("nginx")): NginxSizing {
  const sizing = DEFAULTS.nginxWorkerConnections.value;
  // nginx needs a connection per listening socket before it serves any: "worker_connections are not enough for N listening sockets".
  const listeners = model.frontends.length + (runtime?.nginxStatusListen ? 1 : 0);
  let upstreamConnections = 0;
  for (const b of model.backends) {
    if (b.servers.some((srv) => srv.maxconn === null)) report.used("serverConnections", b.name);
    for (const srv of b.servers) upstreamConnections += srv.maxconn ?? DEFAULTS.serverConnections.value;
  }
  const clients = scenarioClients(model);
  const fromRuntime = runtime?.nginxWorkerConnections ?? null;
  // nginx writes no frontend maxconn, so a scenario's connections past the frontends' sum still arrive.
  const wanted = fromRuntime ?? Math.min(sizing.cap, Math.max(sizing.floor, Math.max(frontendConnections(model, report), clients) + upstreamConnections + sizing.headroom));
  const workerConnections = Math.max(listeners + sizing.headroom, wanted);
  // The table's rule decided the number unless the runtime's stands as it gave it.
  if (workerConnections !== fromRuntime) report.used("nginxWorkerConnections", "", String(workerConnections));
  const demand = scenarioDemand(model, upstreamConnections);
  const workers = nginxWorkersFor(demand, workerConnections, listeners, DEFAULTS.nginxWorkerProcesses.value);
  // Each worker is a process with its own open-file limit: past the one nginx inherits, a worker warns "worker_connections exceed open file resource limit" and its accepts fail with EMFILE.
  const rlimitNofile = runtime?.nginxRlimitNofile ?? (workers > 1 ? workerConnections + sizing.headroom : null);
  return { workers, workerConnections, rlimitNofile, demand };
}
