/**
 * A load's checks and defaults, from the spec's `load:` keys to what the
 * engine runs, free of zod: the keys that contradict each other, the
 * defaults, and where the run goes (`profileFor`). The schema's own checks
 * of each key are load-profile.ts's, which also re-exports all of this, so
 * a caller that has input the schema accepted (`spillway load`'s flags,
 * checked against the schema's JSON form) need not load zod.
 *
 * Pure: no engine, no I/O. Problems come back as data with their key paths,
 * so the spec loader can point at `file:line:col` and the CLI can name the flag.
 */
import { UsageError } from "../errors.js";
import { H2LOAD_KEYS, H2LOAD_OPTION_OF, parseH2loadCommand } from "./h2load-args.js";
import { BACKEND_HEADER } from "../wire.js";
import { pathText } from "./diagnostics.js";
import { parseDuration } from "./duration.js";
import { LOAD_DEFAULTS, WEBSOCKET_DEFAULTS, type BUDGETS, type PROTOCOLS } from "./load-defaults.js";
import type { LoadInput, WebSocketsInput } from "./schema.js";

export type { LoadInput } from "./schema.js";
export type LoadProtocol = (typeof PROTOCOLS)[number];

/**
 * How a request count is shared. `per-client` is h2load's: -n is split over
 * workers and then over connections (in creation order), each connection
 * sends its share and then closes. `pooled`: every connection draws from one
 * budget until it is spent, and stays open to the end of the run.
 */
export type LoadBudget = (typeof BUDGETS)[number];

export interface LoadStage {
  /** 0 is an instant jump to `target`, as in k6. */
  durationMs: number;
  /**
   * Connections to reach by the end of the stage: k6's ramping-vus staircase
   * (the count moves by whole connections, floor of the linear ramp, so the
   * target is reached exactly at the stage's end), starting from 0.
   */
  target: number;
}

/** WebSocket sessions a load holds, every default filled in (the spec's `load.websockets`). */
export interface WebSocketLoad {
  /** Sessions held at once, one connection each. */
  connections: number;
  /** Rooms the sessions are dealt over in turn (room-1 ... room-N); 0: each message is echoed to its sender only. At most `connections`. */
  rooms: number;
  /** Each session sends one message this often; at least 1. */
  messageIntervalMs: number;
  /** At least WS_HEADER_BYTES (16): sender id u32, sequence u32, send time f64. */
  payloadBytes: number;
  /** How long each session stays open; at least messageIntervalMs. */
  sessionMs: number;
  /** Sessions opened per second, spread evenly; null: all at the start. */
  connectRate: number | null;
}

/** A load with every default filled in and every duration in milliseconds: what a scenario holds. */
export interface NormalizedLoad {
  /**
   * Whether the load sends HTTP requests. false only for a load of
   * websockets alone: its HTTP keys then hold their defaults with
   * `connections` 0, and a runner must not start the HTTP engine for it.
   */
  http: boolean;
  /** WebSocket sessions held beside (or, when `http` is false, instead of) the HTTP requests; null: none. */
  websockets: WebSocketLoad | null;
  protocol: LoadProtocol;
  connections: number;
  /** Max concurrent streams per connection (h1: 1). */
  streams: number;
  /**
   * h2load --rate: connections opened in a burst at the start of the run and
   * then every `connectPeriodMs`, until `connections` have been opened. Split
   * over workers as h2load splits it over threads. null: all at the start.
   */
  connectRate: number | null;
  /** h2load --rate-period. */
  connectPeriodMs: number;
  budget: LoadBudget;
  requests: number | null;
  durationMs: number | null;
  warmupMs: number;
  stages: LoadStage[] | null;
  /** Open model: requests per second; latency measured from the intended send time. */
  arrivalRate: number | null;
  /** Pause between a stream slot's requests (closed model). */
  thinkTimeMs: number;
  closeAfterRequests: number | null;
  closeAfterIdleMs: number | null;
  /** Reconnect after a server close or GOAWAY. */
  reconnect: boolean;
  /** Local addresses bound round-robin per connection. */
  sourceAddresses: string[];
  /** worker_threads to spread connections over; results are merged. */
  workers: number;
  /**
   * Per-request timeout; also bounds connecting. A run where no connection
   * has opened, or nothing has answered while requests timed out, this long
   * after its first connection attempt stops early (result.stoppedEarly).
   */
  timeoutMs: number;
  /** The path every request asks for; null: the URL's own. */
  path: string | null;
}

/** Where and how long a load runs: what a spec leaves to the run. */
export interface RunOptions {
  /** http://127.0.0.1:8080/path (h2c or h1), or https://... (h2 over TLS with ALPN, or h1 over TLS). */
  url: string;
  /** Response header naming the backend. Default: x-spillway-backend. */
  countBy?: string;
  /**
   * After the duration (or the last stage) ends, how long requests in flight
   * may take to finish; those still in flight then end as "cut-by-duration"
   * (or "timeout" when older than the timeout). Default: the load's timeout.
   * 0 stops at the end of the duration exactly.
   */
  drainMs?: number;
  /** Hard stop for the whole run; in-flight requests then end as "aborted". Default: the load's own bound, plus time to drain, plus 5 s. */
  maxRunMs?: number;
  /** The timeline's window. Default (null): about 50 windows in a run, whatever its length. */
  timelineWindowMs?: number | null;
  /** Per-request log sink: one JSON object per line. */
  ndjson?: (line: string) => void;
}

/** What the engine reads: a load and where it runs, every default filled in; plain data (sent to workers as it is). */
export interface NormalizedProfile extends Omit<NormalizedLoad, "path"> {
  url: string;
  tls: boolean;
  host: string;
  port: number;
  authority: string;
  /** Path and query of the URL. */
  path: string;
  countBy: string;
  drainMs: number;
  maxRunMs: number;
  /** null: the window adapts so a run has about 50 of them, whatever its length. */
  timelineWindowMs: number | null;
  /** Whether per-request lines are wanted. */
  ndjson: boolean;
}

/** What `startLoad` runs: the normalised profile, with the NDJSON sink itself in place of the engine's flag. Made by `parseLoadProfile` or `profileFor`. */
export interface LoadProfile extends Omit<NormalizedProfile, "ndjson"> {
  ndjson?: ((line: string) => void) | undefined;
}

export type KeyPath = readonly (string | number)[];

/** One thing wrong with a load or its run, as data: the caller says where (a spec position, a flag). */
export interface LoadProblem {
  /** In the load's keys (`["stages", 0, "duration"]`) or the run options' (`["url"]`); [] for the load as a whole. */
  path: KeyPath;
  /** A whole sentence, with keys named by the `KeyNames` given. */
  message: string;
  hint?: string;
  /** The problem is that the key is there (or missing), not its value. */
  key?: boolean;
  /** Offset in the h2load command line, for a problem found in it. */
  offset?: number;
}

/** How problems name keys: a spec writes `connect_rate`, the CLI `--rate`. */
export interface KeyNames {
  name(path: KeyPath): string;
  /** A key given a value, for hints: `` `requests: 40000` `` in a spec, `` `-n 40000` `` on the CLI. */
  example(key: string, value: string | number): string;
}

export const SPEC_NAMES: KeyNames = {
  name: (path) => pathText(path),
  example: (key, value) => `\`${key}: ${value}\``,
};

/** Bound for a run given only a request count. */
const DEFAULT_REQUESTS_ONLY_MAX_MS = 10 * 60_000;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]{1,100}$/;

/** A checked load: its problems, and the load with its defaults (meaningful only without problems). */
export interface CheckedLoad {
  load: NormalizedLoad;
  problems: LoadProblem[];
  /** URLs written in the h2load command line, with their offsets: the CLI's target, an error in a spec. */
  urls: { url: string; offset: number }[];
}

/**
 * Checks a load the schema accepted: an h2load command line is read into
 * the keys it stands for, then the keys are checked against each other.
 * `tls`: whether the target is https://, where the protocol defaults to h2.
 * `recheck` holds the command line's values to the schema's limits; only a
 * load with h2load needs it (null: the caller has none, and gives no h2load).
 */
export function checkLoadWith(l: LoadInput, opts: { names?: KeyNames; tls?: boolean }, recheck: ((input: LoadInput, names: KeyNames) => LoadProblem[]) | null): CheckedLoad {
  const names = opts.names ?? SPEC_NAMES;
  const n = (key: string) => names.name(key.split("."));
  let input = l;
  let problems: LoadProblem[] = [];
  let urls: CheckedLoad["urls"] = [];
  let fromH2load = new Set<string>();
  if (l.h2load !== undefined) {
    const cmd = parseH2loadCommand(l.h2load);
    problems = cmd.problems.map((p) => ({ path: ["h2load"], message: p.message, offset: p.offset }));
    urls = cmd.urls;
    for (const key of H2LOAD_KEYS) {
      if (l[key] !== undefined) {
        problems.push({
          path: [key],
          message: `${n(key)} cannot be given with ${n("h2load")}, which sets the load itself`,
          key: true,
          hint: `Put the option in the ${n("h2load")} command line instead, or drop ${n("h2load")}.`,
        });
      }
    }
    const { h2load: _, ...rest } = l;
    input = { ...rest, ...cmd.load };
    fromH2load = new Set(Object.keys(cmd.load));
  }
  // A key the command line set is named by its h2load option, and its problem points at the command line.
  const h2loadOption = (path: KeyPath): string | undefined => (typeof path[0] === "string" && fromH2load.has(path[0]) ? (H2LOAD_OPTION_OF[path[0]] ?? names.name(path)) : undefined);
  const named: KeyNames = { name: (path) => h2loadOption(path) ?? names.name(path), example: names.example };
  const atH2load = (p: LoadProblem): LoadProblem => (h2loadOption(p.path) !== undefined ? { ...p, path: ["h2load"], key: false } : p);
  if (l.h2load !== undefined && problems.length === 0) {
    // The command line's values pass the same limits as the keys they stand for.
    if (recheck === null) throw new Error("an h2load command line is checked against the load's schema: use checkLoad (load-profile.ts)");
    problems = recheck(input, named).map(atH2load);
  }
  if (problems.length === 0) problems = (hasHttp(input) ? crossProblems(input, named).map(atH2load) : websocketsOnlyProblems(input, named));
  if (input.websockets !== undefined) problems.push(...websocketProblems(input.websockets, named));
  return { load: normalizeLoad(input, opts.tls ?? false), problems, urls };
}
/** Keys a load of websockets alone shares with the HTTP load: where the upgrades go and where they come from. */
const SHARED_KEYS: readonly string[] = ["websockets", "path", "source_addresses"];

/** A load sends HTTP requests when it says how many connections: connections, h2load or stages; without websockets it must. */
export function hasHttp(l: LoadInput): boolean {
  return l.websockets === undefined || l.connections !== undefined || l.h2load !== undefined || l.stages !== undefined;
}

/** A load of websockets alone: an HTTP key there would be silently ignored, so it is refused, named. */
function websocketsOnlyProblems(l: LoadInput, names: KeyNames): LoadProblem[] {
  const n = (key: string) => names.name(key.split("."));
  return Object.keys(l)
    .filter((key) => !SHARED_KEYS.includes(key) && l[key as keyof LoadInput] !== undefined)
    .map((key) => ({
      path: [key],
      message: `${n(key)} is a key of the HTTP load, and this load has only ${n("websockets")} (no ${n("connections")} or ${n("h2load")}), so it sends no HTTP request`,
      key: true,
      hint: `Give ${n("connections")} to send HTTP requests beside the sessions, or remove ${n(key)}.`,
    }));
}

/** What the WebSocket schema cannot see: durations against each other, rooms against sessions. */
function websocketProblems(w: WebSocketsInput, names: KeyNames): LoadProblem[] {
  const n = (key: string) => names.name(["websockets", ...key.split(".")]);
  const out: LoadProblem[] = [];
  const at = (key: string) => ["websockets", key];
  const interval = parseDuration(w.message_interval ?? WEBSOCKET_DEFAULTS.message_interval);
  const session = parseDuration(w.session);
  const rooms = w.rooms ?? WEBSOCKET_DEFAULTS.rooms;
  if (interval === 0) out.push({ path: at("message_interval"), message: `${n("message_interval")} must be at least 1ms: a session sends one message per interval` });
  if (session === 0) out.push({ path: at("session"), message: `${n("session")} must be above 0` });
  else if (session < interval) {
    out.push({
      path: at("session"),
      message: `${n("session")} ${w.session} is shorter than ${n("message_interval")} ${w.message_interval ?? WEBSOCKET_DEFAULTS.message_interval}: a session would end before it sends a message`,
      hint: `Give ${n("session")} at least ${w.message_interval ?? WEBSOCKET_DEFAULTS.message_interval}, or a shorter ${n("message_interval")}.`,
    });
  }
  if (rooms > w.connections) {
    out.push({
      path: at("rooms"),
      message: `${n("rooms")} ${rooms} is more than the ${w.connections} session${w.connections === 1 ? "" : "s"} (${n("connections")}): sessions are dealt over the rooms in turn, so ${rooms - w.connections} room${rooms - w.connections === 1 ? "" : "s"} would stay empty`,
      hint: `Use at most ${w.connections} rooms, or 0 for echo.`,
    });
  }
  return out;
}

/** The WebSocket part with its defaults. Assumes the schema accepted it. */
function normalizeWebSockets(w: WebSocketsInput): WebSocketLoad {
  return {
    connections: w.connections,
    rooms: w.rooms ?? WEBSOCKET_DEFAULTS.rooms,
    messageIntervalMs: parseDuration(w.message_interval ?? WEBSOCKET_DEFAULTS.message_interval),
    payloadBytes: w.payload_bytes ?? WEBSOCKET_DEFAULTS.payload_bytes,
    sessionMs: parseDuration(w.session),
    connectRate: w.connect_rate ?? null,
  };
}

/** Connections, budget and stages as the load will run them: the checks and the defaults share one reading. */
function resolve(l: LoadInput) {
  const stages = l.stages?.map((s) => ({ durationMs: parseDuration(s.duration), target: s.target })) ?? null;
  const stagesMax = stages ? stages.reduce((m, s) => Math.max(m, s.target), 0) : 0;
  const protocolIsH1 = l.protocol === "h1" || l.protocol === "h1-close";
  return {
    stages,
    stagesMax,
    protocolIsH1,
    // With stages, the stages decide how many connections there are, unless more are asked for.
    connections: stages ? Math.max(stagesMax, l.connections ?? 0) : (l.connections ?? 1),
    workers: l.workers ?? LOAD_DEFAULTS.workers,
    streams: l.streams ?? LOAD_DEFAULTS.streams,
    budget: l.budget ?? (l.requests !== undefined && stages === null && l.arrival_rate === undefined ? "per-client" : "pooled"),
  };
}

/** What the schema cannot see: keys that contradict each other, and durations that must be above 0. */
function crossProblems(l: LoadInput, names: KeyNames): LoadProblem[] {
  const n = (key: string) => names.name(key.split("."));
  const ex = names.example;
  const out: LoadProblem[] = [];
  const bad = (path: KeyPath, message: string, extra: Omit<LoadProblem, "path" | "message"> = {}) => out.push({ path, message, ...extra });
  const r = resolve(l);

  if (l.requests === undefined && l.duration === undefined && l.stages === undefined) {
    bad([], `the load is unbounded: give ${n("requests")}, ${n("duration")} or ${n("stages")}`, { key: true, hint: `For example ${ex("requests", 40000)} or ${ex("duration", "30s")}.` });
  }
  for (const key of ["duration", "connect_period", "timeout", "keep_alive.close_after_idle"]) {
    const [a, b] = key.split(".") as [keyof LoadInput, string | undefined];
    const v = b ? (l[a] as Record<string, unknown> | undefined)?.[b] : l[a];
    if (typeof v === "string" && parseDuration(v) === 0) bad(key.split("."), `${n(key)} must be above 0`);
  }
  if (r.stages) {
    if (r.stages.every((s) => s.durationMs === 0)) bad(["stages"], "the stages last 0 ms in all: give at least one stage a duration", { key: true });
    if (r.stagesMax === 0) bad(["stages"], "every stage's target is 0: the load would never open a connection", { key: true });
  }
  if (r.protocolIsH1 && r.streams > 1) {
    bad(["streams"], `HTTP/1.1 has one request in flight per connection; ${n("streams")} ${r.streams} needs ${n("protocol")} h2c or h2`);
  }
  if (l.think_time !== undefined && parseDuration(l.think_time) > 0 && l.arrival_rate !== undefined) {
    bad(["think_time"], `${n("think_time")} is a pause of the closed model, and cannot be combined with ${n("arrival_rate")}, the open model's schedule`);
  }
  // No connections at all is the stages' problem, reported above.
  if (r.connections > 0 && r.workers > r.connections) {
    bad(["workers"], `${n("workers")} ${r.workers} is more than the ${connections(r.connections)}: use at most one worker per connection`);
  }
  // h2load's rules for -r and -n, on the keys that mean the same.
  if (l.connect_rate !== undefined) {
    if (l.connect_rate > r.connections) {
      bad(["connect_rate"], `${n("connect_rate")} ${l.connect_rate} is more than the ${connections(r.connections)}: each burst opens up to ${n("connect_rate")} of them (h2load: -r at most -c)`, {
        hint: `Use at most ${ex("connect_rate", r.connections)}; to open them all at once, leave ${n("connect_rate")} out.`,
      });
    }
    if (l.connect_rate < r.workers) {
      bad(["connect_rate"], `${n("connect_rate")} ${l.connect_rate} is less than the ${r.workers} worker${r.workers === 1 ? "" : "s"}: each worker opens its own share of every burst (h2load: -r at least -t)`);
    }
    if (l.stages !== undefined) bad(["connect_rate"], `${n("connect_rate")} cannot be combined with ${n("stages")}: the stages already decide when connections open`);
  } else if (l.connect_period !== undefined) {
    bad(["connect_period"], `${n("connect_period")} is the period of ${n("connect_rate")}'s bursts, and ${n("connect_rate")} is not given`, { hint: `Add ${n("connect_rate")}, or remove ${n("connect_period")}.` });
  }
  if (l.budget === "per-client") {
    if (l.requests === undefined) {
      bad(["budget"], `${n("budget")} per-client shares out ${n("requests")}, and ${n("requests")} is not given`, { hint: `Give ${n("requests")}, or use ${ex("budget", "pooled")}.` });
    }
    if (l.stages !== undefined || l.arrival_rate !== undefined) {
      bad(["budget"], `${n("budget")} per-client cannot be combined with ${n(l.stages !== undefined ? "stages" : "arrival_rate")}, whose requests go to whichever connection is open`);
    }
  }
  // h2load: "-n, -c: the number of requests must be greater than or equal to the clients."
  if (r.budget === "per-client" && l.requests !== undefined && l.requests < r.connections) {
    bad(["requests"], `${l.requests} request${l.requests === 1 ? "" : "s"} for ${connections(r.connections)}: each connection sends its own share (h2load: -n at least -c)`, {
      hint: `Give at least ${ex("requests", r.connections)}, or ${ex("budget", "pooled")}.`,
    });
  }
  return out;
}

function connections(count: number): string {
  return `${count} connection${count === 1 ? "" : "s"}`;
}

/** The load with its defaults. Assumes the schema accepted it (durations are well formed). */
export function normalizeLoad(l: LoadInput, tls = false): NormalizedLoad {
  const r = resolve(l);
  const http = hasHttp(l);
  const protocol = l.protocol ?? (tls ? "h2" : LOAD_DEFAULTS.protocol);
  const ms = (v: string | undefined): number | null => (v === undefined ? null : parseDuration(v));
  return {
    http,
    websockets: l.websockets === undefined ? null : normalizeWebSockets(l.websockets),
    protocol,
    connections: http ? r.connections : 0,
    streams: r.protocolIsH1 ? 1 : r.streams,
    connectRate: l.connect_rate ?? null,
    connectPeriodMs: parseDuration(l.connect_period ?? LOAD_DEFAULTS.connect_period),
    budget: r.budget,
    requests: l.requests ?? null,
    durationMs: ms(l.duration),
    warmupMs: parseDuration(l.warmup ?? LOAD_DEFAULTS.warmup),
    stages: r.stages,
    arrivalRate: l.arrival_rate ?? null,
    thinkTimeMs: parseDuration(l.think_time ?? LOAD_DEFAULTS.think_time),
    closeAfterRequests: protocol === "h1-close" ? 1 : (l.keep_alive?.close_after_requests ?? null),
    closeAfterIdleMs: ms(l.keep_alive?.close_after_idle),
    reconnect: l.reconnect ?? LOAD_DEFAULTS.reconnect,
    sourceAddresses: [...(l.source_addresses ?? [])],
    workers: r.workers,
    timeoutMs: parseDuration(l.timeout ?? LOAD_DEFAULTS.timeout),
    // A spec's frontend URL has no path of its own, so null asks for "/" there.
    path: l.path ?? null,
  };
}

/** The run options' problems, and a protocol that does not fit the URL's scheme. */
export function runProblems(load: Pick<NormalizedLoad, "protocol" | "path"> | null, run: RunOptions, names: KeyNames = SPEC_NAMES): LoadProblem[] {
  const out: LoadProblem[] = [];
  const n = (key: string) => names.name([key]);
  const url = parseUrl(run.url, load?.path ?? null);
  if (url === null) out.push({ path: ["url"], message: `${n("url")} ${JSON.stringify(String(run.url))} is not a URL (expected e.g. http://127.0.0.1:8080/)` });
  else {
    if (url.protocol !== "http:" && url.protocol !== "https:") out.push({ path: ["url"], message: `${n("url")}: scheme ${url.protocol} is not supported (use http:// or https://)` });
    if (url.username || url.password) out.push({ path: ["url"], message: `${n("url")}: credentials in the URL are not supported` });
    const tls = url.protocol === "https:";
    if (load?.protocol === "h2" && !tls) out.push({ path: ["protocol"], message: `${n("protocol")} h2 needs an https:// URL (HTTP/2 over TLS); use h2c for http://` });
    if (load?.protocol === "h2c" && tls) out.push({ path: ["protocol"], message: `${n("protocol")} h2c is cleartext HTTP/2; use h2 for https://` });
  }
  if (run.countBy !== undefined && !TOKEN.test(run.countBy.toLowerCase())) out.push({ path: ["countBy"], message: `${n("countBy")} ${JSON.stringify(run.countBy)} is not a header name` });
  const atLeast = (key: "drainMs" | "maxRunMs" | "timelineWindowMs", min: number, strict: boolean) => {
    const v = run[key];
    if (v === undefined || v === null) return;
    if (!Number.isFinite(v) || v < min || (strict && v === min)) out.push({ path: [key], message: `${n(key)} must be ${strict ? "above" : "at least"} ${min} ms, got ${String(v)}` });
  };
  atLeast("drainMs", 0, false);
  atLeast("maxRunMs", 0, true);
  atLeast("timelineWindowMs", 10, false);
  return out;
}

function parseUrl(text: string, path: string | null): URL | null {
  try {
    const url = new URL(text);
    return path === null ? url : new URL(path, url);
  } catch {
    return null;
  }
}

/** @internal */
export function fail(problems: readonly LoadProblem[]): never {
  throw new UsageError(`invalid load profile:\n  ${problems.map(problemText).join("\n  ")}`, "fix the values above and run again");
}

/** A problem on one line, its hint after it: for a caller with no position to point at. */
function problemText(p: LoadProblem): string {
  const where = p.offset !== undefined ? `${p.message} (at column ${p.offset + 1} of ${SPEC_NAMES.name(p.path)})` : p.message;
  return p.hint ? `${where}\n    ${p.hint}` : where;
}

/** A checked load and where to run it: the profile `startLoad` runs. UsageError (exit 1) listing every problem with the run options. */
export function profileFor(load: NormalizedLoad, run: RunOptions): LoadProfile {
  const problems = runProblems(load, run);
  if (problems.length > 0) fail(problems);
  const url = parseUrl(run.url, load.path)!;
  const tls = url.protocol === "https:";
  const { path: _, ...shape } = load;
  const bound =
    load.durationMs !== null
      ? load.warmupMs + load.durationMs
      : load.stages !== null
        ? load.stages.reduce((t, s) => t + s.durationMs, 0)
        : DEFAULT_REQUESTS_ONLY_MAX_MS + (load.connectRate !== null ? lastBurstMs(load.connections, load.connectRate, load.workers, load.connectPeriodMs) : 0);
  const drainMs = run.drainMs ?? load.timeoutMs;
  return {
    ...shape,
    url: url.href,
    tls,
    host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port ? Number(url.port) : tls ? 443 : 80,
    authority: url.host,
    path: (url.pathname || "/") + url.search,
    countBy: (run.countBy ?? BACKEND_HEADER).toLowerCase(),
    drainMs,
    maxRunMs: run.maxRunMs ?? bound + Math.max(load.timeoutMs, drainMs) + 5_000,
    timelineWindowMs: run.timelineWindowMs ?? null,
    ndjson: run.ndjson,
  };
}

/** When the last burst of connectRate opens, in ms after the start: the slowest worker's schedule. */
function lastBurstMs(connections: number, rate: number, workers: number, periodMs: number): number {
  let bursts = 0;
  for (let w = 0; w < workers; w++) {
    const c = Math.floor(connections / workers) + (w < connections % workers ? 1 : 0);
    const r = Math.floor(rate / workers) + (w < rate % workers ? 1 : 0);
    if (c > 0 && r > 0) bursts = Math.max(bursts, Math.ceil(c / r));
  }
  return Math.max(0, bursts - 1) * periodMs;
}
