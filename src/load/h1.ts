/**
 * HTTP/1.1 client on a raw socket: one precomputed request, a small response
 * parser (status line, the wanted headers, Content-Length / chunked / until
 * close bodies, 1xx skipped), keep-alive or Connection: close.
 * @internal
 */
import { BaseConn, CLOSED, CONNECTING, OPEN, type ConnOwner, type ConnTarget, type Req } from "./conn.js";
import { CAUSES, type ConnCause } from "../wire.js";

export interface H1Shared {
  request: Buffer;
  countBy: string;
  server: string;
  proxyConns: string;
  route: string;
  readBuffer: Buffer;
}

export function buildH1Shared(opts: {
  authority: string;
  path: string;
  close: boolean;
  countBy: string;
  server: string;
  proxyConns: string;
  route: string;
}): H1Shared {
  const lines = [`GET ${opts.path} HTTP/1.1`, `Host: ${opts.authority}`, "User-Agent: spillway"];
  if (opts.close) lines.push("Connection: close");
  return {
    request: Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"),
    countBy: opts.countBy.toLowerCase(),
    server: opts.server.toLowerCase(),
    proxyConns: opts.proxyConns.toLowerCase(),
    route: opts.route.toLowerCase(),
    readBuffer: Buffer.allocUnsafe(64 * 1024),
  };
}

const HEAD = 0;
const BODY_LEN = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_CRLF = 4;
const TRAILERS = 5;
const BODY_EOF = 6;

const CRLF = Buffer.from("\r\n", "latin1");
const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");
const MAX_HEAD = 64 * 1024;

/** Bytes that end the connection with `outcome`: a malformed HTTP/1.x response, or (not-http1) not HTTP/1.x at all. */
class ParseError extends Error {
  constructor(
    message: string,
    readonly outcome: ConnCause = CAUSES.protocol,
  ) {
    super(message);
  }
}

export class H1Conn extends BaseConn<H1Shared> {
  limit = 1;

  private req: Req | null = null;
  private pending = false;
  private phase = HEAD;
  private remaining = 0;
  private partial: Buffer | null = null;
  private keepAlive = true;

  constructor(id: number, slot: number, owner: ConnOwner, shared: H1Shared, target: ConnTarget) {
    super(id, slot, owner, shared, target);
  }

  connect(): void {
    const opened = (): void => {
      if (this.state !== CONNECTING) return;
      this.state = OPEN;
      this.owner.onOpen(this);
    };
    this.openSocket("http/1.1", false, opened);
  }

  send(req: Req, now: number): void {
    req.sentMs = now;
    req.streamId = this.issued + 1;
    req.resetResponse();
    this.req = req;
    this.inflight = 1;
    this.issued++;
    this.lastActiveMs = now;
    this.pending = true;
    this.phase = HEAD;
  }

  flush(): void {
    if (!this.pending || this.state === CLOSED || this.socket === null) return;
    this.pending = false;
    this.socket.write(this.shared.request);
  }

  sweep(now: number, timeoutMs: number): void {
    const req = this.req;
    if (req === null || now - req.sentMs < timeoutMs) return;
    // An HTTP/1.1 request cannot be cancelled on its own: the connection goes with it,
    // and takes no new request meanwhile (the owner pumps when it hears of the timeout).
    this.req = null;
    this.inflight = 0;
    this.accepting = false;
    this.owner.onRequestError(this, req, CAUSES.timeout, false);
    this.destroy(CAUSES.closed);
  }

  protected checkDrained(): void {
    if (this.state !== OPEN || this.accepting || this.inflight > 0) return;
    const s = this.socket;
    this.teardown(CAUSES.closed);
    s?.destroy();
  }

  protected teardown(cause: ConnCause): void {
    if (this.state === CLOSED) return;
    const wasOpen = this.state === OPEN;
    const req = this.req;
    if (req !== null && this.phase === BODY_EOF && cause === CAUSES.closed) {
      // The body was delimited by the close itself: this is a complete response.
      this.req = null;
      this.inflight = 0;
      this.state = CLOSED;
      this.responses++;
      this.owner.onResponse(this, req);
      this.owner.onClose(this, null);
      return;
    }
    this.state = CLOSED;
    this.accepting = false;
    this.partial = null;
    this.req = null;
    this.inflight = 0;
    if (req !== null) this.owner.onRequestError(this, req, cause, false);
    this.owner.onClose(this, wasOpen ? null : cause);
  }

  onRead(buf: Buffer, start: number, end: number): void {
    if (this.state === CLOSED) return;
    try {
      this.parse(buf, start, end);
    } catch (e) {
      if (e instanceof ParseError) {
        this.destroy(e.outcome);
        return;
      }
      throw e;
    }
    if (this.state === CLOSED) return;
    this.flush();
    this.checkDrained();
  }

  /** Returns [data, start, end] with any stashed partial bytes prepended. */
  private withPartial(buf: Buffer, p: number, end: number): [Buffer, number, number] {
    if (this.partial === null) return [buf, p, end];
    const data = Buffer.concat([this.partial, buf.subarray(p, end)]);
    this.partial = null;
    return [data, 0, data.length];
  }

  private stash(data: Buffer, s: number, e: number): void {
    if (e - s > MAX_HEAD) throw new ParseError("response head too large");
    const b = Buffer.allocUnsafe(e - s);
    data.copy(b, 0, s, e);
    this.partial = b;
  }

  private parse(buf: Buffer, p: number, end: number): void {
    while (p < end) {
      const req = this.req;
      if (req === null) throw new ParseError("bytes from the server with no request in flight");
      switch (this.phase) {
        case HEAD: {
          const [data, s, e] = this.withPartial(buf, p, end);
          if (this.responses === 0 && e - s >= 5 && data.toString("latin1", s, s + 5) !== "HTTP/") {
            // The first answer on this connection is not HTTP/1.x (an HTTP/2 server sends a SETTINGS or GOAWAY frame).
            throw new ParseError("the first answer is not HTTP/1.x", CAUSES.notHttp1);
          }
          const idx = data.indexOf(CRLFCRLF, s);
          if (idx < 0 || idx + 4 > e) {
            this.stash(data, s, e);
            return;
          }
          this.parseHead(req, data, s, idx);
          // Continue in `data` from after the head.
          buf = data;
          p = idx + 4;
          end = e;
          if (req.status < 200) {
            this.phase = HEAD;
            continue;
          }
          if (this.phase === HEAD) {
            this.complete(req);
            if (this.state === CLOSED) return;
          }
          break;
        }
        case BODY_LEN: {
          const take = Math.min(this.remaining, end - p);
          this.remaining -= take;
          p += take;
          if (this.remaining === 0) {
            this.complete(req);
            if (this.state === CLOSED) return;
          }
          break;
        }
        case CHUNK_SIZE:
        case TRAILERS: {
          const [data, s, e] = this.withPartial(buf, p, end);
          const idx = data.indexOf(CRLF, s);
          if (idx < 0 || idx + 2 > e) {
            this.stash(data, s, e);
            return;
          }
          buf = data;
          end = e;
          p = idx + 2;
          if (this.phase === TRAILERS) {
            if (idx === s) {
              this.complete(req);
              if (this.state === CLOSED) return;
            }
            break;
          }
          const line = data.toString("latin1", s, idx);
          const semi = line.indexOf(";");
          const size = parseInt(semi >= 0 ? line.slice(0, semi) : line, 16);
          if (!Number.isFinite(size) || size < 0) throw new ParseError("bad chunk size");
          if (size === 0) this.phase = TRAILERS;
          else {
            this.remaining = size;
            this.phase = CHUNK_DATA;
          }
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, end - p);
          this.remaining -= take;
          p += take;
          if (this.remaining === 0) {
            this.phase = CHUNK_CRLF;
            this.remaining = 2;
          }
          break;
        }
        case CHUNK_CRLF: {
          const take = Math.min(this.remaining, end - p);
          this.remaining -= take;
          p += take;
          if (this.remaining === 0) this.phase = CHUNK_SIZE;
          break;
        }
        case BODY_EOF:
          p = end;
          break;
        default:
          throw new ParseError("parser state");
      }
    }
  }

  private parseHead(req: Req, data: Buffer, s: number, e: number): void {
    const text = data.toString("latin1", s, e);
    if (!text.startsWith("HTTP/1.")) throw new ParseError("not an HTTP/1.x response");
    const status = Number(text.slice(9, 12));
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new ParseError("bad status line");
    req.status = status;
    const http10 = text.charCodeAt(7) === 48;
    let keepAlive = !http10;
    let contentLength = -1;
    let chunked = false;
    const sh = this.shared;
    let lineStart = text.indexOf("\r\n");
    while (lineStart >= 0 && lineStart < text.length) {
      const next = text.indexOf("\r\n", lineStart + 2);
      const line = text.slice(lineStart + 2, next < 0 ? text.length : next);
      lineStart = next;
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") contentLength = Number(value);
      else if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
      else if (name === "connection") {
        const v = value.toLowerCase();
        if (v.includes("close")) keepAlive = false;
        else if (v.includes("keep-alive")) keepAlive = true;
      } else if (name === sh.countBy) req.backend = value;
      else if (name === sh.server) req.server = value;
      else if (name === sh.proxyConns) req.proxyConns = value;
      else if (name === sh.route) req.route = value;
    }
    if (status < 200) return;
    this.keepAlive = keepAlive;
    if (status === 204 || status === 304) this.phase = HEAD;
    else if (chunked) this.phase = CHUNK_SIZE;
    else if (contentLength >= 0) {
      if (!Number.isFinite(contentLength)) throw new ParseError("bad content-length");
      this.remaining = contentLength;
      this.phase = contentLength === 0 ? HEAD : BODY_LEN;
    } else {
      this.phase = BODY_EOF;
      this.keepAlive = false;
    }
  }

  private complete(req: Req): void {
    this.req = null;
    this.inflight = 0;
    this.phase = HEAD;
    this.responses++;
    if (!this.keepAlive) {
      this.accepting = false;
      if (this.closeReason === null) this.closeReason = "server-close";
    }
    this.owner.onResponse(this, req);
  }
}
