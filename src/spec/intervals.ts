import type { Comparison, Condition } from "./condition.js";

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
