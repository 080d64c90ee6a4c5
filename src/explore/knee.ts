/**
 * The knee of a ramp: from a run whose load rises window by window, the
 * load at which throughput stops rising, at which p99 latency turns up, and
 * at which errors start. Pure, and built for a noisy machine: throughput is
 * judged by one fit over all windows at once (after lone spikes are taken
 * out), p99 and the error rate by running medians that must stay past their
 * threshold for several windows before they count.
 */
import type { Knee, MeasuredCell } from "./types.js";

export interface RampWindow {
  /** The ramped load during the window: connections open, or the arrival rate asked for. */
  load: number;
  /** Length of the window (the last one of a run may be shorter). */
  ms: number;
  /** Responses served by a backend in the window. */
  responses: number;
  errors: number;
  p99_ms: number | null;
}

/** The thresholds; each is explained where it is used. */
export const KNEE = {
  /** Windows in each running median of p99 and error rate: one stray window (a GC pause, a neighbour's burst) cannot move it. */
  smoothWindows: 3,
  /** A window's req/s is a spike, and replaced by its neighbours' median, when it is this many robust deviations (MAD) off that median. */
  spikeDeviations: 3,
  /** Throughput has stopped rising once, past the bend, it grows by less than this fraction of its growth per unit of load before it. */
  plateauSlopeFraction: 0.25,
  /**
   * The bend must remove at least this share of what one straight line
   * leaves unexplained. With these thresholds, on 300 synthetic ramps of 10
   * to 300 connections (the shapes of test/explore-knee.test.ts) with
   * uniform noise on each window's req/s: at ±10%, a bend at 200 was found
   * 300 times (286 within 20 connections of 200) and a straight line called
   * a plateau 0 times; at ±20%, 285 and 10 times.
   */
  bendExplains: 0.35,
  /** Load must grow at least this much past a plateau for it to be seen: the last levels of a noisy ramp bend by chance. */
  minPlateauSpan: 0.2,
  /** Distinct load levels on each side of a bend, so that neither slope rests on one or two. */
  minSide: 3,
  /** p99 has turned up once it is this many times its low-load level... */
  latencyFactor: 2,
  /** ...and at least this much above it: on loopback a 0.4 ms p99 doubles on any scheduler hiccup. */
  latencyMinRiseMs: 5,
  /** Errors have started once more than this share of a window's requests fail... */
  errorRate: 0.01,
  /** ...for this many windows in a row (latency too): a single bad window is noise, not a knee. */
  sustainWindows: 3,
  /** Fewer ramp windows than this, or a load that grows by less than minLoadGrowth times, is not a ramp. */
  minWindows: 6,
  minLoadGrowth: 1.2,
  /** The ramp runs through the last window at this share of the peak load or more (connection counts jitter at a hold); later windows are the ramp down. */
  peakFraction: 0.98,
} as const;

/** One window per timeline window of a measured run; the load is connections open unless `loadOf` says otherwise. */
export function rampWindows(cell: MeasuredCell, loadOf?: (w: MeasuredCell["timeline"][number]) => number): RampWindow[] {
  return cell.timeline.map((w) => {
    const left = cell.duration_ms - w.t_ms;
    return {
      load: loadOf ? loadOf(w) : w.open_connections,
      ms: left > 0 && left < cell.window_ms ? left : cell.window_ms,
      responses: Object.values(w.by_backend).reduce((a, n) => a + n, 0),
      errors: w.errors,
      p99_ms: w.p99_ms ?? null,
    };
  });
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Running median, centred; the window narrows at the ends to stay centred, so a straight line comes out unchanged. */
export function runningMedian(values: readonly number[], width: number = KNEE.smoothWindows): number[] {
  return values.map((_, i) => {
    const half = Math.min(Math.floor(width / 2), i, values.length - 1 - i);
    return median(values.slice(i - half, i + half + 1));
  });
}

/** The windows of the ramp itself: from the first with load through the last at (about) the peak; what follows is the ramp down. */
function rampIndices(windows: readonly RampWindow[]): number[] {
  const peak = windows.reduce((m, w) => Math.max(m, w.load), 0);
  let end = -1;
  windows.forEach((w, i) => {
    if (w.load >= KNEE.peakFraction * peak) end = i;
  });
  const out: number[] = [];
  // A window with nothing open says nothing about a load level.
  for (let i = 0; i <= end; i++) if (windows[i]!.load > 0) out.push(i);
  return out;
}

/** Least squares y = a + b1*min(x, L) + b2*max(x - L, 0): a line that may bend at L. */
function hingeFit(xs: readonly number[], ys: readonly number[], L: number): { b1: number; b2: number; se2: number; sse: number } | null {
  const rows = xs.map((x) => [1, Math.min(x, L), Math.max(x - L, 0)] as const);
  const m = [0, 1, 2].map((r) => [0, 1, 2].map((c) => rows.reduce((s, row) => s + row[r]! * row[c]!, 0)));
  const v = [0, 1, 2].map((r) => rows.reduce((s, row, i) => s + row[r]! * ys[i]!, 0));
  const coef = solve3(m, v);
  // The variance of b2 is sigma^2 times the [2][2] entry of the inverse of m: m times that column is the unit vector.
  const inv = solve3(m, [0, 0, 1]);
  if (coef === null || inv === null) return null;
  const sse = rows.reduce((s, row, i) => s + (coef[0]! + coef[1]! * row[1] + coef[2]! * row[2] - ys[i]!) ** 2, 0);
  const se2 = xs.length > 3 ? Math.sqrt(Math.max(0, (sse / (xs.length - 3)) * inv[2]!)) : Infinity;
  return { b1: coef[1]!, b2: coef[2]!, se2, sse };
}

function lineFit(xs: readonly number[], ys: readonly number[]): { b: number; sse: number } {
  const n = xs.length;
  const mx = xs.reduce((a, x) => a + x, 0) / n;
  const my = ys.reduce((a, y) => a + y, 0) / n;
  const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  const b = sxx > 0 ? xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / sxx : 0;
  const sse = xs.reduce((a, x, i) => a + (my + b * (x - mx) - ys[i]!) ** 2, 0);
  return { b, sse };
}

/** Gaussian elimination with partial pivoting; null when the system is singular (the bend is not identifiable). */
function solve3(m: number[][], v: number[]): number[] | null {
  const a = m.map((row, i) => [...row, v[i]!]);
  const scale = Math.max(...a.flat().map(Math.abs), 1);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    if (Math.abs(a[p]![c]!) < 1e-12 * scale) return null;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < 4; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return [0, 1, 2].map((i) => a[i]![3]! / a[i]![i]!);
}

/**
 * A Hampel filter: a value more than spikeDeviations robust deviations from
 * the median of itself and its two neighbours on each side becomes that
 * median. A stalled window (0 req/s) would otherwise pull a least-squares
 * fit; values that are merely noisy are kept, since the fit averages them
 * better than any smoothing (on synthetic ramps, smoothing first moved the
 * bend further from where it was).
 */
export function despike(values: readonly number[]): number[] {
  const med = runningMedian(values, 5);
  const dev = values.map((v, i) => Math.abs(v - med[i]!));
  const scale = 1.4826 * median(dev);
  return values.map((v, i) => (dev[i]! > KNEE.spikeDeviations * scale ? med[i]! : v));
}

interface Bend {
  L: number;
  b1: number;
  b2: number;
  se2: number;
  sse: number;
}

/**
 * Where throughput stops rising. Each observed load level L, with at least
 * minSide levels on both sides and the load growing at least minPlateauSpan
 * past it, is tried as the bend of a line that bends once:
 * req/s = a + b1*min(load, L) + b2*max(load - L, 0), fitted by least squares
 * over every window. The best-fitting L is the plateau when throughput rose
 * before it (b1 > 0), the bend explains at least bendExplains of what one
 * straight line leaves unexplained (else it is a line with noise), and the
 * growth past it, b2, is not measurably more than plateauSlopeFraction of
 * b1 (b2 - 2 standard errors < f * b1). In a closed model req/s grows as
 * connections / (service + think time) until something saturates, when its
 * growth falls to 0: a quarter of the growth before marks a bend that noise
 * of ±20% per window neither hides nor fakes. A fit over all windows at once
 * is what makes this hold on a noisy machine, where comparing neighbouring
 * windows would flap. A ramp whose throughput never rose at all, its
 * straight line's elasticity at the centroid below the same fraction, has
 * its plateau at its lowest load.
 */
function plateau(xs: readonly number[], ys: readonly number[]): number | null {
  const levels = [...new Set(xs)].sort((a, b) => a - b);
  const maxX = levels[levels.length - 1]!;
  let best: Bend | null = null;
  levels.forEach((L, i) => {
    if (i + 1 < KNEE.minSide || levels.length - i - 1 < KNEE.minSide || maxX < L * (1 + KNEE.minPlateauSpan)) return;
    const fit = hingeFit(xs, ys, L);
    if (fit && (best === null || fit.sse < best.sse)) best = { L, ...fit };
  });
  const line = lineFit(xs, ys);
  const b = best as Bend | null;
  if (b !== null && b.b1 > 0 && line.sse > 0 && b.sse <= (1 - KNEE.bendExplains) * line.sse && b.b2 - 2 * b.se2 < KNEE.plateauSlopeFraction * b.b1) return b.L;
  const mx = xs.reduce((a, x) => a + x, 0) / xs.length;
  const my = ys.reduce((a, y) => a + y, 0) / ys.length;
  if (my > 0 && line.b * mx < KNEE.plateauSlopeFraction * my) return levels[0]!;
  return null;
}

/** The first index from which `above` holds for sustainWindows values in a row. */
function firstSustained(values: readonly number[], above: (v: number) => boolean): number | null {
  let run = 0;
  for (let i = 0; i < values.length; i++) {
    run = above(values[i]!) ? run + 1 : 0;
    if (run === KNEE.sustainWindows) return i - KNEE.sustainWindows + 1;
  }
  return null;
}

/**
 * The first load at which p99 stays above both latencyFactor times its
 * low-load level and that level plus latencyMinRiseMs. The low-load level is
 * the median p99 over the ramp's lowest quarter of load (or its first
 * windows, when that quarter holds fewer than two).
 */
function latencyTurn(ramp: readonly RampWindow[], minLoad: number, maxLoad: number): number | null {
  const measured = ramp.filter((w) => w.p99_ms !== null);
  if (measured.length < KNEE.minWindows) return null;
  const p99 = runningMedian(measured.map((w) => w.p99_ms!));
  const lowLoad = minLoad + 0.25 * (maxLoad - minLoad);
  const low = p99.filter((_, i) => measured[i]!.load <= lowLoad);
  const base = median(low.length >= 2 ? low : p99.slice(0, KNEE.sustainWindows));
  const threshold = Math.max(KNEE.latencyFactor * base, base + KNEE.latencyMinRiseMs);
  const i = firstSustained(p99, (v) => v > threshold);
  return i === null ? null : measured[i]!.load;
}

function errorsStart(ramp: readonly RampWindow[]): number | null {
  const rate = runningMedian(ramp.map((w) => (w.responses + w.errors > 0 ? w.errors / (w.responses + w.errors) : 0)));
  const i = firstSustained(rate, (v) => v > KNEE.errorRate);
  return i === null ? null : ramp[i]!.load;
}

/**
 * The knee of one ramp. `curve` has every window as measured (the page draws
 * it); the three loads are judged on the ramp's rising part only, and each is
 * null when the ramp shows none (or is no ramp: too few windows, or a load
 * that hardly grows).
 */
export function findKnee(load: Knee["load"], windows: readonly RampWindow[]): Knee {
  const curve = windows.map((w) => ({
    load: w.load,
    rps: w.ms > 0 ? (w.responses * 1000) / w.ms : 0,
    p99_ms: w.p99_ms,
    error_rate: w.responses + w.errors > 0 ? w.errors / (w.responses + w.errors) : 0,
  }));
  const none: Knee = { load, throughput_plateau_at: null, latency_turn_at: null, errors_start_at: null, curve };
  const idx = rampIndices(windows);
  const ramp = idx.map((i) => windows[i]!);
  if (ramp.length < KNEE.minWindows) return none;
  const loads = ramp.map((w) => w.load);
  const minLoad = Math.min(...loads);
  const maxLoad = Math.max(...loads);
  if (maxLoad < KNEE.minLoadGrowth * minLoad) return none;
  const rps = despike(idx.map((i) => curve[i]!.rps));
  return {
    ...none,
    throughput_plateau_at: plateau(loads, rps),
    latency_turn_at: latencyTurn(ramp, minLoad, maxLoad),
    errors_start_at: errorsStart(ramp),
  };
}
