/**
 * @internal The stubs' WebSocket side: upgrades on a stub's HTTP/1.1
 * listener, echo, and chat rooms that send every message to every member,
 * the sender included. Messages are never parsed, only counted.
 *
 * Rooms belong to the process, not to a stub: the fleet runs every stub of
 * a stack in one process (fleet.ts, fleet-child.ts), so two sessions that
 * join `room-1` through two different stubs, or through two backends, are
 * in the same room, as two users of one chat service behind a proxy would
 * be. If the fleet ever spreads its stubs over several processes, rooms
 * must be shared between them for this to stay true.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import {
  BACKEND_HEADER,
  CONN_HEADER,
  SERVER_HEADER,
  WS_CLOSE_GOING_AWAY,
  WS_ROOM_NAME,
  WS_ROOM_PARAM,
  isWsRoomName,
} from "../wire.js";
import { emptyWsStubCounts, type WsRoomCounts, type WsStubCounts } from "./counts.js";

/** A stub's own WebSocket sessions close within this after it asks them to; the rest are cut. Below the fleet child's 2 s shutdown grace. */
export const WS_CLOSE_GRACE_MS = 1_000;
/** The driver's payloads stop at 1 MiB; this leaves room for other clients without letting one exhaust the fleet's memory. */
const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

class Room {
  readonly members = new Set<Member>();
  peak = 0;
  constructor(readonly name: string) {}
}

/** Every room of this process, shared by all its stubs (see the module comment). */
export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();

  /** The room called `name`, made on first use and kept, so its peak outlives its members. */
  room(name: string): Room {
    let r = this.rooms.get(name);
    if (r === undefined) {
      r = new Room(name);
      this.rooms.set(name, r);
    }
    return r;
  }
}

/** The rooms of the stub fleet process: every StubWebSockets uses these unless given its own. */
export const processRooms = new RoomRegistry();

/** What one stub counted in one room. */
interface RoomTally {
  members: number;
  messagesIn: number;
  messagesOut: number;
}

interface Member {
  readonly socket: WebSocket;
  readonly owner: StubWebSockets;
  readonly room: Room | null;
  readonly tally: RoomTally | null;
}

/** Why an upgrade request is refused before the handshake, or the room it joins (null: echo). */
export type RoomChoice = { ok: true; room: string | null } | { ok: false; reason: string };

/** The room an upgrade asks for, from the query of its request target. */
export function roomOf(target: string | undefined): RoomChoice {
  const q = target?.indexOf("?") ?? -1;
  if (target === undefined || q < 0) return { ok: true, room: null };
  const names = new URLSearchParams(target.slice(q + 1)).getAll(WS_ROOM_PARAM);
  if (names.length === 0) return { ok: true, room: null };
  if (names.length > 1) return { ok: false, reason: `give one ${WS_ROOM_PARAM}, not ${names.length}` };
  const name = names[0]!;
  if (!isWsRoomName(name)) {
    return { ok: false, reason: `${WS_ROOM_PARAM} ${JSON.stringify(name)} must match ${WS_ROOM_NAME.source} (1 to 64 letters, digits, "_", "." or "-")` };
  }
  return { ok: true, room: name };
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.headers.upgrade?.toLowerCase() === "websocket";
}

function noop(): void {}

/** One stub's WebSocket sessions and counts. */
export class StubWebSockets {
  private readonly wss: WebSocketServer;
  private readonly members = new Set<Member>();
  private readonly tallies = new Map<Room, RoomTally>();
  /** Null until the first upgrade request, so an HTTP-only stub's counts keep their shape. */
  private counted: WsStubCounts | null = null;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly backend: string,
    private readonly serverId: string,
    private readonly rooms: RoomRegistry = processRooms,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: MAX_PAYLOAD_BYTES,
      // Payloads are counted, never read: validating text would spend CPU on bytes no one looks at.
      skipUTF8Validation: true,
    });
    this.wss.on("headers", (headers: string[], req: IncomingMessage) => {
      headers.push(`${BACKEND_HEADER}: ${this.backend}`, `${SERVER_HEADER}: ${this.serverId}`, `${CONN_HEADER}: ${String(req.socket.remotePort)}`);
    });
  }

  /** Takes an HTTP/1.1 upgrade to `websocket` from the stub's server. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const c = (this.counted ??= emptyWsStubCounts());
    c.requests++;
    socket.on("error", noop);
    if (this.closing !== undefined) {
      this.refuse(socket, 503, "the stub is stopping");
      return;
    }
    const choice = roomOf(req.url);
    if (!choice.ok) {
      this.refuse(socket, 400, choice.reason);
      return;
    }
    // ws answers a handshake it cannot accept (no key, another version) itself and never calls back.
    this.wss.handleUpgrade(req, socket, head, (ws) => this.join(ws, choice.room));
  }

  counts(): WsStubCounts | undefined {
    const c = this.counted;
    if (c === null) return undefined;
    const rooms: Record<string, WsRoomCounts> = {};
    for (const [room, t] of this.tallies) {
      rooms[room.name] = { members: t.members, peakMembers: room.peak, messagesIn: t.messagesIn, messagesOut: t.messagesOut };
    }
    return { ...c, rooms };
  }

  /** Closes every session with 1001 (going away); sessions still open after WS_CLOSE_GRACE_MS are cut. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    const open = [...this.members];
    if (open.length === 0) return;
    const closed = open.map(
      (m) =>
        new Promise<void>((resolve) => {
          if (m.socket.readyState === WebSocket.CLOSED) resolve();
          else m.socket.once("close", () => resolve());
        }),
    );
    for (const m of open) m.socket.close(WS_CLOSE_GOING_AWAY, "stub stopping");
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, WS_CLOSE_GRACE_MS)));
    await Promise.race([Promise.all(closed), grace]);
    clearTimeout(timer);
    for (const m of open) if (m.socket.readyState !== WebSocket.CLOSED) m.socket.terminate();
  }

  private join(socket: WebSocket, roomName: string | null): void {
    const c = this.counted!;
    c.upgrades++;
    c.open++;
    socket.on("error", noop);
    let room: Room | null = null;
    let tally: RoomTally | null = null;
    if (roomName !== null) {
      room = this.rooms.room(roomName);
      tally = this.tallies.get(room) ?? { members: 0, messagesIn: 0, messagesOut: 0 };
      this.tallies.set(room, tally);
    }
    const member: Member = { socket, owner: this, room, tally };
    this.members.add(member);
    if (room !== null) {
      room.members.add(member);
      if (room.members.size > room.peak) room.peak = room.members.size;
      tally!.members++;
    }
    socket.on("message", (data: RawData, isBinary: boolean) => this.onMessage(member, data as Buffer, isBinary));
    socket.once("close", () => {
      this.members.delete(member);
      c.open--;
      c.closed++;
      if (room !== null) {
        room.members.delete(member);
        tally!.members--;
      }
    });
    // A stop that began while this handshake was completing has already taken its list of sessions.
    if (this.closing !== undefined) socket.close(WS_CLOSE_GOING_AWAY, "stub stopping");
  }

  private onMessage(from: Member, data: Buffer, isBinary: boolean): void {
    const c = this.counted!;
    const bytes = data.length;
    c.messagesIn++;
    c.bytesIn += bytes;
    const opts = isBinary ? BINARY : TEXT;
    const room = from.room;
    if (room === null) {
      if (from.socket.readyState === WebSocket.OPEN) {
        from.socket.send(data, opts);
        c.messagesOut++;
        c.bytesOut += bytes;
      }
      return;
    }
    from.tally!.messagesIn++;
    for (const m of room.members) {
      // A member that has begun closing takes no more messages; it is still in the room until its close completes.
      if (m.socket.readyState !== WebSocket.OPEN) continue;
      m.socket.send(data, opts);
      const mc = m.owner.counted!;
      mc.messagesOut++;
      mc.bytesOut += bytes;
      m.tally!.messagesOut++;
    }
  }

  private refuse(socket: Duplex, status: 400 | 503, reason: string): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = `${reason}\n`;
    const text = status === 400 ? "Bad Request" : "Service Unavailable";
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\n` +
        `content-type: text/plain\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        `${BACKEND_HEADER}: ${this.backend}\r\n` +
        `${SERVER_HEADER}: ${this.serverId}\r\n` +
        `connection: close\r\n\r\n` +
        body,
    );
  }
}
