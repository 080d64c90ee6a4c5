/** k6-style stages, as both the driver and the predict model follow them. */

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
