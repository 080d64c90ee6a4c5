import type { Interval } from "../spec/intervals.js";

/**
 * A regular expression (without anchors) matching the decimal integers of
 * one range, written without leading zeros and without braces, e.g.
 * 301..Infinity -> 30[1-9]|3[1-9][0-9]|[4-9][0-9][0-9]|[1-9][0-9][0-9][0-9]+
 */
export function rangeRegex(lo: number, hi: number): string {
  if (!Number.isInteger(lo) || lo < 0 || (hi !== Infinity && (!Number.isInteger(hi) || hi < lo))) {
    throw new Error(`bad range ${lo}..${hi}`);
  }
  const parts: string[] = [];
  const loDigits = String(lo).length;
  const hiDigits = hi === Infinity ? Infinity : String(hi).length;
  for (let d = loDigits; d <= Math.min(hiDigits, 16); d++) {
    const from = Math.max(lo, d === 1 ? 0 : 10 ** (d - 1));
    const to = Math.min(hi, 10 ** d - 1);
    if (hi === Infinity && d === loDigits + 1 && from === 10 ** (d - 1)) {
      // Every number of this many digits or more.
      parts.push(`[1-9]${"[0-9]".repeat(d - 2)}[0-9]+`);
      break;
    }
    parts.push(...sameLength(String(from), String(to)));
  }
  return parts.join("|");
}

/** Patterns matching every number from a to b, both with the same number of digits. */
function sameLength(a: string, b: string): string[] {
  if (a === b) return [a];
  if (a.length === 1) return [digitClass(a, b)];
  if (a[0] === b[0]) return sameLength(a.slice(1), b.slice(1)).map((p) => a[0] + p);
  const rest = a.length - 1;
  const out: string[] = [];
  const lowAllZero = /^0*$/.test(a.slice(1));
  const highAllNine = /^9*$/.test(b.slice(1));
  let firstFull = Number(a[0]);
  let lastFull = Number(b[0]);
  if (!lowAllZero) {
    out.push(...sameLength(a.slice(1), "9".repeat(rest)).map((p) => a[0] + p));
    firstFull++;
  }
  if (!highAllNine) lastFull--;
  if (firstFull <= lastFull) out.push(digitClass(String(firstFull), String(lastFull)) + "[0-9]".repeat(rest));
  if (!highAllNine) out.push(...sameLength("0".repeat(rest), b.slice(1)).map((p) => b[0] + p));
  return out;
}

function digitClass(a: string, b: string): string {
  return a === b ? a : `[${a}-${b}]`;
}

/**
 * The same set as several anchored regexes, each at most `max` characters
 * where one range allows it: nginx reads a token into a 4096-byte buffer, so
 * a long set goes on several map lines that choose the same value.
 */
export function intervalsRegexChunks(set: Interval[], max: number): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  const flush = () => {
    if (current.length > 0) chunks.push(`^(${current.join("|")})$`);
    current = [];
  };
  for (const i of set) {
    const part = rangeRegex(i.lo, i.hi);
    if (current.length > 0 && current.join("|").length + part.length + 5 > max) flush();
    current.push(part);
  }
  flush();
  return chunks;
}
