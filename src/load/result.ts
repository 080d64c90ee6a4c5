/**
 * Results: the accumulator the engine records into, the plain serialisable
 * run data a worker hands back, the pure merge of several runs' data, and the
 * pure reduction to the public LoadResult.
 *
 * Accounting rule: every request the driver starts ends as exactly one
 * outcome, either attributed to a backend (the count-by header was present)
 * or unattributed with a cause. So sum(backends.count) + unattributed.total
 * === requests.sent always holds.
 *
 * Independently of that, a response the proxy stamped with the backend it
 * routed to (x-spillway-route) counts in `routed` under that backend, whether
 * a stub served it or the proxy answered it itself.
 */
import { Histogram, mergeHistogramData, type HistogramData } from "./histogram.js";
import { noHeaderCause, type Cause, type ConnCause } from "../wire.js";

export interface LatencySummary {
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface BackendResult {
  count: number;
  servers: Record<string, number>;
  statuses: Record<string, number>;
  latency: LatencySummary;
}

/** Responses the proxy says it routed to one backend (its route stamp). */
export interface RoutedResult {
  count: number;
  /** Of them, served by a stub, by the backend the stub names (the count-by header): normally only this one. */
  served: Record<string, number>;
  /** Of them, answered by the proxy itself (no count-by header), by status. */
  proxyStatuses: Record<string, number>;
  /** The proxy's connection count (its conns stamp) when it routed them: lowest and highest; null when not stamped. */
  minConns: number | null;
  maxConns: number | null;
  /** When the first and the last of them were sent, in ms from the start of the measured run. */
  firstMs: number;
  lastMs: number;
}

export interface TimelineWindow {
  tMs: number;
  byBackend: Record<string, number>;
  /** Most connections open at once during the window. */
  openConnections: number;
  /** Unattributed outcomes in the window. */
  errors: number;
  maxProxyConns?: number;
}

export interface LoadResult {
  requests: {
    /** Requests started (after warm-up). */
    sent: number;
    /** Requests that got a complete response (any status). */
    completed: number;
    /** Responses with a 2xx status. */
    succeeded: number;
    /** sent - succeeded: non-2xx responses and requests that got no response. */
    failed: number;
    /** Requests refused unprocessed (GOAWAY, REFUSED_STREAM) and sent again on another connection. */
    retried: number;
  };
  backends: Record<string, BackendResult>;
  /** Responses by the backend the proxy routed them to (its route stamp); empty when the proxy does not stamp. */
  routed: Record<string, RoutedResult>;
  unattributed: { total: number; byCause: Record<string, number> };
  statuses: Record<string, number>;
  latency: LatencySummary;
  timeline: TimelineWindow[];
  /** Width of each timeline window. */
  timelineWindowMs: number;
  connections: ConnectionCounts;
  maxProxyConnsSeen: number | null;
  /** Responses during warm-up, by backend (served) and by route: not in the figures above, but the stubs and the proxy served them. */
  warmup: { responses: number; byBackend: Record<string, number>; routed: Record<string, number> };
  /** Set when the run stopped before its bound because it could not work; null otherwise. */
  stoppedEarly: StoppedEarly | null;
  durationMs: number;
  rps: number;
}

export interface ConnectionCounts {
  opened: number;
  maxOpen: number;
  /** Attempts that never opened, by cause (refused, connect-timeout, handshake-timeout, not-http2...); `failed` is their sum. */
  failed: number;
  failedByCause: Record<string, number>;
  goaways: number;
  /**
   * Attempts still in progress when the run ended (no request was sent on them, so none is counted):
   * `connecting` had no TCP connection yet, `handshaking` had one but no TLS handshake or HTTP/2 preface.
   */
  unfinished: { connecting: number; handshaking: number };
}

/**
 * Why a run stopped before its bound: `no-connection`, no connection opened
 * within the connect timeout; `no-response`, connections opened but no
 * request got any answer within the request timeout.
 */
export interface StoppedEarly {
  reason: "no-connection" | "no-response";
  /** Since the start of the run. */
  afterMs: number;
}


// ---- serialisable run data ----

export interface BackendData {
  count: number;
  servers: Record<string, number>;
  statuses: Record<string, number>;
  latency: HistogramData;
}

/** Routed counts are plain data already: a worker hands them back as they are. */
export type RoutedData = RoutedResult;

export interface RunData {
  requests: { sent: number; completed: number; succeeded: number; retried: number };
  backends: Record<string, BackendData>;
  routed: Record<string, RoutedData>;
  unattributed: Record<string, number>;
  statuses: Record<string, number>;
  latency: HistogramData;
  timeline: TimelineWindow[];
  timelineWindowMs: number;
  connections: ConnectionCounts;
  maxProxyConnsSeen: number | null;
  warmup: { responses: number; byBackend: Record<string, number>; routed: Record<string, number> };
  stoppedEarly: StoppedEarly | null;
  durationMs: number;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function minOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function maxOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/** Merges windows `factor` at a time (factor 1: a copy). */
function coarsen(timeline: readonly TimelineWindow[], windowMs: number, factor: number): TimelineWindow[] {
  if (factor <= 1) return timeline.map((w) => ({ ...w, byBackend: { ...w.byBackend } }));
  // Windows are contiguous from the start of the run: window i begins at i * windowMs.
  const out: TimelineWindow[] = [];
  timeline.forEach((w, j) => {
    const i = Math.floor(j / factor);
    let t = out[i];
    if (t === undefined) {
      t = { tMs: i * windowMs * factor, byBackend: {}, openConnections: 0, errors: 0 };
      out[i] = t;
    }
    addCounts(t.byBackend, w.byBackend);
    t.openConnections = Math.max(t.openConnections, w.openConnections);
    t.errors += w.errors;
    if (w.maxProxyConns !== undefined) t.maxProxyConns = Math.max(t.maxProxyConns ?? 0, w.maxProxyConns);
  });
  return out;
}

/**
 * Pure merge of several runs' data (one per worker): counts add, windows
 * align by index after each part is brought to the widest window among them
 * (adaptive windows are the same base times a power of two, so they nest).
 */
export function mergeRunData(parts: readonly RunData[]): RunData {
  const windowMs = parts.reduce((m, p) => Math.max(m, p.timelineWindowMs), 0) || 1000;
  const out: RunData = {
    requests: { sent: 0, completed: 0, succeeded: 0, retried: 0 },
    backends: {},
    routed: {},
    unattributed: {},
    statuses: {},
    latency: mergeHistogramData(parts.map((p) => p.latency)),
    timeline: [],
    timelineWindowMs: windowMs,
    connections: { opened: 0, maxOpen: 0, failed: 0, failedByCause: {}, goaways: 0, unfinished: { connecting: 0, handshaking: 0 } },
    maxProxyConnsSeen: null,
    warmup: { responses: 0, byBackend: {}, routed: {} },
    stoppedEarly: null,
    durationMs: 0,
  };
  const backendHists = new Map<string, HistogramData[]>();
  for (const p of parts) {
    out.requests.sent += p.requests.sent;
    out.requests.completed += p.requests.completed;
    out.requests.succeeded += p.requests.succeeded;
    out.requests.retried += p.requests.retried;
    for (const [name, b] of Object.entries(p.backends)) {
      const t = (out.backends[name] ??= { count: 0, servers: {}, statuses: {}, latency: b.latency });
      t.count += b.count;
      addCounts(t.servers, b.servers);
      addCounts(t.statuses, b.statuses);
      const hs = backendHists.get(name) ?? [];
      hs.push(b.latency);
      backendHists.set(name, hs);
    }
    for (const [name, r] of Object.entries(p.routed)) {
      const t = (out.routed[name] ??= { count: 0, served: {}, proxyStatuses: {}, minConns: null, maxConns: null, firstMs: r.firstMs, lastMs: r.lastMs });
      t.count += r.count;
      addCounts(t.served, r.served);
      addCounts(t.proxyStatuses, r.proxyStatuses);
      t.minConns = minOf(t.minConns, r.minConns);
      t.maxConns = maxOf(t.maxConns, r.maxConns);
      t.firstMs = Math.min(t.firstMs, r.firstMs);
      t.lastMs = Math.max(t.lastMs, r.lastMs);
    }
    addCounts(out.unattributed, p.unattributed);
    out.warmup.responses += p.warmup.responses;
    addCounts(out.warmup.byBackend, p.warmup.byBackend);
    addCounts(out.warmup.routed, p.warmup.routed);
    addCounts(out.statuses, p.statuses);
    out.connections.opened += p.connections.opened;
    // Workers hold their connections at the same time, so their peaks add.
    out.connections.maxOpen += p.connections.maxOpen;
    out.connections.failed += p.connections.failed;
    addCounts(out.connections.failedByCause, p.connections.failedByCause);
    out.connections.goaways += p.connections.goaways;
    out.connections.unfinished.connecting += p.connections.unfinished.connecting;
    out.connections.unfinished.handshaking += p.connections.unfinished.handshaking;
    // Workers decide alone; the run stopped early when one did (they share the target), at the latest such time.
    if (p.stoppedEarly !== null && (out.stoppedEarly === null || p.stoppedEarly.afterMs > out.stoppedEarly.afterMs)) out.stoppedEarly = { ...p.stoppedEarly };
    if (p.maxProxyConnsSeen !== null) out.maxProxyConnsSeen = Math.max(out.maxProxyConnsSeen ?? 0, p.maxProxyConnsSeen);
    out.durationMs = Math.max(out.durationMs, p.durationMs);
    coarsen(p.timeline, p.timelineWindowMs, Math.round(windowMs / p.timelineWindowMs)).forEach((w, i) => {
      let t = out.timeline[i];
      if (!t) {
        t = { tMs: w.tMs, byBackend: {}, openConnections: 0, errors: 0 };
        out.timeline[i] = t;
      }
      addCounts(t.byBackend, w.byBackend);
      t.openConnections += w.openConnections;
      t.errors += w.errors;
      if (w.maxProxyConns !== undefined) t.maxProxyConns = Math.max(t.maxProxyConns ?? 0, w.maxProxyConns);
    });
  }
  for (const [name, hs] of backendHists) out.backends[name]!.latency = mergeHistogramData(hs);
  return out;
}

/** A histogram (µs) as the ms summary every result reports: the HTTP driver's and the WebSocket driver's. */
export function summarize(data: HistogramData): LatencySummary {
  const h = Histogram.from(data);
  const ms = (us: number): number => Math.round(us) / 1000;
  if (h.total === 0) return { min: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return {
    min: ms(h.min),
    mean: Math.round(h.sum / h.total) / 1000,
    p50: ms(h.percentile(50)),
    p90: ms(h.percentile(90)),
    p99: ms(h.percentile(99)),
    max: ms(h.max),
  };
}

function sortedRecord(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Pure reduction of run data to the public result. */
export function toLoadResult(data: RunData): LoadResult {
  const unattributedTotal = Object.values(data.unattributed).reduce((a, b) => a + b, 0);
  const backends: Record<string, BackendResult> = {};
  for (const name of Object.keys(data.backends).sort()) {
    const b = data.backends[name]!;
    backends[name] = { count: b.count, servers: sortedRecord(b.servers), statuses: sortedRecord(b.statuses), latency: summarize(b.latency) };
  }
  const routed: Record<string, RoutedResult> = {};
  for (const name of Object.keys(data.routed).sort()) {
    const r = data.routed[name]!;
    routed[name] = {
      count: r.count,
      served: sortedRecord(r.served),
      proxyStatuses: sortedRecord(r.proxyStatuses),
      minConns: r.minConns,
      maxConns: r.maxConns,
      firstMs: Math.max(0, Math.round(r.firstMs)),
      lastMs: Math.max(0, Math.round(r.lastMs)),
    };
  }
  const seconds = data.durationMs / 1000;
  return {
    requests: {
      sent: data.requests.sent,
      completed: data.requests.completed,
      succeeded: data.requests.succeeded,
      failed: data.requests.sent - data.requests.succeeded,
      retried: data.requests.retried,
    },
    backends,
    routed,
    unattributed: { total: unattributedTotal, byCause: sortedRecord(data.unattributed) },
    statuses: sortedRecord(data.statuses),
    latency: summarize(data.latency),
    timeline: data.timeline.map((w) => ({ ...w, byBackend: { ...w.byBackend } })),
    timelineWindowMs: data.timelineWindowMs,
    connections: { ...data.connections, failedByCause: sortedRecord(data.connections.failedByCause), unfinished: { ...data.connections.unfinished } },
    maxProxyConnsSeen: data.maxProxyConnsSeen,
    warmup: { responses: data.warmup.responses, byBackend: sortedRecord(data.warmup.byBackend), routed: sortedRecord(data.warmup.routed) },
    stoppedEarly: data.stoppedEarly !== null ? { ...data.stoppedEarly } : null,
    durationMs: Math.round(data.durationMs),
    rps: seconds > 0 ? Math.round((data.requests.completed / seconds) * 10) / 10 : 0,
  };
}

/** Pure merge of public results is not possible (percentiles do not add); merge RunData instead. */
export function mergeAndSummarize(parts: readonly RunData[]): LoadResult {
  return toLoadResult(mergeRunData(parts));
}

// ---- the accumulator ----

class BackendAcc {
  count = 0;
  servers = new Map<string, number>();
  statuses = new Map<number, number>();
  hist = new Histogram();
  /** Responses in the open timeline window. */
  win = 0;
  // Runs of the same status / server are counted here and folded into the maps on change.
  lastStatus = -1;
  lastStatusCount = 0;
  lastServer: string | null = null;
  lastServerCount = 0;

  countStatus(status: number): void {
    this.foldStatus();
    this.lastStatus = status;
    this.lastStatusCount = 1;
  }

  countServer(server: string): void {
    this.foldServer();
    this.lastServer = server;
    this.lastServerCount = 1;
  }

  foldStatus(): void {
    if (this.lastStatusCount > 0) this.statuses.set(this.lastStatus, (this.statuses.get(this.lastStatus) ?? 0) + this.lastStatusCount);
    this.lastStatusCount = 0;
    this.lastStatus = -1;
  }

  foldServer(): void {
    if (this.lastServer !== null && this.lastServerCount > 0) {
      this.servers.set(this.lastServer, (this.servers.get(this.lastServer) ?? 0) + this.lastServerCount);
    }
    this.lastServerCount = 0;
    this.lastServer = null;
  }
}

class RouteAcc {
  count = 0;
  /** Served by a stub of the routed backend itself (the usual case, kept out of the map). */
  servedSame = 0;
  servedOther: Map<string, number> | null = null;
  proxyStatuses = new Map<number, number>();
  minConns = Infinity;
  maxConns = -1;
  firstMs = Infinity;
  lastMs = -Infinity;
}

interface OpenWindow {
  openConnections: number;
  errors: number;
  maxProxyConns: number;
}

/** Adaptive timeline: the first window width, and how many windows trigger a doubling. */
const AUTO_BASE_MS = 10;
const AUTO_MAX_WINDOWS = 100;

/**
 * Mutable counters the engine records into. Time arguments are
 * performance.now() milliseconds; the timeline starts at `start()`.
 *
 * With no window width given, the timeline adapts: it starts with 10 ms
 * windows and, whenever 100 have closed, merges them in pairs and doubles the
 * width, so a run of any length ends with 50 to 100 windows (halved once more
 * at the end when over 75) in bounded memory, without knowing its length in
 * advance.
 */
export class Recorder {
  sent = 0;
  completed = 0;
  succeeded = 0;
  retried = 0;
  opened = 0;
  failedConnections = 0;
  private readonly failedByCause = new Map<ConnCause, number>();
  unfinishedConnecting = 0;
  unfinishedHandshaking = 0;
  stoppedEarly: StoppedEarly | null = null;
  goaways = 0;
  maxOpen = 0;
  open = 0;
  maxProxyConnsSeen = -1;
  private readonly backends = new Map<string, BackendAcc>();
  private lastBackend: string | null = null;
  private lastAcc: BackendAcc | null = null;
  private readonly routes = new Map<string, RouteAcc>();
  private lastRoute: string | null = null;
  private lastRouteAcc: RouteAcc | null = null;
  private readonly warmupRoutes = new Map<string, number>();
  private readonly unattributed = new Map<Cause, number>();
  private warmupResponses = 0;
  private readonly warmupByBackend = new Map<string, number>();
  /** Counts by status code 0..999. */
  private readonly statuses = new Float64Array(1000);
  private readonly hist = new Histogram();
  private windowMs: number;
  private readonly adaptive: boolean;
  private windows: TimelineWindow[] = [];
  private cur: OpenWindow | null = null;
  private winStart = 0;
  private winEnd = Infinity;
  private t0 = 0;
  private tEnd = 0;
  private started = false;

  /** `windowMs` null: the adaptive timeline. */
  constructor(windowMs: number | null) {
    this.adaptive = windowMs === null;
    this.windowMs = windowMs ?? AUTO_BASE_MS;
  }

  /** Starts the measured period (after warm-up). */
  start(now: number): void {
    this.started = true;
    this.t0 = now;
    this.winStart = now;
    this.winEnd = now + this.windowMs;
    this.cur = this.newWindow();
  }

  private newWindow(): OpenWindow {
    return { openConnections: this.open, errors: 0, maxProxyConns: -1 };
  }

  /** Closes every window that ended before `now`. */
  advance(now: number): void {
    while (now >= this.winEnd && this.cur) {
      this.closeWindow();
      this.winStart = this.winEnd;
      this.winEnd = this.winStart + this.windowMs;
      this.cur = this.newWindow();
    }
  }

  private closeWindow(): void {
    const c = this.cur!;
    const byBackend: Record<string, number> = {};
    for (const name of [...this.backends.keys()].sort()) {
      const b = this.backends.get(name)!;
      if (b.win > 0) byBackend[name] = b.win;
      b.win = 0;
    }
    const w: TimelineWindow = {
      tMs: Math.round(this.winStart - this.t0),
      byBackend,
      openConnections: c.openConnections,
      errors: c.errors,
    };
    if (c.maxProxyConns >= 0) w.maxProxyConns = c.maxProxyConns;
    this.windows.push(w);
    // An even count, so the window that opens next starts on a boundary of the doubled width.
    if (this.adaptive && this.windows.length >= AUTO_MAX_WINDOWS) this.doubleWindow();
  }

  private doubleWindow(): void {
    this.windows = coarsen(this.windows, this.windowMs, 2);
    this.windowMs *= 2;
  }

  /** A connection attempt that never opened. */
  connectFailure(cause: ConnCause): void {
    this.failedConnections++;
    this.failedByCause.set(cause, (this.failedByCause.get(cause) ?? 0) + 1);
  }

  setOpen(n: number): void {
    this.open = n;
    if (n > this.maxOpen) this.maxOpen = n;
    if (this.cur && n > this.cur.openConnections) this.cur.openConnections = n;
  }

  /** A measured request got its complete response. */
  response(now: number, latencyUs: number, status: number, backend: string | null, server: string | null, proxyConns: number, route: string | null = null): void {
    if (now >= this.winEnd) this.advance(now);
    this.completed++;
    if (status >= 200 && status < 300) this.succeeded++;
    this.statuses[status < 1000 ? status : 0]!++;
    this.hist.record(latencyUs);
    if (proxyConns >= 0) {
      if (proxyConns > this.maxProxyConnsSeen) this.maxProxyConnsSeen = proxyConns;
      if (this.cur && proxyConns > this.cur.maxProxyConns) this.cur.maxProxyConns = proxyConns;
    }
    if (route !== null) this.routedResponse(now - latencyUs / 1000 - this.t0, status, backend, proxyConns, route);
    if (backend === null) {
      this.unattributedOutcome(noHeaderCause(status));
      return;
    }
    // Header values come from the decoder's cache, so the same backend is usually the same string.
    let b = this.lastBackend === backend ? this.lastAcc! : this.backends.get(backend);
    if (b === undefined) {
      b = new BackendAcc();
      this.backends.set(backend, b);
    }
    this.lastBackend = backend;
    this.lastAcc = b;
    b.count++;
    b.hist.record(latencyUs);
    if (status === b.lastStatus) b.lastStatusCount++;
    else b.countStatus(status);
    if (server !== null) {
      if (server === b.lastServer) b.lastServerCount++;
      else b.countServer(server);
    }
    b.win++;
  }

  /** A response the proxy stamped with its route; `sentMs` from the start of the run. */
  private routedResponse(sentMs: number, status: number, backend: string | null, proxyConns: number, route: string): void {
    let r = this.lastRoute === route ? this.lastRouteAcc! : this.routes.get(route);
    if (r === undefined) {
      r = new RouteAcc();
      this.routes.set(route, r);
    }
    this.lastRoute = route;
    this.lastRouteAcc = r;
    r.count++;
    if (backend === route) r.servedSame++;
    else if (backend !== null) (r.servedOther ??= new Map()).set(backend, (r.servedOther.get(backend) ?? 0) + 1);
    else r.proxyStatuses.set(status, (r.proxyStatuses.get(status) ?? 0) + 1);
    if (proxyConns >= 0) {
      if (proxyConns < r.minConns) r.minConns = proxyConns;
      if (proxyConns > r.maxConns) r.maxConns = proxyConns;
    }
    if (sentMs < r.firstMs) r.firstMs = sentMs;
    if (sentMs > r.lastMs) r.lastMs = sentMs;
  }

  /** A response to a warm-up request: kept apart, so reconciliation with the stubs still adds up. */
  warmupResponse(backend: string | null, route: string | null = null): void {
    this.warmupResponses++;
    if (backend !== null) this.warmupByBackend.set(backend, (this.warmupByBackend.get(backend) ?? 0) + 1);
    if (route !== null) this.warmupRoutes.set(route, (this.warmupRoutes.get(route) ?? 0) + 1);
  }

  /** A measured request ended without a response. */
  error(now: number, cause: ConnCause): void {
    if (now >= this.winEnd) this.advance(now);
    this.unattributedOutcome(cause);
  }

  private unattributedOutcome(cause: Cause): void {
    this.unattributed.set(cause, (this.unattributed.get(cause) ?? 0) + 1);
    if (this.cur) this.cur.errors++;
  }

  /** Live counts for progress ticks. */
  snapshot(): { sent: number; completed: number; succeeded: number; unattributed: number; byBackend: Record<string, number> } {
    let un = 0;
    for (const v of this.unattributed.values()) un += v;
    const byBackend: Record<string, number> = {};
    for (const [k, v] of this.backends) byBackend[k] = v.count;
    return { sent: this.sent, completed: this.completed, succeeded: this.succeeded, unattributed: un, byBackend };
  }

  /** Ends the measured period and returns the plain data. */
  finish(now: number): RunData {
    this.tEnd = now;
    if (this.cur) {
      this.advance(now);
      // The last, partial window is kept when anything happened in it.
      const c = this.cur;
      let any = c.errors > 0 || this.windows.length === 0;
      for (const b of this.backends.values()) any ||= b.win > 0;
      if (any) this.closeWindow();
      this.cur = null;
      if (this.adaptive && this.windows.length > (AUTO_MAX_WINDOWS * 3) / 4) this.doubleWindow();
    }
    const backends: Record<string, BackendData> = {};
    for (const [name, b] of this.backends) {
      b.foldStatus();
      b.foldServer();
      backends[name] = {
        count: b.count,
        servers: Object.fromEntries(b.servers),
        statuses: Object.fromEntries([...b.statuses].map(([k, v]) => [String(k), v])),
        latency: b.hist.toData(),
      };
    }
    const routed: Record<string, RoutedData> = {};
    for (const [name, r] of this.routes) {
      const served: Record<string, number> = r.servedOther ? Object.fromEntries(r.servedOther) : {};
      if (r.servedSame > 0) served[name] = r.servedSame;
      routed[name] = {
        count: r.count,
        served,
        proxyStatuses: Object.fromEntries([...r.proxyStatuses].map(([k, v]) => [String(k), v])),
        minConns: r.maxConns >= 0 ? r.minConns : null,
        maxConns: r.maxConns >= 0 ? r.maxConns : null,
        firstMs: r.firstMs,
        lastMs: r.lastMs,
      };
    }
    return {
      requests: { sent: this.sent, completed: this.completed, succeeded: this.succeeded, retried: this.retried },
      backends,
      routed,
      unattributed: Object.fromEntries(this.unattributed),
      statuses: Object.fromEntries([...this.statuses.entries()].filter(([, v]) => v > 0).map(([k, v]) => [String(k), v])),
      latency: this.hist.toData(),
      timeline: this.windows,
      timelineWindowMs: this.windowMs,
      connections: {
        opened: this.opened,
        maxOpen: this.maxOpen,
        failed: this.failedConnections,
        failedByCause: Object.fromEntries(this.failedByCause),
        goaways: this.goaways,
        unfinished: { connecting: this.unfinishedConnecting, handshaking: this.unfinishedHandshaking },
      },
      maxProxyConnsSeen: this.maxProxyConnsSeen >= 0 ? this.maxProxyConnsSeen : null,
      warmup: { responses: this.warmupResponses, byBackend: Object.fromEntries(this.warmupByBackend), routed: Object.fromEntries(this.warmupRoutes) },
      stoppedEarly: this.stoppedEarly,
      durationMs: this.started ? Math.max(0, this.tEnd - this.t0) : 0,
    };
  }
}
