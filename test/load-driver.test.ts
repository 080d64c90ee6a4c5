/**
 * The load driver against real HTTP servers on 127.0.0.1 (Node's http, http2
 * and TLS servers, one named stub per fault). Assertions are on counts, never
 * on timing.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../src/errors.js";
import { parseLoadProfile, runLoad, startLoad, type LoadInput, type LoadResult, type TickInfo } from "../src/load/index.js";
import { formatLoadSummary } from "../src/report/load.js";
import { arrivalsBefore } from "../src/load/arrival-rate.js";

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

interface Served {
  port: number;
  /** Responses sent with the backend header, by backend. */
  byBackend: Map<string, number>;
  sessions: number;
  streams: number;
}

function count(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function attributedTotal(r: LoadResult): number {
  return Object.values(r.backends).reduce((a, b) => a + b.count, 0);
}

/** The accounting rule every run must keep. */
function expectAccounted(r: LoadResult): void {
  expect(attributedTotal(r) + r.unattributed.total).toBe(r.requests.sent);
  expect(Object.values(r.unattributed.byCause).reduce((a, b) => a + b, 0)).toBe(r.unattributed.total);
  expect(r.requests.failed).toBe(r.requests.sent - r.requests.succeeded);
  // Every request sent either got a response (counted by status) or ended with a cause.
  const noResponse = Object.entries(r.unattributed.byCause).reduce((a, [k, n]) => a + (k.startsWith("status-") ? 0 : n), 0);
  expect(r.requests.completed + noResponse).toBe(r.requests.sent);
  expect(Object.values(r.statuses).reduce((a, b) => a + b, 0)).toBe(r.requests.completed);
}

interface H2Opts {
  /** Backend label for the n-th stream (0-based, whole server). */
  label?: (n: number) => string | null;
  /** Send GOAWAY after this many streams on a session; later streams are refused. */
  goawayAfter?: number;
  /** Destroy the session abruptly on its n-th stream. */
  destroyAfter?: number;
  bigHeaders?: boolean;
}

function attachH2(server: http2.Http2Server, served: Served, o: H2Opts): void {
  server.on("session", (session) => {
    served.sessions++;
    let n = 0;
    let goingAway = false;
    session.on("stream", (stream, headers) => {
      stream.on("error", () => undefined);
      n++;
      if (goingAway) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      if (o.destroyAfter !== undefined && n === o.destroyAfter) {
        session.destroy();
        return;
      }
      if (headers[":path"] === "/hang") return;
      const k = served.streams++;
      const label = o.label ? o.label(k) : "h2";
      const h: http2.OutgoingHttpHeaders = { ":status": label === null ? 503 : 200 };
      if (label !== null) {
        h["x-spillway-backend"] = label;
        h["x-spillway-server"] = `${label}/s1`;
        h["x-spillway-proxy-conns"] = String(served.sessions);
        count(served.byBackend, label);
      }
      if (o.bigHeaders) h["x-filler"] = "f".repeat(40_000);
      stream.respond(h);
      stream.end("ok");
      if (o.goawayAfter !== undefined && n === o.goawayAfter) {
        goingAway = true;
        session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
        setTimeout(() => session.close(), 50);
      }
    });
  });
}

async function listen(server: http.Server | http2.Http2Server | http2.Http2SecureServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(
    () =>
      new Promise<void>((r) => {
        (server as http.Server).closeAllConnections?.();
        server.close(() => r());
      }),
  );
  return (server as http.Server).address() ? ((server as http.Server).address() as AddressInfo).port : 0;
}

async function h2cServer(o: H2Opts = {}): Promise<Served> {
  const served: Served = { port: 0, byBackend: new Map(), sessions: 0, streams: 0 };
  const server = http2.createServer({ settings: { maxConcurrentStreams: 200 } });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  attachH2(server, served, o);
  closers.push(async () => {
    for (const s of sessions) s.destroy();
  });
  served.port = await listen(server);
  return served;
}

interface H1Opts {
  label?: (n: number) => string;
  maxRequestsPerSocket?: number;
  /** Destroy the socket instead of answering every n-th request. */
  destroyEvery?: number;
}

async function h1Server(o: H1Opts = {}): Promise<Served & { sockets: number }> {
  const served = { port: 0, byBackend: new Map<string, number>(), sessions: 0, streams: 0, sockets: 0 };
  let seen = 0;
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    seen++;
    if (o.destroyEvery !== undefined && seen % o.destroyEvery === 0) {
      req.socket.destroy();
      return;
    }
    const k = served.streams++;
    const label = o.label ? o.label(k) : "h1";
    count(served.byBackend, label);
    res.setHeader("x-spillway-backend", label);
    res.setHeader("x-spillway-server", `${label}/s1`);
    // Alternate framing: chunked for odd, Content-Length for even.
    if (k % 2 === 1) res.write("chunk-");
    res.end("body");
  });
  if (o.maxRequestsPerSocket !== undefined) server.maxRequestsPerSocket = o.maxRequestsPerSocket;
  server.keepAliveTimeout = 30_000;
  server.on("connection", () => served.sockets++);
  served.port = await listen(server);
  return served;
}

describe("attribution per protocol", () => {
  it("h2c: counts match what the server sent, per backend and server", async () => {
    const s = await h2cServer({ label: (n) => (n % 3 === 0 ? "ade" : "pbcoffee") });
    const r = await runLoad(parseLoadProfile({ connections: 4, streams: 16, requests: 3000 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.requests.sent).toBe(3000);
    expect(r.requests.succeeded).toBe(3000);
    expect(r.backends["ade"]!.count).toBe(s.byBackend.get("ade"));
    expect(r.backends["pbcoffee"]!.count).toBe(s.byBackend.get("pbcoffee"));
    expect(r.backends["ade"]!.servers).toEqual({ "ade/s1": s.byBackend.get("ade") });
    expect(r.connections.opened).toBe(4);
    expect(r.maxProxyConnsSeen).toBe(4);
    expect(r.latency.p99).toBeGreaterThanOrEqual(r.latency.p50);
  });

  it("h1 keep-alive and h1-close: Content-Length and chunked bodies", async () => {
    const s = await h1Server({ label: (n) => (n % 2 === 0 ? "a" : "b") });
    const ka = await runLoad(parseLoadProfile({ protocol: "h1", connections: 3, requests: 600 }, { url: `http://127.0.0.1:${s.port}/x` }));
    expectAccounted(ka);
    expect(ka.requests.succeeded).toBe(600);
    expect(ka.connections.opened).toBe(3);
    expect(s.sockets).toBe(3);
    const before = s.sockets;
    const cl = await runLoad(parseLoadProfile({ protocol: "h1-close", connections: 3, requests: 90 }, { url: `http://127.0.0.1:${s.port}/x` }));
    expectAccounted(cl);
    expect(cl.requests.succeeded).toBe(90);
    expect(cl.connections.opened).toBe(90);
    expect(s.sockets - before).toBe(90);
    expect(attributedTotal(ka) + attributedTotal(cl)).toBe((s.byBackend.get("a") ?? 0) + (s.byBackend.get("b") ?? 0));
  });

  it("h2 over TLS with ALPN, and h1 over TLS", async () => {
    let dir: string;
    try {
      dir = mkdtempSync(join(tmpdir(), "spillway-tls-"));
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-subj", "/CN=localhost", "-days", "1"], { stdio: "ignore" });
    } catch {
      throw new Error("openssl is needed to make a test certificate");
    }
    const served: Served = { port: 0, byBackend: new Map(), sessions: 0, streams: 0 };
    const server = http2.createSecureServer({ key: readFileSync(join(dir, "k.pem")), cert: readFileSync(join(dir, "c.pem")), allowHTTP1: true });
    rmSync(dir, { recursive: true, force: true });
    attachH2(server, served, { label: () => "tls" });
    server.on("request", (req, res) => {
      if (req.httpVersion === "2.0") return;
      count(served.byBackend, "tls1");
      res.setHeader("x-spillway-backend", "tls1");
      res.end("ok");
    });
    const port = await listen(server);
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 8, requests: 400 }, { url: `https://localhost:${port}/` }));
    expectAccounted(r);
    expect(r.backends["tls"]!.count).toBe(400);
    const r1 = await runLoad(parseLoadProfile({ protocol: "h1", connections: 2, requests: 50 }, { url: `https://127.0.0.1:${port}/` }));
    expectAccounted(r1);
    expect(r1.backends["tls1"]!.count).toBe(50);
  });

  it("a response without the count-by header is unattributed with its status", async () => {
    const s = await h2cServer({ label: (n) => (n % 4 === 0 ? null : "ade") });
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 4, requests: 400 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.unattributed.byCause).toEqual({ "status-503-no-header": 100 });
    expect(r.backends["ade"]!.count).toBe(300);
    expect(r.statuses).toEqual({ "200": 300, "503": 100 });
    expect(r.requests.completed).toBe(400);
    // A 503 is an answer, not a success.
    expect(r.requests.succeeded).toBe(300);
    expect(r.requests.failed).toBe(100);
  });

  it("reads the backend header out of a header block split over CONTINUATION frames", async () => {
    const s = await h2cServer({ bigHeaders: true, label: () => "big" });
    const r = await runLoad(parseLoadProfile({ connections: 1, streams: 4, requests: 40 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.backends["big"]!.count).toBe(40);
  });

  it("countBy selects another header", async () => {
    const s = await h2cServer({ label: () => "ade" });
    const r = await runLoad(parseLoadProfile({ connections: 1, streams: 2, requests: 10 }, { url: `http://127.0.0.1:${s.port}/`, countBy: "X-Spillway-Server" }));
    expect(r.backends).toHaveProperty(["ade/s1"]);
    expect(r.backends["ade/s1"]!.count).toBe(10);
  });
});

describe("keep-alive policy and reconnects", () => {
  it("closeAfterRequests opens a new connection every N requests", async () => {
    const s = await h2cServer({ label: () => "ade" });
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 1, requests: 200, keep_alive: { close_after_requests: 10 } }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.requests.succeeded).toBe(200);
    expect(r.connections.opened).toBe(20);
    expect(s.sessions).toBe(20);
    expect(r.connections.maxOpen).toBeLessThanOrEqual(2);
  });

  it("closeAfterIdleMs closes connections idle between think times and reconnects", async () => {
    const s = await h2cServer({ label: () => "ade" });
    const r = await runLoad(parseLoadProfile({ connections: 1, streams: 1, requests: 4, think_time: "400ms", keep_alive: { close_after_idle: "100ms" } }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.requests.succeeded).toBe(4);
    expect(r.connections.opened).toBeGreaterThan(1);
  });

  it("GOAWAY: refused streams are sent again on a new connection, nothing lost", async () => {
    const s = await h2cServer({ label: () => "ade", goawayAfter: 25 });
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 10, requests: 500 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.connections.goaways).toBeGreaterThan(0);
    expect(r.backends["ade"]!.count).toBe(500);
    expect(s.byBackend.get("ade")).toBe(500);
    expect(r.connections.opened).toBeGreaterThanOrEqual(20);
  });

  it("GOAWAY without reconnect: the connection's slot ends, refused streams count as goaway", async () => {
    const s = await h2cServer({ label: () => "ade", goawayAfter: 25 });
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 10, requests: 500, reconnect: false }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.connections.opened).toBe(2);
    expect(r.backends["ade"]!.count).toBe(50);
    expect(r.unattributed.total).toBe(r.requests.sent - 50);
    expect(Object.keys(r.unattributed.byCause)).toEqual(["goaway"]);
  });

  it("server closing after N requests (h1 Connection: close): reconnects", async () => {
    const s = await h1Server({ maxRequestsPerSocket: 7 });
    const r = await runLoad(parseLoadProfile({ protocol: "h1", connections: 2, requests: 140 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.requests.succeeded).toBe(140);
    expect(r.connections.opened).toBe(20);
  });

  it("sockets destroyed mid-request: unattributed with a cause, then reconnect", async () => {
    const s = await h1Server({ destroyEvery: 10 });
    const r = await runLoad(parseLoadProfile({ protocol: "h1", connections: 2, requests: 300 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    const causes = r.unattributed.byCause;
    expect((causes["closed"] ?? 0) + (causes["reset"] ?? 0)).toBeGreaterThan(0);
    expect(attributedTotal(r)).toBe(s.byBackend.get("h1"));
    expect(r.connections.opened).toBeGreaterThan(2);
  });

  it("h2 session destroyed abruptly: in-flight streams end unattributed, load continues", async () => {
    const s = await h2cServer({ label: () => "ade", destroyAfter: 40 });
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 8, requests: 400 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.unattributed.total).toBeGreaterThan(0);
    expect(r.backends["ade"]!.count).toBe(s.byBackend.get("ade"));
    expect(r.connections.opened).toBeGreaterThan(2);
  });

  it("requests that get no answer end as timeout", async () => {
    const s = await h2cServer();
    // As many requests as streams: the budget is spent before they time out, so nothing stops the run early.
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 3, requests: 6, timeout: "200ms" }, { url: `http://127.0.0.1:${s.port}/hang` }));
    expectAccounted(r);
    expect(r.unattributed.byCause).toEqual({ timeout: 6 });
    expect(r.stoppedEarly).toBeNull();
  });
});

describe("HTTP/2 connection management", () => {
  it("answers the server's PING and keeps to its MAX_CONCURRENT_STREAMS", async () => {
    const served: Served = { port: 0, byBackend: new Map(), sessions: 0, streams: 0 };
    const server = http2.createServer({ settings: { maxConcurrentStreams: 3 } });
    let open = 0;
    let maxOpen = 0;
    const pings: Array<Promise<boolean>> = [];
    server.on("session", (session) => {
      pings.push(new Promise((resolve) => session.ping((err) => resolve(err === null))));
    });
    server.on("stream", (stream) => {
      stream.on("error", () => undefined);
      open++;
      maxOpen = Math.max(maxOpen, open);
      setTimeout(() => {
        open--;
        count(served.byBackend, "ade");
        stream.respond({ ":status": 200, "x-spillway-backend": "ade" });
        stream.end();
      }, 2);
    });
    const port = await listen(server);
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 20, requests: 300 }, { url: `http://127.0.0.1:${port}/` }));
    expectAccounted(r);
    expect(r.backends["ade"]!.count).toBe(300);
    expect(r.unattributed.total).toBe(0);
    // Streams above the limit would have been refused (RST_STREAM) and sent again.
    expect(r.requests.retried).toBe(0);
    expect(maxOpen).toBeLessThanOrEqual(3 * 2);
    expect(await Promise.all(pings)).toEqual([true, true]);
  });

  it("maxRunMs stops a run whose requests never finish; they end as aborted", async () => {
    const s = await h2cServer();
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 5, requests: 10, timeout: "1m" }, { url: `http://127.0.0.1:${s.port}/hang`, maxRunMs: 400 }));
    expectAccounted(r);
    expect(r.unattributed.byCause).toEqual({ aborted: 10 });
  });
});

describe("a server killed mid-run", () => {
  let child: ChildProcess | null = null;
  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  });

  it("counts the lost requests with a cause and the run ends by itself", async () => {
    const script = `
      const http2 = require("node:http2");
      const s = http2.createServer();
      s.on("stream", (st) => { st.respond({ ":status": 200, "x-spillway-backend": "doomed" }); st.end(); });
      s.listen(0, "127.0.0.1", () => console.log(s.address().port));
    `;
    child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
      child!.once("exit", () => reject(new Error("stub exited early")));
    });
    const run = startLoad(parseLoadProfile({ connections: 3, streams: 8, duration: "2500ms", requests: 10_000_000 }, { url: `http://127.0.0.1:${port}/` }));
    let killed = false;
    run.on("tick", (t: TickInfo) => {
      if (!killed && t.completed > 500 && child?.pid !== undefined) {
        killed = true;
        process.kill(child.pid, "SIGKILL");
      }
    });
    const r = await run.done;
    expect(killed).toBe(true);
    expectAccounted(r);
    expect(r.backends["doomed"]!.count).toBeGreaterThan(500);
    expect(r.unattributed.byCause["refused"]).toBeGreaterThan(0);
    expect(r.connections.failed).toBeGreaterThan(0);
  });
});

describe("profiles and events", () => {
  it("open model: never sends more than the arrival schedule allows", async () => {
    const s = await h2cServer({ label: () => "ade" });
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 4, arrival_rate: 200, duration: "1s" }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.requests.sent).toBeGreaterThan(0);
    expect(r.requests.sent).toBeLessThanOrEqual(200);
    expect(r.backends["ade"]!.count).toBe(r.requests.sent);
  });

  it("open model: the arrival due exactly at the end is not sent, whatever the start time's rounding", () => {
    // With t0 = 4018.458, (t0 + 1000) - t0 is 1000.0000000000005: ceil(x * 200 / 1000) said 201.
    expect(arrivalsBefore(4018.458, 4018.458 + 1000, 200)).toBe(200);
    expect(arrivalsBefore(0, 1000, 200)).toBe(200);
    expect(arrivalsBefore(0, 1001, 200)).toBe(201);
    expect(arrivalsBefore(0, 1000, 3)).toBe(3);
    expect(arrivalsBefore(5, Infinity, 200)).toBe(Infinity);
  });

  it("stages ramp the number of connections", async () => {
    const s = await h2cServer({ label: () => "ade" });
    const r = await runLoad(
      parseLoadProfile(
        {
          streams: 2,
          stages: [
            { duration: "400ms", target: 5 },
            { duration: "400ms", target: 5 },
            { duration: "300ms", target: 1 },
          ],
        },
        { url: `http://127.0.0.1:${s.port}/` },
      ),
    );
    expectAccounted(r);
    expect(r.connections.maxOpen).toBe(5);
    expect(r.connections.opened).toBe(5);
    expect(r.timeline.length).toBeGreaterThan(0);
  });

  it("warm-up requests are not counted", async () => {
    const s = await h2cServer({ label: () => "ade" });
    const r = await runLoad(parseLoadProfile({ connections: 1, streams: 2, warmup: "300ms", requests: 100 }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.requests.sent).toBe(100);
    expect(s.byBackend.get("ade")).toBeGreaterThan(100);
  });

  it("emits start, ticks and done; writes one NDJSON line per request", async () => {
    const s = await h2cServer({ label: (n) => (n % 2 ? "a" : "b") });
    const lines: string[] = [];
    const run = startLoad(parseLoadProfile({ connections: 2, streams: 4, duration: "600ms" }, { url: `http://127.0.0.1:${s.port}/`, ndjson: (l) => lines.push(l) }));
    const events: string[] = [];
    run.on("start", () => events.push("start"));
    run.on("tick", () => events.push("tick"));
    run.on("done", () => events.push("done"));
    const r = await run.done;
    expectAccounted(r);
    expect(events[0]).toBe("start");
    expect(events.at(-1)).toBe("done");
    expect(events.filter((e) => e === "tick").length).toBeGreaterThan(0);
    expect(lines.length).toBe(r.requests.sent);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(first).sort()).toEqual(["backend", "cause", "conn", "latencyUs", "proxyConns", "route", "server", "status", "stream", "t"]);
    const perBackend = lines.map((l) => (JSON.parse(l) as { backend: string }).backend).filter((b) => b === "a").length;
    expect(perBackend).toBe(r.backends["a"]?.count ?? 0);
    const sum = r.timeline.reduce((a, w) => a + Object.values(w.byBackend).reduce((x, y) => x + y, 0) + w.errors, 0);
    expect(sum).toBe(r.requests.sent);
  });

  it("stop() ends a run early and cleanly", async () => {
    const s = await h2cServer({ label: () => "ade" });
    const run = startLoad(parseLoadProfile({ connections: 2, streams: 4, duration: "1m" }, { url: `http://127.0.0.1:${s.port}/` }));
    run.once("tick", () => run.stop());
    const r = await run.done;
    expectAccounted(r);
    expect(r.unattributed.total).toBe(0);
    expect(r.durationMs).toBeLessThan(60_000);
  });

  it("formats an h2load-like summary with the per-backend table", async () => {
    const s = await h2cServer({ label: (n) => (n % 4 === 0 ? "pbcoffee" : "ade") });
    const profile = parseLoadProfile({ connections: 1, streams: 4, requests: 100 }, { url: `http://127.0.0.1:${s.port}/` });
    const text = formatLoadSummary(await runLoad(profile), profile);
    expect(text).toMatch(/^finished in \d+\.\d\ds, \d+\.\d\d req\/s$/m);
    expect(text).toContain("requests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout");
    expect(text).toContain("status codes: 100 2xx, 0 3xx, 0 4xx, 0 5xx");
    expect(text).toMatch(/^ade\s+75\s+75\.00%/m);
    expect(text).toMatch(/^pbcoffee\s+25\s+25\.00%/m);
  });
});

describe("workers", () => {
  const worker = join(import.meta.dirname, "../dist/load/worker.js");

  it("splits connections over worker threads and merges their counts", async () => {
    expect(existsSync(worker), "build first: npx tsc -p tsconfig.json").toBe(true);
    const s = await h2cServer({ label: (n) => (n % 2 ? "a" : "b") });
    const lines: string[] = [];
    const r = await runLoad(parseLoadProfile({ connections: 5, streams: 4, requests: 2001, workers: 2 }, { url: `http://127.0.0.1:${s.port}/`, ndjson: (l) => lines.push(l) }));
    expectAccounted(r);
    expect(r.requests.sent).toBe(2001);
    expect(r.connections.opened).toBe(5);
    expect(r.backends["a"]!.count).toBe(s.byBackend.get("a"));
    expect(r.backends["b"]!.count).toBe(s.byBackend.get("b"));
    expect(s.sessions).toBe(5);
    expect(lines.length).toBe(2001);
  });
});

describe("safety", () => {
  it("refuses a URL that is not loopback, before opening any socket", async () => {
    for (const url of ["http://10.1.2.3:8080/", "http://[2001:db8::1]/", "http://192.168.0.1/"]) {
      const err = await runLoad(parseLoadProfile({ requests: 1 }, { url })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(1);
      expect((err as UsageError).message).toMatch(/loopback/);
    }
  });

  it("refuses non-loopback source addresses and invalid profiles, listing every problem", () => {
    const refusal = (load: LoadInput, url: string): UsageError => {
      try {
        parseLoadProfile(load, { url });
      } catch (e) {
        return e as UsageError;
      }
      throw new Error("accepted");
    };
    // First the values the schema refuses, with the run's own problems...
    const shape = refusal({ connections: 0, streams: 2, protocol: "h1", source_addresses: ["10.0.0.1"] }, "ftp://127.0.0.1/");
    expect(shape).toBeInstanceOf(UsageError);
    expect(shape.exitCode).toBe(1);
    for (const part of ["url: scheme ftp: is not supported", "connections 0: must be at least 1", "source_addresses[0] \"10.0.0.1\": 10.0.0.1 is not on loopback"]) expect(shape.message).toContain(part);
    // ...then, once every value is well formed, the keys that contradict each other, all of them.
    const keys = refusal({ connections: 1, streams: 2, protocol: "h1" }, "http://127.0.0.1/");
    for (const part of ["streams 2 needs protocol h2c or h2", "the load is unbounded: give requests, duration or stages"]) expect(keys.message).toContain(part);
  });

  it("binds source addresses in 127.0.0.0/8", async () => {
    const seen = new Set<string>();
    const server = http.createServer((req, res) => {
      seen.add(req.socket.remoteAddress ?? "");
      res.setHeader("x-spillway-backend", "src");
      res.end();
    });
    const port = await listen(server);
    const r = await runLoad(parseLoadProfile({ protocol: "h1", connections: 4, requests: 40, source_addresses: ["127.0.0.2", "127.0.0.3"] }, { url: `http://127.0.0.1:${port}/` }));
    expectAccounted(r);
    expect([...seen].sort()).toEqual(["127.0.0.2", "127.0.0.3"]);
  });
});

beforeAll(() => {
  // Nothing global: every test starts its own servers, closed in afterAll.
});
