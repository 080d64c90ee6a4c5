/**
 * h2load's schedule in spillway's driver, against real HTTP/2 servers on
 * 127.0.0.1: how -n is split over workers and connections, each connection
 * closing when its share is done, the --rate bursts, and requests refused
 * unprocessed being sent again. Counts and orders only, never wall times.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../src/errors.js";
import { Engine, type ConnectBurst } from "../src/load/engine.js";
import { normalizeProfile, parseLoadProfile, runLoad, type LoadInput, type LoadResult } from "../src/load/index.js";
import { splitTasks } from "../src/load/run.js";

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

interface Recorded {
  port: number;
  /** Streams per session, in the order the sessions were accepted. */
  perSession: number[];
  /** Server-side events in order: "open N", "close N", "respond N". */
  events: string[];
}

/** An h2c server that answers every stream with a backend header, or as `handle` says. */
async function server(
  handle?: (ctx: { session: http2.ServerHttp2Session; sessionIndex: number; streamIndex: number; stream: http2.ServerHttp2Stream; rec: Recorded }) => boolean,
): Promise<Recorded> {
  const rec: Recorded = { port: 0, perSession: [], events: [] };
  const srv = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  const sessions = new Set<http2.ServerHttp2Session>();
  srv.on("session", (session) => {
    const i = rec.perSession.length;
    rec.perSession.push(0);
    rec.events.push(`open ${i}`);
    sessions.add(session);
    session.on("close", () => {
      sessions.delete(session);
      rec.events.push(`close ${i}`);
    });
    session.on("error", () => undefined);
    session.on("stream", (stream) => {
      stream.on("error", () => undefined);
      const k = rec.perSession[i]!++;
      if (handle?.({ session, sessionIndex: i, streamIndex: k, stream, rec })) return;
      rec.events.push(`respond ${i}`);
      stream.respond({ ":status": 200, "x-spillway-backend": "ade" });
      stream.end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  rec.port = (srv.address() as AddressInfo).port;
  closers.push(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  return rec;
}

function expectAccounted(r: LoadResult): void {
  const attributed = Object.values(r.backends).reduce((a, b) => a + b.count, 0);
  expect(attributed + r.unattributed.total).toBe(r.requests.sent);
}

/** Runs every worker's engine of a profile in this thread, keeping each one's burst log. */
async function runEngines(url: string, load: LoadInput): Promise<ConnectBurst[][]> {
  const tasks = splitTasks(normalizeProfile(parseLoadProfile(load, { url })), "127.0.0.1");
  const engines = tasks.map((t) => new Engine({ ...t, ndjson: null }));
  await Promise.all(engines.map((e) => e.run()));
  return engines.map((e) => e.burstLog);
}

function usageError(load: LoadInput): string {
  try {
    parseLoadProfile(load, { url: "http://127.0.0.1/" });
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(1);
    return (e as UsageError).message;
  }
  throw new Error("accepted");
}

describe("-n split as h2load splits it", () => {
  it("-n 10 -c 3 -t 2: threads get 5 and 5, clients 3,2 | 5 (not 4,3,3)", async () => {
    const s = await server();
    const r = await runLoad(parseLoadProfile({ connections: 3, requests: 10, workers: 2 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.backends["ade"]!.count).toBe(10);
    expect([...s.perSession].sort()).toEqual([2, 3, 5]);
  });

  it("-n 7 -c 5 -t 3: requests per connection 2,1 | 1,1 | 2", async () => {
    const s = await server();
    const tasks = splitTasks(normalizeProfile(parseLoadProfile({ connections: 5, requests: 7, workers: 3 }, { url: `http://127.0.0.1:${s.port}/` })), "127.0.0.1");
    expect(tasks.map((t) => t.requests)).toEqual([3, 2, 2]);
    const r = await runLoad(parseLoadProfile({ connections: 5, streams: 4, requests: 7, workers: 3 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.requests.sent).toBe(7);
    expect([...s.perSession].sort()).toEqual([1, 1, 1, 2, 2]);
  });

  it("each connection closes when its share is done, while the others still work", async () => {
    // Session 0 is answered at once; session 1's streams are held until session 0 has closed.
    // Per-client: session 0 sends its 3 and closes, then session 1 is answered. Pooled, session 0
    // would take session 1's work instead of closing (and the held streams would time out).
    const held: http2.ServerHttp2Stream[] = [];
    const s = await server(({ sessionIndex, stream, rec }) => {
      if (sessionIndex === 0) return false;
      if (rec.events.includes("close 0")) return false;
      held.push(stream);
      return true;
    });
    const release = setInterval(() => {
      if (!s.events.includes("close 0")) return;
      for (const st of held.splice(0)) {
        s.events.push("respond 1");
        st.respond({ ":status": 200, "x-spillway-backend": "ade" });
        st.end();
      }
    }, 5);
    try {
      const r = await runLoad(parseLoadProfile({ connections: 2, streams: 1, requests: 6, timeout: "30s" }, { url: `http://127.0.0.1:${s.port}/`, maxRunMs: 60_000 }));
      expectAccounted(r);
      expect(r.backends["ade"]!.count).toBe(6);
      expect(s.perSession).toEqual([3, 3]);
      // Session 0 closed before session 1 got any answer.
      expect(s.events.indexOf("close 0")).toBeLessThan(s.events.indexOf("respond 1"));
      expect(r.connections.opened).toBe(2);
    } finally {
      clearInterval(release);
    }
  });

  it("budget pooled keeps the old behaviour: one pool, connections stay open", async () => {
    const s = await server();
    const r = await runLoad(parseLoadProfile({ connections: 3, streams: 2, requests: 2, budget: "pooled" }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.requests.sent).toBe(2);
  });

  it("refuses what h2load refuses, with exit code 1", () => {
    expect(usageError({ connections: 3, requests: 2 })).toContain("2 requests for 3 connections: each connection sends its own share (h2load: -n at least -c)");
    expect(usageError({ connections: 4, requests: 8, connect_rate: 5 })).toContain("connect_rate 5 is more than the 4 connections");
    expect(usageError({ connections: 4, requests: 8, connect_rate: 2, workers: 3 })).toContain("connect_rate 2 is less than the 3 workers");
    expect(usageError({ connections: 4, requests: 8, connect_period: "500ms" })).toContain("connect_rate is not given");
    expect(usageError({ requests: 8, budget: "per-client", stages: [{ duration: "10ms", target: 2 }] })).toContain("per-client cannot be combined with stages");
    expect(usageError({ connections: 2, requests: 8, budget: "per-client", arrival_rate: 10 })).toContain("per-client cannot be combined with arrival_rate");
  });
});

describe("--rate and --rate-period", () => {
  it("-c 6 -r 2: bursts of 2, 2, 2 connections, one per period, the first at the start", async () => {
    const s = await server();
    const [log] = await runEngines(`http://127.0.0.1:${s.port}/`, { connections: 6, requests: 12, connect_rate: 2, connect_period: "100ms" });
    expect(log!.map((b) => [b.index, b.connections])).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
    ]);
    expect(log![0]!.atMs).toBe(0);
    expect(s.perSession).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it("-c 6 -t 2 -r 3: thread 0 opens 2 then 1, thread 1 opens 1, 1, 1 (h2load's per-thread split)", async () => {
    const s = await server();
    const logs = await runEngines(`http://127.0.0.1:${s.port}/`, { connections: 6, requests: 12, connect_rate: 3, connect_period: "100ms", workers: 2 });
    expect(logs.map((l) => l.map((b) => b.connections))).toEqual([
      [2, 1],
      [1, 1, 1],
    ]);
    expect(s.perSession).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it("the last burst may be partial: -c 5 -r 2 opens 2, 2, 1", async () => {
    const s = await server();
    const [log] = await runEngines(`http://127.0.0.1:${s.port}/`, { connections: 5, requests: 5, connect_rate: 2, connect_period: "50ms" });
    expect(log!.map((b) => b.connections)).toEqual([2, 2, 1]);
    expect(s.perSession.length).toBe(5);
  });
});

describe("requests refused unprocessed", () => {
  it("a REFUSED_STREAM on a connection that stays open is sent again on it at once", async () => {
    // Each session refuses its first stream and answers the rest; nothing else happens on the
    // connection, so only a prompt resend can answer the one request (it used to wait for a close).
    const s = await server(({ streamIndex, stream }) => {
      if (streamIndex > 0) return false;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return true;
    });
    const r = await runLoad(parseLoadProfile({ connections: 1, requests: 1, timeout: "30s" }, { url: `http://127.0.0.1:${s.port}/`, maxRunMs: 20_000 }));
    expectAccounted(r);
    expect(r.backends["ade"]?.count).toBe(1);
    expect(r.requests.retried).toBe(1);
    expect(r.connections.opened).toBe(1);
    expect(s.perSession).toEqual([2]);
  });

  it("a request refused every time ends as refused-stream after 3 resends, on the same connection", async () => {
    const s = await server(({ stream }) => {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return true;
    });
    const r = await runLoad(parseLoadProfile({ connections: 1, requests: 1, timeout: "30s" }, { url: `http://127.0.0.1:${s.port}/`, maxRunMs: 20_000 }));
    expectAccounted(r);
    expect(r.unattributed.byCause).toEqual({ "refused-stream": 1 });
    expect(r.requests.retried).toBe(3);
    expect(s.perSession).toEqual([4]);
  });

  it("a parked request that cannot go out again within its timeout ends as timeout", async () => {
    // Stream 1 hangs and the server sends GOAWAY(last 1): stream 3 is refused unprocessed, and the
    // connection, still waiting for stream 1, takes nothing new. Both end by the request timeout.
    const s = await server(({ session, streamIndex }) => {
      if (streamIndex === 0) session.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
      return true;
    });
    const r = await runLoad(parseLoadProfile({ connections: 1, streams: 2, requests: 2, timeout: "300ms" }, { url: `http://127.0.0.1:${s.port}/`, maxRunMs: 20_000 }));
    expectAccounted(r);
    expect(r.unattributed.byCause).toEqual({ timeout: 2 });
    // Ended where it waited: not sent again on a new connection for a timeout of its own.
    expect(r.connections.opened).toBe(1);
    expect(s.perSession).toEqual([2]);
  });
});
