import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createH1Server, ServerResponse, type IncomingMessage } from "node:http";
import {
  createServer as createH2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { InfraError } from "../errors.js";
import {
  buildBody,
  failsAt,
  resolveStubOptions,
  type ResolvedStubOptions,
  type StubOptions,
} from "./options.js";
import { sniffProtocol } from "./sniff.js";
import { isWebSocketUpgrade, StubWebSockets } from "./ws.js";
import type { StubCounts } from "./counts.js";
import { BACKEND_HEADER, CONN_HEADER, formatHostPort, HEALTH_PATH, SERVER_HEADER } from "../wire.js";

export interface StubAddress {
  readonly backend: string;
  readonly server: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

export interface StartedStub extends StubAddress {
  counts(): StubCounts;
  /** Closes the listener and every connection (keep-alive and h2 sessions included). Safe to call twice. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Above nginx's default upstream keepalive_timeout (60 s), so the proxy, not the stub, closes idle connections. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** The kernel caps this at net.core.somaxconn (4096 on the machines seen so far). */
const LISTEN_BACKLOG = 8192;
const H2_MAX_CONCURRENT_STREAMS = 1000;
const HEALTH_BODY = Buffer.from("ok\n");

function isHealthPath(path: string | undefined): boolean {
  return (
    path !== undefined &&
    path.startsWith(HEALTH_PATH) &&
    (path.length === HEALTH_PATH.length || path.charCodeAt(HEALTH_PATH.length) === 63 /* ? */)
  );
}

function noop(): void {}

/** One proxy-to-stub connection. Its header sets are built on first use and reused: only `x-spillway-conn` differs between connections. */
interface Conn {
  readonly port: string;
  counted: boolean;
  h1Ok?: string[];
  h1Fail?: string[];
  h1Health?: string[];
  h2Ok?: OutgoingHttpHeaders;
  h2Fail?: OutgoingHttpHeaders;
  h2Health?: OutgoingHttpHeaders;
}

export function startStub(opts: StubOptions): Promise<StartedStub> {
  let resolved: ResolvedStubOptions;
  try {
    resolved = resolveStubOptions(opts);
  } catch (err) {
    return Promise.reject(err);
  }
  return new Stub(resolved).listen();
}

class Stub implements StartedStub {
  readonly backend: string;
  readonly server: string;
  readonly host: string;
  port: number;
  url: string;

  private readonly opts: ResolvedStubOptions;
  private readonly body: Buffer;
  private readonly serverId: string;
  private readonly bodyLength: string;

  private readonly net: NetServer;
  private readonly h1 = createH1Server();
  private readonly h2 = createH2Server({
    settings: { maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS },
    peerMaxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
  });
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private readonly h1Conns = new WeakMap<Socket, Conn>();
  /** Connections handed to the WebSocket side: a stop lets their close handshake finish instead of cutting them. */
  private readonly upgraded = new WeakSet<Socket>();
  private readonly ws: StubWebSockets;
  private readonly h2Conns = new WeakMap<Http2Session, Conn>();
  private nextH2Conn: Conn | undefined;

  private seq = 0;
  private ok = 0;
  private failed = 0;
  private h1Served = 0;
  private h2Served = 0;
  private connections = 0;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(opts: ResolvedStubOptions) {
    this.opts = opts;
    this.backend = opts.backend;
    this.server = opts.server;
    this.host = opts.host;
    this.port = opts.port;
    this.url = `http://${formatHostPort({ host: opts.host, port: opts.port })}`;
    this.serverId = `${opts.backend}/${opts.server}`;
    this.body = buildBody(opts.backend, opts.server, opts.bodyBytes);
    this.bodyLength = String(this.body.length);

    this.h1.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    // Node enforces headersTimeout/requestTimeout only on a server that listens itself; this one
    // gets its sockets from the sniffer, so these two only keep the settings consistent.
    this.h1.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
    this.h1.requestTimeout = 0;
    this.h1.maxRequestsPerSocket = 0;
    this.h1.on("request", this.onH1Request);
    this.h1.on("upgrade", this.onUpgrade);
    this.ws = new StubWebSockets(opts.backend, this.serverId);
    this.h2.on("session", this.onH2Session);
    this.h2.on("stream", this.onH2Stream);

    this.net = createNetServer({ noDelay: true }, this.onConnection);
  }

  listen(): Promise<StartedStub> {
    const where = formatHostPort({ host: this.host, port: this.opts.port });
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(listenError(this.serverId, where, this.opts.port, err));
      };
      this.net.once("error", onError);
      this.net.listen({ host: this.host, port: this.opts.port, backlog: LISTEN_BACKLOG }, () => {
        this.net.off("error", onError);
        // A listener error after startup (rare: EMFILE on accept) must not crash the process.
        this.net.on("error", noop);
        const addr = this.net.address();
        if (addr !== null && typeof addr === "object") this.port = addr.port;
        this.url = `http://${formatHostPort({ host: this.host, port: this.port })}`;
        resolve(this);
      });
    });
  }

  counts(): StubCounts {
    const byStatus: Record<string, number> = {};
    if (this.ok > 0) byStatus["200"] = this.ok;
    if (this.failed > 0) {
      const status = String(this.opts.failureStatus);
      byStatus[status] = (byStatus[status] ?? 0) + this.failed;
    }
    const counts: StubCounts = {
      served: this.ok + this.failed,
      byStatus,
      byProtocol: { h1: this.h1Served, h2: this.h2Served },
      connections: this.connections,
    };
    const ws = this.ws.counts();
    if (ws !== undefined) counts.ws = ws;
    return counts;
  }

  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  private async close(): Promise<void> {
    this.stopped = true;
    const closed = new Promise<void>((resolve) => {
      this.net.close(() => resolve());
    });
    const wsClosed = this.ws.close();
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) if (!this.upgraded.has(socket)) socket.destroy();
    await wsClosed;
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private readonly onConnection = (socket: Socket): void => {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on("error", noop);
    socket.once("close", () => this.sockets.delete(socket));
    let head: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      head = head === undefined ? chunk : Buffer.concat([head, chunk]);
      const kind = sniffProtocol(head);
      if (kind === "more") return;
      socket.off("data", onData);
      socket.pause();
      socket.unshift(head);
      const conn: Conn = { port: String(socket.remotePort), counted: false };
      if (kind === "h2") {
        // Http2Session reads its handle natively and, on the next tick, drains what the socket
        // already buffered with socket.read(). The socket must stay paused until then: resuming
        // it would emit the preface as 'data' to no one and the session would fail.
        this.nextH2Conn = conn;
        this.h2.emit("connection", socket);
        this.nextH2Conn = undefined;
      } else {
        this.h1Conns.set(socket, conn);
        this.h1.emit("connection", socket);
        // The http server feeds its parser from 'data' events, and a paused socket emits none.
        socket.resume();
      }
    };
    socket.on("data", onData);
  };

  private readonly onH1Request = (req: IncomingMessage, res: ServerResponse): void => {
    let conn = this.h1Conns.get(req.socket as Socket);
    if (conn === undefined) {
      conn = { port: String(req.socket.remotePort), counted: false };
      this.h1Conns.set(req.socket as Socket, conn);
    }
    res.sendDate = false;
    if (isHealthPath(req.url)) {
      conn.h1Health ??= this.h1Headers(conn, HEALTH_BODY.length);
      res.writeHead(200, conn.h1Health);
      res.end(HEALTH_BODY);
      return;
    }
    const fail = failsAt(++this.seq, this.opts.failureRate);
    if (this.opts.latencyMs > 0) {
      setTimeout(this.sendH1, this.opts.latencyMs, res, conn, fail);
    } else {
      this.sendH1(res, conn, fail);
    }
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    if (isWebSocketUpgrade(req)) {
      this.upgraded.add(socket);
      this.ws.upgrade(req, socket, head);
      return;
    }
    // Another protocol (h2c's Upgrade, say) is declined and the request served as the plain HTTP/1.1
    // request it also is, as it was before this listener existed; the HTTP server has let go of the
    // socket by now, so the connection closes after the response.
    if (head.length > 0) socket.unshift(head);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once("finish", () => {
      res.detachSocket(socket);
      socket.end();
    });
    this.onH1Request(req, res);
  };

  private readonly sendH1 = (res: ServerResponse, conn: Conn, fail: boolean): void => {
    if (this.stopped || res.destroyed || res.socket?.destroyed === true) return;
    if (fail) {
      conn.h1Fail ??= this.h1Headers(conn, this.body.length);
      res.writeHead(this.opts.failureStatus, conn.h1Fail);
      this.failed++;
    } else {
      conn.h1Ok ??= this.h1Headers(conn, this.body.length);
      res.writeHead(200, conn.h1Ok);
      this.ok++;
    }
    res.end(this.body);
    this.h1Served++;
    if (!conn.counted) {
      conn.counted = true;
      this.connections++;
    }
  };

  private h1Headers(conn: Conn, length: number): string[] {
    return [
      "content-type", "text/plain",
      "content-length", length === this.body.length ? this.bodyLength : String(length),
      BACKEND_HEADER, this.backend,
      SERVER_HEADER, this.serverId,
      CONN_HEADER, conn.port,
    ];
  }

  private readonly onH2Session = (session: Http2Session): void => {
    const conn = this.nextH2Conn ?? { port: String(session.socket?.remotePort), counted: false };
    this.h2Conns.set(session, conn);
    this.sessions.add(session);
    session.once("close", () => this.sessions.delete(session));
  };

  private readonly onH2Stream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    // A peer's RST_STREAM with an error code surfaces as 'error'; unhandled, it would end the process.
    stream.on("error", noop);
    const session = stream.session;
    const conn = session === undefined ? undefined : this.h2Conns.get(session);
    if (conn === undefined) {
      stream.close();
      return;
    }
    const method = headers[":method"];
    const head = method === "HEAD";
    if (method !== "GET" && !head) stream.resume();
    if (isHealthPath(headers[":path"])) {
      conn.h2Health ??= this.h2Headers(conn, HEALTH_BODY.length, 200);
      if (head) {
        stream.respond(conn.h2Health, { endStream: true });
      } else {
        stream.respond(conn.h2Health);
        stream.end(HEALTH_BODY);
      }
      return;
    }
    const fail = failsAt(++this.seq, this.opts.failureRate);
    if (this.opts.latencyMs > 0) {
      setTimeout(this.sendH2, this.opts.latencyMs, stream, conn, fail, head);
    } else {
      this.sendH2(stream, conn, fail, head);
    }
  };

  private readonly sendH2 = (stream: ServerHttp2Stream, conn: Conn, fail: boolean, head: boolean): void => {
    if (this.stopped || stream.destroyed || stream.closed) return;
    let headers: OutgoingHttpHeaders;
    if (fail) {
      headers = conn.h2Fail ??= this.h2Headers(conn, this.body.length, this.opts.failureStatus);
      this.failed++;
    } else {
      headers = conn.h2Ok ??= this.h2Headers(conn, this.body.length, 200);
      this.ok++;
    }
    if (head) {
      stream.respond(headers, { endStream: true });
    } else {
      stream.respond(headers);
      stream.end(this.body);
    }
    this.h2Served++;
    if (!conn.counted) {
      conn.counted = true;
      this.connections++;
    }
  };

  private h2Headers(conn: Conn, length: number, status: number): OutgoingHttpHeaders {
    return {
      ":status": status,
      "content-type": "text/plain",
      "content-length": length,
      [BACKEND_HEADER]: this.backend,
      [SERVER_HEADER]: this.serverId,
      [CONN_HEADER]: conn.port,
    };
  }
}

function listenError(serverId: string, where: string, port: number, err: NodeJS.ErrnoException): InfraError {
  const prefix = `stub ${serverId} cannot listen on ${where}`;
  switch (err.code) {
    case "EADDRINUSE":
      return new InfraError(
        `${prefix}: port in use: pick another base port or free it`,
        `\`ss -ltnp 'sport = :${port}'\` shows which process holds it`,
      );
    case "EACCES":
      return new InfraError(`${prefix}: permission denied: ports below 1024 need privileges, pick a base port of 1024 or more`);
    case "EADDRNOTAVAIL":
      return new InfraError(`${prefix}: address not available: use 127.0.0.1 or another loopback address`);
    default:
      return new InfraError(`${prefix}: ${err.message}`);
  }
}
