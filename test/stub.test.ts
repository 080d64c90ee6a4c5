import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { InfraError, UsageError } from "../src/errors.js";
import { ExitCode } from "../src/exit-codes.js";
import { startStub, startStubFleet, type StartedStubFleet } from "../src/stub/index.js";
import { fleetChildEntry } from "../src/stub/fleet.js";

const LOOPBACK = "127.0.0.1";

describe("startStub", () => {
  test("h1 keep-alive: one connection carries every request, stamped with backend, server and connection", async () => {
    await using stub = await startStub({ backend: "ade", server: "s1" });
    expect(stub.url).toBe(`http://${LOOPBACK}:${stub.port}`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const replies = [];
      for (let i = 0; i < 5; i++) replies.push(await h1Request(stub.url, { agent }));
      for (const r of replies) {
        expect(r.status).toBe(200);
        expect(r.headers["x-spillway-backend"]).toBe("ade");
        expect(r.headers["x-spillway-server"]).toBe("ade/s1");
        expect(r.headers["content-type"]).toBe("text/plain");
        expect(r.headers["x-spillway-conn"]).toBe(String(r.localPort));
        expect(r.body.toString()).toBe("ade/s1\n");
      }
      const keepAliveConn = replies[0]?.headers["x-spillway-conn"];
      expect(new Set(replies.map((r) => r.headers["x-spillway-conn"]))).toEqual(new Set([keepAliveConn]));

      const closing = [];
      for (let i = 0; i < 3; i++) {
        const r = await h1Request(stub.url, { headers: { connection: "close" } });
        expect(r.status).toBe(200);
        expect(r.headers.connection).toBe("close");
        await r.connectionClosed();
        closing.push(r.headers["x-spillway-conn"]);
      }
      expect(new Set([keepAliveConn, ...closing]).size).toBe(4);
      expect(stub.counts()).toEqual({ served: 8, byStatus: { "200": 8 }, byProtocol: { h1: 8, h2: 0 }, connections: 4 });
    } finally {
      agent.destroy();
    }
  });

  test("h2c with prior knowledge: many concurrent streams on one session, then more one at a time", async () => {
    await using stub = await startStub({ backend: "pbcoffee", server: "s1" });
    const session = await h2Connect(stub.url);
    try {
      const replies = await Promise.all(Array.from({ length: 300 }, () => h2Request(session)));
      for (let i = 0; i < 3; i++) replies.push(await h2Request(session));
      for (const r of replies) {
        expect(r.status).toBe(200);
        expect(r.headers["x-spillway-backend"]).toBe("pbcoffee");
        expect(r.headers["x-spillway-server"]).toBe("pbcoffee/s1");
        expect(r.headers["content-type"]).toBe("text/plain");
        expect(r.headers["x-spillway-conn"]).toBe(String(session.socket.localPort));
        expect(r.body.toString()).toBe("pbcoffee/s1\n");
      }
      expect(stub.counts()).toEqual({ served: 303, byStatus: { "200": 303 }, byProtocol: { h1: 0, h2: 303 }, connections: 1 });
    } finally {
      await closeSession(session);
    }
  });

  test("one port serves h1 and h2c side by side, counted per protocol", async () => {
    await using stub = await startStub({ backend: "ade", server: "s2" });
    const sessions = await Promise.all([h2Connect(stub.url), h2Connect(stub.url)]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      const h2 = sessions.flatMap((s) => Array.from({ length: 25 }, () => h2Request(s)));
      const h1 = Array.from({ length: 20 }, () => h1Request(stub.url, { agent }));
      const replies = await Promise.all([...h2, ...h1]);
      expect(replies.every((r) => r.status === 200 && r.headers["x-spillway-server"] === "ade/s2")).toBe(true);
      const counts = stub.counts();
      expect(counts.served).toBe(70);
      expect(counts.byProtocol).toEqual({ h1: 20, h2: 50 });
      expect(counts.connections).toBe(2 + new Set(replies.slice(50).map((r) => r.headers["x-spillway-conn"])).size);
    } finally {
      agent.destroy();
      await Promise.all(sessions.map(closeSession));
    }
  });

  test("failureRate fails exactly every k-th counted request with the configured status", async () => {
    await using stub = await startStub({ backend: "ade", server: "s1", failureRate: 0.25 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 40; i++) statuses.push((await h1Request(stub.url, { agent })).status);
    } finally {
      agent.destroy();
    }
    const failedAt = statuses.flatMap((s, i) => (s === 503 ? [i + 1] : []));
    expect(failedAt).toEqual([4, 8, 12, 16, 20, 24, 28, 32, 36, 40]);
    expect(statuses.filter((s) => s !== 503 && s !== 200)).toEqual([]);
    expect(stub.counts().byStatus).toEqual({ "200": 30, "503": 10 });

    await using custom = await startStub({ backend: "ade", server: "s2", failureRate: 0.5, failureStatus: 502 });
    const session = await h2Connect(custom.url);
    try {
      const replies = [];
      for (let i = 0; i < 10; i++) replies.push(await h2Request(session));
      expect(replies.map((r) => r.status)).toEqual([200, 502, 200, 502, 200, 502, 200, 502, 200, 502]);
      expect(replies.every((r) => r.headers["x-spillway-server"] === "ade/s2")).toBe(true);
    } finally {
      await closeSession(session);
    }
    expect(custom.counts()).toEqual({ served: 10, byStatus: { "200": 5, "502": 5 }, byProtocol: { h1: 0, h2: 10 }, connections: 1 });

    await using always = await startStub({ backend: "ade", server: "s3", failureRate: 1, failureStatus: 500 });
    expect((await h1Request(always.url)).status).toBe(500);
  });

  test("latencyMs delays each response by at least that long", async () => {
    const latencyMs = 120;
    await using stub = await startStub({ backend: "ade", server: "s1", latencyMs });
    // Timers are tracked in whole milliseconds, so allow the 1 ms of rounding, never less.
    let t0 = performance.now();
    expect((await h1Request(stub.url)).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(latencyMs - 1);

    const session = await h2Connect(stub.url);
    try {
      t0 = performance.now();
      const replies = await Promise.all([h2Request(session), h2Request(session)]);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(latencyMs - 1);
      expect(replies.map((r) => r.status)).toEqual([200, 200]);
    } finally {
      await closeSession(session);
    }
    expect(stub.counts().served).toBe(3);
  });

  test("bodyBytes sets the response size on both protocols; HEAD gets headers only", async () => {
    await using big = await startStub({ backend: "ade", server: "s1", bodyBytes: 100_000 });
    const h1 = await h1Request(big.url);
    expect(h1.body.length).toBe(100_000);
    expect(h1.headers["content-length"]).toBe("100000");
    const session = await h2Connect(big.url);
    try {
      const h2 = await h2Request(session);
      expect(h2.body.length).toBe(100_000);
      expect(h2.headers["content-length"]).toBe("100000");
      const head2 = await h2Request(session, "/", "HEAD");
      expect(head2.status).toBe(200);
      expect(head2.body.length).toBe(0);
    } finally {
      await closeSession(session);
    }
    const head1 = await h1Request(big.url, { method: "HEAD" });
    expect(head1.body.length).toBe(0);
    expect(head1.headers["content-length"]).toBe("100000");
    expect(big.counts().served).toBe(4);

    await using empty = await startStub({ backend: "ade", server: "s2", bodyBytes: 0 });
    const e = await h1Request(empty.url);
    expect(e.status).toBe(200);
    expect(e.body.length).toBe(0);
    expect(e.headers["x-spillway-server"]).toBe("ade/s2");
  });

  test("the health path answers 200 and is never counted, nor shifts the failure pattern", async () => {
    await using stub = await startStub({ backend: "ade", server: "s1", failureRate: 0.5 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const session = await h2Connect(stub.url);
    try {
      for (let i = 0; i < 3; i++) {
        const h1 = await h1Request(stub.url, { agent, path: "/__spillway/health" });
        const h2 = await h2Request(session, "/__spillway/health?probe=1");
        for (const r of [h1, h2]) {
          expect(r.status).toBe(200);
          expect(r.body.toString()).toBe("ok\n");
          expect(r.headers["x-spillway-server"]).toBe("ade/s1");
        }
      }
      expect(stub.counts()).toEqual({ served: 0, byStatus: {}, byProtocol: { h1: 0, h2: 0 }, connections: 0 });
      const first = await h1Request(stub.url, { agent });
      await h1Request(stub.url, { agent, path: "/__spillway/health" });
      const second = await h2Request(session, "/__spillway/healthz");
      expect([first.status, second.status]).toEqual([200, 503]);
    } finally {
      agent.destroy();
      await closeSession(session);
    }
    expect(stub.counts()).toEqual({ served: 2, byStatus: { "200": 1, "503": 1 }, byProtocol: { h1: 1, h2: 1 }, connections: 2 });
  });

  test("a port in use rejects with InfraError naming the stub and the address", async () => {
    await using first = await startStub({ backend: "ade", server: "s1" });
    const err: unknown = await startStub({ backend: "ade", server: "s2", port: first.port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    const infra = err as InfraError;
    expect(infra.exitCode).toBe(ExitCode.Infrastructure);
    expect(infra.message).toContain(`ade/s2`);
    expect(infra.message).toContain(`${LOOPBACK}:${first.port}`);
    expect(infra.message).toContain("port in use: pick another base port or free it");
    // The first stub still serves.
    expect((await h1Request(first.url)).status).toBe(200);
  });

  test("only loopback hosts are accepted", async () => {
    for (const host of ["0.0.0.0", "10.1.2.3", "192.168.0.1", "localhost", "::", "example.com", "128.0.0.1"]) {
      const err: unknown = await startStub({ backend: "ade", server: "s1", host }).catch((e: unknown) => e);
      expect(err, host).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain(JSON.stringify(host));
      expect((err as Error).message).toContain("not a loopback address");
    }
    await using other = await startStub({ backend: "ade", server: "s1", host: "127.0.0.2" });
    expect((await h1Request(other.url)).headers["x-spillway-server"]).toBe("ade/s1");
    await using v6 = await startStub({ backend: "ade", server: "s2", host: "::1" });
    expect(v6.url).toBe(`http://[::1]:${v6.port}`);
    expect((await h1Request(v6.url)).headers["x-spillway-server"]).toBe("ade/s2");
  });

  test("invalid options are all reported at once", async () => {
    const err: unknown = await startStub({
      backend: "ade",
      server: "s 1",
      failureRate: 2,
      bodyBytes: -1,
      latencyMs: Number.NaN,
      failureStatus: 99,
      port: 70000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    const message = (err as Error).message;
    for (const part of ["server name", "failureRate 2", "bodyBytes -1", "latencyMs NaN", "failureStatus 99", "port 70000"]) {
      expect(message).toContain(part);
    }
  });

  test("stop closes keep-alive connections and h2 sessions, refuses new ones, and is safe twice", async () => {
    const stub = await startStub({ backend: "ade", server: "s1", latencyMs: 50 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const session = await h2Connect(stub.url);
    try {
      const kept = await h1Request(stub.url, { agent });
      expect((await h2Request(session)).status).toBe(200);
      const sessionClosed = new Promise<void>((r) => session.once("close", () => r()));
      session.on("error", () => {});
      const inFlight = h1Request(stub.url).then(
        () => "answered",
        () => "failed",
      );
      await sleep(10);
      await stub.stop();
      await stub.stop();
      await kept.connectionClosed();
      await sessionClosed;
      expect(await inFlight).toBe("failed");
      const refused: unknown = await h1Request(stub.url).catch((e: unknown) => e);
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
      expect(stub.counts().served).toBe(2);
    } finally {
      agent.destroy();
      session.destroy();
      await stub.stop();
    }
  });
});

describe("startStubFleet", () => {
  const fleets: StartedStubFleet[] = [];
  // Processes a test started outside a fleet handle; killed here so a timed-out test leaves nothing either.
  const strays: Array<() => void> = [];
  afterEach(async () => {
    await Promise.allSettled(fleets.splice(0).map((f) => f.stop()));
    for (const kill of strays.splice(0)) kill();
    expect(fleetChildren()).toEqual([]);
  });
  async function fleetOf(...args: Parameters<typeof startStubFleet>): Promise<StartedStubFleet> {
    const f = await startStubFleet(...args);
    fleets.push(f);
    return f;
  }
  function stubOf(fleet: StartedStubFleet, name: string): { url: string } {
    const found = fleet.stubs.find((s) => `${s.backend}/${s.server}` === name);
    if (found === undefined) throw new Error(`no stub ${name} in ${JSON.stringify(fleet.stubs)}`);
    return found;
  }

  test("runs the stubs in a child process; counts over IPC match what was sent; stop leaves no process", async () => {
    const fleet = await fleetOf([
      { backend: "ade", server: "s1" },
      { backend: "ade", server: "s2", failureRate: 0.5 },
      { backend: "pbcoffee", server: "s1" },
    ]);
    expect(fleet.pid).not.toBe(process.pid);
    expect(isRunning(fleet.pid)).toBe(true);
    // The afterEach check for leftover children would pass vacuously if fleetChildren() could not see one.
    expect(fleetChildren()).toEqual([fleet.pid]);
    expect(fleet.stubs.map((s) => `${s.backend}/${s.server}`)).toEqual(["ade/s1", "ade/s2", "pbcoffee/s1"]);

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const session = await h2Connect(stubOf(fleet, "ade/s2").url);
    try {
      for (let i = 0; i < 7; i++) {
        const r = await h1Request(stubOf(fleet, "ade/s1").url, { agent });
        expect(r.headers["x-spillway-server"]).toBe("ade/s1");
      }
      const h2 = await Promise.all(Array.from({ length: 6 }, () => h2Request(session)));
      expect(h2.every((r) => r.headers["x-spillway-server"] === "ade/s2")).toBe(true);
      await h1Request(stubOf(fleet, "pbcoffee/s1").url, { path: "/__spillway/health" });
    } finally {
      agent.destroy();
      await closeSession(session);
    }
    expect(await fleet.counts()).toEqual({
      "ade/s1": { served: 7, byStatus: { "200": 7 }, byProtocol: { h1: 7, h2: 0 }, connections: 1 },
      "ade/s2": { served: 6, byStatus: { "200": 3, "503": 3 }, byProtocol: { h1: 0, h2: 6 }, connections: 1 },
      "pbcoffee/s1": { served: 0, byStatus: {}, byProtocol: { h1: 0, h2: 0 }, connections: 0 },
    });

    await fleet.stop();
    expect(killZero(fleet.pid)).toBe("ESRCH");
    await fleet.stop();
    await expect(fleet.counts()).rejects.toBeInstanceOf(InfraError);
  });

  test("a stub that cannot bind fails the start with InfraError naming it, and no child remains", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, LOOPBACK, () => r()));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      const err: unknown = await startStubFleet([
        { backend: "ade", server: "s1" },
        { backend: "pbcoffee", server: "s1", port: busy },
      ]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InfraError);
      const message = (err as Error).message;
      expect(message).toContain("pbcoffee/s1");
      expect(message).toContain(`${LOOPBACK}:${busy}`);
      expect(message).toContain("port in use");
      expect(message).not.toContain("ade/s1");
      expect(fleetChildren()).toEqual([]);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  test("duplicate stub names and invalid options are refused before any process starts", async () => {
    await expect(
      startStubFleet([
        { backend: "ade", server: "s1" },
        { backend: "ade", server: "s1" },
      ]),
    ).rejects.toBeInstanceOf(UsageError);
    await expect(startStubFleet([{ backend: "ade", server: "s1", host: "0.0.0.0" }])).rejects.toBeInstanceOf(UsageError);
    expect(fleetChildren()).toEqual([]);
  });

  test("a child killed mid-run: counts reject with InfraError, stop still resolves, nothing remains", async () => {
    const fleet = await fleetOf([{ backend: "ade", server: "s1" }]);
    const url = stubOf(fleet, "ade/s1").url;
    expect((await h1Request(url)).status).toBe(200);
    fleet.kill();
    const err: unknown = await fleet.counts().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as Error).message).toContain(`pid ${fleet.pid}`);
    await fleet.stop();
    expect(killZero(fleet.pid)).toBe("ESRCH");
    const refused: unknown = await h1Request(url).catch((e: unknown) => e);
    expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  test("Ctrl-C (SIGINT to the process group) leaves the child to its parent's teardown", async () => {
    const fleet = await fleetOf([{ backend: "ade", server: "s1" }]);
    await h1Request(stubOf(fleet, "ade/s1").url);
    fleet.kill("SIGINT");
    expect((await fleet.counts())["ade/s1"]?.served).toBe(1);
    expect(isRunning(fleet.pid)).toBe(true);
    await fleet.stop();
    expect(killZero(fleet.pid)).toBe("ESRCH");
  });

  test("the child exits by itself when its parent dies", async () => {
    const index = pathToFileURL(fleetChildEntry().replace(/fleet-child\.js$/, "index.js")).href;
    const script = [
      `const { startStubFleet } = await import(process.env.STUB_INDEX);`,
      `const fleet = await startStubFleet([{ backend: "ade", server: "s1" }]);`,
      `console.log(JSON.stringify({ pid: fleet.pid, url: fleet.stubs[0].url }));`,
      `setInterval(() => {}, 1000);`,
    ].join("\n");
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, STUB_INDEX: index },
      stdio: ["ignore", "pipe", "inherit"],
    });
    strays.push(() => {
      if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      parent.stdout.setEncoding("utf8");
      parent.stdout.on("data", (d: string) => {
        out += d;
        const nl = out.indexOf("\n");
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      parent.once("exit", (code) => reject(new Error(`parent exited early with code ${String(code)}: ${out}`)));
    });
    const started = JSON.parse(line) as { pid: number; url: string };
    strays.push(() => {
      if (isRunning(started.pid)) process.kill(started.pid, "SIGKILL");
    });
    expect((await h1Request(started.url)).headers["x-spillway-server"]).toBe("ade/s1");
    const parentExited = new Promise<void>((r) => parent.once("exit", () => r()));
    parent.kill("SIGKILL");
    await parentExited;
    expect(await waitGone(started.pid, 10_000)).toBe(true);
  });
});

function killZero(pid: number): string {
  try {
    process.kill(pid, 0);
    return "alive";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? "unknown";
  }
}

/** Fleet processes whose parent is this test process. */
function fleetChildren(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== process.pid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes("fleet-child") || cmdline.includes("spillway-stub-fleet")) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function h1Request(
  url: string,
  opts: { agent?: http.Agent | false; headers?: Record<string, string>; method?: string; path?: string } = {},
): Promise<Reply & { localPort: number | undefined; connectionClosed: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url + (opts.path ?? "/"),
      { agent: opts.agent ?? false, headers: opts.headers, method: opts.method ?? "GET" },
      (res) => {
        const chunks: Buffer[] = [];
        const socket = res.socket;
        const localPort = socket.localPort;
        // Created on demand: a listener per response would pile up on a keep-alive socket.
        const connectionClosed = (): Promise<void> =>
          new Promise<void>((r) => {
            if (socket.destroyed) r();
            else socket.once("close", () => r());
          });
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), localPort, connectionClosed }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function h2Request(session: http2.ClientHttp2Session, path = "/", method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path, ":method": method }, { endStream: true });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader = {};
    stream.on("response", (h) => (headers = h));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve({ status: Number(headers[":status"]), headers, body: Buffer.concat(chunks) }));
    stream.on("error", reject);
  });
}

function h2Connect(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) resolve();
    else session.close(() => resolve());
  });
}

/** True while `pid` is a live process; a zombie (exited, not yet reaped by its new parent) counts as gone. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `pid` is gone or `boundMs` passes; returns whether it is gone. */
export async function waitGone(pid: number, boundMs: number): Promise<boolean> {
  const until = Date.now() + boundMs;
  while (Date.now() < until) {
    if (!isRunning(pid)) return true;
    await sleep(50);
  }
  return !isRunning(pid);
}
