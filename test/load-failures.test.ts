/**
 * Runs that cannot work: servers that never answer, answer in the wrong
 * protocol or do not listen at all, and host names that must not be looked
 * up. Real servers on 127.0.0.1 (port 0); the CLI in a child process where the
 * exit code matters. Assertions are on counts and causes, never on timing.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseLoadProfile, runLoad, type LoadInput, type LoadResult } from "../src/load/index.js";
import { runCliAsync } from "./helpers/cli.js";
import { STACK_LINE } from "./helpers/processes.js";

const closers: Array<() => Promise<void> | void> = [];
const scratch = mkdtempSync(join(tmpdir(), "spillway-load-failures-"));
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(scratch, { recursive: true, force: true });
});

const cli = runCliAsync;

describe("host names", () => {
  /** A preload that reports every dns.lookup (callback and promise forms, ESM named imports included) on stderr. */
  const probe = join(scratch, "dns-probe.mjs");
  writeFileSync(
    probe,
    `import { createRequire, syncBuiltinESMExports } from "node:module";
const require = createRequire(import.meta.url);
const dns = require("node:dns");
const wrap = (o, k) => { const f = o[k]; o[k] = function (host, ...rest) { process.stderr.write("DNS-LOOKUP " + host + "\\n"); return f.call(this, host, ...rest); }; };
wrap(dns, "lookup");
wrap(dns.promises, "lookup");
syncBuiltinESMExports();
`,
  );

  it("a name other than localhost is refused with exit 1 before any DNS lookup", async () => {
    // The probe sees a lookup made through an ESM named import, as the driver's code would make one.
    const control = await new Promise<string>((resolve) => {
      const c = spawn(process.execPath, ["--import", probe, "--input-type=module", "-e", 'import { lookup } from "node:dns/promises"; await lookup("localhost").catch(() => 0);'], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      c.stderr.on("data", (d) => (err += d));
      c.on("exit", () => resolve(err));
    });
    expect(control).toContain("DNS-LOOKUP localhost");

    const r = await cli(["load", "http://127.example.com:8080/", "-n", "1"], ["--import", probe]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('refusing host "127.example.com"');
    expect(r.stderr).toContain("http://127.0.0.1:PORT/");
    expect(r.stderr).not.toContain("DNS-LOOKUP");
    expect(r.stderr).not.toMatch(STACK_LINE);
  });
});

// ---- servers ----

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as net.AddressInfo).port;
}

/** Accepts TCP connections and never writes a byte. */
async function silentServer(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
  });
  closers.push(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  return listen(server);
}

/** HTTP/1.1 only (Node answers an HTTP/2 preface with 400 and closes). `answer(n)` decides for the n-th request; false leaves it hanging. */
async function h1Server(answer: (n: number) => boolean = () => true, status = 200): Promise<{ port: number; answered: () => number }> {
  let n = 0;
  let answered = 0;
  const server = http.createServer({ keepAlive: true }, (_req, res) => {
    if (!answer(n++)) return;
    answered++;
    res.statusCode = status;
    res.setHeader("x-spillway-backend", "h1");
    res.end("ok");
  });
  closers.push(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return { port: await listen(server), answered: () => answered };
}

/** h2c only. `answer(n)` decides for the n-th stream; false leaves it hanging. */
async function h2cServer(answer: (n: number) => boolean = () => true): Promise<{ port: number; answered: () => number }> {
  let n = 0;
  let answered = 0;
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => undefined);
  });
  server.on("stream", (stream) => {
    stream.on("error", () => undefined);
    if (!answer(n++)) return;
    answered++;
    stream.respond({ ":status": 200, "x-spillway-backend": "h2" });
    stream.end("ok");
  });
  closers.push(() => new Promise<void>((r) => {
    for (const s of sessions) s.destroy();
    server.close(() => r());
  }));
  return { port: await listen(server as unknown as net.Server), answered: () => answered };
}

/** A port nothing listens on (it listened a moment ago). */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

// ---- accounting ----

/** sent = succeeded + failed, and every failure has a cause: a status, or a cause of no response. */
function expectAccounted(r: LoadResult): void {
  const attributed = Object.values(r.backends).reduce((a, b) => a + b.count, 0);
  expect(attributed + r.unattributed.total, "attributed + unattributed = sent").toBe(r.requests.sent);
  const noResponse = Object.entries(r.unattributed.byCause).reduce((a, [k, n]) => a + (k.startsWith("status-") ? 0 : n), 0);
  expect(r.requests.completed + noResponse, "completed + ended with a cause = sent").toBe(r.requests.sent);
  expect(Object.values(r.statuses).reduce((a, b) => a + b, 0), "statuses = completed").toBe(r.requests.completed);
  expect(r.requests.failed).toBe(r.requests.sent - r.requests.succeeded);
  expect(Object.values(r.connections.failedByCause).reduce((a, b) => a + b, 0)).toBe(r.connections.failed);
}

/** The summary's request line adds up the same way: started = done + errored + timeout + cut. */
function expectSummaryAddsUp(text: string): { started: number; done: number; cut: number } {
  const m = /^requests: \d+ total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout(?:, (\d+) cut by duration)?/m.exec(text);
  expect(m, text).not.toBeNull();
  const [started, done, succeeded, failed, errored, timeout, cut] = m!.slice(1).map((v) => Number(v ?? 0));
  expect(done! + errored! + timeout! + cut!, text).toBe(started);
  expect(succeeded! + failed!, text).toBe(started);
  return { started: started!, done: done!, cut: cut! };
}

// A request timeout far beyond every duration below: an outcome of "timeout" would mean the run waited for it.
const LONG = 60_000;

describe("-D bounds every protocol: what is in flight at the end is counted, with a cause", () => {
  it("HTTP/1.1 keep-alive and close against a server that never answers: one request per connection, cut by the duration", async () => {
    const port = await silentServer();
    for (const protocol of ["h1", "h1-close"] as const) {
      const r = await runLoad(parseLoadProfile({ protocol, connections: 3, duration: "400ms", timeout: `${LONG}ms` }, { url: `http://127.0.0.1:${port}/`, drainMs: 0 }));
      expectAccounted(r);
      expect(r.requests.sent, protocol).toBe(3);
      expect(r.unattributed.byCause, protocol).toEqual({ "cut-by-duration": 3 });
      expect(r.connections.opened, protocol).toBe(3);
      expect(r.stoppedEarly, protocol).toBeNull();
    }
  });

  it("h2c and h2 against a listener that never sends a preface or a TLS handshake: the stuck connections are counted as unfinished, no request as sent", async () => {
    const port = await silentServer();
    for (const url of [`http://127.0.0.1:${port}/`, `https://127.0.0.1:${port}/`]) {
      const r = await runLoad(parseLoadProfile({ connections: 3, streams: 4, duration: "400ms", timeout: `${LONG}ms` }, { url, drainMs: 0 }));
      expectAccounted(r);
      expect(r.requests.sent, url).toBe(0);
      expect(r.connections, url).toMatchObject({ opened: 0, failed: 0, unfinished: { connecting: 0, handshaking: 3 } });
    }
  });

  it("h2c streams that hang are cut at the end, in one thread and over workers", async () => {
    const s = await h2cServer(() => false);
    for (const workers of [1, 2]) {
      const r = await runLoad(parseLoadProfile({ connections: 2, streams: 5, workers, duration: "400ms", timeout: `${LONG}ms` }, { url: `http://127.0.0.1:${s.port}/`, drainMs: 0 }));
      expectAccounted(r);
      expect(r.requests.sent, `workers ${workers}`).toBe(10);
      expect(r.unattributed.byCause, `workers ${workers}`).toEqual({ "cut-by-duration": 10 });
      expect(r.connections.opened).toBe(2);
    }
  });

  it("a server answering every other request: answered ones count by backend, the rest are cut, and nothing more is counted than the server answered", async () => {
    const cases: Array<[string, () => Promise<{ port: number; answered: () => number }>, LoadInput]> = [
      ["h2c", () => h2cServer((n) => n % 2 === 0), { streams: 4 }],
      ["h2c, 2 workers", () => h2cServer((n) => n % 2 === 0), { streams: 4, workers: 2 }],
      ["h1", () => h1Server((n) => n % 2 === 0), { protocol: "h1" }],
      ["h1-close", () => h1Server((n) => n % 2 === 0), { protocol: "h1-close" }],
    ];
    for (const [name, start, extra] of cases) {
      const s = await start();
      const r = await runLoad(parseLoadProfile({ connections: 4, duration: "500ms", timeout: `${LONG}ms`, ...extra }, { url: `http://127.0.0.1:${s.port}/`, drainMs: 0 }));
      expectAccounted(r);
      const answered = r.backends[name.startsWith("h2c") ? "h2" : "h1"]?.count ?? 0;
      expect(answered, name).toBeGreaterThan(0);
      expect(r.requests.succeeded, name).toBe(answered);
      expect(r.unattributed.byCause["cut-by-duration"], name).toBeGreaterThan(0);
      expect(r.requests.sent, name).toBe(answered + r.unattributed.byCause["cut-by-duration"]!);
      // A response on its way when the run was cut is the server's, not the driver's.
      expect(answered, name).toBeLessThanOrEqual(s.answered());
    }
  });

  it("the library's default drain lets requests in flight finish: nothing cut when the server answers", async () => {
    const s = await h2cServer();
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 4, duration: "300ms" }, { url: `http://127.0.0.1:${s.port}/` }));
    expectAccounted(r);
    expect(r.unattributed.total).toBe(0);
    expect(r.backends["h2"]!.count).toBe(s.answered());
  });

  it("the CLI's summary and JSON add up the same way", async () => {
    const s = await h2cServer((n) => n % 3 !== 0);
    const r = await cli(["load", `http://127.0.0.1:${s.port}/`, "-c", "2", "-m", "3", "-D", "500ms", "--timeout", "60s", "--json", "-"]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout) as LoadResult;
    expectAccounted(json);
    const summary = expectSummaryAddsUp(r.stderr);
    expect(summary.started).toBe(json.requests.sent);
    expect(summary.cut).toBe(json.unattributed.byCause["cut-by-duration"]);
    expect(summary.cut).toBeGreaterThan(0);
  });
});

describe("runs that cannot work stop early, say why and exit 3", () => {
  it("h2c against a listener that never completes the preface: stops after the connect timeout, not the duration", async () => {
    const port = await silentServer();
    const r = await runLoad(parseLoadProfile({ connections: 2, duration: `${LONG}ms`, timeout: "300ms" }, { url: `http://127.0.0.1:${port}/` }));
    expectAccounted(r);
    expect(r.stoppedEarly?.reason).toBe("no-connection");
    expect(r.connections.opened).toBe(0);
    // Both attempts started together; one may be a hair short of its timeout at the sweep that stops the run.
    expect(r.connections.failedByCause["handshake-timeout"]).toBeGreaterThanOrEqual(1);
    expect(r.connections.failed + r.connections.unfinished.handshaking).toBeGreaterThanOrEqual(2);
    expect(Object.keys(r.connections.failedByCause)).toEqual(["handshake-timeout"]);

    const c = await cli(["load", `http://127.0.0.1:${port}/`, "-D", "60s", "--timeout", "300ms"]);
    expect(c.code, c.stderr).toBe(3);
    expect(c.stderr).toContain("never completed the HTTP/2 connection preface");
    expect(c.stderr).toContain("stopped early");
    expect(c.stderr).toContain("-p h1");
    expect(c.stderr).not.toMatch(STACK_LINE);
    expectSummaryAddsUp(c.stdout);
  });

  it("h2c against an HTTP/1.1-only server (it answers the preface with 400): the cause is not-http2, the hint -p h1", async () => {
    const s = await h1Server();
    const c = await cli(["load", `http://127.0.0.1:${s.port}/`, "-D", "60s", "--timeout", "300ms", "--json", "-"]);
    expect(c.code, c.stderr).toBe(3);
    const r = JSON.parse(c.stdout) as LoadResult;
    expectAccounted(r);
    expect(r.stoppedEarly?.reason).toBe("no-connection");
    expect(Object.keys(r.connections.failedByCause)).toEqual(["not-http2"]);
    expect(c.stderr).toContain("answered the HTTP/2 connection preface in HTTP/1.x");
    expect(c.stderr).toContain("-p h1");
    expect(s.answered()).toBe(0);
    // And the same server with -p h1 works: exit 0.
    const ok = await cli(["load", `http://127.0.0.1:${s.port}/`, "-p", "h1", "-n", "20"]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("HTTP/1.1 against an h2c-only server: the cause is not-http1, the hint -p h2c", async () => {
    const s = await h2cServer();
    const c = await cli(["load", `http://127.0.0.1:${s.port}/`, "-p", "h1", "-n", "3", "--json", "-"]);
    expect(c.code, c.stderr).toBe(3);
    const r = JSON.parse(c.stdout) as LoadResult;
    expectAccounted(r);
    expect(r.unattributed.byCause).toEqual({ "not-http1": 3 });
    expect(c.stderr).toContain("-p h2c");
    expect(c.stderr).not.toMatch(STACK_LINE);
  });

  it("nothing listens: stops after the connect timeout with the cause refused", async () => {
    const port = await deadPort();
    const c = await cli(["load", `http://127.0.0.1:${port}/`, "-D", "60s", "--timeout", "300ms", "--json", "-"]);
    expect(c.code, c.stderr).toBe(3);
    const r = JSON.parse(c.stdout) as LoadResult;
    expectAccounted(r);
    expect(r.stoppedEarly?.reason).toBe("no-connection");
    expect(Object.keys(r.connections.failedByCause)).toEqual(["refused"]);
    expect(c.stderr).toContain("nothing listens there");
  });

  it("HTTP/1.1 connections that open but are never answered: stops after the request timeout, no-response", async () => {
    const port = await silentServer();
    const r = await runLoad(parseLoadProfile({ protocol: "h1", connections: 2, duration: `${LONG}ms`, timeout: "300ms" }, { url: `http://127.0.0.1:${port}/` }));
    expectAccounted(r);
    expect(r.stoppedEarly?.reason).toBe("no-response");
    expect(r.requests.completed).toBe(0);
    expect(r.unattributed.byCause["timeout"]).toBeGreaterThanOrEqual(1);
  });

  it("every response a 503: exit 3 naming the statuses", async () => {
    const s = await h1Server(() => true, 503);
    const c = await cli(["load", `http://127.0.0.1:${s.port}/`, "-p", "h1", "-n", "10"]);
    expect(c.code, c.stderr).toBe(3);
    expect(c.stderr).toContain("every response had a non-2xx status (503 10)");
    expectSummaryAddsUp(c.stdout);
  });

  it("--help names exit status 3", async () => {
    const c = await cli(["load", "--help"]);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/^\s+3\s+the run could not be carried out/m);
  });
});
