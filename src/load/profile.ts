/**
 * The load profile: its public shape, validation into a normalised form the
 * engine runs, the mapping from a spec's YAML `load:` block, and the loopback
 * guard that every target address passes before a socket is opened.
 */
import { readFileSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import { UsageError } from "../errors.js";
import { BACKEND_HEADER, isLoopbackIp } from "../wire.js";

export type LoadProtocol = "h2c" | "h1" | "h1-close" | "h2";

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

/**
 * How a request count is shared. `per-client` is h2load's: -n is split over
 * workers and then over connections (in creation order), each connection
 * sends its share and then closes. `pooled`: every connection draws from one
 * budget until it is spent, and stays open to the end of the run.
 */
export type LoadBudget = "per-client" | "pooled";

export interface LoadProfile {
  /** http://127.0.0.1:8080/path (h2c or h1) or https://... (h2 over TLS with ALPN, or h1 over TLS). */
  url: string;
  /** Default: "h2" for https URLs, "h2c" for http URLs. */
  protocol?: LoadProtocol;
  connections?: number;
  /** Max concurrent streams per connection (h1: 1). */
  streams?: number;
  /**
   * h2load --rate: connections opened in a burst at the start of the run and
   * then every `connectPeriodMs`, until `connections` have been opened. Split
   * over workers as h2load splits it over threads. 1 <= connectRate, workers
   * <= connectRate <= connections.
   */
  connectRate?: number;
  /** h2load --rate-period (default 1000 ms); only with connectRate. */
  connectPeriodMs?: number;
  /** Default: per-client when `requests` is given in the closed model without stages; otherwise pooled. */
  budget?: LoadBudget;
  requests?: number;
  durationMs?: number;
  warmupMs?: number;
  stages?: LoadStage[];
  /** Open model: requests per second; latency measured from the intended send time. */
  arrivalRate?: number;
  /** Pause between a stream slot's requests (closed model). */
  thinkTimeMs?: number;
  keepAlive?: { closeAfterRequests?: number; closeAfterIdleMs?: number };
  /** Reconnect after a server close or GOAWAY (default true). */
  reconnect?: boolean;
  /** Local addresses (127.0.0.x) bound round-robin per connection. */
  sourceAddresses?: string[];
  /** worker_threads to spread connections over; results are merged. */
  workers?: number;
  /** Response header naming the backend (default "x-spillway-backend"). */
  countBy?: string;
  /**
   * Per-request timeout (default 10 s); also bounds connecting. A run where no
   * connection has opened, or nothing has answered while requests timed out,
   * this long after its first connection attempt stops early (result.stoppedEarly).
   */
  timeoutMs?: number;
  /**
   * After the duration (or the last stage) ends, how long requests in flight
   * may take to finish; those still in flight then end as "cut-by-duration"
   * (or "timeout" when older than timeoutMs). Default: timeoutMs. 0 stops at
   * the end of the duration exactly.
   */
  drainMs?: number;
  /** Hard stop for the whole run; in-flight requests then end as "aborted". */
  maxRunMs?: number;
  /** Per-request log sink: one JSON object per line. */
  ndjson?: (line: string) => void;
  timelineWindowMs?: number;
}

/** The validated profile, with every default filled in; plain data (sent to workers). */
export interface NormalizedProfile {
  url: string;
  protocol: LoadProtocol;
  tls: boolean;
  host: string;
  port: number;
  authority: string;
  path: string;
  connections: number;
  streams: number;
  connectRate: number | null;
  connectPeriodMs: number;
  budget: LoadBudget;
  requests: number | null;
  durationMs: number | null;
  warmupMs: number;
  stages: LoadStage[] | null;
  arrivalRate: number | null;
  thinkTimeMs: number;
  closeAfterRequests: number | null;
  closeAfterIdleMs: number | null;
  reconnect: boolean;
  sourceAddresses: string[];
  workers: number;
  countBy: string;
  timeoutMs: number;
  drainMs: number;
  maxRunMs: number;
  /** null: the window adapts so a run has about 50 of them, whatever its length. */
  timelineWindowMs: number | null;
  ndjson: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Bound for a run given only a request count. */
const DEFAULT_REQUESTS_ONLY_MAX_MS = 10 * 60_000;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** Open-file limit of this process (Linux), or null when it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const text = readFileSync("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (!m) return null;
    return m[1] === "unlimited" ? null : Number(m[1]);
  } catch {
    return null;
  }
}

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v);
}

/**
 * Validates a profile and fills in defaults. Every problem is reported in one
 * UsageError (exit code 1), never only the first.
 */
export function normalizeProfile(p: LoadProfile): NormalizedProfile {
  const errors: string[] = [];
  const bad = (msg: string): void => {
    errors.push(msg);
  };

  let url: URL | null = null;
  try {
    url = new URL(p.url);
  } catch {
    bad(`url: "${String(p.url)}" is not a URL (expected e.g. http://127.0.0.1:8080/)`);
  }
  let tls = false;
  if (url) {
    if (url.protocol === "https:") tls = true;
    else if (url.protocol !== "http:") bad(`url: scheme ${url.protocol} is not supported (use http:// or https://)`);
    if (url.username || url.password) bad("url: credentials in the URL are not supported");
  }
  const protocol: LoadProtocol = p.protocol ?? (tls ? "h2" : "h2c");
  if (!["h2c", "h1", "h1-close", "h2"].includes(protocol)) {
    bad(`protocol: "${String(protocol)}" is not one of h2c, h1, h1-close, h2`);
  } else if (protocol === "h2" && !tls) {
    bad("protocol: h2 needs an https:// URL (HTTP/2 over TLS); use h2c for http://");
  } else if (protocol === "h2c" && tls) {
    bad("protocol: h2c is cleartext HTTP/2; use h2 for https://");
  }
  const isH1 = protocol === "h1" || protocol === "h1-close";

  const posInt = (name: string, v: unknown, min = 1): void => {
    if (v !== undefined && (!isInt(v) || v < min)) bad(`${name}: must be an integer >= ${min}, got ${String(v)}`);
  };
  const posNum = (name: string, v: unknown, min = 0, strict = false): void => {
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < min || (strict && v === min))) {
      bad(`${name}: must be a number ${strict ? ">" : ">="} ${min}, got ${String(v)}`);
    }
  };
  posInt("connections", p.connections);
  posInt("streams", p.streams);
  posInt("connectRate", p.connectRate);
  posNum("connectPeriodMs", p.connectPeriodMs, 0, true);
  posInt("requests", p.requests);
  posNum("durationMs", p.durationMs, 0, true);
  posNum("warmupMs", p.warmupMs);
  posNum("arrivalRate", p.arrivalRate, 0, true);
  posNum("thinkTimeMs", p.thinkTimeMs);
  posInt("keepAlive.closeAfterRequests", p.keepAlive?.closeAfterRequests);
  posNum("keepAlive.closeAfterIdleMs", p.keepAlive?.closeAfterIdleMs, 0, true);
  posInt("workers", p.workers);
  posNum("timeoutMs", p.timeoutMs, 0, true);
  posNum("drainMs", p.drainMs);
  posNum("maxRunMs", p.maxRunMs, 0, true);
  posNum("timelineWindowMs", p.timelineWindowMs, 10);

  let stagesTotal = 0;
  let stagesMax = 0;
  if (p.stages !== undefined) {
    if (!Array.isArray(p.stages) || p.stages.length === 0) bad("stages: must be a non-empty list of { durationMs, target }");
    else {
      p.stages.forEach((s, i) => {
        if (!s || typeof s.durationMs !== "number" || !(s.durationMs >= 0) || !Number.isFinite(s.durationMs)) bad(`stages[${i}].durationMs: must be a number >= 0`);
        else stagesTotal += s.durationMs;
        if (!s || !isInt(s.target) || s.target < 0) bad(`stages[${i}].target: must be an integer >= 0`);
        else stagesMax = Math.max(stagesMax, s.target);
      });
      if (stagesMax === 0) bad("stages: at least one stage needs a target above 0");
      if (stagesTotal === 0) bad("stages: the stages last 0 ms in all; give at least one stage a duration");
    }
  }
  if (p.requests === undefined && p.durationMs === undefined && p.stages === undefined) {
    bad("requests or durationMs (or stages): a run needs a bound; give a request count, a duration or both");
  }
  const connections = p.stages !== undefined ? Math.max(stagesMax, p.connections ?? 0) : p.connections ?? 1;
  const streams = p.streams ?? 1;
  if (isH1 && streams !== 1) bad(`streams: HTTP/1.1 carries one request at a time per connection; use connections instead of streams ${streams}`);
  if (p.thinkTimeMs !== undefined && p.thinkTimeMs > 0 && p.arrivalRate !== undefined) {
    bad("thinkTimeMs: think time belongs to the closed model; it cannot be combined with arrivalRate");
  }
  const closedNoStages = p.stages === undefined && p.arrivalRate === undefined;
  const budget: LoadBudget = p.budget ?? (p.requests !== undefined && closedNoStages ? "per-client" : "pooled");
  if (budget !== "per-client" && budget !== "pooled") bad(`budget: "${String(budget)}" is not one of per-client, pooled`);
  if (budget === "per-client") {
    if (p.requests === undefined) bad("budget: per-client shares a request count; give requests, or use budget pooled");
    if (p.stages !== undefined) bad("budget: per-client cannot be combined with stages (stages switch connections on and off; their requests are pooled)");
    if (p.arrivalRate !== undefined) bad("budget: per-client cannot be combined with arrivalRate (the open model sends each arrival on any free connection)");
    // h2load: "-n, -c: the number of requests must be greater than or equal to the clients."
    if (isInt(p.requests) && isInt(connections) && p.requests < connections) {
      bad(`requests: ${p.requests} requests for ${connections} connections: each connection gets a share of the requests, so give at least as many requests as connections (as h2load -n >= -c), or use budget pooled`);
    }
  }
  if (p.connectRate !== undefined) {
    // h2load's checks: -r <= -c and -r >= -t.
    if (isInt(p.connectRate) && isInt(connections) && p.connectRate > connections) {
      bad(`connectRate: ${p.connectRate} per period is more than the ${connections} connections (as in h2load, the rate must be at most -c)`);
    }
    const w = p.workers ?? 1;
    if (isInt(p.connectRate) && isInt(w) && p.connectRate < w) {
      bad(`connectRate: ${p.connectRate} per period for ${w} workers: each worker opens its own share of every burst, so the rate must be at least the number of workers (as h2load -r >= -t)`);
    }
    if (p.stages !== undefined) bad("connectRate: stages already decide when connections open; use one or the other");
  } else if (p.connectPeriodMs !== undefined) {
    bad("connectPeriodMs: the period of connectRate's bursts; give connectRate too");
  }
  const countBy = (p.countBy ?? BACKEND_HEADER).toLowerCase();
  if (!TOKEN.test(countBy)) bad(`countBy: "${p.countBy}" is not a valid header name`);
  const workers = p.workers ?? 1;
  if (isInt(workers) && isInt(connections) && workers > connections) bad(`workers: ${workers} workers for ${connections} connections; use at most one worker per connection`);

  const sourceAddresses = p.sourceAddresses ?? [];
  if (!Array.isArray(sourceAddresses)) bad("sourceAddresses: must be a list of loopback addresses");
  else {
    for (const a of sourceAddresses) {
      if (typeof a !== "string" || !isLoopbackIp(a)) bad(`sourceAddresses: "${String(a)}" is not a loopback address (127.0.0.0/8 or ::1)`);
    }
  }
  const limit = openFileLimit();
  if (limit !== null && isInt(connections) && connections > limit - 64) {
    bad(
      `connections: ${connections} connections need more file descriptors than this process may open (limit ${limit}); ` +
        `lower connections or raise the open-file limit (ulimit -n)`,
    );
  }

  if (errors.length > 0 || !url) {
    throw new UsageError(`invalid load profile:\n  ${errors.join("\n  ")}`, "fix the values above and run again");
  }

  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  const timeoutMs = p.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const warmupMs = p.warmupMs ?? 0;
  const connectPeriodMs = p.connectPeriodMs ?? 1000;
  const connectRate = p.connectRate ?? null;
  const scheduleMs = connectRate !== null ? lastBurstMs(connections, connectRate, workers, connectPeriodMs) : 0;
  const bound =
    p.durationMs !== undefined ? warmupMs + p.durationMs : p.stages !== undefined ? stagesTotal : DEFAULT_REQUESTS_ONLY_MAX_MS + scheduleMs;
  const drainMs = p.drainMs ?? timeoutMs;
  const maxRunMs = p.maxRunMs ?? bound + Math.max(timeoutMs, drainMs) + 5_000;
  return {
    url: url.href,
    protocol,
    tls,
    host,
    port,
    authority: url.host,
    path: (url.pathname || "/") + url.search,
    connections,
    streams: isH1 ? 1 : streams,
    connectRate,
    connectPeriodMs,
    budget,
    requests: p.requests ?? null,
    durationMs: p.durationMs ?? null,
    warmupMs,
    stages: p.stages ? p.stages.map((s) => ({ durationMs: s.durationMs, target: s.target })) : null,
    arrivalRate: p.arrivalRate ?? null,
    thinkTimeMs: p.thinkTimeMs ?? 0,
    closeAfterRequests: protocol === "h1-close" ? 1 : p.keepAlive?.closeAfterRequests ?? null,
    closeAfterIdleMs: p.keepAlive?.closeAfterIdleMs ?? null,
    reconnect: p.reconnect ?? true,
    sourceAddresses: [...sourceAddresses],
    workers,
    countBy,
    timeoutMs,
    drainMs,
    maxRunMs,
    timelineWindowMs: p.timelineWindowMs ?? null,
    ndjson: typeof p.ndjson === "function",
  };
}

/** When the last burst of connectRate opens, in ms after the start: the slowest worker's schedule. */
export function lastBurstMs(connections: number, rate: number, workers: number, periodMs: number): number {
  let bursts = 0;
  for (let w = 0; w < workers; w++) {
    const c = Math.floor(connections / workers) + (w < connections % workers ? 1 : 0);
    const r = Math.floor(rate / workers) + (w < rate % workers ? 1 : 0);
    if (c > 0 && r > 0) bursts = Math.max(bursts, Math.ceil(c / r));
  }
  return Math.max(0, bursts - 1) * periodMs;
}

/**
 * The address to send load to, or a UsageError (exit 1). Only loopback IP
 * literals and the name `localhost` (taken as 127.0.0.1) are accepted, and no
 * name is ever looked up: a DNS query for `127.example.com` would leave the
 * machine, and a name's answer can change between the check and the connect.
 */
export async function resolveLoopback(host: string): Promise<string> {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (isIP(h) !== 0) {
    if (!isLoopbackIp(h)) {
      throw new UsageError(
        `refusing to send load to ${h}: spillway only drives load at loopback addresses (127.0.0.0/8 or ::1)`,
        "point the URL at 127.0.0.1, [::1] or localhost",
      );
    }
    return h;
  }
  if (h === "localhost") return "127.0.0.1";
  throw new UsageError(
    `refusing host "${h}": spillway sends load only to loopback IP addresses (127.0.0.0/8, ::1) or the name localhost, and does not look other names up`,
    "write the address instead, e.g. http://127.0.0.1:PORT/ (or http://[::1]:PORT/ for IPv6)",
  );
}

// ---- the spec's YAML `load:` block ----

export interface BlockProblem {
  path: string;
  message: string;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;

/** "500ms" | "10s" | "2m" | "1h" | number of milliseconds. */
export function parseDurationMs(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v;
  if (typeof v !== "string") return null;
  const m = DURATION.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2];
  return unit === "ms" ? n : unit === "s" ? n * 1000 : unit === "m" ? n * 60_000 : n * 3_600_000;
}

const BLOCK_KEYS: Record<string, { key: keyof LoadProfile | "closeAfterRequests" | "closeAfterIdleMs"; kind: "int" | "num" | "dur" | "bool" | "str" | "strs" | "stages" | "keepAlive" | "protocol" | "budget" }> = {
  protocol: { key: "protocol", kind: "protocol" },
  connections: { key: "connections", kind: "int" },
  streams: { key: "streams", kind: "int" },
  connect_rate: { key: "connectRate", kind: "int" },
  connect_period: { key: "connectPeriodMs", kind: "dur" },
  budget: { key: "budget", kind: "budget" },
  requests: { key: "requests", kind: "int" },
  duration: { key: "durationMs", kind: "dur" },
  warmup: { key: "warmupMs", kind: "dur" },
  stages: { key: "stages", kind: "stages" },
  arrival_rate: { key: "arrivalRate", kind: "num" },
  think_time: { key: "thinkTimeMs", kind: "dur" },
  keep_alive: { key: "keepAlive", kind: "keepAlive" },
  reconnect: { key: "reconnect", kind: "bool" },
  source_addresses: { key: "sourceAddresses", kind: "strs" },
  workers: { key: "workers", kind: "int" },
  count_by: { key: "countBy", kind: "str" },
  timeout: { key: "timeoutMs", kind: "dur" },
  max_run: { key: "maxRunMs", kind: "dur" },
  timeline_window: { key: "timelineWindowMs", kind: "dur" },
};

/** Keys a YAML `load:` block accepts (snake_case, durations as "10s"). */
export const LOAD_BLOCK_KEYS: readonly string[] = Object.keys(BLOCK_KEYS);

/**
 * Maps a spec's `load:` block (snake_case keys, durations like "10s") onto a
 * LoadProfile for `url`. Pure: returns every problem with its path instead of
 * throwing; the profile is only present when there are none. Range checks
 * happen later in normalizeProfile.
 */
export function profileFromBlock(block: unknown, url: string, basePath = "load"): { profile?: LoadProfile; problems: BlockProblem[] } {
  const problems: BlockProblem[] = [];
  if (block === null || typeof block !== "object" || Array.isArray(block)) {
    return { problems: [{ path: basePath, message: "must be a mapping" }] };
  }
  const out: Record<string, unknown> = { url };
  for (const [k, v] of Object.entries(block as Record<string, unknown>)) {
    const spec = BLOCK_KEYS[k];
    const path = `${basePath}.${k}`;
    if (!spec) {
      problems.push({ path, message: `unknown key "${k}" (known: ${LOAD_BLOCK_KEYS.join(", ")})` });
      continue;
    }
    switch (spec.kind) {
      case "int":
        if (!isInt(v)) problems.push({ path, message: "must be an integer" });
        else out[spec.key] = v;
        break;
      case "num":
        if (typeof v !== "number" || !Number.isFinite(v)) problems.push({ path, message: "must be a number" });
        else out[spec.key] = v;
        break;
      case "dur": {
        const ms = parseDurationMs(v);
        if (ms === null) problems.push({ path, message: `must be a duration like 500ms, 10s or 2m, got ${JSON.stringify(v)}` });
        else out[spec.key] = ms;
        break;
      }
      case "bool":
        if (typeof v !== "boolean") problems.push({ path, message: "must be true or false" });
        else out[spec.key] = v;
        break;
      case "str":
        if (typeof v !== "string") problems.push({ path, message: "must be a string" });
        else out[spec.key] = v;
        break;
      case "protocol":
        if (v !== "h2c" && v !== "h1" && v !== "h1-close" && v !== "h2") problems.push({ path, message: "must be one of h2c, h1, h1-close, h2" });
        else out[spec.key] = v;
        break;
      case "budget":
        if (v !== "per-client" && v !== "pooled") problems.push({ path, message: "must be per-client or pooled" });
        else out[spec.key] = v;
        break;
      case "strs":
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) problems.push({ path, message: "must be a list of addresses" });
        else out[spec.key] = v;
        break;
      case "stages":
        if (!Array.isArray(v)) problems.push({ path, message: "must be a list of { duration, target }" });
        else {
          const stages: LoadStage[] = [];
          v.forEach((s: unknown, i) => {
            const sp = `${path}[${i}]`;
            if (s === null || typeof s !== "object") {
              problems.push({ path: sp, message: "must be a mapping { duration, target }" });
              return;
            }
            const rec = s as Record<string, unknown>;
            for (const key of Object.keys(rec)) {
              if (key !== "duration" && key !== "target") problems.push({ path: `${sp}.${key}`, message: `unknown key "${key}" (known: duration, target)` });
            }
            const d = parseDurationMs(rec.duration);
            if (d === null) problems.push({ path: `${sp}.duration`, message: "must be a duration like 10s" });
            if (!isInt(rec.target)) problems.push({ path: `${sp}.target`, message: "must be an integer number of connections" });
            if (d !== null && isInt(rec.target)) stages.push({ durationMs: d, target: rec.target });
          });
          out[spec.key] = stages;
        }
        break;
      case "keepAlive": {
        if (v === null || typeof v !== "object") {
          problems.push({ path, message: "must be a mapping { close_after_requests, close_after_idle }" });
          break;
        }
        const ka: { closeAfterRequests?: number; closeAfterIdleMs?: number } = {};
        for (const [kk, vv] of Object.entries(v as Record<string, unknown>)) {
          if (kk === "close_after_requests") {
            if (!isInt(vv)) problems.push({ path: `${path}.${kk}`, message: "must be an integer" });
            else ka.closeAfterRequests = vv;
          } else if (kk === "close_after_idle") {
            const ms = parseDurationMs(vv);
            if (ms === null) problems.push({ path: `${path}.${kk}`, message: "must be a duration like 5s" });
            else ka.closeAfterIdleMs = ms;
          } else {
            problems.push({ path: `${path}.${kk}`, message: `unknown key "${kk}" (known: close_after_requests, close_after_idle)` });
          }
        }
        out[spec.key] = ka;
        break;
      }
    }
  }
  if (problems.length > 0) return { problems };
  return { profile: out as unknown as LoadProfile, problems };
}
