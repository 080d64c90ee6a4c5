/**
 * A deterministic discrete-event simulation of the proxy's connection count
 * under a load: connections start (all at once, in h2load --rate bursts, or
 * along k6 stages), wait in the proxy's accept queue beyond maxconn, send
 * requests on their streams, close when their share is done, when the client's
 * or the proxy's keep-alive policy says so, and come back when a stream has
 * work again. Every request is routed, at the moment it is sent, by the first
 * rule whose connection range holds the proxy's count. Pure: no clock, no I/O.
 * @internal
 */
import { EventHeap } from "./heap.js";
import { DRIVER_SWEEP_MS, planConnections, stageSteps } from "./schedule.js";
import type { PredictedFlip, PredictedWindow, PredictInput } from "./types.js";

const OFF = 0;
const CONNECTING = 1;
/** TCP-connected but not accepted: beyond maxconn, in the kernel's accept queue. */
const WAITING = 2;
const OPEN = 3;

const K_START = 0;
const K_STAGE = 1;
const K_CONNECTED = 2;
const K_SEND = 3;
const K_RESPONSE = 4;
const K_THINK = 5;
const K_PROXY_IDLE = 6;
const K_CLIENT_IDLE = 7;
const K_ARRIVAL = 8;
const K_END = 9;

/** State changes run before sends at the same instant: a burst is counted before its first request is routed. */
const PRI_STATE = 0;
const PRI_SEND = 1;

/** Resolution the timeline is kept at before it is cut into windows. */
const BUCKET_MS = 10;
export const DEFAULT_EDGE_CONNS = 5;
const DEFAULT_MAX_EVENTS = 5_000_000;

interface Slot {
  index: number;
  share: number | null;
  /** Measured requests started from the share. */
  started: number;
  inflight: number;
  /** Streams free to send (closed model). */
  wants: number;
  active: boolean;
  finished: boolean;
  state: number;
  counted: boolean;
  accepting: boolean;
  /** Requests sent on the current connection. */
  issued: number;
  /** Bumped on every request sent: a pending idle timer with an older value is stale. */
  gen: number;
  /** Bumped on every connect and close: a pending handshake with an older value is stale. */
  connGen: number;
  /** Closed by the client's idle policy: in the open model it comes back only when no open connection has room. */
  idleClosed: boolean;
  /** The client has stopped sending on this connection and closes it once nothing is in flight. */
  closing: boolean;
}

interface BackendState {
  name: string;
  slots: number;
  latencyMs: number;
  inUse: number;
  queue: number[];
  queueHead: number;
  count: number;
  refused: number;
  minConns: number;
  maxConns: number;
  firstMs: number;
}

interface Bucket {
  byBackend: number[];
  maxConns: number;
}

export interface SimulationResult {
  routed: Record<string, number>;
  /** Requests that would go to each backend were the count `edgeConns` higher or lower at their routing. */
  possibly: Record<string, number>;
  /** Requests routed to each backend whatever the count within `edgeConns` of the model's. */
  surely: Record<string, number>;
  refused: Record<string, number>;
  requests: number;
  flips: PredictedFlip[];
  maxConnsAtRouting: number;
  maxConns: number;
  durationMs: number;
  timelineWindowMs: number;
  timeline: PredictedWindow[];
  truncated: boolean;
}

function inRanges(ranges: readonly { lo: number; hi: number }[], n: number): boolean {
  for (const r of ranges) if (n >= r.lo && n <= r.hi) return true;
  return false;
}

export function simulate(input: PredictInput): SimulationResult {
  const { load, proxy, service } = input;
  const heap = new EventHeap();
  const maxEvents = input.maxEvents ?? DEFAULT_MAX_EVENTS;
  const openModel = load.arrivalRate !== null;
  const streams = proxy.maxConcurrentStreams !== null ? Math.min(load.streams, proxy.maxConcurrentStreams) : load.streams;
  const warmup = load.warmupMs;
  const stagesTotal = load.arrivals.kind === "stages" ? load.arrivals.stages.reduce((a, s) => a + s.durationMs, 0) : Infinity;
  const endAt = Math.min(load.durationMs !== null ? warmup + load.durationMs : Infinity, stagesTotal);
  const perRequestMs = service.capacityRps !== null ? 1000 / service.capacityRps : 0;

  const backends: BackendState[] = input.backends.map((b) => ({
    name: b.name,
    slots: b.slots ?? Infinity,
    latencyMs: b.latencyMs ?? service.latencyMs,
    inUse: 0,
    queue: [],
    queueHead: 0,
    count: 0,
    refused: 0,
    minConns: Infinity,
    maxConns: -1,
    firstMs: Infinity,
  }));
  const backendIndex = new Map(backends.map((b, i) => [b.name, i]));
  const defaultIdx = backendIndex.get(input.defaultBackend)!;
  const rules = input.rules
    .filter((r) => r.conns !== null)
    .map((r) => ({ conns: r.conns!, backend: backendIndex.get(r.backend)! }));

  const plans = planConnections(load);
  const slots: Slot[] = plans.map((p, i) => ({
    index: i,
    share: p.share,
    started: 0,
    inflight: 0,
    wants: streams,
    active: false,
    finished: p.share === 0,
    state: OFF,
    counted: false,
    accepting: false,
    issued: 0,
    gen: 0,
    connGen: 0,
    idleClosed: false,
    closing: false,
  }));

  let counted = 0;
  let maxConns = 0;
  let maxConnsAtRouting = 0;
  let sentMeasured = 0;
  let running = true;
  let cpuFreeAt = 0;
  let lastResponseT = 0;
  let events = 0;
  let truncated = false;
  const acceptQueue: { slot: number; connGen: number }[] = [];
  let acceptHead = 0;
  // Open model.
  let arrivals = 0;
  let backlog = 0;
  const openList: number[] = [];
  let cursor = 0;

  const buckets = new Map<number, Bucket>();
  let lastKey = -1;
  let lastBucket: Bucket | null = null;
  const bucketAt = (t: number): Bucket => {
    const k = Math.floor(Math.max(0, t - warmup) / BUCKET_MS);
    if (k === lastKey && lastBucket !== null) return lastBucket;
    let b = buckets.get(k);
    if (b === undefined) {
      b = { byBackend: backends.map(() => 0), maxConns: 0 };
      buckets.set(k, b);
    }
    lastKey = k;
    lastBucket = b;
    return b;
  };
  const noteConns = (t: number): void => {
    const n = counted + proxy.otherConnections;
    if (n > maxConns) maxConns = n;
    if (t >= warmup) {
      const b = bucketAt(t);
      if (n > b.maxConns) b.maxConns = n;
    }
  };

  const measuring = (t: number): boolean => t >= warmup;
  const sendingAllowed = (t: number): boolean => running && t < endAt;

  /** Requests slot `s` may still start: its share's rest, or the pool's. */
  const budget = (s: Slot, t: number): number => {
    if (!sendingAllowed(t)) return 0;
    if (!measuring(t)) return Infinity;
    if (s.share !== null) return s.share - s.started;
    return load.requests === null ? Infinity : load.requests - sentMeasured;
  };
  const poolLeft = (t: number): boolean => {
    if (!sendingAllowed(t)) return false;
    return !measuring(t) || load.requests === null || load.requests - sentMeasured > 0;
  };

  // ---- the proxy ----

  const cpuTurn = (t: number): number => {
    if (perRequestMs === 0) return t;
    cpuFreeAt = Math.max(t, cpuFreeAt) + perRequestMs;
    return cpuFreeAt;
  };

  const serve = (b: number, t: number, slot: number): void => {
    heap.push(cpuTurn(t) + backends[b]!.latencyMs, PRI_STATE, K_RESPONSE, slot, b, 0);
  };

  const admit = (b: number, t: number, slot: number): void => {
    const be = backends[b]!;
    if (be.inUse < be.slots) {
      be.inUse++;
      serve(b, t, slot);
    } else if (proxy.whenFull === "queue") {
      be.queue.push(slot);
    } else {
      if (measuring(t)) be.refused++;
      heap.push(cpuTurn(t), PRI_STATE, K_RESPONSE, slot, b, 1);
    }
  };

  const release = (b: number, t: number): void => {
    const be = backends[b]!;
    be.inUse--;
    if (be.queueHead < be.queue.length) {
      const next = be.queue[be.queueHead++]!;
      if (be.queueHead > 4096 && be.queueHead * 2 > be.queue.length) {
        be.queue.splice(0, be.queueHead);
        be.queueHead = 0;
      }
      be.inUse++;
      serve(b, t, next);
    }
  };

  // The count never exceeds this, in the model or in a real run: every connection plus the others, capped by maxconn.
  const topCount = Math.min(load.connections, proxy.maxconn ?? Infinity) + proxy.otherConnections;
  const edge = input.edgeConns ?? DEFAULT_EDGE_CONNS;
  const routeAt = new Int32Array(topCount + 1);
  for (let n = 0; n < routeAt.length; n++) {
    let b = defaultIdx;
    for (const r of rules) {
      if (inRanges(r.conns, n)) {
        b = r.backend;
        break;
      }
    }
    routeAt[n] = b;
  }
  /** For each count, the backends a count within `edge` of it would route to, when there is more than one. */
  const nearby: (number[] | null)[] = [];
  for (let n = 0; n <= topCount; n++) {
    const seen = new Set<number>();
    for (let m = Math.max(0, n - edge); m <= Math.min(topCount, n + edge); m++) seen.add(routeAt[m]!);
    nearby.push(seen.size > 1 ? [...seen] : null);
  }
  const possibly = backends.map(() => 0);
  const surely = backends.map(() => 0);

  const route = (t: number): number => {
    const n = counted + proxy.otherConnections;
    const b = routeAt[n]!;
    if (measuring(t)) {
      const near = nearby[n];
      if (near) for (const x of near) possibly[x]!++;
      else {
        possibly[b]!++;
        surely[b]!++;
      }
      const be = backends[b]!;
      be.count++;
      if (n < be.minConns) be.minConns = n;
      if (n > be.maxConns) be.maxConns = n;
      if (t - warmup < be.firstMs) be.firstMs = t - warmup;
      if (n > maxConnsAtRouting) maxConnsAtRouting = n;
      const bucket = bucketAt(t);
      bucket.byBackend[b]!++;
      if (n > bucket.maxConns) bucket.maxConns = n;
    }
    return b;
  };

  const scheduleIdle = (s: Slot, t: number): void => {
    if (proxy.idleTimeoutMs !== null) heap.push(t + proxy.idleTimeoutMs, PRI_STATE, K_PROXY_IDLE, s.index, s.gen);
    if (load.closeAfterIdleMs !== null) {
      // The driver looks for idle connections on its sweep, every 100 ms.
      const due = t + load.closeAfterIdleMs;
      heap.push(Math.ceil(due / DRIVER_SWEEP_MS) * DRIVER_SWEEP_MS, PRI_STATE, K_CLIENT_IDLE, s.index, s.gen);
    }
  };

  const acceptWaiting = (t: number): void => {
    while (acceptHead < acceptQueue.length && (proxy.maxconn === null || counted < proxy.maxconn)) {
      const e = acceptQueue[acceptHead++]!;
      const s = slots[e.slot]!;
      if (s.connGen !== e.connGen || s.state !== WAITING) continue;
      accept(s, t);
    }
  };

  const accept = (s: Slot, t: number): void => {
    s.state = OPEN;
    s.counted = true;
    s.accepting = true;
    s.issued = 0;
    s.gen++;
    counted++;
    noteConns(t);
    if (openModel) openList.push(s.index);
    heap.push(t, PRI_SEND, K_SEND, s.index);
    scheduleIdle(s, t);
  };

  /** The connection ends, whoever ended it; the proxy takes the next one waiting. */
  const close = (s: Slot, t: number): void => {
    if (s.counted) {
      s.counted = false;
      counted--;
      noteConns(t);
    }
    if (openModel && s.state === OPEN) {
      const i = openList.indexOf(s.index);
      if (i >= 0) openList.splice(i, 1);
    }
    s.state = OFF;
    s.connGen++;
    s.accepting = false;
    s.closing = false;
    s.issued = 0;
    acceptWaiting(t);
  };

  // ---- the client ----

  const connect = (s: Slot, t: number): void => {
    s.state = CONNECTING;
    s.connGen++;
    s.idleClosed = false;
    heap.push(t + service.connectMs, PRI_STATE, K_CONNECTED, s.index, s.connGen);
  };

  const send = (s: Slot, t: number): void => {
    const b = route(t);
    s.inflight++;
    s.gen++;
    s.issued++;
    if (measuring(t)) {
      sentMeasured++;
      if (s.share !== null) s.started++;
    }
    admit(b, t, s.index);
    const clientDone = load.closeAfterRequests !== null && s.issued >= load.closeAfterRequests;
    const proxyDone = proxy.closeAfterRequests !== null && s.issued >= proxy.closeAfterRequests;
    if (clientDone || proxyDone) {
      s.accepting = false;
      s.closing = true;
    }
  };

  const openWork = (s: Slot, t: number): boolean => {
    if (!poolLeft(t)) return false;
    if (!s.idleClosed) return true;
    if (backlog === 0) return false;
    for (const i of openList) {
      const o = slots[i]!;
      if (o.accepting && o.inflight < streams) return false;
    }
    return true;
  };

  const dispatchTo = (s: Slot, t: number): void => {
    while (backlog > 0 && s.state === OPEN && s.accepting && s.inflight < streams) {
      backlog--;
      send(s, t);
    }
  };

  const wakeIdleSlot = (t: number): void => {
    for (const s of slots) {
      if (s.state === CONNECTING || s.state === WAITING) return;
      if (s.state === OFF && s.active && !s.finished) {
        connect(s, t);
        return;
      }
    }
  };

  const dispatchAll = (t: number): void => {
    let progressed = true;
    while (backlog > 0 && progressed && openList.length > 0) {
      progressed = false;
      for (let k = 0; k < openList.length && backlog > 0; k++) {
        cursor = (cursor + 1) % openList.length;
        const s = slots[openList[cursor]!]!;
        if (s.accepting && s.inflight < streams) {
          backlog--;
          send(s, t);
          progressed = true;
        }
      }
    }
    if (backlog > 0) wakeIdleSlot(t);
  };

  /** Sends what a slot can send now, connecting it when it has work and no connection. */
  const pump = (s: Slot, t: number): void => {
    if (s.finished || !s.active) return;
    if (s.state === OFF) {
      if (openModel ? openWork(s, t) : Math.min(s.wants, budget(s, t)) > 0) connect(s, t);
      return;
    }
    if (s.state !== OPEN || !s.accepting) return;
    if (openModel) {
      dispatchTo(s, t);
      return;
    }
    while (s.accepting && s.inflight < streams && s.wants > 0 && budget(s, t) > 0) {
      s.wants--;
      send(s, t);
    }
  };

  const activate = (s: Slot, t: number): void => {
    if (s.active || s.finished) return;
    s.active = true;
    pump(s, t);
  };

  const deactivate = (s: Slot, t: number): void => {
    if (!s.active) return;
    s.active = false;
    if (s.state === CONNECTING || s.state === WAITING) close(s, t);
    else if (s.state === OPEN) {
      s.accepting = false;
      s.closing = true;
      if (s.inflight === 0) close(s, t);
    }
  };

  const onResponse = (s: Slot, b: number, refused: boolean, t: number): void => {
    if (!refused) release(b, t);
    s.inflight--;
    if (s.share !== null && !s.finished && measuring(t) && s.started >= s.share && s.inflight === 0) {
      // h2load's client closes after its last response, and never comes back.
      s.finished = true;
      s.active = false;
      close(s, t);
      return;
    }
    if (openModel) {
      dispatchTo(s, t);
      if (backlog > 0) heap.push(t, PRI_SEND, K_SEND, -1);
    } else if (load.thinkTimeMs > 0 && sendingAllowed(t)) {
      // At send priority: a close due at the same instant comes first, as a send on a closed connection reconnects.
      heap.push(t + load.thinkTimeMs, PRI_SEND, K_THINK, s.index);
    } else {
      s.wants++;
      heap.push(t, PRI_SEND, K_SEND, s.index);
    }
    if (s.inflight === 0 && s.state === OPEN) {
      if (s.closing) {
        close(s, t);
        if (s.active) heap.push(t, PRI_SEND, K_SEND, s.index);
      } else scheduleIdle(s, t);
    }
  };

  // ---- the schedule ----

  const arr = load.arrivals;
  if (arr.kind === "stages") {
    for (const step of stageSteps(arr.stages)) heap.push(step.atMs, PRI_STATE, K_STAGE, -1, step.target);
  } else {
    plans.forEach((p, i) => heap.push(p.startMs ?? 0, PRI_STATE, K_START, i));
  }
  if (endAt !== Infinity) heap.push(endAt, PRI_STATE, K_END, -1);
  if (openModel) heap.push(0, PRI_SEND, K_ARRIVAL, -1);

  for (;;) {
    const e = heap.pop();
    if (e === undefined) break;
    if (++events > maxEvents) {
      truncated = true;
      break;
    }
    const t = e.t;
    const s = e.conn >= 0 ? slots[e.conn] : undefined;
    const kind = e.kind;
    const a = e.a;
    const b = e.b;
    heap.recycle(e);
    switch (kind) {
      case K_START:
        activate(s!, t);
        break;
      case K_STAGE:
        if (!sendingAllowed(t)) break;
        for (let i = 0; i < slots.length; i++) {
          if (i < a) activate(slots[i]!, t);
          else deactivate(slots[i]!, t);
        }
        break;
      case K_CONNECTED:
        if (s!.connGen !== a || s!.state !== CONNECTING) break;
        if (!s!.active || s!.finished) {
          close(s!, t);
          break;
        }
        if (proxy.maxconn !== null && counted >= proxy.maxconn) {
          s!.state = WAITING;
          acceptQueue.push({ slot: s!.index, connGen: s!.connGen });
        } else accept(s!, t);
        break;
      case K_SEND:
        if (s === undefined) dispatchAll(t);
        else pump(s, t);
        break;
      case K_RESPONSE:
        lastResponseT = t;
        onResponse(s!, a, b === 1, t);
        break;
      case K_THINK:
        s!.wants++;
        pump(s!, t);
        break;
      case K_PROXY_IDLE:
      case K_CLIENT_IDLE:
        if (s!.gen !== a || s!.state !== OPEN || s!.inflight > 0) break;
        close(s!, t);
        if (kind === K_CLIENT_IDLE) s!.idleClosed = true;
        // The client reconnects at once if a stream is waiting (or, in the open model, there is work).
        heap.push(t, PRI_SEND, K_SEND, s!.index);
        break;
      case K_ARRIVAL: {
        if (!sendingAllowed(t) || (load.requests !== null && arrivals >= load.requests)) break;
        arrivals++;
        backlog++;
        dispatchAll(t);
        const next = (arrivals * 1000) / load.arrivalRate!;
        if (next < endAt && (load.requests === null || arrivals < load.requests)) heap.push(next, PRI_SEND, K_ARRIVAL, -1);
        break;
      }
      case K_END:
        running = false;
        for (const sl of slots) {
          if (sl.state === CONNECTING || sl.state === WAITING || (sl.state === OPEN && sl.inflight === 0)) close(sl, t);
          else if (sl.state === OPEN) {
            sl.accepting = false;
            sl.closing = true;
          }
        }
        break;
    }
    if (!openModel && load.requests !== null && sentMeasured >= load.requests && running && measuring(t)) {
      // The pool (or every share) is spent: nothing more is routed; what is in flight finishes.
      running = false;
    }
  }

  const routedMs = lastResponseT - warmup;
  const windowMs =
    input.timelineWindowMs ?? Math.max(BUCKET_MS, Math.ceil(Math.max(routedMs, BUCKET_MS) / 50 / BUCKET_MS) * BUCKET_MS);
  const perWindow = Math.max(1, Math.round(windowMs / BUCKET_MS));
  const timeline: PredictedWindow[] = [];
  let lastIndex = -1;
  for (const k of buckets.keys()) if (k > lastIndex) lastIndex = k;
  for (let w = 0; w * perWindow <= lastIndex; w++) {
    const byBackend: Record<string, number> = Object.fromEntries(backends.map((b) => [b.name, 0]));
    let max = 0;
    for (let k = w * perWindow; k < (w + 1) * perWindow; k++) {
      const b = buckets.get(k);
      if (b === undefined) continue;
      b.byBackend.forEach((n, i) => (byBackend[backends[i]!.name]! += n));
      if (b.maxConns > max) max = b.maxConns;
    }
    timeline.push({ atMs: w * perWindow * BUCKET_MS, byBackend, maxConns: max });
  }

  const def = backends[defaultIdx]!;
  const flips: PredictedFlip[] = [];
  for (const r of input.rules) {
    if (r.conns === null || r.conns.length === 0 || r.backend === input.defaultBackend) continue;
    const be = backends[backendIndex.get(r.backend)!]!;
    flips.push({
      rule: r.name,
      condition: r.condition,
      backend: r.backend,
      defaultBackend: input.defaultBackend,
      lastDefaultConns: def.count > 0 ? def.maxConns : null,
      firstRuleConns: be.count > 0 ? be.minConns : null,
      atMs: be.count > 0 ? Math.round(be.firstMs) : null,
    });
  }

  return {
    routed: Object.fromEntries(backends.map((b) => [b.name, b.count])),
    possibly: Object.fromEntries(backends.map((b, i) => [b.name, possibly[i]!])),
    surely: Object.fromEntries(backends.map((b, i) => [b.name, surely[i]!])),
    refused: Object.fromEntries(backends.map((b) => [b.name, b.refused])),
    requests: backends.reduce((a, b) => a + b.count, 0),
    flips,
    maxConnsAtRouting,
    maxConns,
    durationMs: Math.round(lastResponseT),
    timelineWindowMs: perWindow * BUCKET_MS,
    timeline,
    truncated,
  };
}
