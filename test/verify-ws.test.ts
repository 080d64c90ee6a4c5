/**
 * verify with WebSocket sessions, through the real proxies and stubs: a chat
 * room alone, a failing expectation, HTTP and sessions together, an abort;
 * and the pure parts (expectations, reconciliation, the spec's keys) on
 * their own. Each run holds its sessions for about two seconds.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XMLParser } from "fast-xml-parser";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emptyWsRunData, toWsResult, type WsResult, type WsRun } from "../src/load/ws/index.js";
import { loadSpec, verify, type LoadRun } from "../src/index.js";
import { pidAlive, type RunRecord } from "../src/runtime/registry.js";
import { SpecError } from "../src/spec/diagnostics.js";
import { loadSpecText } from "../src/spec/load.js";
import { compare, evaluateExpectations } from "../src/verify/evaluate.js";
import { reconcile } from "../src/verify/reconcile.js";
import { wsSessionOptions } from "../src/verify/run.js";
import type { StubCounts } from "../src/stub/index.js";
import { runCli } from "./helpers/cli.js";

const tmp = () => mkdtempSync(join(tmpdir(), "spillway-verify-ws-"));

function specFile(text: string): string {
  const file = join(tmp(), "spec.yaml");
  writeFileSync(file, text);
  return file;
}

/** A room of 20 users, one message each 200 ms, 2 s sessions: 20 x 10 = 200 sent, 4,000 owed. */
const CHAT = (expect: string) => `version: 1
frontends:
  chat:
    bind: "127.0.0.1:18091"
    http2: { enabled: false }
    timeouts: { tunnel: 1m }
    default_backend: rooms
backends:
  rooms: { servers: 2 }
scenarios:
  chat:
    load:
      websockets: { connections: 20, rooms: 1, message_interval: 200ms, payload_bytes: 32, session: 2s }
    expect:
      websockets: ${expect}
`;

interface JsonWs {
  ws_sessions: number;
  ws_msgs_sent: number;
  ws_msgs_received: number;
  sessions: { started: number; completed: number; failed: number; failed_by_cause: Record<string, number> };
  messages: { sent: number; received: number; expected: number; delivered: number };
  delivery_ratio: number;
  fanout_ms: { p50: number; p99: number };
  session_duration_ms: { p50: number };
  connecting_ms: { p50: number };
  upgrades: { routed: Record<string, number>; by: string; served: Record<string, number> };
  timeline: { t_ms: number; open_sessions: number; sent: number; received: number; delivered: number }[];
}

describe("verify with WebSocket sessions, through the real proxies", () => {
  it("a chat room alone passes sessions and delivery on HAProxy and nginx, reconciled message for message, in every report", () => {
    const dir = tmp();
    const file = specFile(CHAT(`{ sessions: "100%", delivered: "100%", fanout_p99: "< 1s", upgrades: { rooms: "100%" } }`));
    const r = runCli(["verify", file, "--json", join(dir, "r.json"), "--junit", join(dir, "r.xml"), "--html", join(dir, "r.html")], { timeoutMs: 120_000 });
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^2 passed, 0 failed$/m);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    expect(json.results.map((x: { target: string }) => x.target)).toEqual(["haproxy", "nginx"]);
    for (const res of json.results) {
      const ws = res.websockets as JsonWs;
      // No HTTP request: the HTTP figures are empty, not made up.
      expect(res.requests).toEqual({ sent: 0, completed: 0, succeeded: 0, failed: 0 });
      expect(ws.ws_sessions).toBe(20);
      expect(ws.sessions).toMatchObject({ started: 20, completed: 20, failed: 0, failed_by_cause: {} });
      // Every session sends its whole schedule: 2 s / 200 ms.
      expect(ws.ws_msgs_sent).toBe(200);
      expect(ws.messages.sent).toBe(200);
      expect(ws.delivery_ratio).toBe(1);
      expect(ws.messages.delivered).toBe(ws.messages.expected);
      expect(ws.messages.expected).toBeGreaterThan(3000);
      expect(ws.upgrades).toMatchObject({ routed: { rooms: 20 }, by: "route", served: { rooms: 20 } });
      expect(ws.session_duration_ms.p50).toBeGreaterThanOrEqual(2000);
      expect(ws.fanout_ms.p99).toBeGreaterThan(0);
      expect(ws.timeline.reduce((n, w) => n + w.sent, 0)).toBe(200);
      expect(Math.max(...ws.timeline.map((w) => w.open_sessions))).toBe(20);
      expect(res.expectations.map((e: { name: string; passed: boolean }) => `${e.name}:${e.passed}`)).toEqual([
        "websockets.sessions:true",
        "websockets.delivered:true",
        "websockets.fanout_p99:true",
        "websockets.upgrades.rooms:true",
      ]);
      const rec = res.reconciliation;
      expect(rec.ok, JSON.stringify(rec)).toBe(true);
      expect(rec.websockets.messages).toEqual({ driverSent: 200, stubsIn: 200, stubsOut: ws.ws_msgs_received, driverReceived: ws.ws_msgs_received });
      expect(rec.websockets.upgrades).toEqual([{ backend: "rooms", driver: 20, stubs: 20, routed: 20 }]);
      expect(rec.websockets).toMatchObject({ cutSessions: 0, notes: [] });
      // HAProxy counts each upgrade in its backend's req_tot.
      if (res.target === "haproxy") expect(rec.rows).toEqual([{ backend: "rooms", driver: 0, stubs: 0, routed: null, proxy: 20 }]);
      // The sessions are proxy connections: the driver's open count took them in.
      expect(Math.max(...res.counts.samples.map((s: { driver_open: number }) => s.driver_open))).toBe(20);
    }
    expect(r.stdout).toContain("WebSocket sessions: 20 started, 20 opened, 20 completed, 0 failed; max 20 open");
    expect(r.stdout).toMatch(/messages: 200 sent, \d+ received; delivered (\d+) of \1 owed \(100%\); fan-out p50 [\d.]+ms, p99 [\d.]+ms/);
    expect(r.stdout).toContain("upgrades (proxy's route, stub that served): rooms 20 routed, 20 served");
    expect(r.stdout).toMatch(/reconciled WebSocket: 200 messages sent = 200 taken in by the stubs; (\d+) sent out by the stubs = \1 received; upgrades rooms 20 as the stubs counted them/);
    const junit = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(readFileSync(join(dir, "r.xml"), "utf8"));
    expect(junit.testsuites).toMatchObject({ tests: "10", failures: "0", errors: "0" });
    const names = (junit.testsuites.testsuite[0].testcase as { name: string }[]).map((c) => c.name);
    expect(names).toEqual(["websockets.sessions 100%", "websockets.delivered 100%", "websockets.fanout_p99 < 1s", "websockets.upgrades.rooms 100%", "reconciliation"]);
    expect(junit.testsuites.testsuite[0]["system-out"]).toContain("WebSocket sessions: 20 started, 20 opened, 20 completed, 0 failed; max 20 open");
    const html = readFileSync(join(dir, "r.html"), "utf8");
    expect(html.match(/<svg[^>]* class="ws-timeline"/g)).toHaveLength(2);
  }, 150_000);

  it("exits 4 naming the expectation, what was expected and what was measured, when one fails", () => {
    const file = specFile(CHAT(`{ sessions: "100%", delivered: "< 50%" }`));
    const r = runCli(["verify", file, "--target", "haproxy"], { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/ok {4}websockets\.sessions 100%: got 100% \(20 of 20\) completed/);
    expect(r.stdout).toMatch(/FAIL {2}websockets\.delivered < 50%: got 100% \(\d+ of \d+ owed\)/);
    expect(r.stdout).toMatch(/^0 passed, 1 failed$/m);
  }, 150_000);

  it("HTTP/1.1 requests and sessions together: both in the reports, each reconciled, HAProxy's req_tot holding requests and upgrades", () => {
    const dir = tmp();
    const file = specFile(`version: 1
frontends:
  web:
    bind: "127.0.0.1:18092"
    http2: { enabled: false }
    timeouts: { tunnel: 1m }
    default_backend: main
backends:
  main: { servers: 2 }
scenarios:
  mixed:
    load:
      protocol: h1
      connections: 4
      requests: 400
      websockets: { connections: 10, rooms: 2, message_interval: 250ms, session: 2s }
    expect:
      backends: { main: "100%" }
      errors: "0"
      websockets: { sessions: "100%", delivered: "100%", upgrades: { main: "100%" } }
`);
    const r = runCli(["verify", file, "--json", join(dir, "r.json")], { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    for (const res of json.results) {
      expect(res.requests.sent).toBe(400);
      expect(res.backends).toEqual({ main: 400 });
      const ws = res.websockets as JsonWs;
      expect(ws.sessions).toMatchObject({ started: 10, completed: 10 });
      expect(ws.messages.sent).toBe(80);
      expect(ws.delivery_ratio).toBe(1);
      expect(res.reconciliation.ok, JSON.stringify(res.reconciliation)).toBe(true);
      expect(res.reconciliation.websockets.messages).toMatchObject({ driverSent: 80, stubsIn: 80 });
      if (res.target === "haproxy") expect(res.reconciliation.rows).toEqual([{ backend: "main", driver: 400, stubs: 400, routed: 400, proxy: 410 }]);
      else expect(res.reconciliation.proxyTotal.driver).toBe(410);
      expect(res.expectations.every((e: { passed: boolean }) => e.passed)).toBe(true);
    }
    expect(r.stdout).toMatch(/400 sent, 400 answered, 0 failed/);
    expect(r.stdout).toContain("WebSocket sessions: 10 started, 10 opened, 10 completed, 0 failed; max 10 open");
  }, 150_000);

  it("an abort stops the HTTP load and the sessions alike, and verify() rejects only once the stack is gone", async () => {
    const spec = loadSpec({
      name: "abort.yaml",
      text: `version: 1
frontends:
  web: { bind: "127.0.0.1:18094", http2: { enabled: false }, default_backend: main }
backends:
  main: { servers: 2 }
scenarios:
  long:
    load:
      protocol: h1
      connections: 2
      duration: 60s
      websockets: { connections: 10, rooms: 1, message_interval: 200ms, session: 60s }
    expect: { errors: "0", websockets: { sessions: "100%" } }
`,
    });
    const runs = join(tmp(), "runs");
    const before = process.env["SPILLWAY_RUNS_DIR"];
    // Runs record what they start here, so this test sees its own run only.
    process.env["SPILLWAY_RUNS_DIR"] = runs;
    const records = (): RunRecord[] => (existsSync(runs) ? readdirSync(runs).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(readFileSync(join(runs, f), "utf8")) as RunRecord) : []);
    const controller = new AbortController();
    let seen: RunRecord[] = [];
    let answered = 0;
    let open = 0;
    let wsDone = false;
    let httpDone = false;
    const pull = () => {
      if (answered > 0 && open === 10 && !controller.signal.aborted) {
        seen = records();
        controller.abort(new Error("enough of that"));
      }
    };
    const onLoad = (load: LoadRun) => {
      load.on("tick", (t) => ((answered = t.completed), pull()));
      void load.done.finally(() => (httpDone = true));
    };
    const onWebSockets = (run: WsRun) => {
      run.on("tick", (t) => ((open = t.open), pull()));
      void run.done.finally(() => (wsDone = true));
    };
    const started = Date.now();
    try {
      await expect(verify(spec, { targets: ["haproxy"], signal: controller.signal, onLoad, onWebSockets, warn: () => undefined })).rejects.toThrow("enough of that");
    } finally {
      if (before === undefined) delete process.env["SPILLWAY_RUNS_DIR"];
      else process.env["SPILLWAY_RUNS_DIR"] = before;
    }
    expect(Date.now() - started, "the 60 s load and sessions ended with the abort").toBeLessThan(20_000);
    expect([httpDone, wsDone], "both parts ended before verify() settled").toEqual([true, true]);
    expect(seen, "one run record while the load ran").toHaveLength(1);
    for (const p of seen[0]!.processes) expect(pidAlive(p.pid), `${p.name} (pid ${p.pid})`).toBe(false);
    for (const dir of seen[0]!.dirs) expect(existsSync(dir), dir).toBe(false);
    expect(records(), "run records left").toEqual([]);
  }, 60_000);
});

/** A WebSocket result from run data with only what a test sets. */
function ws(patch: (d: ReturnType<typeof emptyWsRunData>) => void): WsResult {
  const d = emptyWsRunData();
  patch(d);
  return toWsResult(d);
}

describe("WebSocket expectations in the spec", () => {
  const spec = (load: string, expect: string) => `version: 1
frontends:
  web: { bind: "127.0.0.1:18093", http2: { enabled: false }, default_backend: rooms }
backends:
  rooms: { servers: 1 }
scenarios:
  s:
    load: ${load}
    expect: ${expect}
`;
  const WS = "{ websockets: { connections: 2, session: 1s } }";
  const errorsOf = (text: string) => {
    try {
      loadSpecText(text, "s.yaml");
    } catch (err) {
      if (err instanceof SpecError) return err.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.line}:${d.col} ${d.message}`);
      throw err;
    }
    return [];
  };

  it("reads every key into thresholds, per target too", () => {
    const { model } = loadSpecText(
      spec(WS, `{ websockets: { sessions: "100%", delivered: ">= 99.5%", fanout_p50: "< 20ms", fanout_p99: "< 1s", upgrades: { rooms: ">= 2" } } }\n    expect_by_target:\n      nginx: { websockets: { delivered: ">= 90%" } }`),
      "s.yaml",
    );
    const s = model.scenarios[0]!;
    expect(s.expect.haproxy.websockets).toEqual({
      sessions: { op: "==", value: 100, unit: "percent", text: "100%" },
      delivered: { op: ">=", value: 99.5, unit: "percent", text: ">= 99.5%" },
      fanout: { p50: { op: "<", value: 20, unit: "ms", text: "< 20ms" }, p99: { op: "<", value: 1000, unit: "ms", text: "< 1s" } },
      upgrades: { rooms: { op: ">=", value: 2, unit: "count", text: ">= 2" } },
    });
    // expect_by_target replaces the whole key, as it does for latency.
    expect(s.expect.nginx.websockets).toEqual({ sessions: null, delivered: { op: ">=", value: 90, unit: "percent", text: ">= 90%" }, fanout: {}, upgrades: {} });
  });

  it("points at each wrong key, unit and name with file:line:col, and guesses the name meant", () => {
    expect(errorsOf(spec(WS, `{ websockets: { delivred: "100%" } }`))).toEqual(["9:29 unknown key 'delivred'; did you mean 'delivered'?"]);
    expect(errorsOf(spec(WS, `{ websockets: { delivered: "99" } }`))).toEqual(["9:40 '99' is a count; expected a percentage"]);
    expect(errorsOf(spec(WS, `{ websockets: { fanout_p99: "5%" } }`))).toEqual(["9:41 '5%' is a percentage; expected a duration such as < 200ms"]);
    expect(errorsOf(spec(WS, `{ websockets: { upgrades: { room: "100%" } } }`))).toEqual(["9:47 backend 'room' is not defined; did you mean 'rooms'?"]);
    expect(errorsOf(spec(WS, `{ websockets: { sessions: "101%" } }`))).toEqual(["9:39 a share cannot exceed 100% (found '101%')"]);
  });

  it("property: every threshold text either loads with the unit its key takes, or is refused at its value's line and column", () => {
    const UNITS = { sessions: ["count", "percent"], delivered: ["percent"], fanout_p50: ["ms"], fanout_p99: ["ms"] } as const;
    const text = fc
      .tuple(fc.constantFrom("", ">= ", ">", "<= ", "<", "==", "= "), fc.oneof(fc.nat({ max: 1000 }).map(String), fc.double({ min: 0, max: 1000, noNaN: true }).map((v) => v.toFixed(2))), fc.constantFrom("", "%", "ms", "s"))
      .map(([op, n, unit]) => `${op}${n}${unit}`);
    fc.assert(
      fc.property(fc.constantFrom(...(Object.keys(UNITS) as (keyof typeof UNITS)[])), text, (key, t) => {
        const errors = errorsOf(spec(WS, `{ websockets: { ${key}: "${t}" } }`));
        // A bare number is a duration for a fan-out key, as for latency, and a count elsewhere.
        const unit = t.endsWith("%") ? "percent" : /\d(ms|s)$/.test(t) || key.startsWith("fanout") ? "ms" : "count";
        const value = Number(/[\d.]+/.exec(t)![0]) * (t.endsWith("ms") ? 1 : t.endsWith("s") ? 1000 : 1);
        const ok = (UNITS[key] as readonly string[]).includes(unit) && !(unit === "percent" && value > 100);
        if (ok) {
          expect(errors).toEqual([]);
          const w = loadSpecText(spec(WS, `{ websockets: { ${key}: "${t}" } }`), "s.yaml").model.scenarios[0]!.expect.haproxy.websockets!;
          const th = key === "sessions" ? w.sessions : key === "delivered" ? w.delivered : w.fanout[key === "fanout_p50" ? "p50" : "p99"];
          expect(th).toMatchObject({ unit, text: t });
          expect(th!.value).toBeCloseTo(value, 6);
        } else {
          // A wrong unit and a share over 100% are two problems, both at the value.
          expect(errors.length).toBeGreaterThan(0);
          for (const e of errors) expect(e).toMatch(new RegExp(`^9:${29 + key.length + 2} `));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("property: the delivered expectation passes exactly when the measured ratio meets it", () => {
    fc.assert(
      fc.property(fc.nat({ max: 5000 }), fc.nat({ max: 5000 }), fc.constantFrom(">=", ">", "<=", "<"), fc.nat({ max: 100 }), (a, b, op, pct) => {
        const expected = Math.max(a, b);
        const delivered = Math.min(a, b);
        const { model } = loadSpecText(spec(WS, `{ websockets: { delivered: "${op} ${pct}%" } }`), "s.yaml");
        const r = ws((d) => Object.assign(d.messages, { sent: expected > 0 ? 1 : 0, expected, delivered }));
        const [e] = evaluateExpectations(model.scenarios[0]!.expect.haproxy, null, r);
        expect(e!.passed).toBe(expected > 0 && compare(op, (delivered / expected) * 100, pct));
      }),
      { numRuns: 200 },
    );
  });

  it("refuses expectations on what the load does not do", () => {
    expect(errorsOf(spec("{ connections: 1, requests: 1, protocol: h1 }", `{ websockets: { sessions: "100%" } }`))).toEqual([
      "9:15 expectations on WebSocket sessions, but the load holds none",
    ]);
    expect(errorsOf(spec(WS, `{ errors: "0", websockets: { sessions: "100%" } }`))).toEqual(["9:15 errors is an expectation on HTTP requests, and this load has only websockets, so it sends none"]);
  });
});

describe("WebSocket expectations and reconciliation, pure", () => {
  const chat = ws((d) => {
    Object.assign(d.sessions, { started: 10, opened: 10, closed: 10, completed: 8, failed: 2, failedByCause: { reset: 2 } });
    Object.assign(d.messages, { sent: 100, received: 950, expected: 1000, delivered: 940 });
    d.upgrades = { byBackend: { a: 6, b: 4 }, byServer: {}, routed: { a: 7, b: 3 }, unstamped: 0 };
  });
  const stubs = (messagesIn: number, messagesOut: number, upgrades: Record<string, number>): Record<string, StubCounts> =>
    Object.fromEntries(
      Object.entries(upgrades).map(([b, n], i) => [
        `${b}/s1`,
        { served: 0, byStatus: {}, byProtocol: { h1: 0, h2: 0 }, connections: 0, ws: { requests: n, upgrades: n, open: 0, closed: n, messagesIn: i === 0 ? messagesIn : 0, messagesOut: i === 0 ? messagesOut : 0, bytesIn: 0, bytesOut: 0, rooms: {} } },
      ]),
    );

  it("shares are of the sessions started, upgrades by the proxy's route, and nothing passes on no sessions", () => {
    const { model } = loadSpecText(
      `version: 1
frontends:
  web: { bind: "127.0.0.1:18093", http2: { enabled: false }, default_backend: a, rules: [ { if: "fe_conn > 5", use_backend: b } ] }
backends:
  a: { servers: 1 }
  b: { servers: 1 }
scenarios:
  s:
    load: { websockets: { connections: 10, session: 1s } }
    expect: { websockets: { sessions: "100%", delivered: ">= 94%", fanout_p99: "< 200ms", upgrades: { a: "70%", b: "<= 3" } } }
`,
      "s.yaml",
    );
    const e = model.scenarios[0]!.expect.haproxy;
    expect(evaluateExpectations(e, null, chat).map((x) => [x.name, x.passed, x.actual])).toEqual([
      ["websockets.sessions", false, "80.0% (8 of 10) completed; 2 failed: reset 2"],
      ["websockets.delivered", true, "94.0% (940 of 1000 owed)"],
      ["websockets.fanout_p99", true, "0.0ms"],
      ["websockets.upgrades.a", true, "70.0% (7 of 10)"],
      ["websockets.upgrades.b", true, "3 (30.0% of 10)"],
    ]);
    const none = ws(() => undefined);
    expect(evaluateExpectations(e, null, none).map((x) => [x.name, x.passed, x.actual]).slice(0, 3)).toEqual([
      ["websockets.sessions", false, "0% (0 of 0) completed"],
      ["websockets.delivered", false, "no message was sent"],
      ["websockets.fanout_p99", false, "no message was delivered"],
    ]);
    expect(evaluateExpectations(e, null, null)[0]).toMatchObject({ name: "websockets.sessions", passed: false, actual: "no WebSocket session ran", value: null });
  });

  it("sessions go to the frontend's URL as ws://, with the load's path and sources, bounded by verify's bound or their own schedule", () => {
    const { model } = loadSpecText(
      `version: 1
frontends:
  web: { bind: "127.0.0.1:18093", http2: { enabled: false }, default_backend: a }
backends:
  a: { servers: 1 }
scenarios:
  s:
    load: { path: /chat, source_addresses: [127.0.0.2], websockets: { connections: 11, connect_rate: 10, session: 3s } }
`,
      "s.yaml",
    );
    const o = wsSessionOptions(model.scenarios[0]!.load, "http://127.0.0.1:40000", 300_000)!;
    // 1 s for the last start, 10 s connect, 3 s session, 5 s drain, 2 s close, 10 s.
    expect(o).toMatchObject({ url: "ws://127.0.0.1:40000/chat", sourceAddresses: ["127.0.0.2"], connections: 11, rooms: 1, sessionMs: 3000, maxRunMs: 31_000 });
    expect(wsSessionOptions(model.scenarios[0]!.load, "http://127.0.0.1:40000", 5000)!.maxRunMs).toBe(5000);
  });

  it("agrees exactly when no session was cut, and names a loss; with cut sessions, states the difference instead", () => {
    const clean = ws((d) => {
      Object.assign(d.sessions, { started: 10, opened: 10, closed: 10, completed: 10 });
      Object.assign(d.messages, { sent: 100, received: 1000, expected: 1000, delivered: 1000 });
      d.upgrades = { byBackend: { a: 10 }, byServer: {}, routed: { a: 10 }, unstamped: 0 };
    });
    const ok = reconcile("nginx", null, { before: {}, after: stubs(100, 1000, { a: 10 }) }, null, 1, clean);
    expect(ok).toMatchObject({ ok: true, problems: [], websockets: { messages: { driverSent: 100, stubsIn: 100, stubsOut: 1000, driverReceived: 1000 }, cutSessions: 0, notes: [] } });
    const lost = reconcile("nginx", null, { before: {}, after: stubs(100, 1003, { a: 10 }) }, null, 1, clean);
    expect(lost.problems).toEqual(["WebSocket: the stubs sent out 1003 messages but the driver received 1000: 3 lost between stub and driver, with every session closed by the driver"]);
    const extra = reconcile("nginx", null, { before: {}, after: stubs(101, 1000, { a: 9 }) }, null, 1, clean);
    expect(extra.problems).toEqual([
      "WebSocket: the stubs took in 101 messages but the driver sent 100: 1 counted that the driver never sent",
      "WebSocket a: the driver saw 10 upgrades (101) from a but its stubs answered 9: 1 counted that no stub sent",
    ]);
    const cut = reconcile("haproxy", null, { before: {}, after: stubs(98, 960, { a: 6, b: 4 }) }, null, 1, chat);
    expect(cut.ok).toBe(true);
    expect(cut.websockets?.notes).toEqual([
      "the driver sent 100 messages, the stubs took in 98: 2 were in flight when 2 sessions were cut (stopped by the run's end or failed) with messages in flight",
      "the stubs sent out 960 messages, the driver received 950: 10 were in flight when 2 sessions were cut (stopped by the run's end or failed) with messages in flight",
    ]);
    // HAProxy's req_tot holds the upgrades routed to each backend.
    const haproxy = (a: number, b: number) => ({ kind: "haproxy" as const, backendRequests: { a, b } });
    const withProxy = reconcile("haproxy", null, { before: {}, after: stubs(98, 960, { a: 6, b: 4 }) }, { before: haproxy(0, 0), after: haproxy(7, 3) }, 1, chat);
    expect(withProxy.problems).toEqual([]);
    const off = reconcile("haproxy", null, { before: {}, after: stubs(98, 960, { a: 6, b: 4 }) }, { before: haproxy(0, 0), after: haproxy(6, 3) }, 1, chat);
    expect(off.problems).toEqual(["a: HAProxy counted 6 requests (req_tot) but the driver 0 responses and 7 WebSocket upgrades"]);
  });
});
