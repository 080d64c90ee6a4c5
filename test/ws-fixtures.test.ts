/**
 * Issue 12's fixtures run as a user runs them: the chat room of 100 through
 * both proxies, and held WebSockets pushing HTTP over `fe_conn > 300`.
 */
import { describe, expect, it } from "vitest";
import { runCliAsync } from "./helpers/cli.js";

interface Flip {
  rule: string;
  backend: string;
  last_default_conns: number | null;
  first_rule_conns: number | null;
}

describe("fixtures/chat.yaml", () => {
  it("passes on both proxies: every session completes, every owed message arrives, and the stubs count the same messages", async () => {
    const r = await runCliAsync(["verify", "fixtures/chat.yaml", "--json", "-", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.results.map((x: { target: string }) => x.target).sort()).toEqual(["haproxy", "nginx"]);
    for (const res of report.results) {
      const ws = res.websockets;
      expect(res.passed, res.target).toBe(true);
      expect(ws.sessions.completed, res.target).toBe(100);
      expect(ws.ws_msgs_sent, res.target).toBe(1000);
      expect(ws.delivery_ratio, res.target).toBe(1);
      // 100 members at most: each message reaches at most every one of them.
      expect(ws.ws_msgs_received, res.target).toBeLessThanOrEqual(100_000);
      expect(ws.ws_msgs_received, res.target).toBeGreaterThan(90_000);
      expect(ws.fanout_ms.p99, res.target).toBeGreaterThan(0);
      const m = res.reconciliation.websockets.messages;
      expect(m, res.target).toEqual({ driverSent: 1000, stubsIn: 1000, stubsOut: ws.ws_msgs_received, driverReceived: ws.ws_msgs_received });
      expect(res.reconciliation.ok, res.target).toBe(true);
    }
  }, 120_000);
});

describe("fixtures/mixed.yaml", () => {
  it("150 held sessions leave HTTP on main, 250 push it to overflow, on both proxies, and the flip point says at which count", async () => {
    const r = await runCliAsync(["verify", "fixtures/mixed.yaml", "--json", "-", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    for (const res of report.results) {
      const where = `${res.target}/${res.scenario}`;
      expect(res.passed, where).toBe(true);
      expect(res.websockets.sessions.completed, where).toBe(res.scenario === "held-150" ? 150 : 250);
      const flip = (res.flips as Flip[]).find((f) => f.backend === "overflow")!;
      if (res.scenario === "held-150") {
        expect(res.backends.overflow ?? 0, where).toBe(0);
        expect(flip.first_rule_conns, where).toBeNull();
        expect(flip.last_default_conns, where).toBeLessThanOrEqual(300);
      } else {
        expect(res.backends.overflow, where).toBeGreaterThan(0);
        // 100 HTTP connections and 250 sessions: the proxy counted more than 300 when HTTP went over.
        expect(flip.first_rule_conns, where).toBeGreaterThan(300);
      }
    }
  }, 180_000);
});
