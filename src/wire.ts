import { BlockList, isIP } from "node:net";

/**
 * The wire contract between spillway's parts: what the stubs stamp, what the
 * rendered proxies stamp, what the load driver reads, the paths they agree
 * on, the causes a request can fail with, and the one check that keeps
 * every address spillway sends to or listens on within loopback.
 * Pure data and pure functions: any room may import it.
 */

/** Set by every stub: the backend it stands for. The driver counts by it unless told otherwise. */
export const BACKEND_HEADER = "x-spillway-backend";
/** Set by every stub: `backend/server`. */
export const SERVER_HEADER = "x-spillway-server";
/** Set by every stub: the proxy-side port of the connection the request came in on. */
export const CONN_HEADER = "x-spillway-conn";
/** Set by the rendered proxy on every response: its frontend connection count when it routed the request. */
export const PROXY_CONNS_HEADER = "x-spillway-proxy-conns";
/** Set by the rendered proxy on every response, its own errors included: the backend it chose. */
export const ROUTE_HEADER = "x-spillway-route";

/** Answered by every stub and not counted: readiness probes go here. */
export const HEALTH_PATH = "/__spillway/health";
/** nginx's stub_status, on the status listener spillway adds to the config it runs. */
export const NGINX_STATUS_PATH = "/__spillway/status";

/** Why a request ended without an attributed response. */
export const CAUSES = {
  refused: "refused",
  connectTimeout: "connect-timeout",
  connectError: "connect-error",
  reset: "reset",
  timeout: "timeout",
  goaway: "goaway",
  refusedStream: "refused-stream",
  closed: "closed",
  protocol: "protocol-error",
  aborted: "aborted",
  /** In flight when the duration (and the drain after it) ended. */
  cutByDuration: "cut-by-duration",
  /** TCP connected, but the TLS handshake or the HTTP/2 preface did not complete within the connect timeout. */
  handshakeTimeout: "handshake-timeout",
  /** An h2c or h2 attempt answered in HTTP/1.x (or TLS without h2 in ALPN): the server does not speak HTTP/2 there. */
  notHttp2: "not-http2",
  /** An HTTP/1.1 request answered with something that is not HTTP/1.x (an HTTP/2 frame, say). */
  notHttp1: "not-http1",
} as const;

/** A connection-level or request-level failure; a response without the counted header is `status-<code>-no-header`. */
export type ConnCause = (typeof CAUSES)[keyof typeof CAUSES];
export type Cause = ConnCause | `status-${number}-no-header`;

export function noHeaderCause(status: number): Cause {
  return `status-${status}-no-header`;
}

export function isNoHeaderCause(cause: string): boolean {
  return cause.startsWith("status-");
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");
LOOPBACK.addSubnet("::ffff:127.0.0.0", 104, "ipv6");

/**
 * True for an IP literal in 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104, with or
 * without brackets; false for anything else: host names (never looked up),
 * zone indexes, and IPv4 in any form but four decimal octets without leading
 * zeros (which HAProxy would read as octal).
 */
export function isLoopbackIp(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const kind = isIP(bare);
  if (kind === 0 || bare.includes("%")) return false;
  return LOOPBACK.check(bare, kind === 4 ? "ipv4" : "ipv6");
}

/** `127.0.0.1:80` or `[::1]:80`. */
export function formatHostPort(hp: { host: string; port: number }): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

// ---- WebSocket ----
// The stubs take an upgrade on any path of their HTTP/1.1 listener (RFC 6455);
// RFC 8441's extended CONNECT over HTTP/2 is not spoken by the stubs or the driver.

/** Query parameter of an upgrade that joins a room; without it the stub echoes to the sender only. */
export const WS_ROOM_PARAM = "room";
/** A room name: 1 to 64 of `[A-Za-z0-9_.-]`; any other value is answered 400 before the upgrade. */
export const WS_ROOM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** The driver's rooms are `room-1` ... `room-R`. */
export const WS_ROOM_PREFIX = "room-";

/**
 * Every message is binary: sender id (u32), sequence (u32), send time (f64,
 * ms since the epoch, `performance.timeOrigin + performance.now()`), little
 * endian, then padding to the payload size. The stubs never parse it.
 */
export const WS_SENDER_OFFSET = 0;
export const WS_SEQ_OFFSET = 4;
export const WS_SENT_AT_OFFSET = 8;
export const WS_MESSAGE_HEADER_BYTES = 16;

/** Close codes (RFC 6455 section 7.4.1): the driver ends a session with 1000; a stopping stub with 1001. */
export const WS_CLOSE_NORMAL = 1000;
export const WS_CLOSE_GOING_AWAY = 1001;

/**
 * Why a WebSocket session failed: a connection cause (refused,
 * connect-timeout, handshake-timeout, reset, closed: the connection ended
 * without a close frame, protocol-error), `ws-upgrade-<status>` when the
 * upgrade was answered with something other than 101, or `ws-close-<code>`
 * when the peer closed the session, with that code, before its end.
 */
export type WsCause = ConnCause | `ws-upgrade-${number}` | `ws-close-${number}`;

export function wsUpgradeCause(status: number): WsCause {
  return `ws-upgrade-${status}`;
}

export function wsCloseCause(code: number): WsCause {
  return `ws-close-${code}`;
}

export function isWsRoomName(name: string): boolean {
  return WS_ROOM_NAME.test(name);
}

/** Writes the header of one message into `buf` (at least WS_MESSAGE_HEADER_BYTES long). */
export function writeWsHeader(buf: Buffer, sender: number, seq: number, sentAtMs: number): void {
  buf.writeUInt32LE(sender >>> 0, WS_SENDER_OFFSET);
  buf.writeUInt32LE(seq >>> 0, WS_SEQ_OFFSET);
  buf.writeDoubleLE(sentAtMs, WS_SENT_AT_OFFSET);
}
