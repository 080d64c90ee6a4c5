/**
 * HTTP/2 client framing written directly on a socket (h2c with prior
 * knowledge on net.Socket, or h2 over TLS with ALPN).
 *
 * Why not node:http2: per request it builds header objects, a stream object,
 * events and promises; profiling showed that work, not the network, capping a
 * load loop at about a third of h2load. Here a request is one precomputed
 * HEADERS frame (only the stream id changes) copied into a batch that goes out
 * in one write, and a response is read straight out of the socket's bytes:
 * HPACK keeps its dynamic table in sync but only the few wanted header values
 * are turned into strings; DATA is counted and dropped.
 * @internal
 */
import { BaseConn, CLOSED, CONNECTING, OPEN, type ConnOwner, type ConnTarget, type Req } from "./conn.js";
import { encodeStaticBlock, HpackDecoder, HpackError, type DecodedHeaders, type WantedNames } from "./hpack.js";
import { CAUSES, type ConnCause } from "../wire.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

const T_DATA = 0x0;
const T_HEADERS = 0x1;
const T_RST_STREAM = 0x3;
const T_SETTINGS = 0x4;
const T_PUSH_PROMISE = 0x5;
const T_PING = 0x6;
const T_GOAWAY = 0x7;
const T_WINDOW_UPDATE = 0x8;
const T_CONTINUATION = 0x9;

const F_END_STREAM = 0x1;
const F_ACK = 0x1;
const F_END_HEADERS = 0x4;
const F_PADDED = 0x8;
const F_PRIORITY = 0x20;

const S_HEADER_TABLE_SIZE = 0x1;
const S_ENABLE_PUSH = 0x2;
const S_MAX_CONCURRENT_STREAMS = 0x3;
const S_INITIAL_WINDOW_SIZE = 0x4;

const E_NO_ERROR = 0x0;
const E_PROTOCOL_ERROR = 0x1;
const E_REFUSED_STREAM = 0x7;
const E_CANCEL = 0x8;

const MAX_WINDOW = 0x7fffffff;
const DEFAULT_WINDOW = 65535;
const LAST_STREAM_ID = 0x7fffffff;
/** HPACK table size we advertise (the default; the decoder implements the dynamic table). */
const HEADER_TABLE_SIZE = 4096;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(streamId, 5);
  payload.copy(f, 9);
  return f;
}

function settingsPayload(entries: ReadonlyArray<readonly [number, number]>): Buffer {
  const b = Buffer.allocUnsafe(entries.length * 6);
  entries.forEach(([id, v], i) => {
    b.writeUInt16BE(id, i * 6);
    b.writeUInt32BE(v, i * 6 + 2);
  });
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/**
 * Client connection preface: the magic, our SETTINGS (no push, a stream
 * window large enough that responses never wait for WINDOW_UPDATE) and a
 * connection-level WINDOW_UPDATE to the maximum.
 */
const CLIENT_PREFACE = Buffer.concat([
  PREFACE,
  frame(
    T_SETTINGS,
    0,
    0,
    settingsPayload([
      [S_HEADER_TABLE_SIZE, HEADER_TABLE_SIZE],
      [S_ENABLE_PUSH, 0],
      [S_INITIAL_WINDOW_SIZE, MAX_WINDOW],
    ]),
  ),
  frame(T_WINDOW_UPDATE, 0, 0, u32(MAX_WINDOW - DEFAULT_WINDOW)),
]);
const SETTINGS_ACK = frame(T_SETTINGS, F_ACK, 0, Buffer.alloc(0));
const GOAWAY_NO_ERROR = frame(T_GOAWAY, 0, 0, Buffer.concat([u32(0), u32(E_NO_ERROR)]));

/** Everything connections of one run share. */
export interface H2Shared {
  names: WantedNames;
  /** One HEADERS frame (END_STREAM | END_HEADERS), stream id 0, repeated BATCH times. */
  requestFrames: Buffer;
  frameLen: number;
  /** Max concurrent streams we open per connection. */
  streams: number;
  /** One read buffer for every h2c socket: a read is fully handled before the next one. */
  readBuffer: Buffer;
}

const BATCH = 64;

export function buildH2Shared(opts: {
  names: WantedNames;
  scheme: "http" | "https";
  authority: string;
  path: string;
  streams: number;
}): H2Shared {
  const block = encodeStaticBlock([
    [":method", "GET"],
    [":scheme", opts.scheme],
    [":authority", opts.authority],
    [":path", opts.path],
    ["user-agent", "spillway"],
  ]);
  const one = frame(T_HEADERS, F_END_STREAM | F_END_HEADERS, 0, block);
  const frames = Buffer.allocUnsafe(one.length * BATCH);
  for (let i = 0; i < BATCH; i++) one.copy(frames, i * one.length);
  return { names: opts.names, requestFrames: frames, frameLen: one.length, streams: opts.streams, readBuffer: Buffer.allocUnsafe(64 * 1024) };
}

/*
 * Requests written after a read go out one event-loop turn later, after the
 * next poll has read whatever else arrived on the socket: fewer, larger
 * writes, so the server also reads many requests at once (measured: about
 * 15% fewer write calls against nginx at 300 x 40, and less nginx CPU per
 * request). The delay is one non-blocking loop turn: a second turn (tried
 * first) cost about 15% more CPU per request and 10% of the throughput
 * (npm run bench, c=300 m=40: 0.85x of h2load with two turns, 0.95-1.04x with one).
 */
let dirty: H2Conn[] = [];
let flushScheduled = false;
function runFlush(): void {
  flushScheduled = false;
  const list = dirty;
  dirty = [];
  for (const c of list) c.flushDeferred();
}
function deferFlush(c: H2Conn): void {
  if (c.dirty) return;
  c.dirty = true;
  dirty.push(c);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(runFlush);
  }
}

const HTTP1 = Buffer.from("HTTP/1.", "latin1");

/** True when the bytes begin an HTTP/1.x status line (as far as they go: at least "HTTP/"). */
function startsWithHttp1(buf: Buffer, start: number, end: number): boolean {
  const n = Math.min(end - start, HTTP1.length);
  return n >= 5 && buf.compare(HTTP1, 0, n, start, start + n) === 0;
}

/** Where header blocks for streams nobody waits for (timed out, trailers) are decoded to. */
const DISCARD: DecodedHeaders = { status: 0, backend: null, server: null, proxyConns: null, route: null };

export class H2Conn extends BaseConn<H2Shared> {
  limit: number;

  private readonly streams = new Map<number, Req>();
  private readonly decoder: HpackDecoder;
  private nextStreamId = 1;
  private rem: Buffer | null = null;
  private pendFirst = 0;
  private pendCount = 0;
  private ctrl: Buffer[] | null = null;
  private hdrParts: Buffer[] | null = null;
  private hdrStream = 0;
  private hdrEndStream = false;
  private received = 0;
  private goawayLast = -1;

  constructor(id: number, slot: number, owner: ConnOwner, shared: H2Shared, target: ConnTarget) {
    super(id, slot, owner, shared, target);
    this.limit = shared.streams;
    this.decoder = new HpackDecoder(shared.names, HEADER_TABLE_SIZE);
  }

  connect(): void {
    this.openSocket("h2", true, (sock) => {
      sock.write(CLIENT_PREFACE);
    });
  }

  send(req: Req, now: number): void {
    const sid = this.nextStreamId;
    this.nextStreamId += 2;
    req.streamId = sid;
    req.sentMs = now;
    req.resetResponse();
    this.streams.set(sid, req);
    this.inflight++;
    this.issued++;
    this.lastActiveMs = now;
    if (this.pendCount === 0) this.pendFirst = sid;
    this.pendCount++;
    if (this.nextStreamId >= LAST_STREAM_ID - 2) this.accepting = false;
  }

  dirty = false;

  flushDeferred(): void {
    this.dirty = false;
    this.flush();
  }

  flush(): void {
    if ((this.pendCount === 0 && this.ctrl === null) || this.state === CLOSED || this.socket === null) return;
    const fl = this.shared.frameLen;
    let ctrlLen = 0;
    if (this.ctrl !== null) for (const c of this.ctrl) ctrlLen += c.length;
    const n = this.pendCount;
    const out = Buffer.allocUnsafe(ctrlLen + n * fl);
    let off = 0;
    if (this.ctrl !== null) {
      for (const c of this.ctrl) off += c.copy(out, off);
      this.ctrl = null;
    }
    const frames = this.shared.requestFrames;
    let sid = this.pendFirst;
    for (let done = 0; done < n; ) {
      const k = Math.min(BATCH, n - done);
      frames.copy(out, off, 0, k * fl);
      for (let i = 0; i < k; i++) {
        const p = off + i * fl + 5;
        out[p] = (sid >>> 24) & 0x7f;
        out[p + 1] = (sid >>> 16) & 0xff;
        out[p + 2] = (sid >>> 8) & 0xff;
        out[p + 3] = sid & 0xff;
        sid += 2;
      }
      off += k * fl;
      done += k;
    }
    this.pendCount = 0;
    this.socket.write(out);
  }

  sweep(now: number, timeoutMs: number): void {
    if (this.inflight === 0) return;
    for (const [sid, req] of this.streams) {
      if (now - req.sentMs < timeoutMs) break;
      this.streams.delete(sid);
      this.inflight--;
      this.queueCtrl(frame(T_RST_STREAM, 0, sid, u32(E_CANCEL)));
      this.owner.onRequestError(this, req, CAUSES.timeout, false);
      if (this.state === CLOSED) return;
    }
    this.flush();
    this.checkDrained();
  }

  private queueCtrl(b: Buffer): void {
    if (this.ctrl === null) this.ctrl = [b];
    else this.ctrl.push(b);
  }

  protected checkDrained(): void {
    if (this.state !== OPEN || this.accepting || this.inflight > 0) return;
    // Nothing left to wait for: say goodbye and let the socket go once written.
    const s = this.socket;
    if (this.goawayLast < 0) this.queueCtrl(GOAWAY_NO_ERROR);
    this.flush();
    this.teardown(CAUSES.closed);
    s?.destroySoon();
  }

  protected teardown(cause: ConnCause): void {
    if (this.state === CLOSED) return;
    const wasOpen = this.state === OPEN;
    this.state = CLOSED;
    this.accepting = false;
    this.rem = null;
    this.hdrParts = null;
    if (this.streams.size > 0) {
      const reqs = [...this.streams.values()];
      this.streams.clear();
      this.inflight = 0;
      for (const r of reqs) this.owner.onRequestError(this, r, cause, false);
    }
    this.inflight = 0;
    this.owner.onClose(this, wasOpen ? null : cause);
  }

  private protocolError(): void {
    if (this.state === CLOSED) return;
    this.queueCtrl(frame(T_GOAWAY, 0, 0, Buffer.concat([u32(0), u32(E_PROTOCOL_ERROR)])));
    this.flush();
    this.destroy(CAUSES.protocol);
  }

  /** Handles one read: every complete frame in it, the tail kept for the next read. */
  onRead(buf: Buffer, start: number, end: number): void {
    if (this.state === CLOSED) return;
    if (this.state === CONNECTING && this.rem === null && startsWithHttp1(buf, start, end)) {
      // An HTTP/1.x answer to our preface (typically 400 and a close): the server does not speak h2c here.
      this.destroy(CAUSES.notHttp2);
      return;
    }
    let p = start;
    try {
      if (this.rem !== null) {
        p = this.completeRemainder(buf, p, end);
        if (p < 0 || this.state === CLOSED) return;
      }
      while (end - p >= 9) {
        const len = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
        if (p + 9 + len > end) break;
        const sid = (((buf[p + 5]! & 0x7f) << 24) | (buf[p + 6]! << 16) | (buf[p + 7]! << 8) | buf[p + 8]!) >>> 0;
        this.onFrame(buf, p + 9, len, buf[p + 3]!, buf[p + 4]!, sid);
        if (this.state === CLOSED) return;
        p += 9 + len;
      }
      if (p < end) {
        const r = Buffer.allocUnsafe(end - p);
        buf.copy(r, 0, p, end);
        this.rem = r;
      }
    } catch (e) {
      if (e instanceof HpackError) {
        this.protocolError();
        return;
      }
      throw e;
    }
    deferFlush(this);
    this.checkDrained();
  }

  /** Completes a frame split across reads; returns the offset after it, or -1 if more bytes are needed. */
  private completeRemainder(buf: Buffer, p: number, end: number): number {
    let rem = this.rem!;
    if (rem.length < 9) {
      const take = Math.min(9 - rem.length, end - p);
      rem = Buffer.concat([rem, buf.subarray(p, p + take)]);
      p += take;
      if (rem.length < 9) {
        this.rem = rem;
        return -1;
      }
    }
    const len = (rem[0]! << 16) | (rem[1]! << 8) | rem[2]!;
    const total = 9 + len;
    const take = Math.min(total - rem.length, end - p);
    if (take > 0) {
      rem = Buffer.concat([rem, buf.subarray(p, p + take)]);
      p += take;
    }
    if (rem.length < total) {
      this.rem = rem;
      return -1;
    }
    this.rem = null;
    const sid = rem.readUInt32BE(5) & 0x7fffffff;
    this.onFrame(rem, 9, len, rem[3]!, rem[4]!, sid);
    return p;
  }

  private onFrame(buf: Buffer, off: number, len: number, type: number, flags: number, sid: number): void {
    if (this.hdrParts !== null && type !== T_CONTINUATION) {
      this.protocolError();
      return;
    }
    switch (type) {
      case T_DATA: {
        const req = this.streams.get(sid);
        this.received += len;
        if (this.received >= 0x40000000) {
          this.queueCtrl(frame(T_WINDOW_UPDATE, 0, 0, u32(this.received)));
          this.received = 0;
        }
        if (req !== undefined && flags & F_END_STREAM) this.finish(sid, req);
        break;
      }
      case T_HEADERS: {
        let p = off;
        let e = off + len;
        if (flags & F_PADDED) {
          e -= buf[p]!;
          p++;
        }
        if (flags & F_PRIORITY) p += 5;
        if (e < p) {
          this.protocolError();
          return;
        }
        if (flags & F_END_HEADERS) {
          this.headerBlock(sid, buf, p, e, (flags & F_END_STREAM) !== 0);
        } else {
          this.hdrStream = sid;
          this.hdrEndStream = (flags & F_END_STREAM) !== 0;
          this.hdrParts = [Buffer.from(buf.subarray(p, e))];
        }
        break;
      }
      case T_CONTINUATION: {
        if (this.hdrParts === null || sid !== this.hdrStream) {
          this.protocolError();
          return;
        }
        this.hdrParts.push(Buffer.from(buf.subarray(off, off + len)));
        if (flags & F_END_HEADERS) {
          const block = Buffer.concat(this.hdrParts);
          this.hdrParts = null;
          this.headerBlock(sid, block, 0, block.length, this.hdrEndStream);
        }
        break;
      }
      case T_RST_STREAM: {
        const req = this.streams.get(sid);
        if (req !== undefined && len >= 4) {
          const code = buf.readUInt32BE(off);
          this.streams.delete(sid);
          this.inflight--;
          const refused = code === E_REFUSED_STREAM;
          this.owner.onRequestError(this, req, refused ? CAUSES.refusedStream : CAUSES.reset, refused);
        }
        break;
      }
      case T_SETTINGS: {
        if (flags & F_ACK) break;
        if (sid !== 0 || len % 6 !== 0) {
          this.protocolError();
          return;
        }
        let limit = this.shared.streams;
        let maxStreams = -1;
        for (let p = off; p < off + len; p += 6) {
          const id = buf.readUInt16BE(p);
          const v = buf.readUInt32BE(p + 2);
          if (id === S_MAX_CONCURRENT_STREAMS) maxStreams = v;
        }
        this.queueCtrl(SETTINGS_ACK);
        if (maxStreams >= 0) limit = Math.min(limit, maxStreams);
        else if (this.state === OPEN) limit = this.limit;
        const changed = limit !== this.limit;
        this.limit = limit;
        if (this.state === CONNECTING) {
          this.state = OPEN;
          this.owner.onOpen(this);
        } else if (changed) {
          this.owner.onCapacity(this);
        }
        break;
      }
      case T_PING:
        if ((flags & F_ACK) === 0 && len === 8) this.queueCtrl(frame(T_PING, F_ACK, 0, Buffer.from(buf.subarray(off, off + 8))));
        break;
      case T_GOAWAY: {
        if (len < 8) {
          this.protocolError();
          return;
        }
        this.onGoawayFrame(buf.readUInt32BE(off) & 0x7fffffff);
        break;
      }
      case T_PUSH_PROMISE:
        // Push is disabled in our SETTINGS; a PUSH_PROMISE is a protocol error.
        this.protocolError();
        return;
      case T_WINDOW_UPDATE:
      default:
        // We send no DATA, so the peer's flow-control windows never matter; unknown types are ignored.
        break;
    }
  }

  private headerBlock(sid: number, buf: Buffer, start: number, end: number, endStream: boolean): void {
    const req = this.streams.get(sid);
    const into = req !== undefined && req.status < 200 ? req : DISCARD;
    this.decoder.decode(buf, start, end, into);
    if (req !== undefined && endStream) this.finish(sid, req);
  }

  private finish(sid: number, req: Req): void {
    this.streams.delete(sid);
    this.inflight--;
    if (req.status < 200) {
      this.owner.onRequestError(this, req, CAUSES.protocol, false);
      return;
    }
    this.responses++;
    this.owner.onResponse(this, req);
  }

  private onGoawayFrame(last: number): void {
    if (this.goawayLast >= 0 && last > this.goawayLast) return;
    this.goawayLast = last;
    this.accepting = false;
    // Streams above last-stream-id were never processed: safe to send again elsewhere.
    for (const [sid, req] of this.streams) {
      if (sid > last) {
        this.streams.delete(sid);
        this.inflight--;
        this.owner.onRequestError(this, req, CAUSES.goaway, true);
        if (this.state === CLOSED) return;
      }
    }
    this.owner.onGoaway(this);
  }
}
