/**
 * The open model: requests arrive at a fixed rate whatever the server does,
 * and each one's latency runs from when it was due, not from when a
 * connection had room for it (so a slow server cannot hide its queueing:
 * coordinated omission). Due requests go round-robin to the open connections
 * with room, and any connection may carry a request refused unprocessed.
 * Switched-on slots connect while requests remain; one the idle close took
 * comes back only when requests are due and no open connection has room.
 * @internal
 */
import type { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import { CONNECTING, OPEN, type Conn, type Req } from "./conn.js";
import type { EngineOptions, PoolView, Slot } from "./pool.js";
import { Scheduler } from "./scheduler.js";

/** The longest the arrival timer sleeps, so a backlog is noticed soon after connections get room. */
const MAX_WAIT_MS = 50;

export class ArrivalRateScheduler extends Scheduler {
  readonly slotBound = false;
  /** Requests per second. */
  private readonly rate: number;
  /** Arrivals started so far: the next one is due at intendedAt(arrivals). */
  private arrivals = 0;
  /** Arrivals meant to go out before the end of the run (Infinity: no end set). */
  private beforeEnd = Infinity;
  /** Round-robin position in the pool's open connections. */
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(pool: PoolView, opts: EngineOptions, events: EventEmitter, rate: number) {
    super(pool, opts, events);
    this.rate = rate;
  }

  override start(now: number): void {
    this.beforeEnd = arrivalsBefore(this.pool.t0, this.pool.endAt, this.rate);
    super.start(now);
    this.scheduleArrivals(now);
  }

  override stop(): void {
    super.stop();
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private intendedAt(k: number): number {
    return arrivalAt(this.pool.t0, k, this.rate);
  }

  /** Arrivals due by `now` not yet sent. */
  private backlog(now: number): number {
    const pool = this.pool;
    const due = Math.min(Math.floor(((now - pool.t0) * this.rate) / 1000) + 1, this.beforeEnd, this.arrivals + Math.max(0, pool.unstarted()));
    return pool.phase === "running" ? Math.max(0, due - this.arrivals) : 0;
  }

  /** Work for a connection: a parked request, or an arrival that is due. */
  private hasWork(now: number): boolean {
    return this.pool.parked.length > 0 || this.backlog(now) > 0;
  }

  private scheduleArrivals(now: number): void {
    if (this.pool.phase !== "running") return;
    this.dispatchAll(now);
    const next = this.intendedAt(this.arrivals);
    const wait = Math.max(1, Math.min(MAX_WAIT_MS, next - performance.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.scheduleArrivals(performance.now());
    }, wait);
  }

  /** Sends what is due, round-robin over the open connections with room; wakes a slot when none has room. */
  private dispatchAll(now: number): void {
    const list = this.pool.openList;
    if (list.length === 0) {
      this.wakeIdleSlot(now);
      return;
    }
    let progressed = true;
    while (progressed && this.hasWork(now)) {
      progressed = false;
      for (let i = 0; i < list.length && this.hasWork(now); i++) {
        this.cursor = (this.cursor + 1) % list.length;
        const c = list[this.cursor]!;
        if (this.pool.hasRoom(c)) {
          this.sendOne(c, now);
          progressed = true;
        }
      }
    }
    for (const c of list) c.flush();
    if (this.hasWork(now)) this.wakeIdleSlot(now);
  }

  /** Connects the first switched-on slot without a connection, unless one is connecting already. */
  private wakeIdleSlot(now: number): void {
    for (const s of this.pool.slots) {
      if (s.conn === null && s.active && !s.dead && now >= s.retryAt) {
        this.pool.connect(s, now);
        return;
      }
      if (s.conn !== null && s.conn.state === CONNECTING) return;
    }
  }

  private sendOne(c: Conn, now: number): void {
    const retry = this.pool.parked.pop();
    if (retry !== undefined) {
      this.pool.send(c, retry, now);
      return;
    }
    const intended = this.intendedAt(this.arrivals);
    this.arrivals++;
    this.pool.send(c, this.pool.newRequest(intended), now);
  }

  private dispatchTo(c: Conn, now: number): void {
    while (this.pool.hasRoom(c) && this.hasWork(now)) this.sendOne(c, now);
  }

  protected pump(s: Slot, now: number): void {
    const c = s.conn;
    if (c === null) {
      if (now >= s.retryAt && s.active && this.wantsConnection(s)) this.pool.connect(s, now);
      return;
    }
    if (c.state === OPEN) this.dispatchTo(c, now);
  }

  /** Whether slot `s`, switched on and without a connection, should connect now. */
  private wantsConnection(s: Slot): boolean {
    const pool = this.pool;
    if (!(pool.starting() && pool.unstarted() > 0) && pool.parked.length === 0) return false;
    // Idle-closed slots come back only when requests are waiting and no open connection has room.
    if (!s.idle) return true;
    if (!this.hasWork(performance.now())) return false;
    for (const c of pool.openList) if (pool.hasRoom(c)) return false;
    return true;
  }

  afterOutcome(c: Conn, _s: Slot, now: number): void {
    if (c.state === OPEN) this.dispatchTo(c, now);
  }

  resend(now: number): void {
    this.dispatchAll(now);
  }

  /** The arrivals the connection would have carried fail with it: as many as are due, up to its streams. */
  failConnectAttempt(_s: Slot, now: number, fail: (req: Req) => void): void {
    let n = Math.min(this.backlog(now), this.opts.profile.streams);
    while (n-- > 0 && this.pool.phase === "running") {
      const intended = this.intendedAt(this.arrivals);
      this.arrivals++;
      fail(this.pool.newRequest(intended));
    }
  }
}

/** When arrival `k` (from 0) of a run started at `t0` is due. */
function arrivalAt(t0: number, k: number, rate: number): number {
  return t0 + (k * 1000) / rate;
}

/** How many arrivals are due before `end` (Infinity when the run has no end). */
export function arrivalsBefore(t0: number, end: number, rate: number): number {
  if (end === Infinity) return Infinity;
  // Settled with arrivalAt itself: (end - t0) * rate / 1000 can round to just above a whole
  // number and let in one more arrival, due exactly at the end.
  let n = Math.ceil(((end - t0) * rate) / 1000);
  while (n > 0 && arrivalAt(t0, n - 1, rate) >= end) n--;
  while (arrivalAt(t0, n, rate) < end) n++;
  return n;
}
