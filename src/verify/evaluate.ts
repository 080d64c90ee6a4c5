import type { LoadResult } from "../load/index.js";
import type { Expectations, Threshold } from "../spec/model.js";

export interface ExpectationResult {
  /** e.g. `backends.pbcoffee`, `errors`, `latency.p99`. */
  name: string;
  expected: string;
  actual: string;
  passed: boolean;
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
    return { name, expected: t.text, actual: `${formatPercent(share)} (${count} of ${total})`, passed: compare(t.op, t.op === "==" ? rounded : share, t.value) };
  }
  return { name, expected: t.text, actual: `${count} (${formatPercent(share)} of ${total})`, passed: compare(t.op, count, t.value) };
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
    out.push({ name: `latency.${key}`, expected: t.text, actual: `${value.toFixed(1)}ms`, passed: result.requests.completed > 0 && compare(t.op, value, t.value) });
  }
  if (expect.maxConnectionsSeen) {
    const seen = result.maxProxyConnsSeen;
    out.push({
      name: "max_connections_seen",
      expected: expect.maxConnectionsSeen.text,
      actual: seen === null ? "not stamped by the proxy" : String(seen),
      passed: seen !== null && compare(expect.maxConnectionsSeen.op, seen, expect.maxConnectionsSeen.value),
    });
  }
  return out;
}
