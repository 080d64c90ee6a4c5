/**
 * What `spillway explore` reports: one JSON object, the same one its HTML
 * page embeds. Plain data only, snake_case as in `verify --json`, so the
 * page, `--resume` and users' scripts read one shape.
 */

/** One `--vary PATH=V1,V2,...` axis: the spec or load path and its values, in order. */
export interface VaryAxis {
  path: string;
  /** Values as the user wrote them (`100ms`, `2`, `280`), after range expansion. */
  values: string[];
}

export interface ExploreTimelineWindow {
  t_ms: number;
  /** Responses per backend in the window, by the stub that served them. */
  by_backend: Record<string, number>;
  errors: number;
  open_connections: number;
  /** Highest proxy connection count stamped on a response in the window, or null when none was. */
  max_proxy_conns: number | null;
  /** p99 latency of the window's responses; absent or null when the run did not measure it per window. */
  p99_ms?: number | null;
}

export interface ExploreFlip {
  rule: string;
  backend: string;
  last_default_conns: number | null;
  first_rule_conns: number | null;
  at_ms: number | null;
}

/** A cell's WebSocket sessions (`load.websockets`), in the names `verify --json` gives them. */
export interface ExploreWsCell {
  sessions: {
    /** Sessions the load asked for (load.websockets.connections). */
    asked: number;
    opened: number;
    /** Never opened, or ended before their length; by cause below. */
    failed: number;
    /** Held for their whole length. */
    completed: number;
    /** Most sessions open at once. */
    max_open: number;
  };
  failed_by_cause: Record<string, number>;
  /** k6's ws_msgs_sent and ws_msgs_received. */
  msgs_sent: number;
  msgs_received: number;
  /** Deliveries owed: every message times the members of its room when it was sent. */
  expected: number;
  delivered: number;
  /** delivered / expected; null when no message was sent. */
  delivery_ratio: number | null;
  /** Send to each receipt. */
  fanout_ms: { p50: number | null; p99: number | null };
  /** 101 responses by the backend the stub stamped on them. */
  upgrades: Record<string, number>;
  timeline: { t_ms: number; open_sessions: number; sent: number; received: number; expected: number; delivered: number }[];
  window_ms: number;
}

export interface MeasuredCell {
  /** Requests served per backend (the stub's stamp), and its share of all requests sent (0..1). */
  backends: Record<string, { count: number; share: number }>;
  /** Requests per backend the proxy routed to (its route stamp), served or not. */
  routed: Record<string, number>;
  sent: number;
  succeeded: number;
  /** Requests without a 2xx response, by cause (`status-502-no-header`, `timeout`, ...). */
  failed: Record<string, number>;
  latency_ms: { p50: number | null; p99: number | null };
  rps: number;
  max_proxy_conns_seen: number | null;
  flips: ExploreFlip[];
  timeline: ExploreTimelineWindow[];
  window_ms: number;
  duration_ms: number;
  /** The cell's WebSocket sessions; absent or null when its load holds none. */
  websockets?: ExploreWsCell | null;
}

export interface PredictedCell {
  /** Share per backend (0..1). */
  backends: Record<string, number>;
  flips: ExploreFlip[];
  max_proxy_conns_seen: number | null;
  assumptions: string[];
}

/** The knee of a ramp: where throughput stops rising, latency turns up, and errors start. */
export interface Knee {
  /** The ramped quantity: `connections` or `arrival_rate`. */
  load: "connections" | "arrival_rate";
  throughput_plateau_at: number | null;
  latency_turn_at: number | null;
  errors_start_at: number | null;
  /** One point per timeline window: the ramped load then, and what was measured. */
  curve: { load: number; rps: number; p99_ms: number | null; error_rate: number }[];
}

export interface ExploreCell {
  target: "haproxy" | "nginx";
  /** PATH -> the value this cell used. */
  values: Record<string, string>;
  /** null when the run broke; `error` says why. */
  measured: MeasuredCell | null;
  predicted: PredictedCell | null;
  /** Percentage points, measured minus predicted, per backend. */
  gap: Record<string, number> | null;
  knee: Knee | null;
  error: string | null;
  /** The command that reproduces this cell alone. */
  command: string;
  /** Time spent on this cell beyond the load itself (stack start, reuse, counters). */
  overhead_ms: number;
  /** Whether the cell started its proxy (`new`) or ran on the one the previous cell left up (`reused`: only load keys changed). */
  stack?: "new" | "reused";
}

/** HAProxy beside nginx for one grid point, in plain words, linked to the fidelity report's row. */
export interface TargetDifference {
  values: Record<string, string>;
  text: string;
  /** Id of the fidelity report's row for the construct that causes the difference, or null. */
  fidelity_row: string | null;
}

export interface ExploreReport {
  spec: string;
  /** SHA-256 of the spec's text: `--resume` refuses a report made from another version of the file. */
  spec_sha256?: string;
  scenario: string;
  started_at: string;
  vary: VaryAxis[];
  targets: ("haproxy" | "nginx")[];
  /** The `--ramp` every cell ran (`0s:10,1m:400`), or null when the cells ran the scenario's own load. */
  ramp?: string | null;
  cells: ExploreCell[];
  differences: TargetDifference[];
  /** Rendered configs per target for the first grid point (the page shows them). */
  configs: Record<string, string>;
  /** The fidelity report rows: id, construct, how nginx approximates it. */
  fidelity: { id: string; construct: string; note: string }[];
  /** The connection-count thresholds of the scenario's frontend rules, for the timeline's threshold lines. */
  thresholds: { rule: string; backend: string; conns: number }[];
  complete: boolean;
}
