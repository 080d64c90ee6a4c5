/** What one stub served; plain data, so it crosses the fleet's IPC channel unchanged. */
export interface StubCounts {
  /** Counted responses written (health probes excluded). */
  served: number;
  /** Counted responses by status code. */
  byStatus: Record<string, number>;
  byProtocol: { h1: number; h2: number };
  /** Distinct proxy-to-stub connections that carried at least one counted request. */
  connections: number;
  /**
   * WebSocket sessions: present once the stub has been asked for an upgrade,
   * so the counts of a stub that only served HTTP keep their old shape.
   */
  ws?: WsStubCounts;
}

/**
 * A stub's WebSocket counts. Messages and bytes count payloads (the
 * application data of each message, without frame headers); a message one
 * member sends to a room of N counts once in and N times out.
 */
export interface WsStubCounts {
  /** Upgrade requests for `websocket`, accepted or not. */
  requests: number;
  /** Answered 101. requests - upgrades were refused: a bad room name, or a handshake `ws` rejects. */
  upgrades: number;
  /** Sessions open now. */
  open: number;
  /** Sessions that have ended (either side closing, or the connection breaking). */
  closed: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** By room name; echo sessions are in no room. */
  rooms: Record<string, WsRoomCounts>;
}

export interface WsRoomCounts {
  /** This stub's sessions in the room now. */
  members: number;
  /**
   * The most members the room held at once, over every stub of the fleet
   * (a room spans them all): every stub that saw the room reports the same
   * figure, so sums take the largest.
   */
  peakMembers: number;
  /** Messages this stub's members sent to the room. */
  messagesIn: number;
  /** Messages this stub sent to its members from the room. */
  messagesOut: number;
}

export function emptyStubCounts(): StubCounts {
  return { served: 0, byStatus: {}, byProtocol: { h1: 0, h2: 0 }, connections: 0 };
}

export function emptyWsStubCounts(): WsStubCounts {
  return { requests: 0, upgrades: 0, open: 0, closed: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, rooms: {} };
}

/** Sums any number of counts (e.g. every server of one backend) without touching the inputs. */
export function sumStubCounts(all: Iterable<StubCounts>): StubCounts {
  const total = emptyStubCounts();
  for (const c of all) {
    total.served += c.served;
    total.byProtocol.h1 += c.byProtocol.h1;
    total.byProtocol.h2 += c.byProtocol.h2;
    total.connections += c.connections;
    for (const [status, n] of Object.entries(c.byStatus)) {
      total.byStatus[status] = (total.byStatus[status] ?? 0) + n;
    }
    if (c.ws !== undefined) addWsCounts((total.ws ??= emptyWsStubCounts()), c.ws);
  }
  return total;
}

function addWsCounts(into: WsStubCounts, from: WsStubCounts): void {
  into.requests += from.requests;
  into.upgrades += from.upgrades;
  into.open += from.open;
  into.closed += from.closed;
  into.messagesIn += from.messagesIn;
  into.messagesOut += from.messagesOut;
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  for (const [name, r] of Object.entries(from.rooms)) {
    const t = (into.rooms[name] ??= { members: 0, peakMembers: 0, messagesIn: 0, messagesOut: 0 });
    t.members += r.members;
    t.peakMembers = Math.max(t.peakMembers, r.peakMembers);
    t.messagesIn += r.messagesIn;
    t.messagesOut += r.messagesOut;
  }
}

/** The key a fleet reports counts under. */
export function stubKey(stub: { backend: string; server: string }): string {
  return `${stub.backend}/${stub.server}`;
}
