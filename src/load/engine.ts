/**
 * The load engine: one event loop's share of a run. A connection pool
 * (pool.ts) owns the connections and turns every request into exactly one
 * recorded outcome; a scheduler decides when slots connect and when requests
 * go out: the closed loop (closed-loop.ts) or the arrival rate
 * (arrival-rate.ts). It emits `start`, `burst`, `tick` and `done` events,
 * and never prints.
 * @internal
 */
import { EventEmitter } from "node:events";
import { ArrivalRateScheduler } from "./arrival-rate.js";
import { ClosedLoopScheduler } from "./closed-loop.js";
import { ConnectionPool, type EngineOptions } from "./pool.js";
import type { RunData } from "./result.js";
import type { ConnectBurst, Scheduler } from "./scheduler.js";

export type { EngineOptions, TickInfo } from "./pool.js";
export { localCount, type ConnectBurst } from "./scheduler.js";
export { stageTarget } from "../spec/stages.js";

export class Engine extends EventEmitter {
  private readonly pool: ConnectionPool;
  private readonly scheduler: Scheduler;

  constructor(opts: EngineOptions) {
    super();
    this.pool = new ConnectionPool(opts, this);
    this.scheduler =
      opts.arrivalRate !== null ? new ArrivalRateScheduler(this.pool, opts, this, opts.arrivalRate) : new ClosedLoopScheduler(this.pool, opts, this);
  }

  /** The connect-rate schedule as carried out (also emitted as `burst` events). */
  get burstLog(): ConnectBurst[] {
    return this.scheduler.burstLog;
  }

  /** Starts the run; resolves with this engine's data when it has stopped by itself or by stop(). */
  run(): Promise<RunData> {
    return this.pool.run(this.scheduler);
  }

  /** Graceful stop: no new requests; in-flight ones finish (bounded by timeoutMs). */
  stop(): void {
    this.pool.stop();
  }
}
