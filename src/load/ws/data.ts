/**
 * @internal WebSocket session results: the plain, mergeable data one driver
 * process (or shard) hands back, the pure merge of several, the pure
 * reduction to the public WsResult, and the accumulator sessions record
 * into.
 *
 * Accounting rules, which every merge keeps:
 * - sessions: started = completed + stopped + failed, once the run has
 *   ended; closed = sessions that opened and then ended, whichever way.
 * - messages: delivered <= expected. `expected` adds, for every message
 *   sent, the members of its room at the moment it was sent (the sender
 *   included; 1 for echo), as this process saw the room; `delivered` counts
 *   the receipts that match one of those. received - delivered are receipts
 *   of messages sent while the receiver was not a member (before its open
 *   was seen, after it left) or by a sender of another run.
 */
import { Histogram, mergeHistogramData, type HistogramData } from "../histogram.js";
import { summarize, type LatencySummary } from "../result.js";
import type { WsCause } from "../../wire.js";

/** One window of the run's timeline. */
export interface WsTimelineWindow {
  /** Start of the window, in ms from the start of the run. */
  tMs: number;
  /** Most sessions open at once during the window. */
  openSessions: number;
  /** Sessions that opened in the window. */
  opened: number;
  /** Sessions that failed in the window (never opened, or ended before their length). */
  failed: number;
  /** Messages sent in the window (k6's ws_msgs_sent). */
  sent: number;
  /** Messages received in the window (k6's ws_msgs_received). */
  received: number;
  /** Deliveries owed to the messages sent in the window. */
  expected: number;
  /** Of those, how many arrived (whenever they arrived): delivered / expected is the window's delivery ratio. */
  delivered: number;
}

/** What this run counted in one of its rooms. */
export interface WsRoomData {
  /** Sessions dealt to the room. */
  sessions: number;
  /** The most members the room had at once, as the driver saw it. */
  peakMembers: number;
  sent: number;
  received: number;
  expected: number;
  delivered: number;
}

export interface WsSessionCounts {
  /** Session attempts started: k6's ws_sessions, which counts every attempt, opened or not. */
  started: number;
  opened: number;
  /** Opened sessions that have ended, whichever way. */
  closed: number;
  /** Held for their whole length, then closed by the driver. */
  completed: number;
  /** Cut by stop() or the run's time bound, opened or still connecting: not failures. */
  stopped: number;
  /** Never opened, or ended before their length: with causes below. */
  failed: number;
  failedByCause: Record<string, number>;
  /** Of the failed, those that never opened. */
  failedToOpen: number;
  /** Sessions the run never started because it was stopped first. */
  notStarted: number;
  /** Most sessions open at once. */
  maxOpen: number;
}

export interface WsMessageCounts {
  sent: number;
  received: number;
  expected: number;
  delivered: number;
  /** Payload bytes, without frame headers. */
  bytesSent: number;
  bytesReceived: number;
}

export interface WsUpgradeCounts {
  /** 101 responses by the backend the stub stamped on them. */
  byBackend: Record<string, number>;
  /** ...and by `backend/server`. */
  byServer: Record<string, number>;
  /** 101 responses by the backend the proxy stamped (x-spillway-route); empty when it does not stamp. */
  routed: Record<string, number>;
  /** 101 responses without the stub's backend stamp. */
  unstamped: number;
}

/** The mergeable data of one run, process or shard. */
export interface WsRunData {
  sessions: WsSessionCounts;
  messages: WsMessageCounts;
  /** Send to each receipt, µs, for delivered messages. */
  fanout: HistogramData;
  /** k6's ws_connecting: from the attempt to the 101 (or the failure), µs. */
  connecting: HistogramData;
  /** k6's ws_session_duration: from the attempt to the end of the close, µs, for sessions that opened. */
  sessionDuration: HistogramData;
  upgrades: WsUpgradeCounts;
  rooms: Record<string, WsRoomData>;
  timeline: WsTimelineWindow[];
  timelineWindowMs: number;
  durationMs: number;
}

/** The public result: k6's names where k6 has the figure, spillway's for the rest. */
export interface WsResult {
  ws_sessions: number;
  ws_msgs_sent: number;
  ws_msgs_received: number;
  /** ms. */
  ws_session_duration: LatencySummary;
  /** ms. */
  ws_connecting: LatencySummary;
  sessions: WsSessionCounts;
  messages: WsMessageCounts & {
    /** received - delivered. */
    unexpected: number;
    /** delivered / expected; null when no message was sent. */
    deliveryRatio: number | null;
  };
  /** Send to each receipt, ms. */
  fanout: LatencySummary;
  upgrades: WsUpgradeCounts;
  rooms: Record<string, WsRoomData & { deliveryRatio: number | null }>;
  timeline: WsTimelineWindow[];
  timelineWindowMs: number;
  durationMs: number;
  /** Messages sent and received per second over the run. */
  messagesPerSecond: { sent: number; received: number };
}

export function emptyWsRunData(): WsRunData {
  return {
    sessions: { started: 0, opened: 0, closed: 0, completed: 0, stopped: 0, failed: 0, failedByCause: {}, failedToOpen: 0, notStarted: 0, maxOpen: 0 },
    messages: { sent: 0, received: 0, expected: 0, delivered: 0, bytesSent: 0, bytesReceived: 0 },
    fanout: new Histogram().toData(),
    connecting: new Histogram().toData(),
    sessionDuration: new Histogram().toData(),
    upgrades: { byBackend: {}, byServer: {}, routed: {}, unstamped: 0 },
    rooms: {},
    timeline: [],
    timelineWindowMs: AUTO_BASE_MS,
    durationMs: 0,
  };
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function emptyWindow(tMs: number, openSessions: number): WsTimelineWindow {
  return { tMs, openSessions, opened: 0, failed: 0, sent: 0, received: 0, expected: 0, delivered: 0 };
}

function addWindow(into: WsTimelineWindow, w: WsTimelineWindow): void {
  into.opened += w.opened;
  into.failed += w.failed;
  into.sent += w.sent;
  into.received += w.received;
  into.expected += w.expected;
  into.delivered += w.delivered;
}

/** Merges windows `factor` at a time (factor 1: a copy); windows are contiguous from the start, window i at i * windowMs. */
function coarsen(timeline: readonly WsTimelineWindow[], windowMs: number, factor: number): WsTimelineWindow[] {
  if (factor <= 1) return timeline.map((w) => ({ ...w }));
  const out: WsTimelineWindow[] = [];
  timeline.forEach((w, j) => {
    const i = Math.floor(j / factor);
    const t = (out[i] ??= emptyWindow(i * windowMs * factor, 0));
    addWindow(t, w);
    t.openSessions = Math.max(t.openSessions, w.openSessions);
  });
  return out;
}

/**
 * Pure merge of several parts of one run (processes, shards): counts add;
 * peaks add, since the parts hold their sessions at the same time; windows
 * align by index once every part is brought to the widest window (widths
 * are 10 ms times a power of two, so they nest).
 */
export function mergeWsRunData(parts: readonly WsRunData[]): WsRunData {
  const out = emptyWsRunData();
  out.timelineWindowMs = parts.reduce((m, p) => Math.max(m, p.timelineWindowMs), 0) || AUTO_BASE_MS;
  const s = out.sessions;
  const m = out.messages;
  for (const p of parts) {
    s.started += p.sessions.started;
    s.opened += p.sessions.opened;
    s.closed += p.sessions.closed;
    s.completed += p.sessions.completed;
    s.stopped += p.sessions.stopped;
    s.failed += p.sessions.failed;
    addCounts(s.failedByCause, p.sessions.failedByCause);
    s.failedToOpen += p.sessions.failedToOpen;
    s.notStarted += p.sessions.notStarted;
    s.maxOpen += p.sessions.maxOpen;
    m.sent += p.messages.sent;
    m.received += p.messages.received;
    m.expected += p.messages.expected;
    m.delivered += p.messages.delivered;
    m.bytesSent += p.messages.bytesSent;
    m.bytesReceived += p.messages.bytesReceived;
    addCounts(out.upgrades.byBackend, p.upgrades.byBackend);
    addCounts(out.upgrades.byServer, p.upgrades.byServer);
    addCounts(out.upgrades.routed, p.upgrades.routed);
    out.upgrades.unstamped += p.upgrades.unstamped;
    for (const [name, r] of Object.entries(p.rooms)) {
      const t = (out.rooms[name] ??= { sessions: 0, peakMembers: 0, sent: 0, received: 0, expected: 0, delivered: 0 });
      t.sessions += r.sessions;
      t.peakMembers += r.peakMembers;
      t.sent += r.sent;
      t.received += r.received;
      t.expected += r.expected;
      t.delivered += r.delivered;
    }
    out.durationMs = Math.max(out.durationMs, p.durationMs);
    coarsen(p.timeline, p.timelineWindowMs, Math.round(out.timelineWindowMs / p.timelineWindowMs)).forEach((w, i) => {
      const t = (out.timeline[i] ??= emptyWindow(w.tMs, 0));
      addWindow(t, w);
      t.openSessions += w.openSessions;
    });
  }
  out.fanout = mergeHistogramData(parts.map((p) => p.fanout));
  out.connecting = mergeHistogramData(parts.map((p) => p.connecting));
  out.sessionDuration = mergeHistogramData(parts.map((p) => p.sessionDuration));
  // A part that saw no window in the middle of another's timeline leaves a hole: fill it.
  for (let i = 0; i < out.timeline.length; i++) out.timeline[i] ??= emptyWindow(i * out.timelineWindowMs, 0);
  return out;
}

function sorted<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function ratio(delivered: number, expected: number): number | null {
  return expected > 0 ? delivered / expected : null;
}

/** Pure reduction of run data to the public result. */
export function toWsResult(data: WsRunData): WsResult {
  const m = data.messages;
  const seconds = data.durationMs / 1000;
  const perSecond = (n: number): number => (seconds > 0 ? Math.round((n / seconds) * 10) / 10 : 0);
  const rooms: WsResult["rooms"] = {};
  for (const [name, r] of Object.entries(sorted(data.rooms))) rooms[name] = { ...r, deliveryRatio: ratio(r.delivered, r.expected) };
  return {
    ws_sessions: data.sessions.started,
    ws_msgs_sent: m.sent,
    ws_msgs_received: m.received,
    ws_session_duration: summarize(data.sessionDuration),
    ws_connecting: summarize(data.connecting),
    sessions: { ...data.sessions, failedByCause: sorted(data.sessions.failedByCause) },
    messages: { ...m, unexpected: m.received - m.delivered, deliveryRatio: ratio(m.delivered, m.expected) },
    fanout: summarize(data.fanout),
    upgrades: {
      byBackend: sorted(data.upgrades.byBackend),
      byServer: sorted(data.upgrades.byServer),
      routed: sorted(data.upgrades.routed),
      unstamped: data.upgrades.unstamped,
    },
    rooms,
    timeline: data.timeline.map((w) => ({ ...w })),
    timelineWindowMs: data.timelineWindowMs,
    durationMs: Math.round(data.durationMs),
    messagesPerSecond: { sent: perSecond(m.sent), received: perSecond(m.received) },
  };
}

/** Adaptive timeline, as the HTTP one: 10 ms windows, doubled whenever there would be more than 100. */
const AUTO_BASE_MS = 10;
const AUTO_MAX_WINDOWS = 100;

/**
 * The timeline of a run in progress. Times are epoch milliseconds
 * (performance.timeOrigin + performance.now()), the clock the messages
 * carry, so a delivery is put in the window its message was sent in.
 */
export class WsTimeline {
  private windowMs = AUTO_BASE_MS;
  private windows: WsTimelineWindow[] = [];
  private open = 0;

  constructor(private readonly t0: number) {}

  /** The window of time `t`, made (with every one before it) if need be. */
  at(t: number): WsTimelineWindow {
    let i = Math.floor(Math.max(0, t - this.t0) / this.windowMs);
    while (i >= AUTO_MAX_WINDOWS) {
      this.double();
      i = Math.floor(Math.max(0, t - this.t0) / this.windowMs);
    }
    while (this.windows.length <= i) this.windows.push(emptyWindow(this.windows.length * this.windowMs, this.open));
    return this.windows[i]!;
  }

  /** Sessions open now, as of time `t`. */
  setOpen(t: number, open: number): void {
    this.open = open;
    const w = this.at(t);
    if (open > w.openSessions) w.openSessions = open;
  }

  private double(): void {
    this.windows = coarsen(this.windows, this.windowMs, 2);
    this.windowMs *= 2;
  }

  /** The windows up to `tEnd`, halved once more when over 75 of them (so a run ends with 50 to 100 windows, as the HTTP timeline). */
  finish(tEnd: number): { timeline: WsTimelineWindow[]; timelineWindowMs: number } {
    this.at(tEnd);
    if (this.windows.length > (AUTO_MAX_WINDOWS * 3) / 4) this.double();
    return { timeline: this.windows, timelineWindowMs: this.windowMs };
  }
}

/** Every counter of a run in progress, and the hand-over to plain data. */
export class WsRecorder {
  readonly sessions: WsSessionCounts = emptyWsRunData().sessions;
  readonly messages: WsMessageCounts = emptyWsRunData().messages;
  readonly fanout = new Histogram();
  readonly connecting = new Histogram();
  readonly sessionDuration = new Histogram();
  readonly upgrades: WsUpgradeCounts = { byBackend: {}, byServer: {}, routed: {}, unstamped: 0 };
  readonly rooms: Record<string, WsRoomData> = {};
  readonly timeline: WsTimeline;
  private open = 0;

  constructor(readonly t0: number) {
    this.timeline = new WsTimeline(t0);
  }

  get openNow(): number {
    return this.open;
  }

  opened(t: number): void {
    this.sessions.opened++;
    this.timeline.at(t).opened++;
    this.setOpen(t, this.open + 1);
  }

  /** An opened session ended (either way). */
  closed(t: number): void {
    this.sessions.closed++;
    this.setOpen(t, this.open - 1);
  }

  failed(t: number, cause: WsCause, opened: boolean): void {
    this.sessions.failed++;
    if (!opened) this.sessions.failedToOpen++;
    this.sessions.failedByCause[cause] = (this.sessions.failedByCause[cause] ?? 0) + 1;
    this.timeline.at(t).failed++;
  }

  upgrade(backend: string | undefined, server: string | undefined, route: string | undefined): void {
    const u = this.upgrades;
    if (backend === undefined) u.unstamped++;
    else u.byBackend[backend] = (u.byBackend[backend] ?? 0) + 1;
    if (server !== undefined) u.byServer[server] = (u.byServer[server] ?? 0) + 1;
    if (route !== undefined) u.routed[route] = (u.routed[route] ?? 0) + 1;
  }

  private setOpen(t: number, n: number): void {
    this.open = n;
    if (n > this.sessions.maxOpen) this.sessions.maxOpen = n;
    this.timeline.setOpen(t, n);
  }

  finish(tEnd: number): WsRunData {
    const { timeline, timelineWindowMs } = this.timeline.finish(tEnd);
    return {
      sessions: { ...this.sessions, failedByCause: { ...this.sessions.failedByCause } },
      messages: { ...this.messages },
      fanout: this.fanout.toData(),
      connecting: this.connecting.toData(),
      sessionDuration: this.sessionDuration.toData(),
      upgrades: { byBackend: { ...this.upgrades.byBackend }, byServer: { ...this.upgrades.byServer }, routed: { ...this.upgrades.routed }, unstamped: this.upgrades.unstamped },
      rooms: Object.fromEntries(Object.entries(this.rooms).map(([k, r]) => [k, { ...r }])),
      timeline,
      timelineWindowMs,
      durationMs: Math.max(0, tEnd - this.t0),
    };
  }
}
