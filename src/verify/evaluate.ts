import type { LoadResult } from "../load/index.js";
import type { Expectations, Threshold, ThresholdOp } from "../spec/model.js";

/** What a `value` and a `threshold` are counted in: a share of every request sent, milliseconds, or requests (connections for max_connections_seen). */
export type ExpectationUnit = "%" | "ms" | "count";

export interface ExpectationResult {
  /** e.g. `backends.pbcoffee`, `errors`, `latency.p99`. */
  name: string;
  /** The expectation as the spec wrote it, e.g. `>= 90%`. */
  expected: string;
  /** What was measured, for people, e.g. `26.8% (6464 of 24148)`. */
  actual: string;
  passed: boolean;
  op: ThresholdOp;
  /** The spec's number, in `unit`. */
  threshold: number;
  /** What was measured, in `unit`, unrounded; null when nothing could be (a proxy that does not stamp its connection count). */
  value: number | null;
  unit: ExpectationUnit;
}

const UNIT: Record<Threshold["unit"], ExpectationUnit> = { percent: "%", ms: "ms", count: "count" };

/** The numbers of a result: the threshold as the spec gave it and the value in the same unit. */
function numbers(t: Threshold, value: number | null): Pick<ExpectationResult, "op" | "threshold" | "value" | "unit"> {
  return { op: t.op, threshold: t.value, value, unit: UNIT[t.unit] };
}

export function compare(op: Threshold["op"], actual: number, expected: number): boolean {
  switch (op) {
    case ">=":
      return actual >= expected;
    case ">":
      return actual > expected;
    case "<=":
      return actual <= expected;
    case "<":
      return actual < expected;
    case "==":
      // Shares are compared to a tenth of a percent; counts and durations exactly.
      return Math.abs(actual - expected) < 1e-9;
  }
}

function pct(part: number, whole: number): number {
  return whole === 0 ? 0 : (part / whole) * 100;
}

export function formatPercent(p: number): string {
  return `${p.toFixed(p === 0 || p === 100 ? 0 : 1)}%`;
}

/** A count or share against a threshold; shares are of every request sent. */
function countCheck(name: string, t: Threshold, count: number, total: number): ExpectationResult {
  const share = pct(count, total);
  if (t.unit === "percent") {
    const rounded = Math.round(share * 10) / 10;
    return { name, expected: t.text, actual: `${formatPercent(share)} (${count} of ${total})`, passed: compare(t.op, t.op === "==" ? rounded : share, t.value), ...numbers(t, share) };
  }
  return { name, expected: t.text, actual: `${count} (${formatPercent(share)} of ${total})`, passed: compare(t.op, count, t.value), ...numbers(t, count) };
}

/** Checks a scenario's expectations against one run's result. Pure. */
export function evaluateExpectations(expect: Expectations, result: LoadResult): ExpectationResult[] {
  const total = result.requests.sent;
  const out: ExpectationResult[] = [];
  for (const [backend, t] of Object.entries(expect.backends)) {
    out.push(countCheck(`backends.${backend}`, t, result.backends[backend]?.count ?? 0, total));
  }
  if (expect.errors) out.push(countCheck("errors", expect.errors, result.requests.failed, total));
  if (expect.unattributed) out.push(countCheck("unattributed", expect.unattributed, result.unattributed.total, total));
  for (const [key, t] of Object.entries(expect.latency)) {
    const value = result.latency[key as "p50" | "p90" | "p99" | "max"];
    out.push({ name: `latency.${key}`, expected: t.text, actual: `${value.toFixed(1)}ms`, passed: result.requests.completed > 0 && compare(t.op, value, t.value), ...numbers(t, result.requests.completed > 0 ? value : null) });
  }
  if (expect.maxConnectionsSeen) {
    const seen = result.maxProxyConnsSeen;
    out.push({
      name: "max_connections_seen",
      expected: expect.maxConnectionsSeen.text,
      actual: seen === null ? "not stamped by the proxy" : String(seen),
      passed: seen !== null && compare(expect.maxConnectionsSeen.op, seen, expect.maxConnectionsSeen.value),
      ...numbers(expect.maxConnectionsSeen, seen),
    });
  }
  return out;
}
