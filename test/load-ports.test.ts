/**
 * The driver chooses local ports itself in large runs (src/load/ports.ts):
 * each engine its own share of the ephemeral range, a taken port skipped.
 */
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLoadProfile, startLoad } from "../src/load/index.js";
import { EXPLICIT_PORTS_FROM, localPortRange, PortPicker } from "../src/load/ports.js";

describe("PortPicker", () => {
  it("gives engines disjoint ports that together cover the range", () => {
    const range = { low: 1000, high: 1099 };
    const engines = 7;
    const seen = new Set<number>();
    for (let e = 0; e < engines; e++) {
      const p = new PortPicker(range, e, engines);
      const mine = new Set<number>();
      for (let i = 0; i < p.size; i++) mine.add(p.take("127.0.0.1"));
      expect(mine.size).toBe(p.size);
      for (const port of mine) {
        expect(port).toBeGreaterThanOrEqual(range.low);
        expect(port).toBeLessThanOrEqual(range.high);
        expect(seen.has(port)).toBe(false);
        seen.add(port);
      }
    }
    expect(seen.size).toBe(100);
  });

  it("keeps a separate turn per source address and wraps around", () => {
    const p = new PortPicker({ low: 10, high: 13 }, 0, 2);
    expect([p.take("a"), p.take("a"), p.take("b")]).toEqual([10, 12, 10]);
    p.release("a", 10);
    expect(p.take("a")).toBe(10);
  });

  it("skips the ports its open connections hold, so a reconnect never takes one", () => {
    const p = new PortPicker({ low: 10, high: 14 }, 0, 1);
    expect([p.take("a"), p.take("a"), p.take("a")]).toEqual([10, 11, 12]);
    p.release("a", 11);
    // 13 and 14 are free and come first in turn; then the turn wraps past the held 10 and 12 to the released 11.
    expect([p.take("a"), p.take("a"), p.take("a")]).toEqual([13, 14, 11]);
  });
});

describe("explicit local ports in a large run", () => {
  // A band of 8,000 ports inside the machine's range: the driver's own choice keeps to it, the kernel's would not.
  const machine = localPortRange();
  const band = { low: machine.low + 4000, high: Math.min(machine.high, machine.low + 12_000) };
  const blocked = band.low + 3;
  let server: http2.Http2Server;
  let blocker: net.Server | null = null;
  let port = 0;
  const clientPorts = new Set<number>();

  beforeAll(async () => {
    server = http2.createServer();
    server.on("session", (session) => {
      const p = session.socket.remotePort;
      if (p !== undefined) clientPorts.add(p);
    });
    server.on("stream", (stream) => {
      stream.on("error", () => undefined);
      stream.respond({ ":status": 200, "x-spillway-backend": "ports" });
      stream.end("ok");
    });
    server.on("sessionError", () => undefined);
    await new Promise<void>((r) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, r));
    port = (server.address() as AddressInfo).port;
    // A listener on one of the driver's first ports: bind() to it fails with EADDRINUSE, and the driver must move on.
    blocker = await new Promise<net.Server | null>((resolve) => {
      const b = net.createServer();
      b.once("error", () => resolve(null));
      b.listen(blocked, "127.0.0.1", () => resolve(b));
    });
  });

  afterAll(async () => {
    blocker?.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("opens every connection from ports in its band, skipping one that is taken", async () => {
    const connections = EXPLICIT_PORTS_FROM + 200;
    const r = await startLoad(
      parseLoadProfile({ connections, requests: connections, connect_rate: 2000 }, { url: `http://127.0.0.1:${port}/`, timeoutMs: 20_000 }),
      { localPorts: band },
    ).done;
    expect(r.connections.opened).toBe(connections);
    expect(r.connections.failed).toBe(0);
    expect(r.requests.succeeded).toBe(connections);
    expect(clientPorts.size).toBe(connections);
    expect(clientPorts.has(blocked)).toBe(false);
    const outside = [...clientPorts].filter((p) => p < band.low || p > band.high);
    expect(outside).toEqual([]);
  }, 120_000);
});
