/**
 * When each connection starts and how many requests it sends: h2load's
 * splits (nghttp2 src/h2load.cc: -c, -n and --rate over threads, then -n over
 * a thread's clients in creation order, `nreqs_per_client` plus one for the
 * first `nreqs_rem`) and k6's ramping-vus staircase, as spillway's driver
 * carries them out (src/load/engine.ts).
 */
import type { PredictLoad } from "./types.js";
import { stageTarget } from "../spec/stages.js";

/** h2load's split of a count over k parts: n / k each, the first n % k one more. */
export function h2loadSplit(n: number, i: number, k: number): number {
  return Math.floor(n / k) + (i < n % k ? 1 : 0);
}

export interface ConnectionPlan {
  /** Worker thread holding the connection (connections are dealt round-robin). */
  worker: number;
  /** Index within its worker, in creation order. */
  local: number;
  /** Requests this connection sends in all (per-client budget); null: it draws from the pool. */
  share: number | null;
  /** When it starts, from the start of the run; null: the stages decide. */
  startMs: number | null;
}

/** One plan per connection, indexed by its global number. */
export function planConnections(load: PredictLoad): ConnectionPlan[] {
  const C = load.connections;
  const W = load.workers;
  const perClient = load.budget === "per-client" && load.requests !== null;
  const out: ConnectionPlan[] = [];
  for (let g = 0; g < C; g++) {
    const w = g % W;
    const local = Math.floor(g / W);
    const localCount = h2loadSplit(C, w, W);
    const share = perClient ? h2loadSplit(h2loadSplit(load.requests!, w, W), local, localCount) : null;
    let startMs: number | null = 0;
    const a = load.arrivals;
    if (a.kind === "rate") {
      // Each worker opens its share of every burst from its own clients, in creation order.
      const rate = h2loadSplit(a.perPeriod, w, W);
      startMs = Math.floor(local / rate) * a.periodMs;
    } else if (a.kind === "stages") {
      startMs = null;
    }
    out.push({ worker: w, local, share, startMs });
  }
  return out;
}

/** The driver's housekeeping tick: stages move, and idle connections are swept, on it. */
export const DRIVER_TICK_MS = 50;
/** The driver looks for idle connections every other tick. */
export const DRIVER_SWEEP_MS = 100;

/** Ticks at which the stage target changes, with the new target; the run's end is where the stages end. */
export function stageSteps(stages: readonly { durationMs: number; target: number }[]): { atMs: number; target: number }[] {
  const total = stages.reduce((a, s) => a + s.durationMs, 0);
  const out: { atMs: number; target: number }[] = [];
  let last = 0;
  for (let t = 0; t <= total; t += DRIVER_TICK_MS) {
    const target = stageTarget(stages, t);
    if (target !== last || t === 0) out.push({ atMs: t, target });
    last = target;
  }
  return out;
}
