import http from "node:http";
import { afterEach, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { startStubFleet, sumStubCounts, type StartedStubFleet, type StubCounts } from "../src/stub/index.js";
import { roomOf } from "../src/stub/ws.js";

/**
 * The stubs' WebSocket side, through the stub fleet as the runtime starts
 * it (a child process holding every stub), with real `ws` clients on
 * loopback sockets.
 */

const fleets: StartedStubFleet[] = [];
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.allSettled(fleets.splice(0).map((f) => f.stop()));
});

async function fleetOf(...names: Array<[string, string]>): Promise<StartedStubFleet> {
  const f = await startStubFleet(names.map(([backend, server]) => ({ backend, server })));
  fleets.push(f);
  return f;
}

function wsUrl(fleet: StartedStubFleet, key: string, path = "/"): string {
  const stub = fleet.stubs.find((s) => `${s.backend}/${s.server}` === key);
  if (stub === undefined) throw new Error(`no stub ${key}`);
  return `${stub.url.replace("http://", "ws://")}${path}`;
}

interface Opened {
  socket: WebSocket;
  headers: http.IncomingHttpHeaders;
  closed: Promise<{ code: number; reason: string }>;
}

function open(url: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    clients.push(socket);
    let headers: http.IncomingHttpHeaders = {};
    const closed = new Promise<{ code: number; reason: string }>((done) => socket.once("close", (code, reason) => done({ code, reason: String(reason) })));
    socket.once("upgrade", (res) => (headers = res.headers));
    socket.once("open", () => resolve({ socket, headers, closed }));
    socket.once("error", reject);
  });
}

/** The answer to an upgrade the stub refuses: status, headers, body. */
function refused(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    clients.push(socket);
    socket.once("open", () => reject(new Error(`${url} was upgraded`)));
    socket.once("unexpected-response", (req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
    });
    socket.on("error", () => {});
  });
}

/** The next `n` messages a socket receives. */
function next(socket: WebSocket, n: number): Promise<Array<{ data: Buffer; binary: boolean }>> {
  return new Promise((resolve) => {
    const got: Array<{ data: Buffer; binary: boolean }> = [];
    const on = (data: Buffer, binary: boolean): void => {
      got.push({ data, binary });
      if (got.length === n) {
        socket.off("message", on);
        resolve(got);
      }
    };
    socket.on("message", on);
  });
}

async function countsOf(fleet: StartedStubFleet, key: string): Promise<StubCounts> {
  const c = (await fleet.counts())[key];
  if (c === undefined) throw new Error(`no counts for ${key}`);
  return c;
}

/** Polls the fleet's counts until `ok` holds: the stub hears a close a moment after the client does. */
async function countsWhen(fleet: StartedStubFleet, key: string, ok: (c: StubCounts) => boolean): Promise<StubCounts> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const c = await countsOf(fleet, key);
    if (ok(c) || Date.now() > deadline) return c;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("stub WebSocket upgrades", () => {
  test("echo on any path: the 101 is stamped like an HTTP response, text and binary come back as sent, and every message and byte is counted", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const a = await open(wsUrl(fleet, "ade/s1", "/chat/anything?x=1"));
    expect(a.headers["x-spillway-backend"]).toBe("ade");
    expect(a.headers["x-spillway-server"]).toBe("ade/s1");
    expect(a.headers["x-spillway-conn"]).toMatch(/^[1-9][0-9]*$/);

    const replies = next(a.socket, 3);
    const bin = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    a.socket.send(bin);
    a.socket.send("hello");
    a.socket.send(Buffer.alloc(1000, 7));
    const got = await replies;
    expect(got.map((m) => [m.binary, m.data.length])).toEqual([
      [true, 17],
      [false, 5],
      [true, 1000],
    ]);
    expect(got[0]!.data.equals(bin)).toBe(true);
    expect(got[1]!.data.toString()).toBe("hello");

    const c = await countsOf(fleet, "ade/s1");
    expect(c.ws).toEqual({
      requests: 1,
      upgrades: 1,
      open: 1,
      closed: 0,
      messagesIn: 3,
      messagesOut: 3,
      bytesIn: 1022,
      bytesOut: 1022,
      rooms: {},
    });
    // WebSocket sessions are not HTTP responses: the HTTP counts stay as they were.
    expect({ ...c, ws: undefined }).toEqual({ served: 0, byStatus: {}, byProtocol: { h1: 0, h2: 0 }, connections: 0, ws: undefined });

    a.socket.close(1000);
    expect((await a.closed).code).toBe(1000);
    const after = await countsWhen(fleet, "ade/s1", (x) => x.ws?.open === 0);
    expect([after.ws?.open, after.ws?.closed]).toEqual([0, 1]);
  });

  test("a room spans the stubs of one fleet: members upgraded through two backends get every message, their own included", async () => {
    const fleet = await fleetOf(["ade", "s1"], ["pbcoffee", "s1"]);
    const a = await open(wsUrl(fleet, "ade/s1", "/?room=lobby.1"));
    const b = await open(wsUrl(fleet, "pbcoffee/s1", "/ws?room=lobby.1"));
    const c = await open(wsUrl(fleet, "pbcoffee/s1", "/ws?room=other"));
    expect([a.headers["x-spillway-backend"], b.headers["x-spillway-backend"]]).toEqual(["ade", "pbcoffee"]);

    const atA = next(a.socket, 2);
    const atB = next(b.socket, 2);
    const atC = next(c.socket, 1);
    a.socket.send(Buffer.from("from-a"));
    // B's message goes out only after A's has come back, so both members see the same order.
    await next(a.socket, 1);
    b.socket.send(Buffer.from("from-b"));
    c.socket.send(Buffer.from("from-c"));
    expect((await atA).map((m) => m.data.toString())).toEqual(["from-a", "from-b"]);
    expect((await atB).map((m) => m.data.toString())).toEqual(["from-a", "from-b"]);
    // The other room hears only itself.
    expect((await atC).map((m) => m.data.toString())).toEqual(["from-c"]);

    const counts = await fleet.counts();
    expect(counts["ade/s1"]!.ws?.rooms).toEqual({ "lobby.1": { members: 1, peakMembers: 2, messagesIn: 1, messagesOut: 2 } });
    expect(counts["pbcoffee/s1"]!.ws?.rooms).toEqual({
      "lobby.1": { members: 1, peakMembers: 2, messagesIn: 1, messagesOut: 2 },
      other: { members: 1, peakMembers: 1, messagesIn: 1, messagesOut: 1 },
    });
    const total = sumStubCounts(Object.values(counts)).ws!;
    expect([total.messagesIn, total.messagesOut, total.upgrades, total.open]).toEqual([3, 5, 3, 3]);
    // Both stubs report the room's own peak, so the sum keeps it rather than doubling it.
    expect(total.rooms["lobby.1"]).toEqual({ members: 2, peakMembers: 2, messagesIn: 2, messagesOut: 4 });
  });

  test("a bad room is refused with 400 before the upgrade, saying why; the stub counts the request and no session", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const bad = ["room=", "room=a%20b", `room=${"x".repeat(65)}`, "room=a/b", "room=one&room=two"];
    for (const query of bad) {
      const r = await refused(wsUrl(fleet, "ade/s1", `/?${query}`));
      expect(r.status, query).toBe(400);
      expect(r.headers["x-spillway-backend"], query).toBe("ade");
      expect(r.body, query).toMatch(/room/);
    }
    // The longest legal name is accepted.
    const ok = await open(wsUrl(fleet, "ade/s1", `/?room=${"x".repeat(64)}`));
    expect(ok.headers["x-spillway-server"]).toBe("ade/s1");
    const c = await countsOf(fleet, "ade/s1");
    expect([c.ws?.requests, c.ws?.upgrades, c.ws?.open]).toEqual([bad.length + 1, 1, 1]);
  });

  test("room names: one parameter of 1 to 64 letters, digits, '_', '.' or '-'", () => {
    expect(roomOf("/")).toEqual({ ok: true, room: null });
    expect(roomOf("/x?other=1")).toEqual({ ok: true, room: null });
    expect(roomOf("/x?room=room-12_a.b")).toEqual({ ok: true, room: "room-12_a.b" });
    for (const target of ["/?room=", "/?room=%C3%A9", "/?room=a+b", "/?room=a&room=a"]) expect(roomOf(target).ok, target).toBe(false);
  });

  test("stopping the fleet closes every session with 1001 (going away)", async () => {
    const fleet = await fleetOf(["ade", "s1"], ["pbcoffee", "s1"]);
    const sessions = await Promise.all([open(wsUrl(fleet, "ade/s1")), open(wsUrl(fleet, "ade/s1", "/?room=r")), open(wsUrl(fleet, "pbcoffee/s1", "/?room=r"))]);
    await fleet.stop();
    for (const s of sessions) expect(await s.closed).toEqual({ code: 1001, reason: "stub stopping" });
  });

  test("HTTP is as before: a stub that took no upgrade reports no ws counts, and a non-WebSocket Upgrade is served as a plain request", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const stub = fleet.stubs[0]!;
    const reply = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      http
        .get(`${stub.url}/`, { headers: { connection: "Upgrade, HTTP2-Settings", upgrade: "h2c", "http2-settings": "AAMAAABkAAQCAAAAAAIAAAAA" } }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        })
        .on("error", reject);
    });
    expect(reply.status).toBe(200);
    expect(reply.headers["x-spillway-server"]).toBe("ade/s1");
    expect(reply.body).toBe("ade/s1\n");
    expect(await countsOf(fleet, "ade/s1")).toEqual({ served: 1, byStatus: { "200": 1 }, byProtocol: { h1: 1, h2: 0 }, connections: 1 });
  });
});

describe("sumStubCounts with WebSocket counts", () => {
  test("adds sessions, messages and bytes, keeps the largest room peak, and leaves HTTP-only counts without ws", () => {
    const http1: StubCounts = { served: 1, byStatus: { "200": 1 }, byProtocol: { h1: 1, h2: 0 }, connections: 1 };
    expect(sumStubCounts([http1, http1])).toEqual({ served: 2, byStatus: { "200": 2 }, byProtocol: { h1: 2, h2: 0 }, connections: 2 });
    const a: StubCounts = {
      ...http1,
      ws: { requests: 3, upgrades: 2, open: 1, closed: 1, messagesIn: 10, messagesOut: 30, bytesIn: 160, bytesOut: 480, rooms: { r: { members: 1, peakMembers: 3, messagesIn: 10, messagesOut: 30 } } },
    };
    const b: StubCounts = {
      ...http1,
      ws: { requests: 1, upgrades: 1, open: 1, closed: 0, messagesIn: 5, messagesOut: 15, bytesIn: 80, bytesOut: 240, rooms: { r: { members: 1, peakMembers: 3, messagesIn: 5, messagesOut: 15 }, s: { members: 0, peakMembers: 1, messagesIn: 0, messagesOut: 0 } } },
    };
    expect(sumStubCounts([a, http1, b]).ws).toEqual({
      requests: 4,
      upgrades: 3,
      open: 2,
      closed: 1,
      messagesIn: 15,
      messagesOut: 45,
      bytesIn: 240,
      bytesOut: 720,
      rooms: { r: { members: 2, peakMembers: 3, messagesIn: 15, messagesOut: 45 }, s: { members: 0, peakMembers: 1, messagesIn: 0, messagesOut: 0 } },
    });
    expect(a.ws!.rooms["r"]!.messagesIn).toBe(10);
  });
});
