/**
 * The closed model, h2load's: each switched-on slot is a client that keeps
 * its stream slots busy, sending a stream's next request as soon as its last
 * one ends (after the think time, if any), within the request budget: pooled
 * over the clients, or h2load's per-client split of -n, where a client whose
 * share is done closes its connection for good.
 * @internal
 */
import type { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import { CLOSED, OPEN, type Conn, type Req } from "./conn.js";
import type { EngineOptions, PoolView, Slot } from "./pool.js";
import { Scheduler } from "./scheduler.js";

/** What the closed loop keeps per slot. */
interface Client {
  /** Stream slots ready to send. */
  wants: number;
  /** Requests of the budget held for this slot while it connects. */
  reserved: number;
  /** Per-client budget: the requests this client sends in all (h2load's share of -n); null when pooled. */
  share: number | null;
  /** Measured requests started from the share. */
  started: number;
}

export class ClosedLoopScheduler extends Scheduler {
  readonly slotBound = true;
  private readonly clients: Client[];
  /** Requests of the pooled budget held for connecting slots. */
  private reserved = 0;
  private readonly thinkTimers = new Set<NodeJS.Timeout>();

  constructor(pool: PoolView, opts: EngineOptions, events: EventEmitter) {
    super(pool, opts, events);
    const n = opts.profile.budget === "per-client" ? opts.requests : null;
    const local = pool.slots.length;
    this.clients = pool.slots.map((s, i) => {
      // h2load: client k of a thread (in creation order) gets thread_n / thread_c, the first thread_n % thread_c one more.
      const share = n !== null ? Math.floor(n / local) + (i < n % local ? 1 : 0) : null;
      if (share === 0) s.retired = true;
      return { wants: opts.profile.streams, reserved: 0, share, started: 0 };
    });
  }

  override stop(): void {
    super.stop();
    for (const t of this.thinkTimers) clearTimeout(t);
    this.thinkTimers.clear();
  }

  /** Requests the pooled budget may still start: connecting slots hold back what they are about to send. */
  private budgetRemaining(now: number): number {
    return this.pool.starting(now) ? this.pool.unstarted() - this.reserved : 0;
  }

  /** Requests client `k` may still start: its own share's rest (per-client), or the pool's. */
  private clientBudget(k: Client, now: number): number {
    if (k.share === null) return this.budgetRemaining(now);
    if (!this.pool.starting(now)) return 0;
    return this.pool.measuring ? k.share - k.started - k.reserved : Infinity;
  }

  private newRequest(k: Client, now: number): Req {
    const req = this.pool.newRequest(now);
    if (req.measured && k.share !== null) k.started++;
    return req;
  }

  /** Sends what a slot can send now, connecting it if needed (holding its requests back from the budget meanwhile). */
  protected pump(s: Slot, now: number): void {
    const k = this.clients[s.index]!;
    const c = s.conn;
    if (c === null) {
      if (now < s.retryAt) return;
      const n = s.active ? Math.min(k.wants, this.clientBudget(k, now)) : 0;
      if (n <= 0 && s.parked.length === 0) return;
      if (n > 0 && n !== Infinity) {
        k.reserved = n;
        if (k.share === null) this.reserved += n;
      }
      this.pool.connect(s, now);
      return;
    }
    if (c.state !== OPEN) return;
    while (this.pool.hasRoom(c)) {
      let req = s.parked.pop();
      if (req === undefined) {
        if (k.wants === 0 || !s.active || this.clientBudget(k, now) <= 0) break;
        k.wants--;
        req = this.newRequest(k, now);
      }
      this.pool.send(c, req, now);
    }
  }

  override connectEnded(s: Slot): void {
    const k = this.clients[s.index]!;
    if (k.share === null) this.reserved -= k.reserved;
    k.reserved = 0;
  }

  afterOutcome(c: Conn, s: Slot, now: number): void {
    const k = this.clients[s.index]!;
    const think = this.opts.profile.thinkTimeMs;
    if (think > 0 && this.pool.phase === "running") {
      const t = setTimeout(() => {
        this.thinkTimers.delete(t);
        k.wants++;
        this.serve(s, performance.now());
        s.conn?.flush();
      }, think);
      this.thinkTimers.add(t);
    } else {
      k.wants++;
      if (c.state !== CLOSED) this.serve(s, now);
    }
    this.retireIfDone(s);
  }

  /** Parked requests go out again on their slot's connection, when it still takes requests (else on its next one). */
  resend(now: number): void {
    for (const s of this.pool.slots) {
      const c = s.conn;
      if (s.parked.length === 0 || c === null || c.state !== OPEN || !c.accepting) continue;
      this.serve(s, now);
      c.flush();
    }
  }

  /** The requests the slot would have sent on the connection that never opened fail with it. */
  failConnectAttempt(s: Slot, now: number, fail: (req: Req) => void): void {
    if (!s.active) return;
    const k = this.clients[s.index]!;
    let n = k.wants;
    while (n-- > 0 && this.clientBudget(k, now) > 0) fail(this.newRequest(k, now));
    this.retireIfDone(s);
  }

  override parkedEnded(s: Slot): void {
    this.retireIfDone(s);
  }

  /**
   * Per-client budget: once a client has started its whole share and nothing
   * of it is in flight or parked, its connection closes (as h2load's client
   * does after its last response) and the slot is retired.
   */
  private retireIfDone(s: Slot): void {
    const k = this.clients[s.index]!;
    if (k.share === null || s.retired || !this.pool.measuring || k.started < k.share || s.parked.length > 0) return;
    const c = s.conn;
    if (c !== null && c.inflight > 0) return;
    s.retired = true;
    s.active = false;
    if (c !== null && c.state !== CLOSED) c.close("done");
  }
}
