import type { Condition } from "./condition.js";
import type { DefaultUse } from "./defaults.js";
import type { NormalizedLoad } from "./load-profile.js";
import type { BALANCE, TARGETS } from "./schema.js";

/** The validated spec, with defaults applied and every duration in milliseconds. */

export type Target = (typeof TARGETS)[number];
export type Balance = (typeof BALANCE)[number];

export interface Origin {
  /** Dotted spec path, e.g. `frontends.webserver`. */
  path: string;
  line: number;
}

export interface HostPort {
  host: string;
  port: number;
}

export interface Timeouts {
  clientMs: number;
  httpKeepAliveMs: number;
  httpRequestMs: number;
  connectMs: number;
  serverMs: number;
  /** Inactivity of an upgraded (WebSocket) connection. */
  tunnelMs: number;
}

export interface Rule {
  index: number;
  name: string | null;
  text: string;
  condition: Condition;
  useBackend: string;
  origin: Origin;
}

export interface Frontend {
  name: string;
  bind: HostPort;
  maxconn: number | null;
  timeouts: Timeouts;
  http2: { enabled: boolean; maxConcurrentStreams: number | null };
  keepAliveRequests: number | null;
  rules: Rule[];
  defaultBackend: string;
  origin: Origin;
}

export interface StubBehaviour {
  latencyMs: number;
  bodyBytes: number | null;
  failureRate: number;
  failureStatus: number;
}

export interface Server {
  name: string;
  address: HostPort;
  maxconn: number | null;
  /** True when spillway runs a stub for this server (`servers: N`). */
  stub: boolean;
}

export interface Backend {
  name: string;
  balance: Balance;
  maxconn: number | null;
  keepalive: number;
  servers: Server[];
  stub: StubBehaviour;
  origin: Origin;
}

export type ThresholdOp = ">=" | ">" | "<=" | "<" | "==";

export interface Threshold {
  op: ThresholdOp;
  value: number;
  unit: "count" | "percent" | "ms";
  text: string;
}

export interface Expectations {
  backends: Record<string, Threshold>;
  errors: Threshold | null;
  unattributed: Threshold | null;
  latency: Partial<Record<"p50" | "p90" | "p99" | "max", Threshold>>;
  maxConnectionsSeen: Threshold | null;
  /** Thresholds on the load's WebSocket sessions; null: none given. */
  websockets: WebSocketExpectations | null;
}

export interface WebSocketExpectations {
  /** Completed sessions, of those started. */
  sessions: Threshold | null;
  /** The delivery ratio. */
  delivered: Threshold | null;
  fanout: Partial<Record<"p50" | "p99", Threshold>>;
  /** Upgrades by the backend the proxy routed them to. */
  upgrades: Record<string, Threshold>;
}

/** A scenario's load: one shape with what `spillway load` and a library caller run (spec/load-profile.ts). */
export type LoadSpec = NormalizedLoad;

export interface Scenario {
  name: string;
  description: string | null;
  targets: Target[];
  frontend: string;
  load: LoadSpec;
  expect: Record<Target, Expectations>;
  origin: Origin;
}

export interface Model {
  file: string;
  targets: Target[];
  stubs: { host: string; basePort: number };
  frontends: Frontend[];
  backends: Backend[];
  scenarios: Scenario[];
  /** The defaults (see defaults.ts) that stood in for keys this spec left out. */
  defaults: DefaultUse[];
}
