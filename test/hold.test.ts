/**
 * fixtures/hold.yaml at the count a test can afford: 2,000 idle HTTP/2
 * connections held through each proxy, counted by the driver, the proxy and
 * the kernel. The 100,000-connection scenario of the same file runs in
 * `npm run bench` (bench/hold.js).
 */
import { describe, expect, it } from "vitest";
import { runCliAsync } from "./helpers/cli.js";

interface Sample {
  t_ms: number;
  driver_open: number;
  proxy_current: number | null;
  kernel: { established_on_port: number | null; inuse: number };
}

describe("fixtures/hold.yaml, hold-2k", () => {
  it("holds 2,000 connections through nginx and HAProxy, and all three counts agree at the plateau", async () => {
    const r = await runCliAsync(["verify", "fixtures/hold.yaml", "--scenario", "hold-2k", "--json", "-", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.results.map((x: { target: string }) => x.target).sort()).toEqual(["haproxy", "nginx"]);
    for (const res of report.results) {
      const where = `${res.target}: ${JSON.stringify(res.counts.verdict)}`;
      expect(res.passed, where).toBe(true);
      expect(res.connections.opened, where).toBe(2000);
      expect(res.connections.failed, where).toBe(0);
      expect(res.counts.disagreements, where).toEqual([]);
      expect(res.counts.verdict, where).toMatch(/agree within/);
      // Before the 8 s duration ends: after it the driver closes faster than its last count says (not compared either).
      const plateau = (res.counts.samples as Sample[]).filter((s) => s.driver_open === 2000 && s.t_ms < 8000);
      expect(plateau.length, where).toBeGreaterThanOrEqual(2);
      for (const s of plateau) {
        if (s.proxy_current !== null) expect(Math.abs(s.proxy_current - 2000), where).toBeLessThanOrEqual(20);
        if (s.kernel.established_on_port !== null) expect(Math.abs(s.kernel.established_on_port - 2000), where).toBeLessThanOrEqual(20);
        // Both ends of every connection are this machine's sockets.
        expect(s.kernel.inuse, where).toBeGreaterThanOrEqual(4000);
      }
      expect(plateau.some((s) => s.proxy_current !== null), `${where}: the proxy's own count was read at the plateau`).toBe(true);
      expect(plateau.some((s) => s.kernel.established_on_port !== null), `${where}: the kernel's count on the port was read at the plateau`).toBe(true);
    }
  }, 120_000);
});
