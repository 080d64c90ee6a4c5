/**
 * The WebSocket session driver: one `ws` client socket per session, opened
 * at the connect rate, each sending one message per interval for its
 * session length, in its room or to itself (echo).
 *
 * Delivery is measured against the driver's own view of each room. A
 * session joins its room when it sees its 101 (the stub has added it to the
 * room before writing the 101, so every message sent after that reaches
 * it); at its end it leaves the room first, then waits for the messages it
 * is owed (those sent while it was a member), and closes once they are all
 * in, or after drainTimeoutMs: what has not come by then is lost. A message
 * sent counts its room's members at that moment as owed deliveries. The
 * join, leave and send times are stamps of one strictly increasing clock,
 * so "member when the message was sent" is exact, not a race on a
 * millisecond. Receipts of messages sent while the receiver was not a member
 * count as received, not delivered. Since the whole membership of a room
 * must be in one view, a run shared out over processes deals whole rooms
 * to each (options.ts).
 *
 * Every loop ends by itself: sessions end after their length, each wait
 * has its bound (connect, drain, close), the run has a time bound, and
 * stop() ends it sooner.
 */
import { EventEmitter } from "node:events";
import { connect as netConnect, type NetConnectOpts, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { WebSocket, type RawData } from "ws";
import type { IncomingMessage } from "node:http";
import {
  BACKEND_HEADER,
  CAUSES,
  ROUTE_HEADER,
  SERVER_HEADER,
  WS_CLOSE_NORMAL,
  WS_MESSAGE_HEADER_BYTES,
  WS_ROOM_PARAM,
  WS_SENDER_OFFSET,
  WS_SENT_AT_OFFSET,
  wsCloseCause,
  wsUpgradeCause,
  writeWsHeader,
  type WsCause,
} from "../../wire.js";
import { WsRecorder, type WsResult, type WsRoomData, type WsRunData } from "./data.js";
import { UsageError } from "../../errors.js";
import { openFileLimit } from "../../runtime/limits.js";
import { connectionsPerProcess, MAX_PROCESSES } from "../processes.js";
import { fewestWsProcesses, inWsShare, resolveWsOptions, wsRoomName, wsShareSessions, wsShareSizes, type ResolvedWsOptions, type WsSessionOptions, type WsShare } from "./options.js";
import { resultOf, WsProcessesRun } from "./processes.js";
import type { WsRun, WsRunEvents, WsStartInfo, WsTickInfo } from "./types.js";

export type { WsRun, WsRunEvents, WsStartInfo, WsTickInfo } from "./types.js";

/**
 * Starts the sessions; options are checked first, and a problem rejects
 * `done` and `data`. Sessions one process's open files cannot hold (or
 * `processes` > 1) run in child processes, whole rooms to each.
 */
export function startWsSessions(options: WsSessionOptions): WsRun {
  if (options.share !== undefined || options.processes === 1) return new WsSessionRun(options);
  if (options.processes !== undefined) {
    const sizes = Number.isInteger(options.processes) && options.processes >= 1 && options.processes <= MAX_PROCESSES ? wsShareSizes(options.connections, options.rooms, options.processes) : null;
    const perProcess = connectionsPerProcess(openFileLimit().soft);
    // Checked here, before anything is forked; each child checks its own share again.
    if (sizes === null) return new WsSessionRun(options);
    const largest = Math.max(...sizes);
    if (largest > perProcess) return new WsProcessesRun(options, new UsageError(`invalid WebSocket session options:\n  processes ${options.processes}: the largest share holds ${largest} sessions, more than one process may open (${perProcess}); give more processes, or leave processes out to let the driver choose`));
    return new WsProcessesRun(options, options.processes);
  }
  // Invalid counts get the in-process run's own refusal, which names every problem.
  if (!Number.isInteger(options.connections) || !Number.isInteger(options.rooms) || options.connections < 1 || options.rooms < 0 || options.rooms > options.connections) return new WsSessionRun(options);
  const perProcess = connectionsPerProcess(openFileLimit().soft);
  const count = fewestWsProcesses(options.connections, options.rooms, perProcess);
  if (count === 1) return new WsSessionRun(options);
  if (count === null) {
    const room = Math.ceil(options.connections / Math.max(1, options.rooms));
    return new WsProcessesRun(
      options,
      new UsageError(
        `invalid WebSocket session options:\n  ${options.rooms === 0 ? `${options.connections} echo sessions` : `rooms of up to ${room} sessions`} cannot be held: a room's members must be in one driver process, one process may open ${perProcess} and a run at most ${MAX_PROCESSES} processes`,
        options.rooms === 0 ? "Hold fewer sessions, or raise the open-file limit (ulimit -n)." : `Use more rooms (at least ${Math.ceil(options.connections / perProcess)}), or raise the open-file limit (ulimit -n).`,
      ),
    );
  }
  return new WsProcessesRun(options, count);
}

/** Strictly increasing epoch milliseconds: two events never share a stamp, so membership at a send is never a tie. */
class StampClock {
  private last = 0;

  now(): number {
    let t = performance.timeOrigin + performance.now();
    // 1 µs: above a double's resolution at today's epoch milliseconds (about 0.24 µs).
    if (t <= this.last) t = this.last + 0.001;
    this.last = t;
    return t;
  }
}

/** A room as this process sees it; echo sessions each have a private one. */
class DriverRoom {
  readonly members = new Set<WsSession>();
  /** Messages sent in the room so far: a member is owed those sent between its join and its leave. */
  sends = 0;
  constructor(readonly data: WsRoomData | null) {}
}

const enum State {
  Connecting,
  Open,
  Draining,
  Closing,
  Ended,
}

type EndKind = "completed" | "stopped";

/** The golden ratio's fraction: session i's first message is at this multiple of i, modulo the interval, so sends spread evenly. */
const SPREAD = 0.6180339887498949;
const SEND_OPTS = { binary: true, compress: false } as const;
/** As the stubs': room for another run's larger messages in a shared room, a bound on what one message may hold. */
const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

class WsSession {
  private state = State.Connecting;
  private ws: WebSocket | null = null;
  private tcpConnected = false;
  private opened = false;
  /** Set when the session's end was decided (by the driver) or its failure seen first. */
  private endKind: EndKind | null = null;
  private cause: WsCause | null = null;
  private attemptAt = 0;
  private nextSendAt = 0;
  /** Messages in the session's schedule: those due before its end. */
  private scheduled = 0;
  private joinedAt = Infinity;
  private leftAt = Infinity;
  private joinSends = 0;
  /** Deliveries owed to this session, known once it has left its room. */
  private owed = -1;
  private delivered = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private sendTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: WsSessionRun,
    readonly index: number,
    private readonly room: DriverRoom,
    private readonly url: string,
    private readonly localAddress: string | undefined,
  ) {}

  get senderId(): number {
    return this.run.opts.senderIdBase + this.index;
  }

  start(): void {
    const run = this.run;
    run.rec.sessions.started++;
    this.attemptAt = performance.now();
    const ws = new WebSocket(this.url, {
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: MAX_PAYLOAD_BYTES,
      skipUTF8Validation: true,
      // Typed by ws as net.connect with all its overloads; ws only ever calls it with an options object.
      createConnection: ((o: NetConnectOpts) => this.connect(o)) as typeof netConnect,
      ...(this.localAddress !== undefined ? { localAddress: this.localAddress } : {}),
    });
    this.ws = ws;
    ws.on("upgrade", (res: IncomingMessage) => this.onUpgrade(res));
    ws.on("unexpected-response", (_req, res: IncomingMessage) => this.fail(wsUpgradeCause(res.statusCode ?? 0)));
    ws.on("open", () => this.onOpen());
    ws.on("message", (data: RawData, isBinary: boolean) => this.onMessage(data as Buffer, isBinary));
    ws.on("error", (err: NodeJS.ErrnoException) => {
      // After the driver has decided the end, an error is the cut it asked for, not a cause.
      if (this.endKind === null) this.cause ??= this.causeOf(err);
    });
    ws.on("close", (code: number) => this.onClose(code));
    this.timer = setTimeout(() => this.fail(this.tcpConnected ? CAUSES.handshakeTimeout : CAUSES.connectTimeout), run.opts.connectTimeoutMs);
  }

  /** The driver's end of the run: the session leaves now (or, still connecting, is cut). */
  stop(): void {
    if (this.state === State.Connecting) {
      this.endKind = "stopped";
      this.ws?.terminate();
    } else if (this.state === State.Open) {
      this.leave("stopped");
    }
  }

  private connect(o: NetConnectOpts): Socket {
    // ws's own connect does the same: `path` holds the request's path, not a Unix socket.
    const socket = netConnect({ ...o, path: undefined } as NetConnectOpts);
    socket.setNoDelay(true);
    socket.once("connect", () => {
      this.tcpConnected = true;
    });
    return socket;
  }

  private causeOf(err: NodeJS.ErrnoException): WsCause {
    const code = err.code ?? "";
    if (code.startsWith("WS_ERR_")) return CAUSES.protocol;
    if (!this.tcpConnected) {
      if (code === "ECONNREFUSED") return CAUSES.refused;
      if (code === "ETIMEDOUT") return CAUSES.connectTimeout;
      return CAUSES.connectError;
    }
    if (code === "ECONNRESET" || code === "EPIPE") return CAUSES.reset;
    if (code === "ETIMEDOUT") return CAUSES.timeout;
    // ws's own checks of the 101 (Upgrade, Sec-WebSocket-Accept) raise plain errors.
    if (!this.opened && code === "") return CAUSES.protocol;
    return CAUSES.closed;
  }

  /** A failure seen before the session opened: recorded once, then the attempt is cut. */
  private fail(cause: WsCause): void {
    if (this.state !== State.Connecting || this.endKind !== null) return;
    this.cause = cause;
    this.ws?.terminate();
  }

  private onUpgrade(res: IncomingMessage): void {
    const h = res.headers;
    const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
    this.run.rec.upgrade(one(h[BACKEND_HEADER]), one(h[SERVER_HEADER]), one(h[ROUTE_HEADER]));
  }

  private onOpen(): void {
    clearTimeout(this.timer);
    const run = this.run;
    const now = performance.now();
    run.rec.connecting.record((now - this.attemptAt) * 1000);
    this.opened = true;
    this.state = State.Open;
    const t = run.clock.now();
    run.rec.opened(t);
    this.joinedAt = t;
    this.joinSends = this.room.sends;
    this.room.members.add(this);
    const data = this.room.data;
    if (data !== null && this.room.members.size > data.peakMembers) data.peakMembers = this.room.members.size;
    if (run.stopping) {
      this.leave("stopped");
      return;
    }
    const interval = run.opts.messageIntervalMs;
    const offset = interval * ((this.index * SPREAD) % 1);
    this.nextSendAt = now + offset;
    // Counted once from the schedule, so no clock reading or timer order can add a message past the end: a chat
    // fixture run once counted 1,001 sent of 1,000 when every send was bounded by comparing accumulated times.
    this.scheduled = offset < run.opts.sessionMs ? Math.ceil((run.opts.sessionMs - offset) / interval) : 0;
    this.timer = setTimeout(this.complete, run.opts.sessionMs);
    this.armSend(now);
  }

  /**
   * The session's length is over. Messages whose time came before its end
   * but whose timer has not fired yet (a busy event loop) go now, so a
   * session sends its whole schedule however late its timers run.
   */
  private readonly complete = (): void => {
    clearTimeout(this.sendTimer);
    while (this.seq < this.scheduled && this.sendOne());
    this.leave("completed");
  };

  private armSend(now: number): void {
    if (this.seq >= this.scheduled) return;
    this.sendTimer = setTimeout(this.send, Math.max(0, this.nextSendAt - now));
  }

  private readonly send = (): void => {
    if (this.sendOne()) this.armSend(performance.now());
  };

  /** Sends the next message of the schedule; false when the session can send no more. */
  private sendOne(): boolean {
    const ws = this.ws;
    // The peer's close frame makes the socket CLOSING before the session hears its 'close': nothing more goes out.
    if (this.state !== State.Open || ws === null || ws.readyState !== WebSocket.OPEN) return false;
    const run = this.run;
    const bytes = run.opts.payloadBytes;
    const buf = Buffer.allocUnsafe(bytes);
    if (bytes > WS_MESSAGE_HEADER_BYTES) buf.fill(0, WS_MESSAGE_HEADER_BYTES);
    const t = run.clock.now();
    writeWsHeader(buf, this.senderId, this.seq++, t);
    ws.send(buf, SEND_OPTS);
    const members = this.room.members.size;
    this.room.sends++;
    const m = run.rec.messages;
    m.sent++;
    m.expected += members;
    m.bytesSent += bytes;
    const w = run.rec.timeline.at(t);
    w.sent++;
    w.expected += members;
    const data = this.room.data;
    if (data !== null) {
      data.sent++;
      data.expected += members;
    }
    this.nextSendAt += run.opts.messageIntervalMs;
    return true;
  }

  private onMessage(buf: Buffer, isBinary: boolean): void {
    const run = this.run;
    const t = run.clock.now();
    const m = run.rec.messages;
    m.received++;
    m.bytesReceived += buf.length;
    run.rec.timeline.at(t).received++;
    const data = this.room.data;
    if (data !== null) data.received++;
    if (!isBinary || buf.length < WS_MESSAGE_HEADER_BYTES) return;
    const sentAt = buf.readDoubleLE(WS_SENT_AT_OFFSET);
    if (!(sentAt > this.joinedAt && sentAt < this.leftAt) || !run.ownsSender(buf.readUInt32LE(WS_SENDER_OFFSET))) return;
    this.delivered++;
    m.delivered++;
    if (data !== null) data.delivered++;
    run.rec.timeline.at(sentAt).delivered++;
    run.rec.fanout.record((t - sentAt) * 1000);
    if (this.state === State.Draining && this.delivered >= this.owed) this.close();
  }

  /** Leaves the room, then closes once every message owed has come, or after the drain bound. */
  private leave(kind: EndKind): void {
    if (this.state !== State.Open) return;
    clearTimeout(this.timer);
    clearTimeout(this.sendTimer);
    this.endKind = kind;
    this.leaveRoom();
    this.state = State.Draining;
    if (this.delivered >= this.owed) {
      this.close();
      return;
    }
    this.timer = setTimeout(() => this.close(), this.run.opts.drainTimeoutMs);
  }

  private leaveRoom(): void {
    this.leftAt = this.run.clock.now();
    this.room.members.delete(this);
    this.owed = this.room.sends - this.joinSends;
  }

  private close(): void {
    if (this.state !== State.Draining) return;
    clearTimeout(this.timer);
    this.state = State.Closing;
    this.ws!.close(WS_CLOSE_NORMAL);
    this.timer = setTimeout(() => this.ws!.terminate(), this.run.opts.closeTimeoutMs);
  }

  private onClose(code: number): void {
    if (this.state === State.Ended) return;
    clearTimeout(this.timer);
    clearTimeout(this.sendTimer);
    const run = this.run;
    const t = run.clock.now();
    const wasOpen = this.state === State.Open;
    this.state = State.Ended;
    if (this.opened) {
      if (wasOpen) {
        // Ended before its length, by the peer or the network: a failure, with what was in flight to it lost.
        this.leaveRoom();
        const cause = code === 1006 ? (this.cause ?? CAUSES.closed) : wsCloseCause(code);
        run.rec.failed(t, cause, true);
      } else if (this.endKind === "completed") {
        run.rec.sessions.completed++;
      } else {
        run.rec.sessions.stopped++;
      }
      run.rec.sessionDuration.record((performance.now() - this.attemptAt) * 1000);
      run.rec.closed(t);
    } else if (this.endKind === "stopped" && this.cause === null) {
      run.rec.sessions.stopped++;
    } else {
      run.rec.connecting.record((performance.now() - this.attemptAt) * 1000);
      run.rec.failed(t, this.cause ?? CAUSES.closed, false);
    }
    this.ws = null;
    run.ended(this);
  }
}

class WsSessionRun extends EventEmitter<WsRunEvents> implements WsRun {
  readonly pids: readonly number[] = [];
  readonly done: Promise<WsResult>;
  readonly data: Promise<WsRunData>;
  opts!: ResolvedWsOptions;
  rec!: WsRecorder;
  readonly clock = new StampClock();
  stopping = false;
  private stopRequested = false;
  private sessions: WsSession[] = [];
  private readonly active = new Set<WsSession>();
  private next = 0;
  private endedCount = 0;
  private startPerf = 0;
  private pumpTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private boundTimer: NodeJS.Timeout | undefined;
  private finished = false;
  private resolveData!: (d: WsRunData) => void;

  constructor(options: WsSessionOptions) {
    super();
    this.data = new Promise<WsRunData>((resolve, reject) => {
      this.resolveData = resolve;
      resolveWsOptions(options).then((o) => this.begin(o), reject);
    });
    this.done = resultOf(this, this.data);
  }

  stop(): void {
    this.stopRequested = true;
    if (this.opts === undefined || this.stopping || this.finished) return;
    this.stopping = true;
    clearTimeout(this.pumpTimer);
    clearTimeout(this.boundTimer);
    this.rec.sessions.notStarted += this.sessions.length - this.next;
    this.next = this.sessions.length;
    for (const s of [...this.active]) s.stop();
    this.maybeFinish();
  }

  ownsSender(id: number): boolean {
    const i = id - this.opts.senderIdBase;
    return i >= 0 && i < this.opts.connections && inWsShare(i, this.opts.rooms, this.opts.share);
  }

  ended(s: WsSession): void {
    this.active.delete(s);
    this.endedCount++;
    this.maybeFinish();
  }

  private begin(o: ResolvedWsOptions): void {
    this.opts = o;
    const t0 = this.clock.now();
    this.startPerf = performance.now();
    this.rec = new WsRecorder(t0);
    const rooms = new Map<string, DriverRoom>();
    const indexes = wsShareSessions(o.connections, o.rooms, o.share);
    const sources = o.sourceAddresses;
    for (const i of indexes) {
      const name = wsRoomName(i, o.rooms);
      let room: DriverRoom;
      const url = new URL(o.url);
      if (name === null) {
        room = new DriverRoom(null);
      } else {
        let r = rooms.get(name);
        if (r === undefined) {
          const data: WsRoomData = { sessions: 0, peakMembers: 0, sent: 0, received: 0, expected: 0, delivered: 0 };
          this.rec.rooms[name] = data;
          r = new DriverRoom(data);
          rooms.set(name, r);
        }
        r.data!.sessions++;
        room = r;
        url.searchParams.set(WS_ROOM_PARAM, name);
      }
      this.sessions.push(new WsSession(this, i, room, url.toString(), sources.length > 0 ? sources[i % sources.length] : undefined));
    }
    const info: WsStartInfo = { url: o.url.toString(), sessions: indexes.length, connections: o.connections, rooms: [...rooms.keys()], share: { ...o.share } };
    this.tickTimer = setInterval(() => this.emit("tick", this.tickInfo()), o.tickMs);
    this.boundTimer = setTimeout(() => this.stop(), o.maxRunMs);
    // Listeners attached after startWsSessions() returned still hear `start`.
    setImmediate(() => {
      this.emit("start", info);
      if (this.stopRequested) this.stop();
      else this.pump();
      this.maybeFinish();
    });
  }

  /** Starts every session whose time has come, then sleeps until the next one's. */
  private readonly pump = (): void => {
    if (this.stopping) return;
    const rate = this.opts.connectRate;
    const elapsed = performance.now() - this.startPerf;
    while (this.next < this.sessions.length) {
      const s = this.sessions[this.next]!;
      const due = rate === null ? 0 : (s.index / rate) * 1000;
      if (due > elapsed) {
        this.pumpTimer = setTimeout(this.pump, due - elapsed);
        return;
      }
      this.next++;
      this.active.add(s);
      s.start();
    }
  };

  private tickInfo(): WsTickInfo {
    const r = this.rec;
    return {
      elapsedMs: Math.round(performance.now() - this.startPerf),
      open: r.openNow,
      opened: r.sessions.opened,
      failed: r.sessions.failed,
      sent: r.messages.sent,
      received: r.messages.received,
      expected: r.messages.expected,
      delivered: r.messages.delivered,
    };
  }

  private maybeFinish(): void {
    if (this.finished || this.next < this.sessions.length || this.active.size > 0) return;
    if (this.endedCount + this.rec.sessions.notStarted < this.sessions.length) return;
    this.finished = true;
    clearTimeout(this.pumpTimer);
    clearTimeout(this.boundTimer);
    clearInterval(this.tickTimer);
    this.emit("tick", this.tickInfo());
    this.resolveData(this.rec.finish(this.clock.now()));
  }
}
