/**
 * The load engine: one event loop's share of a run. It owns connection slots
 * (one live connection each), decides when each slot connects, sends and
 * closes, turns every request into exactly one recorded outcome, and emits
 * `start`, `tick` and `done` events. It never prints.
 * @internal
 */
import { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import { CLOSED, CONNECTING, OPEN, Req, type CloseReason, type Conn, type ConnOwner, type ConnTarget } from "./conn.js";
import { buildH1Shared, H1Conn, type H1Shared } from "./h1.js";
import { buildH2Shared, H2Conn, type H2Shared } from "./h2.js";
import { WantedNames } from "./hpack.js";
import { type NormalizedProfile } from "./profile.js";
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
}

/** One burst of the connect-rate schedule, as the engine carried it out. */
export interface ConnectBurst {
  /** 0 for the burst at the start, then one per connectPeriodMs. */
  index: number;
  /** Since the start of the run. */
  atMs: number;
  /** Connections this burst switched on. */
  connections: number;
}

interface Slot {
  index: number;
  global: number;
  active: boolean;
  dead: boolean;
  conn: Conn | null;
  /** Stream slots ready to send (closed model). */
  wants: number;
  /** Requests refused unprocessed, waiting to go out again. */
  retry: Req[];
  backoffMs: number;
  retryAt: number;
  /** Closed by the idle policy: reconnect only when there is work. */
  idle: boolean;
  /** Requests of the budget held for this slot while it connects. */
  reserved: number;
  localAddress: string | undefined;
  /** Per-client budget: the requests this slot sends in all (h2load's share of -n); null when pooled. */
  share: number | null;
  /** Measured requests started from the share. */
  started: number;
  /** Per-client budget: the share is done and the connection closed; the slot never connects again. */
  finished: boolean;
}

const HOUSEKEEPING_MS = 50;
const TICK_MS = 250;
const MAX_RETRIES = 3;
const POLICY_REASONS = new Set<CloseReason>(["policy", "idle"]);

type Phase = "running" | "draining" | "done";

export class Engine extends EventEmitter implements ConnOwner {
  private readonly p: NormalizedProfile;
  private readonly opts: EngineOptions;
  private readonly rec: Recorder;
  private readonly slots: Slot[] = [];
  private readonly conns = new Set<Conn>();
  private readonly openList: Conn[] = [];
  private readonly h2: H2Shared | null = null;
  private readonly h1: H1Shared | null = null;
  private readonly openModel: boolean;
  private phase: Phase = "running";
  private reserved = 0;
  private measuring = false;
  private t0 = 0;
  private warmupEnd = 0;
  private endAt = Infinity;
  private hardStopAt = Infinity;
  private stagesTotal = 0;
  private outstanding = 0;
  private activeCount = 0;
  private nextConnId = 0;
  private housekeeping: NodeJS.Timeout | null = null;
  private rateTimer: NodeJS.Timeout | null = null;
  /** Bursts of the connect-rate schedule carried out so far. */
  private bursts = 0;
  /** The connect-rate schedule as carried out (also emitted as `burst` events). */
  readonly burstLog: ConnectBurst[] = [];
  /** Slots with a share still to send or in flight (per-client budget). */
  private unfinishedSlots = 0;
  private retryScheduled = false;
  private arrivalTimer: NodeJS.Timeout | null = null;
  private readonly thinkTimers = new Set<NodeJS.Timeout>();
  private lastTick = 0;
  private lastSweep = 0;
  // Open model.
  private arrivals = 0;
  private readonly retryQ: Req[] = [];
  /** Finished requests for reuse: connections drop every reference before reporting an outcome. */
  private readonly reqPool: Req[] = [];
  private cursor = 0;
  private resolveDone: ((d: RunData) => void) | null = null;
  private readonly closeAfter: number;
  /** When the first connection attempt started (0: none yet). */
  private firstConnectAt = 0;
  /** Any response at all, warm-up included. */
  private anyResponse = false;
  /** Any request that ended by its timeout. */
  private anyTimeout = false;
  /** Set while the end of the run cuts what is in flight: nothing new starts, and the run does not end half-way through. */
  private cutting = false;

  constructor(opts: EngineOptions) {
    super();
    this.opts = opts;
    this.p = opts.profile;
    this.rec = new Recorder(this.p.timelineWindowMs);
    this.openModel = opts.arrivalRate !== null;
    this.closeAfter = this.p.closeAfterRequests ?? 0;
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
    const w = opts.workerCount;
    const src = this.p.sourceAddresses;
    const local = localCount(this.p.connections, opts.workerIndex, w);
    const perClient = this.p.budget === "per-client" && opts.requests !== null;
    for (let g = opts.workerIndex, i = 0; g < this.p.connections; g += w, i++) {
      // h2load: client k of a thread (in creation order) gets thread_n / thread_c, the first thread_n % thread_c one more.
      const share = perClient ? Math.floor(opts.requests! / local) + (i < opts.requests! % local ? 1 : 0) : null;
      this.slots.push({
        index: i,
        global: g,
        active: false,
        dead: false,
        conn: null,
        wants: this.p.streams,
        retry: [],
        backoffMs: 0,
        retryAt: 0,
        idle: false,
        reserved: 0,
        localAddress: src.length > 0 ? src[g % src.length] : undefined,
        share,
        started: 0,
        finished: share === 0,
      });
    }
    this.unfinishedSlots = this.slots.filter((sl) => !sl.finished).length;
  }

  /** Starts the run; resolves with this engine's data when it has stopped by itself or by stop(). */
  run(): Promise<RunData> {
    const p = this.p;
    const now = performance.now();
    this.t0 = now;
    this.warmupEnd = now + p.warmupMs;
    if (p.durationMs !== null) this.endAt = this.warmupEnd + p.durationMs;
    if (p.stages !== null) {
      this.stagesTotal = p.stages.reduce((a, s) => a + s.durationMs, 0);
      this.endAt = Math.min(this.endAt, now + this.stagesTotal);
    }
    this.hardStopAt = now + p.maxRunMs;
    if (p.warmupMs === 0) this.startMeasuring(now);
    const done = new Promise<RunData>((resolve) => {
      this.resolveDone = resolve;
    });
    this.emit("start", { connections: this.slots.length, workerIndex: this.opts.workerIndex });
    this.housekeeping = setInterval(() => this.housekeep(), HOUSEKEEPING_MS);
    this.lastTick = now;
    if (this.opts.connectRate !== null) {
      // h2load: the rate callback runs at once ("so that we don't waste the first rate_period"), then every period.
      this.burst(now);
      if (this.activeCount < this.slots.length) {
        this.rateTimer = setInterval(() => this.burst(performance.now()), this.p.connectPeriodMs);
      }
    }
    this.adjustActive(now);
    if (this.openModel) this.scheduleArrivals(now);
    if (this.slots.length === 0 || (this.opts.requests !== null && this.opts.requests === 0)) this.finish();
    return done;
  }

  /** Graceful stop: no new requests; in-flight ones finish (bounded by timeoutMs). */
  stop(): void {
    if (this.phase === "running") this.beginDrain();
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
    if (this.phase === "running") this.adjustActive(now);
    if (now - this.lastSweep >= 100) {
      this.lastSweep = now;
      this.sweep(now);
      if (this.isDone()) return;
      this.sweepParked(now);
      if (this.isDone()) return;
      this.stopIfCannotWork(now);
      if (this.isDone()) return;
    }
    for (const s of this.slots) {
      if (s.conn === null && !s.dead && s.retryAt <= now && s.retryAt !== 0) this.pump(s, now);
    }
    if (this.measuring) this.rec.advance(now);
    if (now - this.lastTick >= TICK_MS) {
      this.lastTick = now;
      this.emit("tick", this.tickInfo(now));
    }
  }

  private isDone(): boolean {
    return this.phase === "done";
  }

  private tickInfo(now: number): TickInfo {
    const s = this.rec.snapshot();
    return { elapsedMs: Math.round(now - this.t0), measuring: this.measuring, ...s, openConnections: this.openList.length };
  }

  /** One tick of the connect-rate timer: up to `connectRate` more slots connect, back to back. */
  private burst(now: number): void {
    if (this.phase !== "running" || this.cutting) return;
    const before = this.activeCount;
    this.bursts++;
    this.adjustActive(now);
    const opened = this.activeCount - before;
    const b: ConnectBurst = { index: this.bursts - 1, atMs: Math.round(now - this.t0), connections: opened };
    this.burstLog.push(b);
    this.emit("burst", b);
    if (this.activeCount >= this.slots.length && this.rateTimer !== null) {
      clearInterval(this.rateTimer);
      this.rateTimer = null;
    }
  }

  /** How many of this engine's slots should hold a connection now (stages and connect rate). */
  private adjustActive(now: number): void {
    const p = this.p;
    let target = this.slots.length;
    if (p.stages !== null) {
      const globalTarget = stageTarget(p.stages, now - this.t0);
      target = localCount(globalTarget, this.opts.workerIndex, this.opts.workerCount);
    }
    const rate = this.opts.connectRate;
    if (rate !== null) target = Math.min(target, this.bursts * rate);
    target = Math.min(target, this.slots.length);
    if (target === this.activeCount) return;
    if (target > this.activeCount) {
      for (let i = this.activeCount; i < target; i++) {
        const s = this.slots[i]!;
        s.active = true;
        this.pump(s, now);
      }
    } else {
      for (let i = target; i < this.activeCount; i++) {
        const s = this.slots[i]!;
        s.active = false;
        s.conn?.close("ramp-down");
      }
    }
    this.activeCount = target;
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

  private sweep(now: number): void {
    const timeout = this.p.timeoutMs;
    const idle = this.p.closeAfterIdleMs;
    for (const c of [...this.conns]) {
      if (c.state === CONNECTING) {
        if (now - c.connectStartMs >= timeout) c.destroy(c.tcpConnected ? CAUSES.handshakeTimeout : CAUSES.connectTimeout);
      } else if (c.state === OPEN) {
        c.sweep(now, timeout);
        if (idle !== null && c.state === OPEN && c.inflight === 0 && now - c.lastActiveMs >= idle) {
          const s = this.slots[c.slot]!;
          s.idle = true;
          c.close("idle");
        }
      }
      if (this.phase === "done") return;
    }
  }

  // ---- requests ----

  /**
   * Requests that may still be started. A connecting slot holds back what it
   * is about to send, so the end of a run does not open connections that
   * will find nothing left to do.
   */
  private budgetRemaining(now = 0): number {
    if (this.phase !== "running" || now >= this.endAt) return 0;
    const n = this.opts.requests;
    return n === null || !this.measuring ? Infinity : n - this.rec.sent - this.reserved;
  }

  private budgetLeft(now = 0): boolean {
    return this.budgetRemaining(now) > 0;
  }

  /** Requests slot `s` may still start: its own share's rest (per-client), or the pool's. */
  private slotBudget(s: Slot, now = 0): number {
    if (s.share === null) return this.budgetRemaining(now);
    if (this.phase !== "running" || now >= this.endAt) return 0;
    return this.measuring ? s.share - s.started - s.reserved : Infinity;
  }

  private release(s: Slot): void {
    if (s.share === null) this.reserved -= s.reserved;
    s.reserved = 0;
  }

  private newReq(intended: number, s: Slot | null): Req {
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
      if (s !== null && s.share !== null) s.started++;
      this.rec.sent++;
      const n = this.opts.requests;
      if (n !== null && this.rec.sent >= n) queueMicrotask(() => this.beginDrain());
    }
    return req;
  }

  /** Sends what a slot can send now (closed model), connecting it if needed. */
  private pump(s: Slot, now: number): void {
    if (s.dead || this.phase === "done" || this.cutting) return;
    const c = s.conn;
    if (c === null) {
      if (now < s.retryAt) return;
      if (this.openModel) {
        if (s.retry.length > 0 || (s.active && this.openWork(s))) this.connect(s, now);
        return;
      }
      const n = s.active ? Math.min(s.wants, this.slotBudget(s, now)) : 0;
      if (n <= 0 && s.retry.length === 0) return;
      if (n > 0 && n !== Infinity) {
        s.reserved = n;
        if (s.share === null) this.reserved += n;
      }
      this.connect(s, now);
      return;
    }
    if (c.state !== OPEN) return;
    if (this.openModel) {
      while (s.retry.length > 0 && c.accepting && c.inflight < c.limit) c.send(s.retry.pop()!, now);
      this.dispatchTo(c, now);
      return;
    }
    while (c.accepting && c.inflight < c.limit) {
      let req = s.retry.pop();
      if (req === undefined) {
        if (s.wants === 0 || !s.active || this.slotBudget(s, now) <= 0) break;
        s.wants--;
        req = this.newReq(now, s);
      }
      c.send(req, now);
      if (this.closeAfter > 0 && c.issued >= this.closeAfter) {
        c.close("policy");
        break;
      }
    }
  }

  private openWork(s: Slot): boolean {
    if (!this.budgetLeft() && this.retryQ.length === 0) return false;
    // Idle-closed slots come back only when requests are waiting and no open connection has room.
    if (!s.idle) return true;
    if (this.backlog(performance.now()) === 0 && this.retryQ.length === 0) return false;
    for (const c of this.openList) if (c.accepting && c.inflight < c.limit) return false;
    return true;
  }

  private connect(s: Slot, now: number): void {
    const target: ConnTarget = {
      address: this.opts.address,
      port: this.p.port,
      tls: this.p.tls,
      servername: this.p.host,
      localAddress: s.localAddress,
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

  // ---- open model ----

  private intendedAt(k: number): number {
    return this.t0 + (k * 1000) / this.opts.arrivalRate!;
  }

  /** Arrivals due by `now` not yet sent. */
  private backlog(now: number): number {
    const rate = this.opts.arrivalRate!;
    let due = Math.floor(((now - this.t0) * rate) / 1000) + 1;
    // Only arrivals meant to go out before the end of the run.
    if (this.endAt !== Infinity) due = Math.min(due, Math.ceil(((this.endAt - this.t0) * rate) / 1000));
    const n = this.opts.requests;
    if (n !== null && this.measuring) due = Math.min(due, this.arrivals + Math.max(0, n - this.rec.sent));
    return this.phase === "running" ? Math.max(0, due - this.arrivals) : 0;
  }

  private scheduleArrivals(now: number): void {
    if (this.phase !== "running") return;
    this.dispatchAll(now);
    const next = this.intendedAt(this.arrivals);
    const wait = Math.max(1, Math.min(50, next - performance.now()));
    this.arrivalTimer = setTimeout(() => {
      this.arrivalTimer = null;
      this.scheduleArrivals(performance.now());
    }, wait);
  }

  private dispatchAll(now: number): void {
    const list = this.openList;
    if (list.length === 0) {
      this.wakeIdleSlot(now);
      return;
    }
    let progressed = true;
    while (progressed && (this.retryQ.length > 0 || this.backlog(now) > 0)) {
      progressed = false;
      for (let i = 0; i < list.length && (this.retryQ.length > 0 || this.backlog(now) > 0); i++) {
        this.cursor = (this.cursor + 1) % list.length;
        const c = list[this.cursor]!;
        if (c.accepting && c.inflight < c.limit) {
          this.sendOpen(c, now);
          progressed = true;
        }
      }
    }
    for (const c of list) c.flush();
    if (this.retryQ.length > 0 || this.backlog(now) > 0) this.wakeIdleSlot(now);
  }

  private wakeIdleSlot(now: number): void {
    for (const s of this.slots) {
      if (s.conn === null && s.active && !s.dead && now >= s.retryAt) {
        this.connect(s, now);
        return;
      }
      if (s.conn !== null && s.conn.state === CONNECTING) return;
    }
  }

  private sendOpen(c: Conn, now: number): void {
    const retry = this.retryQ.pop();
    if (retry !== undefined) {
      c.send(retry, now);
    } else {
      const intended = this.intendedAt(this.arrivals);
      this.arrivals++;
      c.send(this.newReq(intended, null), now);
    }
    if (this.closeAfter > 0 && c.issued >= this.closeAfter) c.close("policy");
  }

  private dispatchTo(c: Conn, now: number): void {
    while (c.accepting && c.inflight < c.limit && (this.retryQ.length > 0 || this.backlog(now) > 0)) this.sendOpen(c, now);
  }

  // ---- connection callbacks ----

  onOpen(c: Conn): void {
    const now = performance.now();
    c.lastActiveMs = now;
    const s = this.slots[c.slot]!;
    this.release(s);
    this.openList.push(c);
    this.rec.opened++;
    this.rec.setOpen(this.openList.length);
    s.backoffMs = 0;
    s.retryAt = 0;
    if (this.phase === "done") return;
    if (this.phase === "draining" && s.retry.length === 0 && this.retryQ.length === 0) {
      c.close("stop");
      return;
    }
    this.pump(s, now);
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
      if (this.openModel) this.retryQ.push(req);
      else this.slots[c.slot]!.retry.push(req);
      // Sent again as soon as the connection's callbacks are done: on this connection when it still
      // takes requests (REFUSED_STREAM), else on the slot's next one (GOAWAY; onClose pumps).
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
      const now = performance.now();
      if (this.openModel) {
        this.dispatchAll(now);
        return;
      }
      for (const s of this.slots) {
        const c = s.conn;
        if (s.retry.length === 0 || c === null || c.state !== OPEN || !c.accepting) continue;
        this.pump(s, now);
        c.flush();
      }
    });
  }

  /**
   * A request refused unprocessed waits to go out again; its timeout still
   * runs from when it was first sent, so one that cannot be sent again in
   * time (its slot's connection draining, or reconnecting) ends as "timeout".
   */
  private sweepParked(now: number): void {
    const timeout = this.p.timeoutMs;
    const expired = (r: Req): boolean => now - r.sentMs >= timeout;
    const end = (r: Req, s: Slot | null): void => {
      this.anyTimeout = true;
      this.outstanding--;
      if (r.measured) {
        this.rec.error(now, CAUSES.timeout);
        if (this.opts.ndjson !== null) this.logLine(now, null, r, CAUSES.timeout);
      }
      this.reqPool.push(r);
      if (s !== null) this.finishSlotIfDone(s);
    };
    if (this.retryQ.some(expired)) {
      const keep = this.retryQ.filter((r) => !expired(r));
      for (const r of this.retryQ.filter(expired)) end(r, null);
      this.retryQ.splice(0, this.retryQ.length, ...keep);
    }
    for (const s of this.slots) {
      if (!s.retry.some(expired)) continue;
      const old = s.retry.filter(expired);
      s.retry = s.retry.filter((r) => !expired(r));
      for (const r of old) end(r, s);
    }
    this.checkDone();
  }

  onGoaway(c: Conn): void {
    void c;
    this.rec.goaways++;
  }

  onCapacity(c: Conn): void {
    if (this.phase === "done" || c.state !== OPEN) return;
    this.pump(this.slots[c.slot]!, performance.now());
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
    const ours = c.closeReason === "ramp-down" || c.closeReason === "stop" || c.closeReason === "done";
    if (failedCause !== null) this.release(s);
    if (failedCause !== null && !ours) {
      this.rec.connectFailure(failedCause);
      this.failConnectAttempt(s, failedCause, now);
      s.backoffMs = Math.min(1000, Math.max(50, s.backoffMs * 2));
      s.retryAt = now + s.backoffMs;
    } else if (ours) {
      // The slot was switched off; it stays closed.
    } else if (c.closeReason !== null && POLICY_REASONS.has(c.closeReason)) {
      s.retryAt = 0;
    } else if (!this.p.reconnect) {
      this.killSlot(s, now);
    } else if (c.responses === 0) {
      // Closed without answering anything: do not spin on a server that hangs up at once.
      s.backoffMs = Math.min(1000, Math.max(50, s.backoffMs * 2));
      s.retryAt = now + s.backoffMs;
    } else {
      s.retryAt = 0;
    }
    if (this.phase === "draining" && s.retry.length === 0) {
      this.checkDone();
      return;
    }
    this.pump(s, now);
    this.checkDone();
  }

  /** A connection that never opened takes the requests its slot was about to send with it. */
  private failConnectAttempt(s: Slot, cause: ConnCause, now: number): void {
    const fail = (req: Req): void => {
      this.outstanding--;
      if (req.measured) {
        this.rec.error(now, cause);
        if (this.opts.ndjson !== null) this.logLine(now, null, req, cause);
      }
    };
    for (const r of s.retry.splice(0)) fail(r);
    if (this.openModel) {
      let n = Math.min(this.backlog(now), this.p.streams);
      while (n-- > 0 && this.phase === "running") {
        const intended = this.intendedAt(this.arrivals);
        this.arrivals++;
        fail(this.newReq(intended, null));
      }
      return;
    }
    if (!s.active) return;
    let n = s.wants;
    while (n-- > 0 && this.slotBudget(s, now) > 0) fail(this.newReq(now, s));
    this.finishSlotIfDone(s);
  }

  /**
   * Per-client budget: once a slot has started its whole share and nothing of
   * it is in flight or waiting to go out again, its connection closes (as
   * h2load's client does after its last response) and the slot is done.
   */
  private finishSlotIfDone(s: Slot): void {
    if (s.share === null || s.finished || !this.measuring || s.started < s.share || s.retry.length > 0) return;
    const c = s.conn;
    if (c !== null && c.inflight > 0) return;
    s.finished = true;
    s.active = false;
    this.unfinishedSlots--;
    if (c !== null && c.state !== CLOSED) c.close("done");
  }

  private killSlot(s: Slot, now: number): void {
    s.dead = true;
    for (const r of s.retry.splice(0)) {
      this.outstanding--;
      if (r.measured) this.rec.error(now, CAUSES.goaway);
    }
  }

  private afterOutcome(c: Conn, now: number): void {
    if (this.phase === "done") return;
    const s = this.slots[c.slot]!;
    if (this.openModel) {
      if (c.state === OPEN) this.dispatchTo(c, now);
    } else if (this.p.thinkTimeMs > 0 && this.phase === "running") {
      const t = setTimeout(() => {
        this.thinkTimers.delete(t);
        s.wants++;
        const n = performance.now();
        this.pump(s, n);
        s.conn?.flush();
      }, this.p.thinkTimeMs);
      this.thinkTimers.add(t);
    } else {
      s.wants++;
      if (c.state !== CLOSED) this.pump(s, now);
    }
    this.finishSlotIfDone(s);
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
    for (const t of this.thinkTimers) clearTimeout(t);
    this.thinkTimers.clear();
    if (this.rateTimer !== null) {
      clearInterval(this.rateTimer);
      this.rateTimer = null;
    }
    if (this.arrivalTimer !== null) {
      clearTimeout(this.arrivalTimer);
      this.arrivalTimer = null;
    }
    for (const c of [...this.conns]) {
      const s = this.slots[c.slot]!;
      if (c.state === CONNECTING) this.countUnfinished(c);
      if (c.state !== OPEN || (c.inflight === 0 && s.retry.length === 0 && this.retryQ.length === 0)) c.close("stop");
    }
    this.checkDone();
  }

  /** A connection attempt the end of the run stops: nothing was sent on it, but it is counted. */
  private countUnfinished(c: Conn): void {
    if (c.tcpConnected) this.rec.unfinishedHandshaking++;
    else this.rec.unfinishedConnecting++;
  }

  /**
   * Ends the run now: every request in flight or waiting to be sent again
   * ends with `cause` (or "timeout" when already past its timeout), and every
   * connection closes. Nothing new starts meanwhile.
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
    const leftovers = this.retryQ.splice(0);
    for (const s of this.slots) leftovers.push(...s.retry.splice(0));
    for (const r of leftovers) {
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
    if (this.outstanding === 0 && (this.phase === "draining" || this.slots.every((s) => s.dead || s.finished))) {
      this.finish();
    }
  }

  private finish(): void {
    if (this.phase === "done") return;
    const now = performance.now();
    this.phase = "done";
    if (this.housekeeping !== null) clearInterval(this.housekeeping);
    if (this.rateTimer !== null) clearInterval(this.rateTimer);
    if (this.arrivalTimer !== null) clearTimeout(this.arrivalTimer);
    for (const t of this.thinkTimers) clearTimeout(t);
    this.thinkTimers.clear();
    // Whatever is still in flight at a hard stop ends as "aborted".
    for (const c of [...this.conns]) {
      if (c.state === CONNECTING) this.countUnfinished(c);
      c.destroy(CAUSES.aborted);
    }
    const leftovers = [...this.retryQ.splice(0)];
    for (const s of this.slots) leftovers.push(...s.retry.splice(0));
    for (const r of leftovers) {
      this.outstanding--;
      if (r.measured) this.rec.error(now, CAUSES.goaway);
    }
    if (!this.measuring) this.startMeasuring(now);
    const data = this.rec.finish(now);
    this.emit("tick", this.tickInfo(now));
    this.emit("done", data);
    this.resolveDone?.(data);
  }

}

/**
 * k6 ramping-vus: a staircase realising the linear ramp between stage
 * targets, truncated toward the stage's starting value (the count moves by
 * one whole connection at S + D*k/|to-from|; the target is reached at the
 * stage's end), starting from 0 connections (k6 starts from `vus`, 1 by default).
 */
export function stageTarget(stages: readonly { durationMs: number; target: number }[], elapsedMs: number): number {
  let from = 0;
  let t = elapsedMs;
  for (const s of stages) {
    if (t < s.durationMs) {
      const step = Math.floor((Math.abs(s.target - from) * t) / s.durationMs);
      return s.target >= from ? from + step : from - step;
    }
    t -= s.durationMs;
    from = s.target;
  }
  return from;
}

/** How many of the global slots [0, target) belong to worker w of W (slots are dealt round-robin). */
export function localCount(target: number, w: number, W: number): number {
  return target > w ? Math.floor((target - w - 1) / W) + 1 : 0;
}
