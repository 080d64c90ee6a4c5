/**
 * What a load model decides over the connection pool: which slots are
 * switched on (k6-style stages and h2load's connect-rate bursts, the same for
 * both models), when a switched-on slot connects, and when requests go out.
 * The closed loop (closed-loop.ts) and the arrival rate (arrival-rate.ts)
 * differ only in the last two.
 * @internal
 */
import type { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import type { Conn, Req } from "./conn.js";
import type { EngineOptions, PoolScheduler, PoolView, Slot } from "./pool.js";
import { stageTarget } from "../spec/stages.js";
import { localCount } from "./processes.js";

export { localCount };

/** One burst of the connect-rate schedule, as the engine carried it out. */
export interface ConnectBurst {
  /** 0 for the burst at the start, then one per connectPeriodMs. */
  index: number;
  /** Since the start of the run. */
  atMs: number;
  /** Connections this burst switched on. */
  connections: number;
}

export abstract class Scheduler implements PoolScheduler {
  /**
   * True when a request belongs to its slot, so one refused unprocessed waits
   * for that slot's next connection; false when any connection may carry it.
   */
  abstract readonly slotBound: boolean;

  /** The connect-rate schedule as carried out (also emitted as `burst` events). */
  readonly burstLog: ConnectBurst[] = [];

  protected readonly pool: PoolView;
  protected readonly opts: EngineOptions;
  private readonly events: EventEmitter;
  /** Slots [0, activeCount) are switched on. */
  private activeCount = 0;
  private bursts = 0;
  private rateTimer: NodeJS.Timeout | null = null;

  constructor(pool: PoolView, opts: EngineOptions, events: EventEmitter) {
    this.pool = pool;
    this.opts = opts;
    this.events = events;
  }

  /** The run starts: the first burst and the first slots switch on. */
  start(now: number): void {
    if (this.opts.connectRate !== null) {
      // h2load: the rate callback runs at once ("so that we don't waste the first rate_period"), then every period.
      this.burst(now);
      if (this.activeCount < this.pool.slots.length) {
        this.rateTimer = setInterval(() => this.burst(performance.now()), this.opts.profile.connectPeriodMs);
      }
    }
    this.adjust(now);
  }

  /** New requests stop (drain, or the end): every timer of the schedule goes. */
  stop(): void {
    this.stopBursts();
  }

  private stopBursts(): void {
    if (this.rateTimer !== null) {
      clearInterval(this.rateTimer);
      this.rateTimer = null;
    }
  }

  /** Switches slots on or off so that as many hold a connection as the stages and the connect rate allow now. */
  adjust(now: number): void {
    const slots = this.pool.slots;
    let target = slots.length;
    const stages = this.opts.profile.stages;
    if (stages !== null) target = localCount(stageTarget(stages, now - this.pool.t0), this.opts.workerIndex, this.opts.workerCount);
    const rate = this.opts.connectRate;
    if (rate !== null) target = Math.min(target, this.bursts * rate);
    target = Math.min(target, slots.length);
    if (target === this.activeCount) return;
    if (target > this.activeCount) {
      for (let i = this.activeCount; i < target; i++) {
        const s = slots[i]!;
        s.active = true;
        this.serve(s, now);
      }
    } else {
      for (let i = target; i < this.activeCount; i++) {
        const s = slots[i]!;
        s.active = false;
        s.conn?.close("ramp-down");
      }
    }
    this.activeCount = target;
  }

  /** One tick of the connect-rate timer: up to `connectRate` more slots connect, back to back. */
  private burst(now: number): void {
    if (this.pool.phase !== "running" || this.pool.cutting) return;
    const before = this.activeCount;
    this.bursts++;
    this.adjust(now);
    const b: ConnectBurst = { index: this.bursts - 1, atMs: Math.round(now - this.pool.t0), connections: this.activeCount - before };
    this.burstLog.push(b);
    this.events.emit("burst", b);
    if (this.activeCount >= this.pool.slots.length) this.stopBursts();
  }

  /** Connects slot `s` or sends on its open connection, whatever is due now. */
  serve(s: Slot, now: number): void {
    if (s.dead || this.pool.phase === "done" || this.pool.cutting) return;
    this.pump(s, now);
  }

  /** `serve` for a slot that may still work. */
  protected abstract pump(s: Slot, now: number): void;

  /** A request on `c` (of slot `s`) ended with a response or an error. */
  abstract afterOutcome(c: Conn, s: Slot, now: number): void;

  /** Requests refused unprocessed are parked: send them again where they may go. */
  abstract resend(now: number): void;

  /** A connection attempt of `s` never opened: `fail` the requests it would have carried. */
  abstract failConnectAttempt(s: Slot, now: number, fail: (req: Req) => void): void;

  /** A connection attempt of `s` ended, opened or not (nothing by default: only a model that holds requests back for a connecting slot cares). */
  connectEnded(_s: Slot): void {}

  /** A request parked for `s` ended without going out again (nothing by default: only a model with per-slot shares cares). */
  parkedEnded(_s: Slot): void {}
}
