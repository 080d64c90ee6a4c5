/**
 * The connection pool: one event loop's connection slots, each holding at
 * most one live connection. It connects and reconnects (with back-off),
 * applies close-after and the idle close, hears GOAWAY, times requests out,
 * parks requests refused unprocessed until they can go out again, turns every
 * request into exactly one recorded outcome, and ends the run (drain, cut,
 * hard stop). It emits `start`, `tick` and `done`, and never prints.
 *
 * When a slot connects and when requests go out is its scheduler's decision
 * (scheduler.ts): the pool asks it to serve a slot whenever something changed.
 * @internal
 */
import type { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import { EXPLICIT_PORTS_FROM, localPortRange, PortPicker, type PortRange } from "./ports.js";
import { sourceIndex } from "./sources.js";
import { CONNECTING, OPEN, Req, type CloseReason, type Conn, type ConnOwner, type ConnTarget } from "./conn.js";
import { buildH1Shared, H1Conn, type H1Shared } from "./h1.js";
import { buildH2Shared, H2Conn, type H2Shared } from "./h2.js";
import { WantedNames } from "./hpack.js";
import type { NormalizedProfile } from "./profile.js";
import { Recorder, type RunData } from "./result.js";
import { CAUSES, PROXY_CONNS_HEADER, ROUTE_HEADER, SERVER_HEADER, type ConnCause } from "../wire.js";

/** Running counts, sent with every `tick` (about every 250 ms). */
export interface TickInfo {
  elapsedMs: number;
  /** False during warm-up. */
  measuring: boolean;
  sent: number;
  completed: number;
  succeeded: number;
  unattributed: number;
  openConnections: number;
  byBackend: Record<string, number>;
}

export interface EngineOptions {
  profile: NormalizedProfile;
  /** Resolved loopback address to connect to. */
  address: string;
  /** This engine's part of a run split over workers. */
  workerIndex: number;
  workerCount: number;
  /** This engine's share of the run's request budget, arrival rate and connect rate (connections per burst). */
  requests: number | null;
  arrivalRate: number | null;
  connectRate: number | null;
  ndjson: ((line: string) => void) | null;
  /** The band of local ports a large run binds; absent: ip_local_port_range (ports.ts). */
  localPorts?: PortRange | null;
}

/** One connection slot: at most one live connection at a time. */
export interface Slot {
  /** Position in this pool, in creation order. */
  readonly index: number;
  conn: Conn | null;
  /** Switched on by the schedule (stages, connect rate): it may hold a connection. */
  active: boolean;
  /** The schedule is done with it (its share is sent): it never connects again. */
  retired: boolean;
  /** Closed by its server with reconnecting off: it never connects again. */
  dead: boolean;
  /** Closed by the idle policy: it reconnects only when there is work. */
  idle: boolean;
  backoffMs: number;
  /** Not before then may it connect again (0: no wait). */
  retryAt: number;
  /** Requests refused unprocessed that go out again on this slot's next connection (slot-bound schedulers). */
  parked: Req[];
  readonly localAddress: string | undefined;
}

const HOUSEKEEPING_MS = 50;
const SWEEP_MS = 100;
const TICK_MS = 250;
const MAX_RETRIES = 3;
/** Closed by the pool's own policy: the slot reconnects at once when there is work. */
const POLICY_REASONS = new Set<CloseReason>(["policy", "idle"]);
/** Closed because its slot was switched off (ramped down, retired, or the run is ending): it stays closed. */
const SWITCHED_OFF_REASONS = new Set<CloseReason>(["ramp-down", "stop", "done"]);

type Phase = "running" | "draining" | "done";

/**
 * What the pool asks of its scheduler (scheduler.ts): it decides when a slot
 * connects and when requests go out; the pool tells it what happened.
 */
export interface PoolScheduler {
  /** True when a request belongs to its slot, so one refused unprocessed waits for that slot's next connection. */
  readonly slotBound: boolean;
  start(now: number): void;
  stop(): void;
  /** The ramp moved (stages, --rate bursts): open or retire slots. */
  adjust(now: number): void;
  serve(s: Slot, now: number): void;
  afterOutcome(c: Conn, s: Slot, now: number): void;
  resend(now: number): void;
  failConnectAttempt(s: Slot, now: number, fail: (req: Req) => void): void;
  connectEnded(s: Slot): void;
  parkedEnded(s: Slot): void;
}

/** What a scheduler sees of the pool: the slots and the run's state to read, and the few actions it may take. */
export interface PoolView {
  readonly slots: readonly Slot[];
  /** Open connections, in the order they opened. */
  readonly openList: readonly Conn[];
  /** Requests refused unprocessed that any connection may carry (schedulers that are not slot-bound take them from here). */
  readonly parked: Req[];
  /** running, then draining once new requests stop, then done. */
  readonly phase: Phase;
  /** Set while the end of the run cuts what is in flight: nothing new starts. */
  readonly cutting: boolean;
  /** False during warm-up. */
  readonly measuring: boolean;
  /** When the run started. */
  readonly t0: number;
  /** When new requests stop (Infinity: at the request count, or by stop()). */
  readonly endAt: number;
  /** True while new requests may start at `now`. */
  starting(now?: number): boolean;
  /** Requests of this pool's budget not started yet (Infinity: no count, or during warm-up). */
  unstarted(): number;
  /** A new request meant to go out at `intended` (its latency counts from then). */
  newRequest(intended: number): Req;
  /** True when `c` takes another request now. */
  hasRoom(c: Conn): boolean;
  /** Queues `req` on `c` (bytes go out on flush); close-after closes the connection once it has sent its last. */
  send(c: Conn, req: Req, now: number): void;
  /** Opens a connection for slot `s`. */
  connect(s: Slot, now: number): void;
}

export class ConnectionPool implements ConnOwner, PoolView {
  readonly slots: Slot[] = [];
  readonly openList: Conn[] = [];
  readonly parked: Req[] = [];
  phase: Phase = "running";
  /** Also keeps the run from ending half-way through the cut. */
  cutting = false;
  measuring = false;
  t0 = 0;
  endAt = Infinity;

  private readonly p: NormalizedProfile;
  private readonly opts: EngineOptions;
  private readonly events: EventEmitter;
  private readonly rec: Recorder;
  private readonly conns = new Set<Conn>();
  private readonly h2: H2Shared | null = null;
  private readonly h1: H1Shared | null = null;
  private readonly closeAfter: number;
  /** Set by run(). */
  private sched!: PoolScheduler;
  private warmupEnd = 0;
  private hardStopAt = Infinity;
  /** Requests started and not yet ended with an outcome, parked ones included. */
  private outstanding = 0;
  private nextConnId = 0;
  private housekeeping: NodeJS.Timeout | null = null;
  private retryScheduled = false;
  private lastTick = 0;
  private lastSweep = 0;
  /** Finished requests for reuse: connections drop every reference before reporting an outcome. */
  private readonly reqPool: Req[] = [];
  private resolveDone: ((d: RunData) => void) | null = null;
  /** When the first connection attempt started (0: none yet). */
  private firstConnectAt = 0;
  /** Any response at all, warm-up included. */
  private anyResponse = false;
  /** Any request that ended by its timeout. */
  private anyTimeout = false;
  /** Ports this engine chooses itself, in runs large enough for the kernel's choice to be slow (ports.ts). */
  private readonly ports: PortPicker | null;

  constructor(opts: EngineOptions, events: EventEmitter) {
    this.opts = opts;
    this.p = opts.profile;
    this.events = events;
    this.rec = new Recorder(this.p.timelineWindowMs);
    this.closeAfter = this.p.closeAfterRequests ?? 0;
    const perSource = this.p.connections / Math.max(1, new Set(this.p.sourceAddresses).size);
    this.ports = perSource >= EXPLICIT_PORTS_FROM && !this.p.tls ? new PortPicker(opts.localPorts ?? localPortRange(), opts.workerIndex, opts.workerCount) : null;
    const names = new WantedNames({ countBy: this.p.countBy, server: SERVER_HEADER, proxyConns: PROXY_CONNS_HEADER, route: ROUTE_HEADER });
    if (this.p.protocol === "h2c" || this.p.protocol === "h2") {
      this.h2 = buildH2Shared({ names, scheme: this.p.tls ? "https" : "http", authority: this.p.authority, path: this.p.path, streams: this.p.streams });
    } else {
      this.h1 = buildH1Shared({
        authority: this.p.authority,
        path: this.p.path,
        close: this.p.protocol === "h1-close",
        countBy: this.p.countBy,
        server: SERVER_HEADER,
        proxyConns: PROXY_CONNS_HEADER,
        route: ROUTE_HEADER,
      });
    }
    const src = this.p.sourceAddresses;
    // This worker's slots are the global ones g = workerIndex + k * workerCount.
    for (let g = opts.workerIndex, i = 0; g < this.p.connections; g += opts.workerCount, i++) {
      this.slots.push({
        index: i,
        conn: null,
        active: false,
        retired: false,
        dead: false,
        idle: false,
        backoffMs: 0,
        retryAt: 0,
        parked: [],
        localAddress: src.length > 0 ? src[sourceIndex(i, opts.workerIndex, src.length)] : undefined,
      });
    }
  }

  /** Starts the run under `sched`; resolves with this pool's data when it has stopped by itself or by stop(). */
  run(sched: PoolScheduler): Promise<RunData> {
    this.sched = sched;
    const p = this.p;
    const now = performance.now();
    this.t0 = now;
    this.warmupEnd = now + p.warmupMs;
    if (p.durationMs !== null) this.endAt = this.warmupEnd + p.durationMs;
    if (p.stages !== null) this.endAt = Math.min(this.endAt, now + p.stages.reduce((a, s) => a + s.durationMs, 0));
    this.hardStopAt = now + p.maxRunMs;
    if (p.warmupMs === 0) this.startMeasuring(now);
    const done = new Promise<RunData>((resolve) => {
      this.resolveDone = resolve;
    });
    this.events.emit("start", { connections: this.slots.length, workerIndex: this.opts.workerIndex });
    this.housekeeping = setInterval(() => this.housekeep(), HOUSEKEEPING_MS);
    this.lastTick = now;
    sched.start(now);
    if (this.slots.length === 0 || (this.opts.requests !== null && this.opts.requests === 0)) this.finish();
    return done;
  }

  /** Graceful stop: no new requests; in-flight ones finish (bounded by timeoutMs). */
  stop(): void {
    if (this.phase === "running") this.beginDrain();
  }

  // ---- PoolView: what schedulers use ----

  starting(now = 0): boolean {
    return this.phase === "running" && now < this.endAt;
  }

  unstarted(): number {
    const n = this.opts.requests;
    return n === null || !this.measuring ? Infinity : n - this.rec.sent;
  }

  newRequest(intended: number): Req {
    let req = this.reqPool.pop();
    if (req === undefined) req = new Req(intended, this.measuring);
    else {
      req.intendedMs = intended;
      req.measured = this.measuring;
      req.retries = 0;
      req.streamId = 0;
    }
    this.outstanding++;
    if (this.measuring) {
      this.rec.sent++;
      const n = this.opts.requests;
      if (n !== null && this.rec.sent >= n) queueMicrotask(() => this.beginDrain());
    }
    return req;
  }

  hasRoom(c: Conn): boolean {
    return c.accepting && c.inflight < c.limit;
  }

  send(c: Conn, req: Req, now: number): void {
    c.send(req, now);
    if (this.closeAfter > 0 && c.issued >= this.closeAfter) c.close("policy");
  }

  connect(s: Slot, now: number): void {
    const target: ConnTarget = {
      address: this.opts.address,
      port: this.p.port,
      tls: this.p.tls,
      servername: this.p.host,
      localAddress: s.localAddress,
      localPort: this.ports === null ? null : () => this.ports!.take(s.localAddress ?? ""),
      releasePort: this.ports === null ? null : (port) => this.ports!.release(s.localAddress ?? "", port),
    };
    const id = this.nextConnId++ * this.opts.workerCount + this.opts.workerIndex;
    const c: Conn = this.h2 !== null ? new H2Conn(id, s.index, this, this.h2, target) : new H1Conn(id, s.index, this, this.h1!, target);
    c.connectStartMs = now;
    if (this.firstConnectAt === 0) this.firstConnectAt = now;
    s.conn = c;
    s.idle = false;
    this.conns.add(c);
    c.connect();
  }

  // ---- time ----

  private startMeasuring(now: number): void {
    this.measuring = true;
    this.rec.start(now);
    this.rec.setOpen(this.openList.length);
  }

  private housekeep(): void {
    if (this.phase === "done") return;
    const now = performance.now();
    if (now >= this.hardStopAt) {
      this.finish();
      return;
    }
    if (!this.measuring && now >= this.warmupEnd) this.startMeasuring(now);
    if (this.phase === "running" && now >= this.endAt) {
      this.beginDrain();
      if (this.isDone()) return;
    }
    // The duration bounds the run whatever the protocol: after the drain, what is still in flight is cut.
    if (this.phase === "draining" && now >= this.endAt + this.p.drainMs) {
      this.cut(now, CAUSES.cutByDuration);
      if (this.isDone()) return;
    }
    if (this.phase === "running") this.sched.adjust(now);
    if (now - this.lastSweep >= SWEEP_MS) {
      this.lastSweep = now;
      this.sweep(now);
      if (this.isDone()) return;
      this.sweepParked(now);
      if (this.isDone()) return;
      this.stopIfCannotWork(now);
      if (this.isDone()) return;
    }
    for (const s of this.slots) {
      if (s.conn === null && !s.dead && s.retryAt <= now && s.retryAt !== 0) this.sched.serve(s, now);
    }
    if (this.measuring) this.rec.advance(now);
    if (now - this.lastTick >= TICK_MS) {
      this.lastTick = now;
      this.events.emit("tick", this.tickInfo(now));
    }
  }

  private isDone(): boolean {
    return this.phase === "done";
  }

  private tickInfo(now: number): TickInfo {
    const s = this.rec.snapshot();
    return { elapsedMs: Math.round(now - this.t0), measuring: this.measuring, ...s, openConnections: this.openList.length };
  }

  /**
   * Stops a run that cannot work instead of letting it run its whole bound:
   * once the connect timeout has passed since the first attempt, either no
   * connection has opened, or connections opened but requests only timed out
   * and nothing ever answered.
   */
  private stopIfCannotWork(now: number): void {
    if (this.phase !== "running" || this.firstConnectAt === 0 || now - this.firstConnectAt < this.p.timeoutMs) return;
    const reason = this.rec.opened === 0 ? "no-connection" : !this.anyResponse && this.anyTimeout ? "no-response" : null;
    if (reason === null) return;
    this.rec.stoppedEarly = { reason, afterMs: Math.round(now - this.t0) };
    this.cut(now, CAUSES.aborted);
  }

  /** Connect and request timeouts, and the idle close. */
  private sweep(now: number): void {
    const timeout = this.p.timeoutMs;
    const idle = this.p.closeAfterIdleMs;
    for (const c of [...this.conns]) {
      if (c.state === CONNECTING) {
        if (now - c.connectStartMs >= timeout) c.destroy(c.tcpConnected ? CAUSES.handshakeTimeout : CAUSES.connectTimeout);
      } else if (c.state === OPEN) {
        c.sweep(now, timeout);
        if (idle !== null && c.state === OPEN && c.inflight === 0 && now - c.lastActiveMs >= idle) {
          this.slots[c.slot]!.idle = true;
          c.close("idle");
        }
      }
      if (this.phase === "done") return;
    }
  }

  /**
   * A request refused unprocessed waits to go out again; its timeout still
   * runs from when it was first sent, so one that cannot be sent again in
   * time (its slot's connection draining, or reconnecting) ends as `timeout`.
   */
  private sweepParked(now: number): void {
    const timeout = this.p.timeoutMs;
    const expired = (r: Req): boolean => now - r.sentMs >= timeout;
    const end = (r: Req): void => {
      this.anyTimeout = true;
      this.outstanding--;
      if (r.measured) {
        this.rec.error(now, CAUSES.timeout);
        if (this.opts.ndjson !== null) this.logLine(now, null, r, CAUSES.timeout);
      }
      this.reqPool.push(r);
    };
    if (this.parked.some(expired)) {
      const keep = this.parked.filter((r) => !expired(r));
      for (const r of this.parked.filter(expired)) end(r);
      this.parked.splice(0, this.parked.length, ...keep);
    }
    for (const s of this.slots) {
      if (!s.parked.some(expired)) continue;
      const old = s.parked.filter(expired);
      s.parked = s.parked.filter((r) => !expired(r));
      for (const r of old) {
        end(r);
        this.sched.parkedEnded(s);
      }
    }
    this.checkDone();
  }

  // ---- connection callbacks ----

  onOpen(c: Conn): void {
    const now = performance.now();
    c.lastActiveMs = now;
    const s = this.slots[c.slot]!;
    this.sched.connectEnded(s);
    this.openList.push(c);
    this.rec.opened++;
    this.rec.setOpen(this.openList.length);
    s.backoffMs = 0;
    s.retryAt = 0;
    if (this.phase === "done") return;
    if (this.phase === "draining" && s.parked.length === 0 && this.parked.length === 0) {
      c.close("stop");
      return;
    }
    this.sched.serve(s, now);
    c.flush();
  }

  onResponse(c: Conn, req: Req): void {
    const now = performance.now();
    c.lastActiveMs = now;
    this.anyResponse = true;
    this.outstanding--;
    if (req.measured) {
      const pc = req.proxyConns !== null ? parseInt(req.proxyConns, 10) : -1;
      this.rec.response(now, (now - req.intendedMs) * 1000, req.status, req.backend, req.server, Number.isFinite(pc) ? pc : -1, req.route);
      if (this.opts.ndjson !== null) this.logLine(now, c, req, null);
    } else this.rec.warmupResponse(req.backend, req.route);
    this.reqPool.push(req);
    this.afterOutcome(c, now);
  }

  onRequestError(c: Conn, req: Req, cause: ConnCause, retryable: boolean): void {
    const now = performance.now();
    if (cause === CAUSES.timeout) this.anyTimeout = true;
    // Cut at the end of the run: a request already past its timeout is a timeout all the same.
    else if (this.cutting && now - req.sentMs >= this.p.timeoutMs) cause = CAUSES.timeout;
    if (retryable && this.p.reconnect && this.phase !== "done" && req.retries < MAX_RETRIES && now - req.sentMs < this.p.timeoutMs) {
      req.retries++;
      if (req.measured) this.rec.retried++;
      if (this.sched.slotBound) this.slots[c.slot]!.parked.push(req);
      else this.parked.push(req);
      // Sent again as soon as the connection's callbacks are done: on this connection when it still
      // takes requests (REFUSED_STREAM), else on the next one (GOAWAY; onClose serves the slot).
      this.scheduleRetry();
      return;
    }
    this.outstanding--;
    if (req.measured) {
      this.rec.error(now, cause);
      if (this.opts.ndjson !== null) this.logLine(now, c, req, cause);
    }
    this.reqPool.push(req);
    this.afterOutcome(c, now);
  }

  private scheduleRetry(): void {
    if (this.retryScheduled) return;
    this.retryScheduled = true;
    setImmediate(() => {
      this.retryScheduled = false;
      if (this.phase === "done" || this.cutting) return;
      this.sched.resend(performance.now());
    });
  }

  onGoaway(c: Conn): void {
    void c;
    this.rec.goaways++;
  }

  onCapacity(c: Conn): void {
    if (this.phase === "done" || c.state !== OPEN) return;
    this.sched.serve(this.slots[c.slot]!, performance.now());
    c.flush();
  }

  onClose(c: Conn, failedCause: ConnCause | null): void {
    this.conns.delete(c);
    const s = this.slots[c.slot]!;
    if (s.conn === c) s.conn = null;
    if (failedCause === null) {
      const i = this.openList.indexOf(c);
      if (i >= 0) this.openList.splice(i, 1);
      this.rec.setOpen(this.openList.length);
    }
    if (this.phase === "done") return;
    const now = performance.now();
    const switchedOff = c.closeReason !== null && SWITCHED_OFF_REASONS.has(c.closeReason);
    if (failedCause !== null) this.sched.connectEnded(s);
    if (failedCause !== null && !switchedOff) {
      this.rec.connectFailure(failedCause);
      this.failConnectAttempt(s, failedCause, now);
      this.backOff(s, now);
    } else if (switchedOff) {
      // The slot was switched off; it stays closed.
    } else if (c.closeReason !== null && POLICY_REASONS.has(c.closeReason)) {
      s.retryAt = 0;
    } else if (!this.p.reconnect) {
      this.killSlot(s, now);
    } else if (c.responses === 0) {
      // Closed without answering anything: do not spin on a server that hangs up at once.
      this.backOff(s, now);
    } else {
      s.retryAt = 0;
    }
    if (this.phase === "draining" && s.parked.length === 0) {
      this.checkDone();
      return;
    }
    this.sched.serve(s, now);
    this.checkDone();
  }

  private backOff(s: Slot, now: number): void {
    s.backoffMs = Math.min(1000, Math.max(50, s.backoffMs * 2));
    s.retryAt = now + s.backoffMs;
  }

  /** A connection that never opened takes with it the requests its slot was about to send. */
  private failConnectAttempt(s: Slot, cause: ConnCause, now: number): void {
    const fail = (req: Req): void => {
      this.outstanding--;
      if (req.measured) {
        this.rec.error(now, cause);
        if (this.opts.ndjson !== null) this.logLine(now, null, req, cause);
      }
    };
    for (const r of s.parked.splice(0)) fail(r);
    this.sched.failConnectAttempt(s, now, fail);
  }

  private killSlot(s: Slot, now: number): void {
    s.dead = true;
    for (const r of s.parked.splice(0)) {
      this.outstanding--;
      if (r.measured) this.rec.error(now, CAUSES.goaway);
    }
  }

  private afterOutcome(c: Conn, now: number): void {
    if (this.phase === "done") return;
    this.sched.afterOutcome(c, this.slots[c.slot]!, now);
    if (this.phase === "draining") this.checkDone();
  }

  private logLine(now: number, c: Conn | null, req: Req, cause: ConnCause | null): void {
    const line = {
      t: Math.round(performance.timeOrigin + now),
      conn: c?.id ?? null,
      stream: c !== null ? req.streamId : null,
      backend: cause === null ? req.backend : null,
      server: cause === null ? req.server : null,
      route: cause === null ? req.route : null,
      status: cause === null ? req.status : null,
      latencyUs: cause === null ? Math.round((now - req.intendedMs) * 1000) : null,
      proxyConns: cause === null && req.proxyConns !== null ? Number(req.proxyConns) : null,
      cause,
    };
    this.opts.ndjson!(JSON.stringify(line));
  }

  // ---- ending ----

  private beginDrain(): void {
    if (this.phase !== "running") return;
    this.phase = "draining";
    this.sched.stop();
    for (const c of [...this.conns]) {
      const s = this.slots[c.slot]!;
      if (c.state === CONNECTING) this.countUnfinished(c);
      if (c.state !== OPEN || (c.inflight === 0 && s.parked.length === 0 && this.parked.length === 0)) c.close("stop");
    }
    this.checkDone();
  }

  /** A connection attempt the end of the run stops: nothing was sent on it, but it is counted. */
  private countUnfinished(c: Conn): void {
    if (c.tcpConnected) this.rec.unfinishedHandshaking++;
    else this.rec.unfinishedConnecting++;
  }

  /** Every parked request, taken out: the pool's, then each slot's. */
  private takeParked(): Req[] {
    const all = this.parked.splice(0);
    for (const s of this.slots) all.push(...s.parked.splice(0));
    return all;
  }

  /**
   * Ends the run now: every request in flight or parked ends with `cause`
   * (or `timeout` when already past its timeout), and every connection
   * closes. Nothing new starts meanwhile.
   */
  private cut(now: number, cause: ConnCause): void {
    if (this.phase === "running") this.beginDrain();
    if (this.phase !== "draining") return;
    this.cutting = true;
    for (const c of [...this.conns]) {
      if (c.state === CONNECTING) this.countUnfinished(c);
      if (c.closeReason === null) c.closeReason = "stop";
      c.destroy(cause);
    }
    for (const r of this.takeParked()) {
      this.outstanding--;
      if (r.measured) {
        const why = now - r.sentMs >= this.p.timeoutMs ? CAUSES.timeout : cause;
        this.rec.error(now, why);
        if (this.opts.ndjson !== null) this.logLine(now, null, r, why);
      }
      this.reqPool.push(r);
    }
    this.cutting = false;
    this.checkDone();
  }

  private checkDone(): void {
    if (this.phase === "done" || this.cutting) return;
    if (this.outstanding === 0 && (this.phase === "draining" || this.slots.every((s) => s.dead || s.retired))) this.finish();
  }

  private finish(): void {
    if (this.phase === "done") return;
    const now = performance.now();
    this.phase = "done";
    if (this.housekeeping !== null) clearInterval(this.housekeeping);
    this.sched.stop();
    // Whatever is still in flight at a hard stop ends as `aborted`.
    for (const c of [...this.conns]) {
      if (c.state === CONNECTING) this.countUnfinished(c);
      c.destroy(CAUSES.aborted);
    }
    for (const r of this.takeParked()) {
      this.outstanding--;
      if (r.measured) this.rec.error(now, CAUSES.goaway);
    }
    if (!this.measuring) this.startMeasuring(now);
    const data = this.rec.finish(now);
    this.events.emit("tick", this.tickInfo(now));
    this.events.emit("done", data);
    this.resolveDone?.(data);
  }
}
