/**
 * Log-linear latency histogram in integer microseconds (HDR-style: 256 linear
 * buckets below 256 µs, then 128 sub-buckets per power of two, so every value
 * is kept within 0.8 %). Recording is a couple of integer operations, cheaper
 * than hdr-histogram-js's per-call overhead in the driver's hot loop, and the
 * serialised form merges by plain addition.
 * @internal
 */

const BUCKETS = 3328; // 25 * 128 + 128
const MAX_VALUE = 4294967295; // ~71 minutes in µs

export interface HistogramData {
  /** Sparse [index, count, index, count, ...]. */
  counts: number[];
  total: number;
  min: number;
  max: number;
  sum: number;
}

function indexOf(v: number): number {
  if (v < 256) return v;
  const e = 31 - Math.clz32(v);
  const shift = e - 7;
  return shift * 128 + (v >>> shift);
}

function highestOf(idx: number): number {
  if (idx < 256) return idx;
  const shift = (idx >> 7) - 1;
  const sub = idx - shift * 128;
  return (sub + 1) * 2 ** shift - 1;
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  total = 0;
  min = Infinity;
  max = 0;
  sum = 0;

  record(valueUs: number): void {
    let v = valueUs < 0 ? 0 : valueUs > MAX_VALUE ? MAX_VALUE : Math.round(valueUs);
    if (v !== v) v = 0;
    this.counts[indexOf(v)]!++;
    this.total++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** Value (µs) at or below which `p` percent of recorded values fall. */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    const target = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= target) return Math.min(this.max, Math.max(this.min, highestOf(i)));
    }
    return this.max;
  }

  add(data: HistogramData): void {
    const c = data.counts;
    for (let i = 0; i + 1 < c.length; i += 2) this.counts[c[i]!]! += c[i + 1]!;
    this.total += data.total;
    this.sum += data.sum;
    if (data.total > 0) {
      if (data.min < this.min) this.min = data.min;
      if (data.max > this.max) this.max = data.max;
    }
  }

  toData(): HistogramData {
    const counts: number[] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const n = this.counts[i]!;
      if (n !== 0) counts.push(i, n);
    }
    return { counts, total: this.total, min: this.total > 0 ? this.min : 0, max: this.max, sum: this.sum };
  }

  static from(data: HistogramData): Histogram {
    const h = new Histogram();
    h.add(data);
    return h;
  }
}

/** Pure merge of serialised histograms. */
export function mergeHistogramData(parts: readonly HistogramData[]): HistogramData {
  const h = new Histogram();
  for (const p of parts) h.add(p);
  return h.toData();
}
