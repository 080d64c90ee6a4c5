import http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { UsageError } from "../src/errors.js";
import { ExitCode } from "../src/exit-codes.js";
import { startStubFleet, type StartedStubFleet, type StubCounts, type WsStubCounts } from "../src/stub/index.js";
import { emptyWsRunData, inWsShare, mergeWsRunData, startWsSessions, toWsResult, wsShareSessions, type WsRun, type WsSessionOptions, type WsTickInfo } from "../src/load/ws/index.js";

/**
 * The WebSocket session driver against real stubs (the fleet, a child
 * process, as the runtime starts it) over loopback sockets. Every check is
 * on counts, never on how fast anything was.
 */

const fleets: StartedStubFleet[] = [];
const runs: WsRun[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  for (const r of runs.splice(0)) r.stop();
  await Promise.allSettled(fleets.splice(0).map((f) => f.stop()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function fleetOf(...names: Array<[string, string]>): Promise<StartedStubFleet> {
  const f = await startStubFleet(names.map(([backend, server]) => ({ backend, server })));
  fleets.push(f);
  return f;
}

function urlOf(fleet: StartedStubFleet, key: string, path = "/chat"): string {
  const stub = fleet.stubs.find((s) => `${s.backend}/${s.server}` === key);
  if (stub === undefined) throw new Error(`no stub ${key}`);
  return `${stub.url.replace("http://", "ws://")}${path}`;
}

function sessions(options: Partial<WsSessionOptions> & { url: string }): WsRun {
  const run = startWsSessions({ connections: 5, rooms: 0, messageIntervalMs: 50, payloadBytes: 16, sessionMs: 400, connectRate: null, ...options });
  runs.push(run);
  return run;
}

/** Resolves at the first tick that satisfies `ok` (or with the last tick, when the run ends first). */
function tickWhen(run: WsRun, ok: (t: WsTickInfo) => boolean): Promise<WsTickInfo> {
  return new Promise((resolve) => {
    let last: WsTickInfo | undefined;
    const on = (t: WsTickInfo): void => {
      last = t;
      if (ok(t)) {
        run.off("tick", on);
        resolve(t);
      }
    };
    run.on("tick", on);
    void run.done.finally(() => {
      run.off("tick", on);
      if (last !== undefined) resolve(last);
    });
  });
}

async function wsCounts(fleet: StartedStubFleet, key: string): Promise<WsStubCounts | undefined> {
  return ((await fleet.counts()) as Record<string, StubCounts>)[key]?.ws;
}

/** The stub hears the end of a session a moment after the driver does: poll until it has closed them all. */
async function settledWsCounts(fleet: StartedStubFleet, key: string): Promise<WsStubCounts | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const c = await wsCounts(fleet, key);
    if ((c !== undefined && c.open === 0) || Date.now() > deadline) return c;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("startWsSessions", () => {
  test("echo: every message comes back to its sender, counted alike by the driver and the stub, and upgrades are counted by the 101's backend", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const run = sessions({ url: urlOf(fleet, "ade/s1"), connections: 5, rooms: 0, messageIntervalMs: 40, payloadBytes: 100, sessionMs: 400 });
    const r = await run.done;
    expect(r.ws_sessions).toBe(5);
    expect(r.sessions).toMatchObject({ started: 5, opened: 5, closed: 5, completed: 5, stopped: 0, failed: 0, failedToOpen: 0, notStarted: 0, maxOpen: 5 });
    // 400 ms at one message each 40 ms, the first one somewhere in the first interval: 10 per session.
    expect(r.ws_msgs_sent).toBe(50);
    expect(r.messages).toMatchObject({ sent: 50, received: 50, expected: 50, delivered: 50, unexpected: 0, deliveryRatio: 1, bytesSent: 5000, bytesReceived: 5000 });
    expect(r.rooms).toEqual({});
    expect(r.upgrades).toEqual({ byBackend: { ade: 5 }, byServer: { "ade/s1": 5 }, routed: {}, unstamped: 0 });
    expect(r.fanout.p50).toBeGreaterThan(0);
    expect(r.ws_session_duration.min).toBeGreaterThanOrEqual(400);

    const stub = await settledWsCounts(fleet, "ade/s1");
    expect(stub).toEqual({ requests: 5, upgrades: 5, open: 0, closed: 5, messagesIn: 50, messagesOut: 50, bytesIn: 5000, bytesOut: 5000, rooms: {} });
  });

  test("each session sends exactly its schedule, whatever the clock reading it starts at: 300 sessions of 10 intervals send 3,000", async () => {
    // The bound is the schedule's count, not accumulated times: a chat fixture run once counted 1,001 sent of 1,000.
    const fleet = await fleetOf(["ade", "s1"]);
    const run = sessions({ url: urlOf(fleet, "ade/s1"), connections: 300, rooms: 0, messageIntervalMs: 30, payloadBytes: 16, sessionMs: 300, connectRate: 3000 });
    const r = await run.done;
    expect(r.sessions.completed).toBe(300);
    expect(r.ws_msgs_sent).toBe(3000);
  });

  test("a room of 20 at 100 ms: every message reaches all 20 members, and the driver's counts reconcile exactly with the stub's", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const run = sessions({ url: urlOf(fleet, "ade/s1"), connections: 20, rooms: 1, messageIntervalMs: 100, payloadBytes: 64, sessionMs: 1500, connectRate: 200 });
    const started = new Promise((resolve) => run.once("start", resolve));
    const r = await run.done;
    expect(await started).toMatchObject({ sessions: 20, connections: 20, rooms: ["room-1"] });
    expect(r.sessions).toMatchObject({ started: 20, opened: 20, completed: 20, failed: 0, maxOpen: 20 });
    expect(r.ws_msgs_sent).toBe(20 * 15);
    expect(r.messages.deliveryRatio).toBe(1);
    expect(r.messages.delivered).toBe(r.messages.expected);
    // Each message is owed to every member open when it was sent: between one (the first to open) and 20.
    expect(r.messages.expected).toBeGreaterThan(r.ws_msgs_sent);
    expect(r.messages.expected).toBeLessThanOrEqual(r.ws_msgs_sent * 20);
    expect(r.rooms["room-1"]).toMatchObject({ sessions: 20, peakMembers: 20, sent: 300, deliveryRatio: 1 });
    expect(r.fanout.p99).toBeGreaterThanOrEqual(r.fanout.p50);

    const stub = await settledWsCounts(fleet, "ade/s1");
    expect(stub?.messagesIn).toBe(r.ws_msgs_sent);
    expect(stub?.messagesOut).toBe(r.ws_msgs_received);
    expect(stub?.bytesIn).toBe(r.messages.bytesSent);
    expect(stub?.bytesOut).toBe(r.messages.bytesReceived);
    expect(stub?.rooms["room-1"]).toEqual({ members: 0, peakMembers: 20, messagesIn: 300, messagesOut: r.ws_msgs_received });
    expect([stub?.upgrades, stub?.open, stub?.closed]).toEqual([20, 0, 20]);

    // The timeline adds up to the totals.
    const sum = (k: "sent" | "received" | "expected" | "delivered" | "opened"): number => r.timeline.reduce((a, w) => a + w[k], 0);
    expect([sum("sent"), sum("received"), sum("expected"), sum("delivered"), sum("opened")]).toEqual([300, r.ws_msgs_received, r.messages.expected, r.messages.delivered, 20]);
    expect(Math.max(...r.timeline.map((w) => w.openSessions))).toBe(20);
  });

  test("rooms are dealt round-robin, and a run shared over two processes' worth of shares merges into one exact count", async () => {
    const fleet = await fleetOf(["ade", "s1"], ["pbcoffee", "s1"]);
    expect(wsShareSessions(7, 3, { index: 0, count: 2 })).toEqual([0, 2, 3, 5, 6]);
    expect([0, 1, 2, 3].map((i) => inWsShare(i, 0, { index: 1, count: 2 }))).toEqual([false, true, false, true]);
    // Two shares, each through its own stub: room-1 and room-3 in one, room-2 and room-4 in the other.
    const base = { connections: 12, rooms: 4, messageIntervalMs: 50, payloadBytes: 32, sessionMs: 500, senderIdBase: 1000 };
    const a = sessions({ ...base, url: urlOf(fleet, "ade/s1"), share: { index: 0, count: 2 } });
    const b = sessions({ ...base, url: urlOf(fleet, "pbcoffee/s1"), share: { index: 1, count: 2 } });
    const [da, db] = await Promise.all([a.data, b.data]);
    expect(Object.keys(da.rooms).sort()).toEqual(["room-1", "room-3"]);
    expect(Object.keys(db.rooms).sort()).toEqual(["room-2", "room-4"]);
    const merged = toWsResult(mergeWsRunData([da, db]));
    expect(merged.sessions).toMatchObject({ started: 12, opened: 12, completed: 12, failed: 0 });
    expect(merged.ws_msgs_sent).toBe(da.messages.sent + db.messages.sent);
    expect(merged.messages.deliveryRatio).toBe(1);
    expect(Object.values(merged.rooms).map((r) => r.sessions)).toEqual([3, 3, 3, 3]);
    expect(merged.upgrades.byBackend).toEqual({ ade: 6, pbcoffee: 6 });
    // Merging is pure, and merging one part alone gives it back.
    expect(toWsResult(mergeWsRunData([da]))).toEqual(toWsResult(da));
    expect(mergeWsRunData([])).toEqual(emptyWsRunData());

    const counts = await fleet.counts();
    const inOut = (key: string): [number, number] => [counts[key]!.ws!.messagesIn, counts[key]!.ws!.messagesOut];
    expect(inOut("ade/s1")).toEqual([da.messages.sent, da.messages.received]);
    expect(inOut("pbcoffee/s1")).toEqual([db.messages.sent, db.messages.received]);
  });

  test("the stub's process stopped mid-session: every session fails with the cause, and what was sent in between is missing from the ratio", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const run = sessions({ url: urlOf(fleet, "ade/s1"), connections: 10, rooms: 1, messageIntervalMs: 20, sessionMs: 60_000, tickMs: 20 });
    const open = await tickWhen(run, (t) => t.open === 10 && t.delivered > 0);
    expect(open.open).toBe(10);
    // Frozen, the stub takes messages into its socket buffers and sends nothing on; killed, it never will.
    fleet.kill("SIGSTOP");
    await tickWhen(run, (t) => t.sent > open.sent + 10);
    fleet.kill("SIGKILL");
    const r = await run.done;
    expect(r.sessions).toMatchObject({ started: 10, opened: 10, closed: 10, completed: 0, stopped: 0, failed: 10, failedToOpen: 0 });
    const causes = Object.keys(r.sessions.failedByCause);
    expect(causes.length).toBeGreaterThan(0);
    for (const cause of causes) expect(["reset", "closed"]).toContain(cause);
    expect(r.messages.deliveryRatio).not.toBeNull();
    expect(r.messages.deliveryRatio!).toBeLessThan(1);
    expect(r.messages.delivered).toBeLessThan(r.messages.expected);
    expect(r.timeline.reduce((a, w) => a + w.failed, 0)).toBe(10);
  });

  test("the stubs stopped mid-session close every session with 1001, and each fails with that cause", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const run = sessions({ url: urlOf(fleet, "ade/s1"), connections: 6, rooms: 2, messageIntervalMs: 50, sessionMs: 60_000, tickMs: 20 });
    await tickWhen(run, (t) => t.open === 6 && t.delivered > 0);
    await fleet.stop();
    const r = await run.done;
    expect(r.sessions).toMatchObject({ started: 6, opened: 6, failed: 6, completed: 0, failedByCause: { "ws-close-1001": 6 } });
    expect(r.messages.delivered).toBeLessThanOrEqual(r.messages.expected);
  });

  test("stop() mid-run: sessions leave their rooms, take what they are owed and close; none fails, and the stub is left with no session", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const run = sessions({ url: urlOf(fleet, "ade/s1"), connections: 10, rooms: 2, messageIntervalMs: 20, sessionMs: 60_000, tickMs: 20 });
    await tickWhen(run, (t) => t.open === 10 && t.delivered > 50);
    run.stop();
    run.stop();
    const r = await run.done;
    expect(r.sessions).toMatchObject({ started: 10, opened: 10, closed: 10, stopped: 10, completed: 0, failed: 0, notStarted: 0 });
    expect(r.messages.deliveryRatio).toBe(1);
    const stub = await settledWsCounts(fleet, "ade/s1");
    expect([stub?.open, stub?.closed]).toEqual([0, 10]);
    expect(stub?.messagesIn).toBe(r.ws_msgs_sent);
    expect(stub?.messagesOut).toBe(r.ws_msgs_received);
  });

  test("stop() before the connect rate has opened every session: the rest never start, and are counted so", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const run = sessions({ url: urlOf(fleet, "ade/s1"), connections: 50, rooms: 1, messageIntervalMs: 50, sessionMs: 60_000, connectRate: 5, tickMs: 20 });
    await tickWhen(run, (t) => t.opened >= 1);
    run.stop();
    const r = await run.done;
    expect(r.sessions.notStarted).toBeGreaterThan(0);
    expect(r.sessions.started + r.sessions.notStarted).toBe(50);
    expect(r.sessions.stopped).toBe(r.sessions.started);
    expect((await settledWsCounts(fleet, "ade/s1"))?.open).toBe(0);
  });

  test("the run's time bound ends it as stop() does, however long its sessions", async () => {
    const fleet = await fleetOf(["ade", "s1"]);
    const run = sessions({ url: urlOf(fleet, "ade/s1"), connections: 4, rooms: 1, messageIntervalMs: 20, sessionMs: 600_000, maxRunMs: 300 });
    const r = await run.done;
    expect(r.sessions).toMatchObject({ started: 4, stopped: 4, completed: 0, failed: 0 });
    expect(r.messages.delivered).toBe(r.messages.expected);
    expect((await settledWsCounts(fleet, "ade/s1"))?.open).toBe(0);
  });

  test("failures before the 101 are named: a refused connection, and an upgrade answered with another status", async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await sessions({ url: `ws://127.0.0.1:${port}/`, connections: 3 }).done;
    expect(refused.sessions).toMatchObject({ started: 3, opened: 0, failed: 3, failedToOpen: 3, failedByCause: { refused: 3 } });
    expect(refused.messages.deliveryRatio).toBeNull();

    // A backend that is not a WebSocket server: it answers the upgrade with 503, and notes where each came from.
    const from: Record<string, number> = {};
    const busy = http.createServer((_, res) => res.writeHead(503).end());
    busy.on("upgrade", (req: http.IncomingMessage, socket: net.Socket) => {
      const address = req.socket.remoteAddress ?? "?";
      from[address] = (from[address] ?? 0) + 1;
      socket.end("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    });
    servers.push(busy);
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const r = await sessions({ url: `ws://127.0.0.1:${(busy.address() as net.AddressInfo).port}/`, connections: 4, sourceAddresses: ["127.0.0.2", "127.0.0.3"] }).done;
    expect(r.sessions).toMatchObject({ started: 4, opened: 0, failed: 4, failedByCause: { "ws-upgrade-503": 4 } });
    expect(r.upgrades).toEqual({ byBackend: {}, byServer: {}, routed: {}, unstamped: 0 });
    // Sessions are dealt over the source addresses in turn.
    expect(from).toEqual({ "127.0.0.2": 2, "127.0.0.3": 2 });
  });

  test("a URL that is not loopback is refused before any socket opens, with a usage error", async () => {
    for (const url of ["ws://10.1.2.3:8080/", "ws://example.com/", "ws://[::2]:80/", "http://127.example.com/"]) {
      const err: unknown = await sessions({ url }).done.catch((e: unknown) => e);
      expect(err, url).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(ExitCode.Usage);
      expect((err as Error).message, url).toMatch(/loopback/);
    }
    const bad: unknown = await sessions({ url: "wss://127.0.0.1:1/?room=x", connections: 3, rooms: 4, payloadBytes: 8 }).done.catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(UsageError);
    for (const part of ["wss://", "names a room", "rooms 4", "payloadBytes 8"]) expect((bad as Error).message).toContain(part);
  });
});
