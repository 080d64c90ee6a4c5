/**
 * The knee of a ramp on synthetic curves whose knees are known: a clean
 * bend, the same bend under seeded noise with stray windows, a straight
 * line, a flat load, a flat throughput, a ramp that comes back down, and an
 * arrival-rate ramp.
 */
import { describe, expect, it } from "vitest";
import { despike, findKnee, KNEE, rampWindows, runningMedian, type RampWindow } from "../src/explore/knee.js";
import type { MeasuredCell } from "../src/explore/types.js";

/** mulberry32: a seeded PRNG, so a noisy curve is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Shape {
  rps(load: number): number;
  p99(load: number): number | null;
  errorRate(load: number): number;
}

/** One-second windows at these loads; `noise` is the largest relative error on responses and p99. */
function windows(loads: readonly number[], shape: Shape, noise = 0, seed = 1): RampWindow[] {
  const rand = prng(seed);
  const jitter = () => 1 + noise * (2 * rand() - 1);
  return loads.map((load) => {
    const responses = Math.round(shape.rps(load) * jitter());
    const e = shape.errorRate(load);
    const p99 = shape.p99(load);
    return { load, ms: 1000, responses, errors: Math.round((responses * e) / (1 - e)), p99_ms: p99 === null ? null : p99 * jitter() };
  });
}

const range = (from: number, to: number, step: number): number[] => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

/** Capacity 10,000 req/s reached at 200 connections (50 req/s each); p99 2 ms, then +0.5 ms per connection past 200; 5% errors past 250. */
const SATURATING: Shape = {
  rps: (c) => Math.min(50 * c, 10_000),
  p99: (c) => (c <= 200 ? 2 : 2 + (c - 200) * 0.5),
  errorRate: (c) => (c > 250 ? 0.05 : 0),
};
/** 10 to 300 connections in steps of 10, then 5 windows held at 300: k6's ramping-vus. */
const RAMP = [...range(10, 300, 10), 300, 300, 300, 300, 300];

describe("findKnee", () => {
  it("finds a clean knee where it is: plateau at 200, p99 past max(2 x 2 ms, 2 ms + 5 ms) from 220, errors from 260", () => {
    const k = findKnee("connections", windows(RAMP, SATURATING));
    expect(k.throughput_plateau_at).toBe(200);
    expect(k.latency_turn_at).toBe(220);
    expect(k.errors_start_at).toBe(260);
    expect(k.load).toBe("connections");
    expect(k.curve).toHaveLength(RAMP.length);
    expect(k.curve[0]).toEqual({ load: 10, rps: 500, p99_ms: 2, error_rate: 0 });
    expect(k.curve[30]!.error_rate).toBeCloseTo(0.05, 3);
  });

  it("finds the same knee within three load steps under ±10% noise, whatever the seed, centred on it, and ignores one stray window", () => {
    const plateaus: number[] = [];
    for (let seed = 1; seed <= 25; seed++) {
      const w = windows(RAMP, SATURATING, 0.1, seed);
      // A GC pause at 100 connections, a burst of resets at 120, and a stall at 280: one window each.
      w[9] = { ...w[9]!, p99_ms: 60 };
      w[11] = { ...w[11]!, errors: Math.round(w[11]!.responses * 0.4) };
      w[27] = { ...w[27]!, responses: 0 };
      const k = findKnee("connections", w);
      expect(k.throughput_plateau_at, `seed ${seed}`).toBeGreaterThanOrEqual(170);
      expect(k.throughput_plateau_at, `seed ${seed}`).toBeLessThanOrEqual(230);
      expect(k.latency_turn_at, `seed ${seed}`).toBeGreaterThanOrEqual(210);
      expect(k.latency_turn_at, `seed ${seed}`).toBeLessThanOrEqual(240);
      expect(k.errors_start_at, `seed ${seed}`).toBe(260);
      plateaus.push(k.throughput_plateau_at!);
    }
    plateaus.sort((a, b) => a - b);
    expect(plateaus[12]).toBe(200);
  });

  it("keeps a sustained turn through one window that dips back: p99 and errors are judged on running medians", () => {
    const w = windows(RAMP, SATURATING);
    // Windows 23 and 28 (240 and 290 connections) dip back to the low-load level, one window each.
    w[23] = { ...w[23]!, p99_ms: 2 };
    w[28] = { ...w[28]!, errors: 0 };
    const k = findKnee("connections", w);
    expect(k.latency_turn_at).toBe(220);
    expect(k.errors_start_at).toBe(260);
  });

  it("finds no knee on a straight line with noise", () => {
    const line: Shape = { rps: (c) => 50 * c, p99: () => 2, errorRate: () => 0 };
    for (let seed = 1; seed <= 25; seed++) {
      const k = findKnee("connections", windows(RAMP, line, 0.1, seed));
      expect(k, `seed ${seed}`).toMatchObject({ throughput_plateau_at: null, latency_turn_at: null, errors_start_at: null });
    }
  });

  it("judges nothing when the load does not ramp: all null, the curve still drawn", () => {
    const k = findKnee("connections", windows(Array(20).fill(300), SATURATING, 0.1));
    expect(k).toMatchObject({ throughput_plateau_at: null, latency_turn_at: null, errors_start_at: null });
    expect(k.curve).toHaveLength(20);
  });

  it("judges nothing on fewer windows than a ramp needs", () => {
    const k = findKnee("connections", windows([50, 100, 150, 200, 250].slice(0, KNEE.minWindows - 1), SATURATING));
    expect(k.throughput_plateau_at).toBeNull();
  });

  it("puts the plateau at the lowest load when throughput never rose over the ramp", () => {
    const flat: Shape = { rps: () => 5000, p99: () => 3, errorRate: () => 0 };
    for (let seed = 1; seed <= 10; seed++) {
      expect(findKnee("connections", windows(RAMP, flat, 0.05, seed)).throughput_plateau_at, `seed ${seed}`).toBe(10);
    }
  });

  it("leaves the ramp-down out: errors only while the load comes down are not a knee", () => {
    const down = range(10, 290, 10).reverse();
    const up = windows(RAMP, { ...SATURATING, errorRate: () => 0 });
    const after = windows(down, { rps: (c) => Math.min(40 * c, 8000), p99: () => 40, errorRate: () => 0.2 });
    const k = findKnee("connections", [...up, ...after]);
    expect(k.throughput_plateau_at).toBe(200);
    expect(k.errors_start_at).toBeNull();
    expect(k.curve).toHaveLength(up.length + after.length);
  });

  it("skips windows before the first connection opens", () => {
    const idle: RampWindow = { load: 0, ms: 1000, responses: 0, errors: 0, p99_ms: null };
    expect(findKnee("connections", [idle, idle, ...windows(RAMP, SATURATING)]).throughput_plateau_at).toBe(200);
  });

  it("finds the plateau of an arrival-rate ramp at the service's capacity", () => {
    const open: Shape = { rps: (r) => Math.min(r, 8000), p99: (r) => (r <= 8000 ? 1 : 200), errorRate: () => 0 };
    const k = findKnee("arrival_rate", windows(range(1000, 12_000, 500), open));
    expect(k.throughput_plateau_at).toBe(8000);
    expect(k.latency_turn_at).toBe(8500);
    expect(k.load).toBe("arrival_rate");
  });

  it("places a smooth saturation's bend where growth has mostly stopped, not at either end", () => {
    // 10,000 * c / (c + 100): elasticity 100 / (c + 100), a quarter at c = 300.
    const smooth: Shape = { rps: (c) => (10_000 * c) / (c + 100), p99: () => 2, errorRate: () => 0 };
    const k = findKnee("connections", windows(range(10, 600, 10), smooth));
    expect(k.throughput_plateau_at).toBeGreaterThanOrEqual(100);
    expect(k.throughput_plateau_at).toBeLessThanOrEqual(400);
  });

  it("leaves the latency turn null without per-window p99", () => {
    const k = findKnee("connections", windows(RAMP, { ...SATURATING, p99: () => null }));
    expect(k.latency_turn_at).toBeNull();
    expect(k.throughput_plateau_at).toBe(200);
  });
});

describe("runningMedian", () => {
  it("removes one stray value and keeps a step", () => {
    expect(runningMedian([1, 1, 9, 1, 1])).toEqual([1, 1, 1, 1, 1]);
    expect(runningMedian([1, 1, 1, 5, 5, 5])).toEqual([1, 1, 1, 5, 5, 5]);
    expect(runningMedian([2, 4, 9, 16])).toEqual([2, 4, 9, 16]);
    expect(runningMedian([1, 2, 3, 4, 5, 6], 5)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe("despike", () => {
  it("replaces a lone stall or burst by its neighbours' median and keeps noise and steps", () => {
    expect(despike([100, 102, 98, 0, 101, 99, 100])).toEqual([100, 102, 98, 99, 101, 99, 100]);
    expect(despike([100, 102, 98, 400, 101, 99, 100])).toEqual([100, 102, 98, 101, 101, 99, 100]);
    expect(despike([100, 110, 90, 105, 95, 100])).toEqual([100, 110, 90, 105, 95, 100]);
    expect(despike([10, 20, 30, 40, 50, 60, 70])).toEqual([10, 20, 30, 40, 50, 60, 70]);
  });
});

describe("rampWindows", () => {
  it("reads a measured run's timeline: served responses, errors, connections open, and the last window's own length", () => {
    const cell: MeasuredCell = {
      backends: {},
      routed: {},
      sent: 0,
      succeeded: 0,
      failed: {},
      latency_ms: { p50: null, p99: null },
      rps: 0,
      max_proxy_conns_seen: null,
      flips: [],
      timeline: [
        { t_ms: 0, by_backend: { ade: 300, pbcoffee: 100 }, errors: 4, open_connections: 20, max_proxy_conns: 20, p99_ms: 3 },
        { t_ms: 1000, by_backend: { ade: 120 }, errors: 0, open_connections: 40, max_proxy_conns: null },
      ],
      window_ms: 1000,
      duration_ms: 1250,
    };
    expect(rampWindows(cell)).toEqual([
      { load: 20, ms: 1000, responses: 400, errors: 4, p99_ms: 3 },
      { load: 40, ms: 250, responses: 120, errors: 0, p99_ms: null },
    ]);
    expect(rampWindows(cell, (w) => w.t_ms / 10)[1]!.load).toBe(100);
    expect(findKnee("connections", rampWindows(cell)).curve[1]!.rps).toBe(480);
  });
});
