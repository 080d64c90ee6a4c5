/**
 * A binary min-heap of simulation events, ordered by time, then priority,
 * then insertion: events at the same instant run in a fixed order, so the
 * simulation is deterministic.
 * @internal
 */

export interface SimEvent {
  t: number;
  /** Lower runs first at equal times. */
  pri: number;
  seq: number;
  kind: number;
  conn: number;
  /** Kind-specific: a generation to check, a backend index, a target. */
  a: number;
  b: number;
}

function before(x: SimEvent, y: SimEvent): boolean {
  return x.t < y.t || (x.t === y.t && (x.pri < y.pri || (x.pri === y.pri && x.seq < y.seq)));
}

export class EventHeap {
  private readonly items: SimEvent[] = [];
  /** Events handed back after use: a run makes hundreds of thousands, and reusing them keeps the collector quiet. */
  private readonly spare: SimEvent[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  push(t: number, pri: number, kind: number, conn: number, a = 0, b = 0): void {
    let e = this.spare.pop();
    if (e === undefined) e = { t, pri, seq: this.seq++, kind, conn, a, b };
    else {
      e.t = t;
      e.pri = pri;
      e.seq = this.seq++;
      e.kind = kind;
      e.conn = conn;
      e.a = a;
      e.b = b;
    }
    const items = this.items;
    let i = items.length;
    items.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!before(e, parent)) break;
      items[i] = parent;
      i = p;
    }
    items[i] = e;
  }

  /** Hands a popped event back for reuse; the caller must not read it afterwards. */
  recycle(e: SimEvent): void {
    this.spare.push(e);
  }

  pop(): SimEvent | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(items[r]!, items[l]!) ? r : l;
      if (!before(items[c]!, last)) break;
      items[i] = items[c]!;
      i = c;
    }
    items[i] = last;
    return top;
  }
}
