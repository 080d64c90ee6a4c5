/** The progress line on a terminal, fed by a real load against a real server. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLoadProfile, startLoad } from "../src/load/index.js";
import { attachProgress } from "../src/report/progress.js";

describe("progress line", () => {
  let server: http.Server;
  let port = 0;

  beforeAll(async () => {
    // Every answer a 502 without the backend header, as nginx gives when its upstreams are full;
    // slow enough that the run lasts several progress ticks (about 250 ms apart).
    server = http.createServer({ keepAlive: true }, (_req, res) => {
      setTimeout(() => {
        res.writeHead(502, { "content-length": "0" });
        res.end();
      }, 40);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("counts a failed response once: done never passes the requests sent", async () => {
    const requests = 60;
    const run = startLoad(parseLoadProfile({ protocol: "h1", connections: 2, requests, timeout: "5s" }, { url: `http://127.0.0.1:${port}/` }));
    const lines: string[] = [];
    attachProgress(run, "nginx / over", requests, (t) => lines.push(t));
    const result = await run.done;
    expect(result.unattributed.byCause).toEqual({ "status-502-no-header": requests });
    const done = lines.map((l) => /(\d+) done/.exec(l)).filter((m) => m !== null).map((m) => Number(m![1]));
    // 60 answers 40 ms apart on 2 connections take about 1.2 s: several ticks, most of them mid-run.
    expect(done.length).toBeGreaterThan(1);
    for (const d of done) expect(d).toBeLessThanOrEqual(requests);
    expect(Math.max(...done)).toBeGreaterThan(0);
  });
});

describe("WebSocket progress line", () => {
  it("says sessions open of those asked, messages, and the delivery so far", async () => {
    const { wsProgressLine } = await import("../src/report/progress.js");
    const t = { elapsedMs: 4200, open: 80, opened: 90, failed: 2, sent: 300, received: 24000, expected: 24100, delivered: 23980 };
    expect(wsProgressLine("nginx / room", t, 100)).toBe(`nginx / room ${(await import("../src/spec/duration.js")).formatElapsed(4200)} 80/100 sessions open, 2 failed, 300 sent, 24000 received, 99.5% delivered`);
    expect(wsProgressLine("x", { ...t, failed: 0, expected: 0, delivered: 0 }, 100)).toMatch(/sessions open, 300 sent, 24000 received, nothing owed yet$/);
  });
});
