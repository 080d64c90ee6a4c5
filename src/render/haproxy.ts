import type { Comparison } from "../spec/condition.js";
import { simplifiedAlternatives } from "../spec/intervals.js";
import { ACL_NAME_MAX } from "../spec/limits.js";
import { DEFAULTS, type DefaultUse } from "../spec/defaults.js";
import { formatDuration } from "../spec/duration.js";
import type { Model } from "../spec/model.js";
import type { FidelityNote } from "./fidelity.js";
import { backendTimeouts, carriesWebSockets, fitName, frontendConnections, hostPort, shortHash, viewReport, type RuntimeRenderOptions } from "./common.js";
import { safeInt, safeName } from "./safe.js";
import { atLeast, type Version } from "./version.js";
import { PROXY_CONNS_HEADER, ROUTE_HEADER } from "../wire.js";

interface HaproxyView {
  header: string;
  global: { maxconn: string; tune: string[]; statsSocket: string | null };
  /** The `defaults` section's timeouts: every frontend and backend sets its own, so these reach only what spillway does not write. */
  defaults: { timeouts: { name: string; value: string }[] };
  frontends: {
    name: string;
    origin: string;
    bind: string;
    bindOptions: string;
    maxconn: string | null;
    timeouts: { name: string; value: string }[];
    stamp: string | null;
    routeStamp: string;
    acls: { origin: string; name: string; expr: string }[];
    useBackends: { backend: string; condition: string }[];
    defaultBackend: string;
  }[];
  backends: {
    name: string;
    origin: string;
    balance: string;
    timeouts: { name: string; value: string }[];
    servers: { name: string; address: string; maxconn: string | null }[];
  }[];
}

const HAPROXY_OP = { ">": "gt", ">=": "ge", "<": "lt", "<=": "le", "==": "eq" } as const;

function fetchText(c: Comparison): string {
  return c.metric.kind === "fe_conn" ? "fe_conn" : `${c.metric.kind}(${safeName(c.metric.backend)})`;
}

function aclContentName(c: Comparison): string {
  const metric = c.metric.kind === "fe_conn" ? "fe_conn" : `${c.metric.kind}_${c.metric.backend}`;
  return `${metric}_${HAPROXY_OP[c.op]}_${c.value}`;
}

export function buildHaproxyView(model: Model, version: Version, runtime: RuntimeRenderOptions | null, header: string): { view: HaproxyView; notes: FidelityNote[]; defaults: DefaultUse[] } {
  const report = viewReport("haproxy");
  const { note } = report;

  const tune: string[] = [];
  const streamValues = [...new Set(model.frontends.filter((f) => f.http2.enabled && f.http2.maxConcurrentStreams !== null).map((f) => f.http2.maxConcurrentStreams!))];
  if (streamValues.length > 0) {
    const value = Math.max(...streamValues);
    const perFrontend = atLeast(version, 2, 7);
    tune.push(`${perFrontend ? "tune.h2.fe.max-concurrent-streams" : "tune.h2.max-concurrent-streams"} ${safeInt(value)}`);
    for (const f of model.frontends) {
      if (f.http2.maxConcurrentStreams === null) continue;
      const shared = streamValues.length > 1;
      note(`frontends.${f.name}.http2`, `max_concurrent_streams ${f.http2.maxConcurrentStreams}`, shared || !perFrontend ? "approximate" : "exact",
        `${perFrontend ? "tune.h2.fe.max-concurrent-streams" : "tune.h2.max-concurrent-streams"} ${value} (global)` +
          (perFrontend ? "" : "; before HAProxy 2.7 this setting also limits HTTP/2 connections to servers") +
          (shared ? `; HAProxy has one value for all frontends, so the largest (${value}) applies to every frontend` : ""));
    }
  }
  const totalStreams = model.frontends.filter((f) => f.keepAliveRequests !== null);
  if (totalStreams.length > 0) {
    const value = Math.max(...totalStreams.map((f) => f.keepAliveRequests!));
    const has = atLeast(version, 2, 9);
    if (has) tune.push(`tune.h2.fe.max-total-streams ${safeInt(value)}`);
    for (const f of totalStreams) {
      note(`frontends.${f.name}.keep_alive`, `requests ${f.keepAliveRequests}`, has ? "approximate" : "unsupported",
        has
          ? `tune.h2.fe.max-total-streams ${value} (global): HTTP/2 connections are closed after that many streams; HTTP/1.1 connections are never closed by count`
          : "HAProxy before 2.9 cannot close a client connection after a number of requests; connections stay open until the keep-alive timeout");
    }
  }

  for (const f of model.frontends.filter((x) => x.keepAliveRequests === null)) {
    note(`frontends.${f.name}.keep_alive`, "requests unlimited", "exact", "HAProxy never closes a client connection after a number of requests");
  }
  for (const b of model.backends) {
    note(`backends.${b.name}`, `keepalive ${b.keepalive}`, "approximate", "HAProxy keeps idle server connections and reuses them on its own (http-reuse safe); their number is not set");
  }

  let globalMaxconn = runtime?.haproxyGlobalMaxconn ?? null;
  if (globalMaxconn === null) {
    // HAProxy reads maxconn with atol() into an int: a sum past 2^31-1 would wrap to a negative value.
    globalMaxconn = Math.min(2_147_483_647, Math.max(frontendConnections(model, report), DEFAULTS.haproxyGlobalMaxconn.value.floor));
    report.used("haproxyGlobalMaxconn", "", String(globalMaxconn));
  }
  report.used("haproxyTimeoutQueue");

  const frontends = model.frontends.map((f) => {
    const fpath = `frontends.${f.name}`;
    const acls: HaproxyView["frontends"][number]["acls"] = [];
    const aclByName = new Map<string, string>();
    /** The ACL name for an expression: the wanted one if free (or already this expression), else one derived from it; never longer than ACL_NAME_MAX. */
    const claim = (wanted: string, expr: string, origin: string): string => {
      let name = fitName(wanted, ACL_NAME_MAX);
      for (let n = 1; aclByName.has(name) && aclByName.get(name) !== expr; n++) {
        name = fitName(`${wanted}_${shortHash(`${expr}#${n}`)}`, ACL_NAME_MAX);
      }
      if (!aclByName.has(name)) {
        aclByName.set(name, expr);
        acls.push({ origin, name: safeName(name), expr });
      }
      return name;
    };
    const useBackends: HaproxyView["frontends"][number]["useBackends"] = [];
    for (const rule of f.rules) {
      const origin = `${rule.origin.path} (line ${rule.origin.line})`;
      const alternatives = simplifiedAlternatives(rule.condition);
      const singleAtom = alternatives.length === 1 && alternatives[0]!.length === 1;
      let k = 0;
      // One use_backend line per alternative: consecutive lines to one backend are an 'or', and no line outgrows HAProxy's 64 words.
      const terms = alternatives.map((alt) => {
        const names = alt.map((c) => {
          k++;
          const expr = `${fetchText(c)} ${HAPROXY_OP[c.op]} ${safeInt(c.value)}`;
          return claim(rule.name ? (singleAtom ? rule.name : `${rule.name}_${k}`) : aclContentName(c), expr, origin);
        });
        // Comparisons merged away entirely (e.g. fe_conn >= 0 and fe_conn >= 0) leave an alternative that always holds.
        return names.length > 0 ? names.join(" ") : "TRUE";
      });
      for (const condition of terms) useBackends.push({ backend: safeName(rule.useBackend), condition });
      note(rule.origin.path, `if ${rule.text} use ${rule.useBackend}`, terms.length > 0 ? "exact" : "unsupported",
        terms.length > 0
          ? `acl + use_backend ${rule.useBackend} if ${terms.join(" || ")}${terms.length > 1 ? " (one use_backend line per alternative)" : ""}; fe_conn counts this frontend's established connections, including the one being routed`
          : "the condition never holds; nothing is rendered for it");
    }
    if (f.maxconn !== null) note(fpath, `maxconn ${f.maxconn}`, "exact", "frontend maxconn: connections beyond it wait in the kernel's accept queue");
    note(`${fpath}.bind`, `bind ${f.bind.host}:${f.bind.port}`, "exact",
      f.http2.enabled ? "one port for HTTP/1.1 and h2c (HAProxy detects the HTTP/2 preface)" : "HTTP/1.1 only (proto h1)");
    note(`${fpath}.timeouts`, "timeouts", "exact", "timeout client, http-request, http-keep-alive (frontend); connect, server, tunnel (backends)");
    if (carriesWebSockets(model, f)) {
      const longer = [f.defaultBackend, ...f.rules.map((r) => r.useBackend)].filter((name) => backendTimeouts(model, model.backends.find((b) => b.name === name)!).tunnelMs > f.timeouts.tunnelMs);
      note(`${fpath}.timeouts`, `tunnel ${formatDuration(f.timeouts.tunnelMs)}`, longer.length > 0 ? "approximate" : "exact",
        "timeout tunnel in each backend the frontend routes to (HAProxy takes it in backends, not frontends): once the server answers 101 it replaces timeout client and server, and the tunnel closes after that long with no data in either direction" +
          (longer.length > 0 ? `; ${[...new Set(longer)].join(", ")} also serve${longer.length === 1 ? "s" : ""} a frontend with a longer tunnel timeout, and take${longer.length === 1 ? "s" : ""} the longest` : ""));
      note(fpath, "WebSocket upgrades", "exact",
        "an upgrade is an HTTP/1.1 request until the server's 101, so the same acl and use_backend rules route it, fe_conn included, and http-after-response stamps the 101; HAProxy forwards Upgrade and Connection itself, then tunnels the connection. fe_conn counts the client connection for the whole life of the tunnel");
    }
    return {
      name: safeName(f.name),
      origin: `${fpath} (line ${f.origin.line})`,
      bind: hostPort(f.bind),
      bindOptions: f.http2.enabled ? "" : " proto h1",
      maxconn: f.maxconn === null ? null : safeInt(f.maxconn),
      timeouts: [
        { name: "client", value: formatDuration(f.timeouts.clientMs) },
        { name: "http-request", value: formatDuration(f.timeouts.httpRequestMs) },
        { name: "http-keep-alive", value: formatDuration(f.timeouts.httpKeepAliveMs) },
      ],
      stamp: runtime?.stamp ? PROXY_CONNS_HEADER : null,
      routeStamp: ROUTE_HEADER,
      acls,
      useBackends,
      defaultBackend: safeName(f.defaultBackend),
    };
  });

  const backends = model.backends.map((b) => {
    const t = backendTimeouts(model, b);
    const bpath = `backends.${b.name}`;
    if (b.maxconn !== null || b.servers.some((s) => s.maxconn !== null)) {
      note(bpath, `maxconn ${b.maxconn ?? "per server"}`, "exact", "server maxconn: requests beyond it wait in the backend queue until timeout queue");
    }
    note(bpath, `balance ${b.balance}`, "exact", `balance ${b.balance}`);
    return {
      name: safeName(b.name),
      origin: `${bpath} (line ${b.origin.line})`,
      balance: b.balance,
      timeouts: [
        { name: "connect", value: formatDuration(t.connectMs) },
        { name: "server", value: formatDuration(t.serverMs) },
        // HAProxy takes timeout tunnel in defaults, listen and backend sections only, not in a frontend.
        { name: "tunnel", value: formatDuration(t.tunnelMs) },
      ],
      servers: b.servers.map((s) => ({
        name: safeName(s.name),
        address: hostPort(s.address),
        maxconn: s.maxconn === null ? null : safeInt(s.maxconn),
      })),
    };
  });

  return {
    view: {
      header,
      global: {
        maxconn: safeInt(globalMaxconn),
        tune,
        statsSocket: runtime?.haproxyStats ? `ipv4@${hostPort(runtime.haproxyStats)}` : null,
      },
      defaults: {
        timeouts: [
          { name: "connect", value: formatDuration(DEFAULTS.timeoutConnect.value) },
          { name: "client", value: formatDuration(DEFAULTS.timeoutClient.value) },
          { name: "server", value: formatDuration(DEFAULTS.timeoutServer.value) },
          { name: "queue", value: formatDuration(DEFAULTS.haproxyTimeoutQueue.value) },
        ],
      },
      frontends,
      backends,
    },
    notes: report.notes,
    defaults: report.defaults,
  };
}
