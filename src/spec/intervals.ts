import { toDnf, type Comparison, type Condition } from "./condition.js";

/** A closed range of non-negative integers; `hi` may be Infinity. */
export interface Interval {
  lo: number;
  hi: number;
}

const ALL: Interval[] = [{ lo: 0, hi: Infinity }];

export function comparisonInterval(op: Comparison["op"], value: number): Interval[] {
  switch (op) {
    case ">":
      return [{ lo: value + 1, hi: Infinity }];
    case ">=":
      return [{ lo: value, hi: Infinity }];
    case "<":
      return value === 0 ? [] : [{ lo: 0, hi: value - 1 }];
    case "<=":
      return [{ lo: 0, hi: value }];
    case "==":
      return [{ lo: value, hi: value }];
  }
}

export function normalize(list: Interval[]): Interval[] {
  const sorted = list.filter((i) => i.lo <= i.hi).sort((a, b) => a.lo - b.lo);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.lo <= last.hi + 1) last.hi = Math.max(last.hi, i.hi);
    else out.push({ ...i });
  }
  return out;
}

export function intersect(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const x of a) for (const y of b) out.push({ lo: Math.max(x.lo, y.lo), hi: Math.min(x.hi, y.hi) });
  return normalize(out);
}

export function complement(a: Interval[]): Interval[] {
  const out: Interval[] = [];
  let next = 0;
  for (const i of normalize(a)) {
    if (i.lo > next) out.push({ lo: next, hi: i.lo - 1 });
    next = i.hi + 1;
  }
  if (next !== Infinity) out.push({ lo: next, hi: Infinity });
  return out;
}

/**
 * The set of fe_conn values for which a condition holds, or null when the
 * condition also depends on another metric.
 */
export function feConnSet(c: Condition): Interval[] | null {
  switch (c.kind) {
    case "cmp":
      return c.metric.kind === "fe_conn" ? comparisonInterval(c.op, c.value) : null;
    case "not": {
      const inner = feConnSet(c.operand);
      return inner && complement(inner);
    }
    case "and":
    case "or": {
      let acc: Interval[] = c.kind === "and" ? ALL : [];
      for (const o of c.operands) {
        const part = feConnSet(o);
        if (!part) return null;
        acc = c.kind === "and" ? intersect(acc, part) : normalize([...acc, ...part]);
      }
      return acc;
    }
  }
}

export function intervalsText(list: Interval[]): string {
  if (list.length === 0) return "never";
  return list.map((i) => (i.hi === Infinity ? `>= ${i.lo}` : i.lo === i.hi ? `${i.lo}` : `${i.lo}..${i.hi}`)).join(", ");
}

function metricKey(c: Comparison): string {
  return c.metric.kind === "fe_conn" ? "fe_conn" : `${c.metric.kind}(${c.metric.backend})`;
}

/**
 * The condition as alternatives (disjunctive normal form) in which each
 * metric appears at most twice: comparisons on one metric within an
 * alternative are merged into one range (written as >= and <=, or ==), and
 * an alternative whose ranges are empty is dropped. A single comparison on a
 * metric is kept as written. An empty list means the condition never holds.
 */
export function simplifiedAlternatives(c: Condition, limit?: number): Comparison[][] {
  const out: Comparison[][] = [];
  for (const alt of toDnf(c, limit)) {
    const byMetric = new Map<string, Comparison[]>();
    for (const cmp of alt) {
      const key = metricKey(cmp);
      const list = byMetric.get(key) ?? [];
      if (!list.some((x) => x.op === cmp.op && x.value === cmp.value)) list.push(cmp);
      byMetric.set(key, list);
    }
    const merged: Comparison[] = [];
    let empty = false;
    for (const list of byMetric.values()) {
      if (list.length === 1) {
        const only = list[0]!;
        if (comparisonInterval(only.op, only.value).length === 0) empty = true;
        merged.push(only);
        continue;
      }
      let range: Interval[] = ALL;
      for (const cmp of list) range = intersect(range, comparisonInterval(cmp.op, cmp.value));
      const r = range[0];
      if (!r) {
        empty = true;
        break;
      }
      const metric = list[0]!.metric;
      if (r.lo === r.hi) merged.push({ kind: "cmp", metric, op: "==", value: r.lo });
      else {
        if (r.lo > 0) merged.push({ kind: "cmp", metric, op: ">=", value: r.lo });
        if (r.hi !== Infinity) merged.push({ kind: "cmp", metric, op: "<=", value: r.hi });
      }
    }
    if (!empty) out.push(merged);
  }
  return out;
}
