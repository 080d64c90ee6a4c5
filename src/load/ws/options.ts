/**
 * @internal What startWsSessions takes, its checks and defaults, and how a
 * run is shared out between driver processes or shards.
 */
import { UsageError } from "../../errors.js";
import { openFileLimit } from "../../runtime/limits.js";
import { WS_MAX_PAYLOAD_BYTES } from "../../spec/schema.js";
import type { WebSocketLoad } from "../../spec/load-profile.js";
import { isLoopbackIp, WS_MESSAGE_HEADER_BYTES, WS_ROOM_PARAM, WS_ROOM_PREFIX } from "../../wire.js";
import { connectionsPerProcess, MAX_PROCESSES, RESERVED_FDS } from "../processes.js";
import { resolveLoopback } from "../profile.js";

/** A share of a run: this process (or shard) runs the sessions `wsShareOf` gives `index` of `count`. */
export interface WsShare {
  index: number;
  count: number;
}

/** The spec's `load.websockets` (every default filled in), and where and how to run it. */
export interface WsSessionOptions extends WebSocketLoad {
  /** `ws://host:port/path` or `http://...` (the same upgrade); loopback hosts only. `room` is added per session. */
  url: string;
  /** Local addresses sessions connect from, dealt round-robin over the sessions; default: the kernel's choice. */
  sourceAddresses?: string[];
  /**
   * Sender id of the run's session 0: session i sends as base + i. Every
   * process of a run gives the same base (sessions are numbered over the
   * whole run), so ids are unique across them; runs that share rooms give
   * bases that do not overlap.
   */
  senderIdBase?: number;
  /** The part of the run this process holds; default all of it. */
  share?: WsShare;
  /** Bound on the TCP connect and the upgrade together; default 10 s. */
  connectTimeoutMs?: number;
  /** Bound on a session's wait, after it leaves its room, for the messages it is owed; default 5 s. */
  drainTimeoutMs?: number;
  /** Bound on the close handshake before the connection is cut; default 2 s. */
  closeTimeoutMs?: number;
  /** Bound on the whole run, after which it stops as stop() does; default: the schedule plus every per-session bound, plus 10 s. */
  maxRunMs?: number;
  /** Progress ticks this often; default 250 ms. */
  tickMs?: number;
  /**
   * Driver processes to spread the sessions over, whole rooms to each (1 to
   * 64); default: the fewest whose open-file limits hold them. With a
   * `share`, the share is run in this process.
   */
  processes?: number;
}

export interface ResolvedWsOptions {
  /** The upgrade URL with the host resolved, without the room. */
  readonly url: URL;
  readonly connections: number;
  readonly rooms: number;
  readonly messageIntervalMs: number;
  readonly payloadBytes: number;
  readonly sessionMs: number;
  readonly connectRate: number | null;
  readonly sourceAddresses: readonly string[];
  readonly senderIdBase: number;
  readonly share: WsShare;
  readonly connectTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly maxRunMs: number;
  readonly tickMs: number;
}

export const WS_DEFAULTS = {
  connectTimeoutMs: 10_000,
  drainTimeoutMs: 5_000,
  closeTimeoutMs: 2_000,
  tickMs: 250,
} as const;

/** Largest timer Node takes (about 24.8 days). */
const MAX_MS = 2_147_483_647;
const MAX_SESSIONS = 100_000;

/**
 * Whole rooms go to one share, so each share sees every member of its
 * rooms, and its expected deliveries are exact; echo sessions are dealt
 * one by one. With fewer rooms than shares, some shares hold nothing.
 */
export function inWsShare(session: number, rooms: number, share: WsShare): boolean {
  const key = rooms > 0 ? session % rooms : session;
  return key % share.count === share.index;
}

/** Sessions each of `count` shares holds (whole rooms to each, echo sessions one by one). */
export function wsShareSizes(connections: number, rooms: number, count: number): number[] {
  const sizes = Array.from({ length: count }, () => 0);
  if (rooms === 0) {
    for (let s = 0; s < count; s++) sizes[s] = connections > s ? Math.floor((connections - s - 1) / count) + 1 : 0;
    return sizes;
  }
  // Room r holds the sessions i with i % rooms === r: floor(connections / rooms), the first connections % rooms one more.
  for (let r = 0; r < rooms; r++) sizes[r % count]! += Math.floor(connections / rooms) + (r < connections % rooms ? 1 : 0);
  return sizes;
}

/**
 * The fewest driver processes whose largest share fits `perProcess`
 * sessions; null when none does (a room larger than one process may hold:
 * its members must share one view, so a room is never split).
 */
export function fewestWsProcesses(connections: number, rooms: number, perProcess: number): number | null {
  for (let p = 1; p <= MAX_PROCESSES; p++) {
    if (Math.max(...wsShareSizes(connections, rooms, p)) <= perProcess) return p;
  }
  return null;
}

/** The room of the run's session `i` (dealt in turn over room-1 ... room-R), or null for echo. */
export function wsRoomName(session: number, rooms: number): string | null {
  return rooms > 0 ? `${WS_ROOM_PREFIX}${(session % rooms) + 1}` : null;
}

/** The sessions of the run this share holds, in the run's order. */
export function wsShareSessions(connections: number, rooms: number, share: WsShare): number[] {
  const out: number[] = [];
  for (let i = 0; i < connections; i++) if (inWsShare(i, rooms, share)) out.push(i);
  return out;
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

function isMs(v: unknown, min: number): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= min && v <= MAX_MS;
}

/** The run's time bound: the one given, or the last session's start, its connect, its length, its drain and its close, plus 10 s. */
export function wsMaxRunMs(o: WsSessionOptions): number {
  if (o.maxRunMs !== undefined) return o.maxRunMs;
  const lastStartMs = o.connectRate == null ? 0 : ((o.connections - 1) / o.connectRate) * 1000;
  const bounds = (o.connectTimeoutMs ?? WS_DEFAULTS.connectTimeoutMs) + (o.drainTimeoutMs ?? WS_DEFAULTS.drainTimeoutMs) + (o.closeTimeoutMs ?? WS_DEFAULTS.closeTimeoutMs);
  return Math.min(MAX_MS, lastStartMs + bounds + o.sessionMs + 10_000);
}

/** Checks every option and applies defaults; a UsageError (exit 1) lists every problem. */
export async function resolveWsOptions(o: WsSessionOptions): Promise<ResolvedWsOptions> {
  const problems: string[] = [];
  let url: URL | null = null;
  try {
    url = new URL(o.url);
  } catch {
    problems.push(`url ${JSON.stringify(o.url)} is not a URL: give ws://127.0.0.1:PORT/path`);
  }
  if (url !== null) {
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol !== "ws:") {
      problems.push(`url ${o.url}: the WebSocket driver speaks ws:// (or http://) only; wss:// (TLS) is not supported`);
    }
    if (url.searchParams.has(WS_ROOM_PARAM)) {
      problems.push(`url ${o.url} names a ${WS_ROOM_PARAM}: the driver adds ${WS_ROOM_PARAM}=${WS_ROOM_PREFIX}N to each session from \`rooms\``);
    }
    if (url.username !== "" || url.password !== "") problems.push(`url ${o.url}: credentials in the URL are not supported`);
  }
  if (!isInt(o.connections, 1, MAX_SESSIONS)) problems.push(`connections ${String(o.connections)} must be an integer from 1 to ${MAX_SESSIONS}`);
  if (!isInt(o.rooms, 0, isInt(o.connections, 1, MAX_SESSIONS) ? o.connections : MAX_SESSIONS)) {
    problems.push(`rooms ${String(o.rooms)} must be an integer from 0 (echo) to connections (${String(o.connections)}), so no room is empty`);
  }
  if (!isMs(o.messageIntervalMs, 1)) problems.push(`messageIntervalMs ${String(o.messageIntervalMs)} must be a number of milliseconds, at least 1`);
  if (!isInt(o.payloadBytes, WS_MESSAGE_HEADER_BYTES, WS_MAX_PAYLOAD_BYTES)) {
    problems.push(`payloadBytes ${String(o.payloadBytes)} must be an integer from ${WS_MESSAGE_HEADER_BYTES} (the message header) to ${WS_MAX_PAYLOAD_BYTES}`);
  }
  if (!isMs(o.sessionMs, 1)) problems.push(`sessionMs ${String(o.sessionMs)} must be a number of milliseconds, at least 1`);
  const connectRate = o.connectRate ?? null;
  if (connectRate !== null && !(typeof connectRate === "number" && Number.isFinite(connectRate) && connectRate > 0)) {
    problems.push(`connectRate ${String(connectRate)} must be a number of sessions per second above 0, or null (all at the start)`);
  }
  const sources = o.sourceAddresses ?? [];
  for (const s of sources) {
    if (typeof s !== "string" || !isLoopbackIp(s) || s.startsWith("[")) problems.push(`source address ${JSON.stringify(s)} is not a loopback IP address (127.0.0.0/8 or ::1)`);
  }
  const senderIdBase = o.senderIdBase ?? 0;
  if (!isInt(senderIdBase, 0, 0xffffffff) || (isInt(o.connections, 1, MAX_SESSIONS) && senderIdBase + o.connections - 1 > 0xffffffff)) {
    problems.push(`senderIdBase ${String(senderIdBase)} must be an integer from 0, with base + connections - 1 at most ${0xffffffff} (sender ids are u32)`);
  }
  const share = o.share ?? { index: 0, count: 1 };
  if (!isInt(share.count, 1, MAX_SESSIONS) || !isInt(share.index, 0, share.count - 1)) {
    problems.push(`share ${String(share.index)}/${String(share.count)} must be an index from 0 to count - 1`);
  }
  const connectTimeoutMs = o.connectTimeoutMs ?? WS_DEFAULTS.connectTimeoutMs;
  const drainTimeoutMs = o.drainTimeoutMs ?? WS_DEFAULTS.drainTimeoutMs;
  const closeTimeoutMs = o.closeTimeoutMs ?? WS_DEFAULTS.closeTimeoutMs;
  const tickMs = o.tickMs ?? WS_DEFAULTS.tickMs;
  if (!isMs(connectTimeoutMs, 1)) problems.push(`connectTimeoutMs ${String(connectTimeoutMs)} must be a number of milliseconds, at least 1`);
  if (!isMs(drainTimeoutMs, 0)) problems.push(`drainTimeoutMs ${String(drainTimeoutMs)} must be a number of milliseconds, at least 0`);
  if (!isMs(closeTimeoutMs, 1)) problems.push(`closeTimeoutMs ${String(closeTimeoutMs)} must be a number of milliseconds, at least 1`);
  if (!isMs(tickMs, 1)) problems.push(`tickMs ${String(tickMs)} must be a number of milliseconds, at least 1`);
  if (o.maxRunMs !== undefined && !isMs(o.maxRunMs, 1)) problems.push(`maxRunMs ${String(o.maxRunMs)} must be a number of milliseconds, at least 1`);

  const processes = o.processes;
  if (processes !== undefined && !isInt(processes, 1, MAX_PROCESSES)) problems.push(`processes ${String(processes)} must be an integer from 1 to ${MAX_PROCESSES}`);
  if (problems.length === 0 && (processes === 1 || o.share !== undefined)) {
    const held = wsShareSessions(o.connections, o.rooms, share).length;
    const limit = openFileLimit().soft;
    if (held > connectionsPerProcess(limit)) {
      problems.push(
        `${held} WebSocket sessions in one process need more file descriptors than it may open (limit ${limit}, ${RESERVED_FDS} of them kept for other files): spread them over more processes (leave processes out to let the driver choose), or raise the open-file limit (ulimit -n)`,
      );
    }
  }
  if (problems.length > 0) throw new UsageError(`invalid WebSocket session options:\n  ${problems.join("\n  ")}`);

  // The refusal of a non-loopback host is resolveLoopback's own UsageError, worded as for HTTP load.
  const u = url!;
  const host = await resolveLoopback(u.hostname);
  u.hostname = host.includes(":") ? `[${host}]` : host;
  const maxRunMs = wsMaxRunMs(o);
  return {
    url: u,
    connections: o.connections,
    rooms: o.rooms,
    messageIntervalMs: o.messageIntervalMs,
    payloadBytes: o.payloadBytes,
    sessionMs: o.sessionMs,
    connectRate,
    sourceAddresses: [...sources],
    senderIdBase,
    share: { ...share },
    connectTimeoutMs,
    drainTimeoutMs,
    closeTimeoutMs,
    maxRunMs,
    tickMs,
  };
}
