/**
 * The prediction's input for one scenario of a validated spec on one target:
 * what each proxy, as spillway renders it, counts, limits and times out
 * (src/render/haproxy.ts, src/render/nginx.ts, and their fidelity notes).
 * The only place the model reads the spec's shapes.
 */
import { feConnSet } from "../spec/intervals.js";
import type { Model, Scenario, Target } from "../spec/model.js";
import type { PredictInput, PredictProxy, PredictService } from "./types.js";

/**
 * Requests per second the classic fixture's over-threshold scenario
 * completed under HAProxy 2.6 on this project's 2-core machine when it was
 * lightly loaded (16,355 req/s; 6,155-6,423 while other jobs shared the
 * CPU, and nginx 1.22 10,769-14,837, most of its answers fast 502s). Used
 * when no measured run is given; a measured run's req/s is the better number.
 */
export const DEFAULT_CAPACITY_RPS = 16_000;
/** Loopback TCP and HTTP/2 handshakes on a busy machine. */
export const DEFAULT_CONNECT_MS = 1;
/** What HAProxy announces when tune.h2.max-concurrent-streams is not set. */
const HAPROXY_DEFAULT_STREAMS = 100;
/** nginx's http2_max_concurrent_streams default. */
const NGINX_DEFAULT_STREAMS = 128;

export interface FromSpecOptions {
  /** Service numbers; default: the stubs' latency and DEFAULT_CAPACITY_RPS. */
  service?: Partial<PredictService>;
  /** HAProxy 2.9 or later closes HTTP/2 connections after keep_alive.requests (tune.h2.fe.max-total-streams); 2.6 cannot. */
  haproxyClosesAfterRequests?: boolean;
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/**
 * Held WebSocket sessions are connections the counter holds besides the
 * HTTP load's, for their whole life (fe_conn and $connections_active count a
 * tunnel as one connection). The model takes them as a constant: what that
 * leaves out, when they open late or end early, is said.
 */
function heldSessions(l: Scenario["load"]): { count: number; what?: string } {
  const w = l.websockets;
  if (w === null) return { count: 0 };
  const openMs = w.connectRate === null ? 0 : ((w.connections - 1) / w.connectRate) * 1000;
  const loadEndMs = l.durationMs === null ? null : l.warmupMs + l.durationMs;
  const gaps: string[] = [];
  if (openMs > l.warmupMs) gaps.push(`the last opens ${seconds(openMs)} in, after the ${seconds(l.warmupMs)} warmup, so the count is overstated early in the measured part`);
  if (loadEndMs === null) gaps.push("the load ends when its requests are done, at a time the spec does not say, so whether they outlast it is not known");
  else if (w.sessionMs < loadEndMs) gaps.push(`each lasts ${seconds(w.sessionMs)}, less than the load's ${seconds(loadEndMs)}, so the count is overstated after ${seconds(w.sessionMs)}`);
  return {
    count: w.connections,
    what: `held WebSocket sessions (load.websockets), each one connection in the count for its whole life, taken as held through the whole load${gaps.length > 0 ? `; but ${gaps.join(", and ")}` : ` (they open within ${seconds(openMs)} and each lasts ${seconds(w.sessionMs)})`}. Where the upgrades themselves are routed is not predicted.`,
  };
}

export function predictInputFromSpec(model: Model, scenario: Scenario, target: Target, opts: FromSpecOptions = {}): PredictInput {
  const frontend = model.frontends.find((f) => f.name === scenario.frontend);
  if (frontend === undefined) throw new Error(`scenario ${scenario.name}: frontend ${scenario.frontend} is not in the spec`);
  const l = scenario.load;
  const h1 = l.protocol === "h1" || l.protocol === "h1-close";
  const stubLatency = (name: string): number | null => {
    const b = model.backends.find((x) => x.name === name);
    return b !== undefined && b.servers.some((s) => s.stub) ? b.stub.latencyMs : null;
  };

  const held = heldSessions(l);
  let proxy: PredictProxy;
  if (target === "haproxy") {
    proxy = {
      target: "HAProxy",
      counter: "fe_conn",
      maxconn: frontend.maxconn,
      // HAProxy 2.6's HTTP/2 mux times an idle frontend connection out after
      // http-keep-alive (http-request when unset); `timeout client` only runs
      // while a stream is open (mux_h2.c, h2c_update_timeout).
      idleTimeoutMs: frontend.timeouts.httpKeepAliveMs,
      closeAfterRequests: opts.haproxyClosesAfterRequests ? frontend.keepAliveRequests : null,
      maxConcurrentStreams: h1 ? 1 : (frontend.http2.maxConcurrentStreams ?? HAPROXY_DEFAULT_STREAMS),
      otherConnections: held.count,
      ...(held.what !== undefined ? { otherConnectionsWhat: held.what } : {}),
      whenFull: "queue",
    };
  } else {
    proxy = {
      target: "nginx",
      counter: "$connections_active",
      // Not rendered: open-source nginx has no per-listener cap that queues.
      maxconn: null,
      // keepalive_timeout covers idle HTTP/2 connections since nginx 1.19.7;
      // client_body_timeout and send_timeout only run while a request is.
      idleTimeoutMs: frontend.timeouts.httpKeepAliveMs,
      closeAfterRequests: frontend.keepAliveRequests,
      maxConcurrentStreams: h1 ? 1 : (frontend.http2.maxConcurrentStreams ?? NGINX_DEFAULT_STREAMS),
      otherConnections: held.count,
      ...(held.what !== undefined ? { otherConnectionsWhat: held.what } : {}),
      whenFull: "reject",
    };
  }

  const latency = opts.service?.latencyMs ?? 0;
  const service: PredictService = {
    latencyMs: latency,
    capacityRps: opts.service?.capacityRps !== undefined ? opts.service.capacityRps : DEFAULT_CAPACITY_RPS,
    connectMs: opts.service?.connectMs ?? DEFAULT_CONNECT_MS,
    source: opts.service?.source ?? `the stubs' configured latency and spillway's default capacity of ${DEFAULT_CAPACITY_RPS} requests/s`,
  };

  return {
    load: {
      connections: l.connections,
      streams: h1 ? 1 : l.streams,
      arrivals:
        l.stages !== null
          ? { kind: "stages", stages: l.stages.map((s) => ({ durationMs: s.durationMs, target: s.target })) }
          : l.connectRate !== null
            ? { kind: "rate", perPeriod: l.connectRate, periodMs: l.connectPeriodMs }
            : { kind: "all-at-once" },
      arrivalRate: l.arrivalRate,
      requests: l.requests,
      budget: l.budget,
      durationMs: l.durationMs,
      warmupMs: l.warmupMs,
      workers: l.workers,
      thinkTimeMs: l.thinkTimeMs,
      closeAfterRequests: l.closeAfterRequests,
      closeAfterIdleMs: l.closeAfterIdleMs,
    },
    proxy,
    rules: frontend.rules.map((r) => ({
      name: r.name ?? r.text,
      condition: r.text,
      backend: r.useBackend,
      conns: feConnSet(r.condition),
    })),
    defaultBackend: frontend.defaultBackend,
    backends: model.backends.map((b) => {
      const perServer = b.servers.map((s) => s.maxconn);
      const slots = perServer.every((m) => m !== null) ? perServer.reduce((a, m) => a + m!, 0) : null;
      const own = stubLatency(b.name);
      return { name: b.name, slots, latencyMs: opts.service?.latencyMs !== undefined ? null : own };
    }),
    service,
  };
}
