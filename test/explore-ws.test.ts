/**
 * `spillway explore` over WebSocket sessions, through the real proxies: a
 * chat room grown cell by cell (the "N = 50, 100, 200", small here),
 * and held sessions beside HTTP under a connection-count rule, where the
 * model counts the sessions as held connections. Each cell is checked
 * against the driver's own accounting, and nothing is left running.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { explore } from "../src/index.js";
import { formatCellLine, formatExploreCsv, formatExploreTables } from "../src/report/explore.js";
import { MARK_VAR, describeProcesses, findProcesses, killLeftovers, newMarker } from "./helpers/processes.js";

const scratch = mkdtempSync(join(tmpdir(), "spillway-explore-ws-"));
process.env["SPILLWAY_RUNS_DIR"] = join(scratch, "runs");
const MARK = newMarker("explore-ws");
process.env[MARK_VAR] = MARK;

afterAll(() => {
  const left = findProcesses({ marker: MARK, paths: [scratch] });
  killLeftovers({ marker: MARK, paths: [scratch] });
  rmSync(scratch, { recursive: true, force: true });
  expect(left, describeProcesses(left)).toEqual([]);
});

const SPEC_TEXT = `
version: 1
frontends:
  chat:
    bind: "127.0.0.1:18090"
    maxconn: 500
    http2: { enabled: false }
    timeouts: { tunnel: 30s }
    rules:
      - { name: busy, if: "fe_conn > 50", use_backend: over }
    default_backend: main
backends:
  main: { servers: 2 }
  over: { servers: 1 }
scenarios:
  room:
    load:
      websockets: { connections: 10, rooms: 1, message_interval: 500ms, payload_bytes: 64, session: 2s, connect_rate: 200 }
  held:
    load:
      protocol: h1
      connections: 10
      duration: 2s
      warmup: 1s
      websockets: { connections: 20, rooms: 4, message_interval: 1s, session: 4s, connect_rate: 400 }
`;
const SPEC = join(scratch, "chat.yaml");
writeFileSync(SPEC, SPEC_TEXT);

describe("explore() with WebSocket sessions, through the real proxies", () => {
  it("grows a chat room cell by cell: every session opens, every message owed is delivered, upgrades counted per backend", async () => {
    const report = await explore(SPEC, { scenario: "room", vary: ["load.websockets.connections=10,20"], warn: () => undefined });
    expect(report.complete).toBe(true);
    expect(report.cells.map((c) => [c.target, c.values["load.websockets.connections"], c.error])).toEqual([
      ["haproxy", "10", null],
      ["haproxy", "20", null],
      ["nginx", "10", null],
      ["nginx", "20", null],
    ]);
    for (const c of report.cells) {
      const n = Number(c.values["load.websockets.connections"]);
      const m = c.measured!;
      const w = m.websockets!;
      expect(m.sent, `${c.target} ${n}`).toBe(0);
      // The model predicts HTTP routing; a load of sessions alone has none to predict.
      expect(c.predicted).toBeNull();
      expect(w.sessions).toMatchObject({ asked: n, opened: n, failed: 0, completed: n, max_open: n });
      // Four messages a session (every 500 ms for 2 s), each owed to every member the room had when it was sent.
      expect(w.msgs_sent).toBe(4 * n);
      expect(w.expected).toBeGreaterThan(4 * n * (n - 1) * 0.5);
      expect(w.expected).toBeLessThanOrEqual(4 * n * n);
      expect(w.delivered).toBe(w.expected);
      expect(w.delivery_ratio).toBe(1);
      expect(w.msgs_received).toBeGreaterThanOrEqual(w.delivered);
      expect(w.fanout_ms.p99).not.toBeNull();
      expect(w.fanout_ms.p50!).toBeLessThanOrEqual(w.fanout_ms.p99!);
      // 10 and 20 sessions never pass the rule's 50: every upgrade went to main, over both of its servers.
      expect(w.upgrades).toEqual({ main: n });
      expect(w.timeline.reduce((a, x) => a + x.sent, 0)).toBe(w.msgs_sent);
      expect(w.timeline.reduce((a, x) => a + x.received, 0)).toBe(w.msgs_received);
    }
    // The second cell of each target ran on the proxy the first left up: only a load key changed.
    expect(report.cells.map((c) => c.stack)).toEqual(["new", "reused", "new", "reused"]);

    const tables = formatExploreTables(report);
    expect(tables).toContain("WebSocket messages delivered of those owed");
    expect(tables).toMatch(/websockets.connections\s+sessions\s+delivered\s+fan-out p99 ms/);
    expect(tables).toMatch(/\n\s+20\s+20\/20\s+100%\s+[0-9.]+\n/);
    // HAProxy beside nginx speaks of the sessions, not of HTTP requests neither sent.
    expect(report.differences.map((d) => d.text.split(";")[0])).toEqual(["Both delivered 100% of the WebSocket messages owed", "Both delivered 100% of the WebSocket messages owed"]);
    expect(formatCellLine(report.cells[1]!, report, 1, 4, 3000)).toMatch(/^cell 2\/4 haproxy load.websockets.connections=20: 20\/20 sessions, 100% delivered, fan-out p99 [0-9.]+ ms, 3.0s \(reused stack\)$/);

    const [head, ...rows] = formatExploreCsv(report).trim().split("\n").map((l) => l.split(","));
    const col = (name: string) => head!.indexOf(name);
    for (const name of ["ws_sessions_asked", "ws_sessions_opened", "ws_msgs_sent", "ws_msgs_received", "ws_expected", "ws_delivered", "ws_delivery_ratio", "ws_fanout_p99_ms", "ws_upgrades_main"]) expect(col(name), name).toBeGreaterThan(0);
    rows.forEach((r, i) => {
      const w = report.cells[i]!.measured!.websockets!;
      expect(r.length).toBe(head!.length);
      expect(Number(r[col("ws_msgs_received")])).toBe(w.msgs_received);
      expect(Number(r[col("ws_delivered")])).toBe(w.delivered);
      expect(Number(r[col("ws_delivery_ratio")])).toBe(1);
      expect(Number(r[col("ws_upgrades_main")])).toBe(w.sessions.asked);
    });
  }, 90_000);

  it("held sessions are connections in the rule's count: past 50 with the HTTP load, HTTP overflows on both proxies, as predicted", async () => {
    // 10 HTTP/1.1 connections beside 20 held sessions: 30, under 50. Beside 60: 70, over it.
    const report = await explore(SPEC, { scenario: "held", vary: ["load.websockets.connections=20,60"], warn: () => undefined });
    expect(report.complete).toBe(true);
    expect(report.thresholds).toEqual([{ rule: "busy", backend: "over", conns: 50 }]);
    for (const c of report.cells) {
      const held = Number(c.values["load.websockets.connections"]);
      const m = c.measured!;
      expect(c.error, `${c.target} ${held}`).toBeNull();
      expect(m.websockets!.sessions.opened).toBe(held);
      expect(m.websockets!.delivery_ratio).toBe(1);
      expect(m.sent).toBeGreaterThan(0);
      const over = m.backends["over"]?.share ?? 0;
      if (held === 20) expect(over, `${c.target} ${held}`).toBe(0);
      else expect(over, `${c.target} ${held}`).toBeGreaterThan(0.9);
      // The model counts the sessions as held connections, and says so.
      const p = c.predicted!;
      expect(p.backends["over"] ?? 0).toBe(held === 20 ? 0 : 1);
      expect(p.max_proxy_conns_seen).toBe(10 + held);
      expect(p.assumptions.some((a) => a.startsWith(`The count includes ${held} held WebSocket sessions (load.websockets)`))).toBe(true);
      expect(Math.abs(c.gap!["over"]!)).toBeLessThan(10);
      if (held === 60) {
        expect(m.flips).toHaveLength(1);
        expect(m.flips[0]!.first_rule_conns!).toBeGreaterThan(50);
      }
    }
    const tables = formatExploreTables(report);
    expect(tables).toMatch(/measured \/ predicted\s+errors\s+p99 ms\s+sessions\s+delivered\s+fan-out p99 ms/);
  }, 90_000);
});
