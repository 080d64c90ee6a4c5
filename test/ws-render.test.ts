import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { createRun, createRuntime, planPorts, runContext, startProxy, type Run, type RunningProxy } from "../src/runtime/index.js";
import { render } from "../src/render/index.js";
import { loadSpecFile, loadSpecText } from "../src/spec/load.js";
import { BACKEND_HEADER, PROXY_CONNS_HEADER, ROUTE_HEADER, SERVER_HEADER } from "../src/wire.js";
import { freePortRun, testScratch } from "./helpers/processes.js";

/**
 * WebSocket upgrades through the real HAProxy and nginx, as spillway renders
 * them: routed by the spec's rule, echoed, and closed by the tunnel timeout.
 * The backends are WebSocket servers of this test's own that stamp the
 * backend on the 101, as the stubs do (listed by address, so spillway starts
 * no stub for them).
 */

const TUNNEL = "1s";
/** Far above the 1s tunnel timeout, far below the 30s client and server timeouts: a close within it is the tunnel timeout's. */
const CLOSE_BOUND_MS = 15_000;

interface Backend {
  server: Server;
  port: number;
}

/** Plain requests (the runtime's readiness probe) answer as a stub does; upgrades become echoing WebSockets. */
async function startBackend(backend: string, port: number): Promise<Backend> {
  const server = createServer((_, res) => res.writeHead(200, { [BACKEND_HEADER]: backend, [SERVER_HEADER]: "s1" }).end(`${backend}/s1\n`));
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on("headers", (headers) => headers.push(`${BACKEND_HEADER}: ${backend}`, `${SERVER_HEADER}: s1`));
  wss.on("connection", (socket) => socket.on("message", (data, binary) => socket.send(data, { binary })));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port }, resolve);
  });
  return { server, port };
}

interface Session {
  socket: WebSocket;
  headers: Record<string, string | string[] | undefined>;
  closed: Promise<{ code: number; afterMs: number }>;
}

function open(url: string): Promise<Session> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5_000 });
    let headers: Session["headers"] = {};
    socket.once("upgrade", (res) => (headers = res.headers));
    socket.once("error", reject);
    const closed = new Promise<{ code: number; afterMs: number }>((done) => {
      socket.once("open", () => {
        const since = Date.now();
        socket.once("close", (code) => done({ code, afterMs: Date.now() - since }));
      });
    });
    socket.once("open", () => resolve({ socket, headers, closed }));
  });
}

function echo(session: Session, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    session.socket.once("message", (data) => resolve(String(data)));
    session.socket.once("close", () => reject(new Error("closed before the echo")));
    session.socket.send(text);
  });
}

function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))),
  ]);
}

const { scratch, cleanups } = testScratch("spillway-ws-render");
let main: Backend;
let overflow: Backend;
let spec: string;

beforeAll(async () => {
  const base = await freePortRun(2);
  main = await startBackend("main", base);
  overflow = await startBackend("overflow", base + 1);
  for (const b of [main, overflow]) {
    cleanups.push(() => {
      b.server.closeAllConnections();
      return new Promise<void>((r) => b.server.close(() => r()));
    });
  }
  spec = join(scratch, "ws.yaml");
  // The frontend's port is planned afresh by the runtime; the backends are this test's servers.
  writeFileSync(
    spec,
    [
      "version: 1",
      "frontends:",
      "  web:",
      '    bind: "127.0.0.1:8080"',
      `    timeouts: { tunnel: ${TUNNEL} }`,
      // nginx before 1.25.1 speaks only h2c on a port with http2, and a WebSocket upgrade is HTTP/1.1.
      "    http2: { enabled: false }",
      "    rules:",
      '      - if: "fe_conn > 1"',
      "        use_backend: overflow",
      "    default_backend: main",
      "backends:",
      `  main: { servers: [{ name: s1, address: "127.0.0.1:${main.port}" }] }`,
      `  overflow: { servers: [{ name: s1, address: "127.0.0.1:${overflow.port}" }] }`,
      "scenarios:",
      "  chat:",
      "    load:",
      `      websockets: { connections: 2, rooms: 1, message_interval: 100ms, session: 2s }`,
      "",
    ].join("\n"),
  );
});

describe.each(["haproxy", "nginx"] as const)("a WebSocket through %s", (target) => {
  let run: Run;
  let proxy: RunningProxy;

  beforeAll(async () => {
    const { model } = loadSpecFile(spec);
    run = createRun("process");
    const ctx = runContext(run, createRuntime("process", run.registry), { readyTimeoutMs: 15_000 });
    const plan = (await planPorts(model, [target], false))[target];
    proxy = await startProxy(model, target, plan, ctx);
  }, 30_000);

  afterAll(async () => {
    await run?.teardown.run();
  });

  it("renders the tunnel timeout where the proxy applies it to upgraded connections", () => {
    if (target === "haproxy") {
      expect(proxy.config).toMatch(/^backend main\n(?:.*\n)*?\s+timeout tunnel 1s$/m);
      expect(proxy.config).toMatch(/^backend overflow\n(?:.*\n)*?\s+timeout tunnel 1s$/m);
    } else {
      const upgrade = /location @spillway_web_upgrade \{([^}]*)\}/.exec(proxy.config)?.[1] ?? "";
      expect(upgrade).toContain("proxy_read_timeout 1s;");
      expect(upgrade).toContain("proxy_send_timeout 1s;");
      expect(upgrade).toContain("proxy_set_header Upgrade $http_upgrade;");
      // Requests without an Upgrade header keep the server timeout and upstream keep-alive.
      const plain = /location \/ \{([\s\S]*?)\n {8}\}/.exec(proxy.config)?.[1] ?? "";
      expect(plain).toContain('proxy_set_header Connection "";');
      expect(plain).toContain("proxy_read_timeout 30s;");
    }
  });

  it("routes each upgrade by the rule, echoes, and closes an idle tunnel after the tunnel timeout", async () => {
    const f = proxy.frontends[0]!;
    const url = `ws://${f.host}:${f.port}/chat?room=r1`;
    // The first session is the frontend's only connection: fe_conn 1, the default backend.
    const first = await open(url);
    expect(first.headers[BACKEND_HEADER]).toBe("main");
    expect(await echo(first, "hello")).toBe("hello");
    // Held open, it makes the next upgrade the second connection: fe_conn 2, the rule's backend.
    const second = await open(url);
    expect(second.headers[BACKEND_HEADER]).toBe("overflow");
    expect(await echo(second, "again")).toBe("again");
    // Both proxies stamp the 101 as they stamp every response: the count it was routed at, and the backend.
    expect(first.headers[ROUTE_HEADER]).toBe("main");
    expect(second.headers[ROUTE_HEADER]).toBe("overflow");
    expect(Number(second.headers[PROXY_CONNS_HEADER])).toBeGreaterThanOrEqual(2);
    // Idle from here on: only the tunnel timeout can close them this soon.
    const [a, b] = await within("the tunnel timeout closing both sessions", Promise.all([first.closed, second.closed]), CLOSE_BOUND_MS);
    expect(a.code).not.toBe(1000);
    expect(b.code).not.toBe(1000);
  }, 40_000);
});

describe("the fidelity report's WebSocket rows", () => {
  const text = (frontend: string, load: string) =>
    [
      "version: 1",
      "frontends:",
      `  web: { bind: "127.0.0.1:8080", ${frontend} default_backend: app }`,
      "backends:",
      "  app: { servers: 1 }",
      "scenarios:",
      `  s: { load: { ${load} } }`,
      "",
    ].join("\n");
  const rows = (spec: string, versions?: Parameters<typeof render>[1]) =>
    render(loadSpecText(spec, "ws.yaml").model, versions)
      .fidelity.filter((e) => e.what === "WebSocket upgrades" || e.what.startsWith("tunnel "))
      .map((e) => `${e.construct} ${e.what}: haproxy ${e.haproxy?.level}, nginx ${e.nginx?.level}`);

  it("say how each proxy counts and times an upgraded connection, where a scenario holds sessions", () => {
    const out = render(loadSpecText(text("http2: { enabled: false },", 'websockets: { connections: 10, session: "10s" }'), "ws.yaml").model);
    const upgrades = out.fidelity.find((e) => e.what === "WebSocket upgrades")!;
    expect(upgrades.haproxy?.detail).toContain("fe_conn counts the client connection for the whole life of the tunnel");
    expect(upgrades.nginx?.detail).toContain("$connections_active counts the client connection for the whole life of the tunnel");
    const tunnel = out.fidelity.find((e) => e.what === "tunnel 1h")!;
    expect(tunnel.haproxy?.level).toBe("exact");
    expect(tunnel.nginx?.detail).toContain("even while the client is sending");
  });

  it("mark upgrades unsupported on an nginx before 1.25.1 that serves HTTP/2 on the port, and supported from 1.25.1", () => {
    const spec = text("timeouts: { tunnel: 5m },", "connections: 1, requests: 1");
    expect(rows(spec, { versions: { nginx: { major: 1, minor: 22, patch: 1 } } })).toEqual([
      "frontends.web.timeouts tunnel 5m: haproxy exact, nginx approximate",
      "frontends.web WebSocket upgrades: haproxy exact, nginx unsupported",
    ]);
    expect(rows(spec, { versions: { nginx: { major: 1, minor: 25, patch: 1 } } })).toContain("frontends.web WebSocket upgrades: haproxy exact, nginx exact");
  });

  it("are left out for a frontend that neither holds sessions nor sets a tunnel timeout", () => {
    expect(rows(text("", "connections: 1, requests: 1"))).toEqual([]);
  });
});
