/**
 * The prediction's own input and output. Plain data, kept apart from the
 * spec's and the load driver's shapes so the model reads only what it uses
 * and stays put when those change.
 */

/** A closed range of connection counts; `hi` may be Infinity (same shape as spec/intervals). */
export interface ConnRange {
  lo: number;
  hi: number;
}

/** How the client's connections come into being. */
export type ConnectionArrivals =
  /** h2load without --rate: every connection starts at once. */
  | { kind: "all-at-once" }
  /** h2load --rate / --rate-period: `perPeriod` start at once at 0, then as many again every `periodMs`, up to `connections`. */
  | { kind: "rate"; perPeriod: number; periodMs: number }
  /** k6 ramping-vus: the connection count follows a staircase between stage targets, starting from 0. */
  | { kind: "stages"; stages: { durationMs: number; target: number }[] };

export interface PredictLoad {
  connections: number;
  /** Streams a connection keeps in flight (h2load -m; 1 for HTTP/1.1). */
  streams: number;
  arrivals: ConnectionArrivals;
  /**
   * Open model: requests per second, each sent on any open connection with a
   * free stream (round robin), whatever came back. null: the closed model,
   * where each stream sends its next request when its last one is answered
   * (and its think time has passed).
   */
  arrivalRate: number | null;
  /** Requests in all (h2load -n); null: bounded by the duration or the stages. */
  requests: number | null;
  /**
   * per-client: h2load's split of `requests` over workers and then over
   * connections in creation order; a connection closes when its share is
   * done and never comes back. pooled: one budget, connections stay open.
   */
  budget: "per-client" | "pooled";
  durationMs: number | null;
  warmupMs: number;
  /** Worker threads the client splits connections, rate and requests over (h2load -t). */
  workers: number;
  /** Pause between a stream's response and its next request (closed model). */
  thinkTimeMs: number;
  /** The client's keep-alive policy. */
  closeAfterRequests: number | null;
  closeAfterIdleMs: number | null;
}

export interface PredictProxy {
  /** A label for the assumptions: "haproxy", "nginx". */
  target: string;
  /** What the rules compare, in words: "fe_conn", "$connections_active". */
  counter: string;
  /**
   * Connections the proxy holds at most; the next ones wait in the kernel's
   * accept queue, uncounted and unanswered, until one closes (HAProxy
   * frontend maxconn). null: every connection is accepted at once (nginx as
   * spillway renders it).
   */
  maxconn: number | null;
  /** The proxy closes a connection that has had no request in flight for this long (HAProxy timeout http-keep-alive under HTTP/2, nginx keepalive_timeout). null: never. */
  idleTimeoutMs: number | null;
  /** The proxy closes a connection after this many requests (nginx keepalive_requests). null: never. */
  closeAfterRequests: number | null;
  /** SETTINGS_MAX_CONCURRENT_STREAMS the proxy announces; caps the client's streams. */
  maxConcurrentStreams: number | null;
  /** Connections the counter holds besides this load's (nginx counts every client connection of the instance). */
  otherConnections: number;
  /** What those other connections are, for the assumptions; default: "connection(s) besides this load's". */
  otherConnectionsWhat?: string;
  /**
   * A request routed to a backend whose every server slot is busy: waits in
   * the backend's queue (HAProxy server maxconn) or is refused at once
   * (nginx max_conns, which has no queue).
   */
  whenFull: "queue" | "reject";
}

export interface PredictRule {
  /** The rule's name, or its condition when it has none (as results[].flips[].rule). */
  name: string;
  condition: string;
  backend: string;
  /** Counts at which the rule matches; null: it depends on something besides the connection count, and the model never lets it match. */
  conns: ConnRange[] | null;
}

export interface PredictBackend {
  name: string;
  /** Requests its servers take at once (servers x maxconn); null: no limit. */
  slots: number | null;
  /** Its stubs' latency, in place of the service's; null: the service's. */
  latencyMs: number | null;
}

/**
 * Where requests spend their time. A request holds a slot of its backend
 * while it is served; being served is a turn in one first-come first-served
 * queue with room for `capacityRps` requests a second (the client, the proxy
 * and the stubs share the machine's CPU), followed by `latencyMs` of pure
 * delay (the stubs' configured latency, or a measured p50 when no capacity
 * is given).
 */
export interface PredictService {
  latencyMs: number;
  /** Requests per second the whole path completes at most; null: no limit (pure delay). */
  capacityRps: number | null;
  /** From a connection's start to its first request (TCP and HTTP/2 handshakes). */
  connectMs: number;
  /** Where the numbers come from, in words, for the assumptions. */
  source: string;
}

export interface PredictInput {
  load: PredictLoad;
  proxy: PredictProxy;
  rules: PredictRule[];
  defaultBackend: string;
  backends: PredictBackend[];
  service: PredictService;
  /** Bound on simulated events; past it the run is cut and the prediction marked truncated. Default 5,000,000. */
  maxEvents?: number;
  /**
   * How far the real count may wander from the model's at a routing: the
   * bands give the shares were every request routed anywhere within this
   * many connections of the model's count. Default 5.
   */
  edgeConns?: number;
  /** Width of a timeline window; default: about 50 windows over the run. */
  timelineWindowMs?: number;
}

export interface PredictedFlip {
  rule: string;
  condition: string;
  backend: string;
  defaultBackend: string;
  /** The highest count at which a request still went to the default backend; null: none did. */
  lastDefaultConns: number | null;
  /** The lowest count at which one went to the rule's backend; null: none did. */
  firstRuleConns: number | null;
  /** When the first request routed to the rule's backend was sent, from the start of measuring; null: none was. */
  atMs: number | null;
}

export interface PredictedWindow {
  /** Start of the window, from the start of measuring. */
  atMs: number;
  /** Requests routed in the window, by backend. */
  byBackend: Record<string, number>;
  /** Highest count the proxy held in the window. */
  maxConns: number;
}

export interface Prediction {
  /** Share of the measured requests routed to each backend, 0..1. */
  backends: Record<string, number>;
  /**
   * Per backend, the lowest and highest share it could get were the count at
   * each routing up to `edgeConns` off the model's: a wide band means many
   * requests were routed right at a rule's edge, where small timing
   * differences decide, and measured runs scatter.
   */
  bands: Record<string, [number, number]>;
  /** Requests that could go to each backend within the band. */
  possibly: Record<string, number>;
  /** Requests that go to each backend wherever in the band the count is. */
  surely: Record<string, number>;
  /** Requests routed to each backend. */
  routed: Record<string, number>;
  /** Requests refused at once by a backend with no free slot (whenFull: reject). */
  refused: Record<string, number>;
  /** Requests routed while measuring. */
  requests: number;
  flips: PredictedFlip[];
  /** Highest count the proxy held while routing a measured request. */
  maxConnsAtRouting: number;
  /** Highest count the proxy held at all. */
  maxConns: number;
  /** From the start of the run until the last response. */
  durationMs: number;
  timelineWindowMs: number;
  timeline: PredictedWindow[];
  /** The event bound cut the run short. */
  truncated: boolean;
  assumptions: string[];
}
