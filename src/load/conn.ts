/**
 * What the engine and the protocol clients (h2.ts, h1.ts) share: the request
 * record, the owner callbacks a connection reports to, and the connection
 * surface the engine drives.
 * @internal
 */
import net from "node:net";
import tls from "node:tls";
import type { DecodedHeaders } from "./hpack.js";
import { CAUSES, type ConnCause } from "../wire.js";

export class Req implements DecodedHeaders {
  /** When the request was meant to go out: its latency is measured from here. */
  intendedMs: number;
  /** When it was written to a connection (for timeouts). */
  sentMs = 0;
  /** False for requests started during warm-up: they are not counted. */
  measured: boolean;
  retries = 0;
  streamId = 0;
  status = 0;
  backend: string | null = null;
  server: string | null = null;
  proxyConns: string | null = null;
  route: string | null = null;

  constructor(intendedMs: number, measured: boolean) {
    this.intendedMs = intendedMs;
    this.measured = measured;
  }

  resetResponse(): void {
    this.status = 0;
    this.backend = null;
    this.server = null;
    this.proxyConns = null;
    this.route = null;
  }
}

export interface ConnOwner {
  /** The connection is ready for requests. */
  onOpen(c: Conn): void;
  onResponse(c: Conn, req: Req): void;
  /** A request ended without a response; `retryable` when the server promised it did not process it. */
  onRequestError(c: Conn, req: Req, cause: ConnCause, retryable: boolean): void;
  /** The server sent GOAWAY: no new requests on this connection. */
  onGoaway(c: Conn): void;
  /** The concurrency limit changed (server SETTINGS). */
  onCapacity(c: Conn): void;
  /** Called once. `failedCause` is set when the connection never opened. */
  onClose(c: Conn, failedCause: ConnCause | null): void;
}

export interface ConnTarget {
  address: string;
  port: number;
  tls: boolean;
  servername: string;
  localAddress: string | undefined;
  /** The local port for each attempt, when the driver chooses ports (ports.ts); null lets the kernel choose. */
  localPort: (() => number) | null;
  /** Gives a port taken by `localPort` back once its socket has closed. */
  releasePort: ((port: number) => void) | null;
}

/** Ports another program holds are skipped; after this many in a row the attempt fails as the kernel's own choice would. */
const BIND_TRIES = 256;

/**
 * Why a connection was closed gracefully: `ramp-down`, `stop` and `done` by
 * the schedule (the slot stays closed), `policy` (close-after) and `idle` by
 * the pool (the slot reconnects when there is work), `server-close` by the
 * server's `Connection: close`.
 */
export type CloseReason = "ramp-down" | "stop" | "done" | "policy" | "idle" | "server-close";

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSED = 2;
/** One of CONNECTING, OPEN, CLOSED (a plain number: it changes under callbacks, so no narrowing). */
export type ConnState = number;

export interface Conn {
  readonly id: number;
  readonly slot: number;
  state: ConnState;
  /** Requests in flight. */
  inflight: number;
  /** Concurrency allowed now. */
  limit: number;
  /** Requests sent on this connection. */
  issued: number;
  /** Responses received on this connection. */
  responses: number;
  /** False once draining (GOAWAY, policy close, stream ids exhausted). */
  accepting: boolean;
  connectStartMs: number;
  /** The TCP connection is established (a TLS handshake or the HTTP/2 preface may still be pending). */
  tcpConnected: boolean;
  lastActiveMs: number;
  /** Why it was closed gracefully, if it was. */
  closeReason: CloseReason | null;
  connect(): void;
  /** Queues a request; bytes go out on flush(). */
  send(req: Req, now: number): void;
  flush(): void;
  /** Stops new requests and closes once the in-flight ones are done. */
  close(reason: CloseReason): void;
  /** Closes now; in-flight requests end with `cause`. */
  destroy(cause: ConnCause): void;
  /** Ends requests older than timeoutMs with cause `timeout`. */
  sweep(now: number, timeoutMs: number): void;
}

/**
 * The state and the closing logic HTTP/1.1 and HTTP/2 connections share;
 * each protocol supplies how it drains and how it tears down.
 */
export abstract class BaseConn<Shared extends { readBuffer: Buffer }> implements Conn {
  readonly id: number;
  readonly slot: number;
  state: ConnState = CONNECTING;
  inflight = 0;
  abstract limit: number;
  issued = 0;
  responses = 0;
  accepting = true;
  connectStartMs = 0;
  tcpConnected = false;
  lastActiveMs = 0;
  closeReason: CloseReason | null = null;

  protected readonly owner: ConnOwner;
  protected readonly shared: Shared;
  protected readonly target: ConnTarget;
  protected socket: net.Socket | null = null;

  constructor(id: number, slot: number, owner: ConnOwner, shared: Shared, target: ConnTarget) {
    this.id = id;
    this.slot = slot;
    this.owner = owner;
    this.shared = shared;
    this.target = target;
  }

  abstract connect(): void;
  abstract send(req: Req, now: number): void;
  abstract flush(): void;
  abstract sweep(now: number, timeoutMs: number): void;
  /** Closes once nothing is in flight and no more is accepted. */
  protected abstract checkDrained(): void;
  /** Ends the connection: every request in flight ends with `cause`. */
  protected abstract teardown(cause: ConnCause): void;

  /** Parses bytes read from the socket. */
  abstract onRead(buf: Buffer, start: number, end: number): void;

  /**
   * Opens the socket: plain with a shared read buffer, or TLS on a plain
   * socket (so the source address can be chosen) offering `alpn`. `ready`
   * runs once bytes can be written; with `requireAlpn`, a server that does
   * not pick the protocol ends the connection with cause `not-http2`.
   */
  protected openSocket(alpn: string, requireAlpn: boolean, ready: (s: net.Socket) => void, triesLeft = BIND_TRIES): void {
    const t = this.target;
    // TLS keeps the kernel's port: its two sockets would both need the retry below, and TLS runs are not the large ones.
    const localPort = t.tls ? undefined : t.localPort?.();
    // An explicit port needs an explicit address: the loopback address of the target's family.
    const localAddress = t.localAddress ?? (localPort === undefined ? undefined : net.isIPv6(t.address) ? "::1" : "127.0.0.1");
    let s: net.Socket;
    if (t.tls) {
      const raw = net.connect({ host: t.address, port: t.port, localAddress, localPort, noDelay: true });
      raw.on("connect", () => {
        this.tcpConnected = true;
      });
      raw.on("error", (err: NodeJS.ErrnoException) => {
        this.teardown(causeOfError(err, this.state === CONNECTING));
        raw.destroy();
      });
      const ts = tls.connect({
        socket: raw,
        servername: net.isIP(t.servername) === 0 ? t.servername : undefined,
        ALPNProtocols: [alpn],
        rejectUnauthorized: false,
      });
      ts.on("secureConnect", () => {
        if (requireAlpn && ts.alpnProtocol !== alpn) {
          this.destroy(CAUSES.notHttp2);
          return;
        }
        ts.setNoDelay(true);
        ready(ts);
      });
      ts.on("data", (chunk: Buffer) => this.onRead(chunk, 0, chunk.length));
      s = ts;
    } else {
      const plain = net.connect({
        host: t.address,
        port: t.port,
        localAddress,
        localPort,
        noDelay: true,
        onread: {
          buffer: this.shared.readBuffer,
          callback: (n: number, buf: Uint8Array): boolean => {
            this.onRead(buf as Buffer, 0, n);
            return true;
          },
        },
      });
      if (localPort !== undefined) plain.once("close", () => t.releasePort?.(localPort));
      plain.on("connect", () => {
        this.tcpConnected = true;
        ready(plain);
      });
      s = plain;
    }
    s.on("error", (err: NodeJS.ErrnoException) => {
      if (localPort !== undefined && this.retryBind(err, s, localPort, triesLeft, () => this.openSocket(alpn, requireAlpn, ready, triesLeft - 1))) return;
      this.teardown(causeOfError(err, this.state === CONNECTING));
      s.destroy();
    });
    s.on("close", () => {
      if (this.socket === s) this.teardown(CAUSES.closed);
    });
    this.socket = s;
  }

  /**
   * A port the driver chose was taken: by another program's socket (bind()
   * fails, EADDRINUSE) or by a socket to the same destination that bind()
   * let through with SO_REUSEADDR (connect() fails, EADDRNOTAVAIL). Drop that
   * socket quietly and try the next port.
   */
  private retryBind(err: NodeJS.ErrnoException, sock: net.Socket, port: number, triesLeft: number, again: () => void): boolean {
    if ((err.code !== "EADDRINUSE" && err.code !== "EADDRNOTAVAIL") || this.target.localPort === null || this.target.tls || this.state !== CONNECTING || triesLeft <= 1 || this.tcpConnected) return false;
    this.socket = null;
    sock.removeAllListeners("close");
    sock.destroy();
    this.target.releasePort?.(port);
    again();
    return true;
  }

  close(reason: CloseReason): void {
    if (this.closeReason === null) this.closeReason = reason;
    this.accepting = false;
    if (this.state === CONNECTING) {
      this.destroy(CAUSES.closed);
      return;
    }
    this.checkDrained();
  }

  destroy(cause: ConnCause): void {
    const s = this.socket;
    this.teardown(cause);
    s?.destroy();
  }
}

/** Maps a socket error to an outcome cause. */
function causeOfError(err: NodeJS.ErrnoException | undefined, connecting: boolean): ConnCause {
  const code = err?.code;
  if (connecting) {
    if (code === "ECONNREFUSED") return CAUSES.refused;
    if (code === "ETIMEDOUT") return CAUSES.connectTimeout;
    return CAUSES.connectError;
  }
  if (code === "ETIMEDOUT") return CAUSES.timeout;
  return CAUSES.reset;
}
