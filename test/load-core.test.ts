/** Pure parts of the load driver: histogram, merging, the load profile's checks and defaults. */
import { describe, expect, it } from "vitest";
import { UsageError } from "../src/errors.js";
import { Histogram, mergeHistogramData } from "../src/load/histogram.js";
import { localCount, stageTarget } from "../src/load/engine.js";
import { parseLoadProfile, validateLoad } from "../src/load/index.js";
import { fileDescriptorProblem, normalizeProfile, resolveLoopback, SPEC_NAMES } from "../src/load/profile.js";
import { openFileLimit } from "../src/runtime/limits.js";
import { pathText } from "../src/spec/diagnostics.js";
import { mergeRunData, Recorder, toLoadResult, type RunData } from "../src/load/result.js";
import { splitTasks } from "../src/load/run.js";

describe("histogram", () => {
  it("keeps percentiles within 1% and merges by addition", () => {
    const a = new Histogram();
    const b = new Histogram();
    const all: number[] = [];
    let x = 12345;
    for (let i = 0; i < 20000; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const v = (x % 5_000_000) + 1;
      all.push(v);
      (i % 2 ? a : b).record(v);
    }
    all.sort((p, q) => p - q);
    const merged = Histogram.from(mergeHistogramData([a.toData(), b.toData()]));
    expect(merged.total).toBe(20000);
    for (const p of [50, 90, 99]) {
      const exact = all[Math.ceil((p / 100) * all.length) - 1]!;
      expect(Math.abs(merged.percentile(p) - exact) / exact).toBeLessThan(0.01);
    }
    expect(merged.min).toBe(all[0]);
    expect(merged.max).toBe(all.at(-1));
  });

  it("records small values exactly", () => {
    const h = new Histogram();
    for (const v of [0, 1, 2, 255]) h.record(v);
    expect([h.percentile(25), h.percentile(50), h.percentile(75), h.percentile(100)]).toEqual([0, 1, 2, 255]);
  });
});

function sample(now: number, backends: Array<[string | null, number]>, errors: string[]): RunData {
  const r = new Recorder(100);
  r.start(now);
  let t = now;
  for (const [b, status] of backends) {
    r.sent++;
    t += 30;
    r.response(t, 1000 + t, status, b, b ? `${b}/s1` : null, 7);
  }
  for (const c of errors) {
    r.sent++;
    t += 30;
    r.error(t, c);
  }
  return r.finish(t + 1);
}

describe("results", () => {
  it("merging is pure and keeps the accounting rule", () => {
    const a = sample(1000, [["ade", 200], ["ade", 200], [null, 503]], ["reset"]);
    const b = sample(2000, [["pb", 200], ["ade", 500]], ["timeout", "reset"]);
    const aCopy = structuredClone(a);
    const merged = mergeRunData([a, b]);
    expect(a).toEqual(aCopy);
    const r = toLoadResult(merged);
    expect(r.requests.sent).toBe(8);
    expect(r.backends["ade"]!.count).toBe(3);
    expect(r.backends["ade"]!.statuses).toEqual({ "200": 2, "500": 1 });
    expect(r.unattributed).toEqual({ total: 4, byCause: { reset: 2, "status-503-no-header": 1, timeout: 1 } });
    const attributed = Object.values(r.backends).reduce((s, x) => s + x.count, 0);
    expect(attributed + r.unattributed.total).toBe(r.requests.sent);
    expect(r.requests.succeeded).toBe(3);
    expect(r.requests.failed).toBe(5);
    expect(r.maxProxyConnsSeen).toBe(7);
    const windowSum = r.timeline.reduce((s, w) => s + w.errors + Object.values(w.byBackend).reduce((x, y) => x + y, 0), 0);
    expect(windowSum).toBe(8);
    // Merging a single part changes nothing but key order.
    expect(toLoadResult(mergeRunData([a]))).toEqual(toLoadResult(a));
  });

  it("counts responses by the proxy's route stamp: served by whom, answered by the proxy with what, at which connection counts and when", () => {
    const part = (t0: number, rows: Array<[number, string | null, number, string | null, number]>): RunData => {
      const r = new Recorder(100);
      r.start(t0);
      // [sent at (ms after t0), served by, status, routed to, proxy conns]
      for (const [at, backend, status, route, conns] of rows) {
        r.sent++;
        r.response(t0 + at + 5, 5000, status, backend, null, conns, route);
      }
      return r.finish(t0 + 1000);
    };
    const a = part(1000, [
      [10, "ade", 200, "ade", 250],
      [20, null, 502, "ade", 300],
      [30, "pb", 200, "pb", 301],
      [40, "pb", 200, "pb", 320],
      [50, "ade", 200, null, -1],
    ]);
    const b = part(5000, [
      [5, "ade", 200, "ade", 120],
      [60, "ade", 200, "pb", 305],
      [70, null, 503, "pb", -1],
    ]);
    const r = toLoadResult(mergeRunData([a, b]));
    expect(r.routed).toEqual({
      ade: { count: 3, served: { ade: 2 }, proxyStatuses: { "502": 1 }, minConns: 120, maxConns: 300, firstMs: 5, lastMs: 20 },
      pb: { count: 4, served: { ade: 1, pb: 2 }, proxyStatuses: { "503": 1 }, minConns: 301, maxConns: 320, firstMs: 30, lastMs: 70 },
    });
    // The served counts keep their meaning: the stub's header, route or not.
    expect(Object.fromEntries(Object.entries(r.backends).map(([k, v]) => [k, v.count]))).toEqual({ ade: 4, pb: 2 });
    expect(r.unattributed.byCause).toEqual({ "status-502-no-header": 1, "status-503-no-header": 1 });
  });

  it("counts warm-up responses by route apart", () => {
    const r = new Recorder(100);
    r.warmupResponse("ade", "ade");
    r.warmupResponse(null, "ade");
    r.warmupResponse("pb", null);
    r.start(0);
    expect(r.finish(10).warmup).toEqual({ responses: 3, byBackend: { ade: 1, pb: 1 }, routed: { ade: 2 } });
  });
});

describe("adaptive timeline", () => {
  /** One response every `stepMs` for `ms`, then the end. */
  const run = (ms: number, stepMs: number): RunData => {
    const r = new Recorder(null);
    r.start(0);
    let n = 0;
    for (let t = 0; t < ms; t += stepMs) {
      r.sent++;
      r.response(t, 1000, 200, "ade", null, Math.floor(t / 100), "ade");
      n++;
    }
    const d = r.finish(ms);
    const sum = d.timeline.reduce((s, w) => s + (w.byBackend["ade"] ?? 0), 0);
    expect(sum).toBe(n);
    return d;
  };

  it("ends with about 50 windows whatever the run's length, each a power-of-two multiple of 10 ms", () => {
    for (const [ms, step] of [
      [300, 1],
      [1300, 1],
      [4700, 2],
      [60_000, 20],
      [600_000, 200],
    ] as const) {
      const d = run(ms, step);
      expect(d.timeline.length, `${ms} ms`).toBeGreaterThanOrEqual(ms <= 500 ? 30 : 38);
      expect(d.timeline.length, `${ms} ms`).toBeLessThanOrEqual(75);
      expect(Math.log2(d.timelineWindowMs / 10) % 1).toBe(0);
      // Windows are contiguous from 0 at the final width, and the busiest proxy count of each is kept.
      d.timeline.forEach((w, i) => expect(w.tMs).toBe(i * d.timelineWindowMs));
      const last = d.timeline.at(-1)!;
      expect(last.maxProxyConns).toBe(Math.floor((ms - step) / 100));
    }
  });

  it("keeps a given window width", () => {
    const r = new Recorder(1000);
    r.start(0);
    for (let t = 0; t < 3000; t += 5) r.response(t, 1000, 200, "ade", null, 1, "ade");
    const d = r.finish(3000);
    expect(d.timelineWindowMs).toBe(1000);
    expect(d.timeline.map((w) => w.byBackend["ade"])).toEqual([200, 200, 200]);
  });

  it("merges workers whose windows widened at different times by the widest", () => {
    const a = run(1500, 1);
    const b = run(2500, 1);
    expect(a.timelineWindowMs).not.toBe(b.timelineWindowMs);
    const m = mergeRunData([a, b]);
    expect(m.timelineWindowMs).toBe(Math.max(a.timelineWindowMs, b.timelineWindowMs));
    const sum = m.timeline.reduce((s, w) => s + (w.byBackend["ade"] ?? 0), 0);
    expect(sum).toBe(1500 + 2500);
    m.timeline.forEach((w, i) => expect(w.tMs).toBe(i * m.timelineWindowMs));
  });
});

describe("profile", () => {
  it("reads a load in the spec's keys and reports every problem with its path", () => {
    const ok = validateLoad({
      connections: 310,
      streams: 40,
      connect_rate: 310,
      requests: 40000,
      duration: "30s",
      warmup: "500ms",
      keep_alive: { close_after_requests: 100, close_after_idle: "2s" },
    });
    expect(ok.problems).toEqual([]);
    expect(ok.load).toMatchObject({
      connections: 310,
      streams: 40,
      connectRate: 310,
      durationMs: 30000,
      warmupMs: 500,
      closeAfterRequests: 100,
      closeAfterIdleMs: 2000,
      stages: null,
      timeoutMs: 30_000,
    });
    const bad = validateLoad({ conections: 3, duration: "soon", stages: [{ target: "x" }], keep_alive: { idle: 1 } });
    expect(bad.load).toBeNull();
    expect(bad.problems.map((p) => pathText(p.path)).sort()).toEqual(["conections", "duration", "keep_alive.idle", "stages[0].duration", "stages[0].target"]);
    expect(bad.problems.find((p) => pathText(p.path) === "conections")?.message).toBe("unknown key 'conections'; did you mean 'connections'?");
    expect(bad.problems.find((p) => pathText(p.path) === "stages[0].duration")?.message).toBe("stages[0].duration is missing");
  });

  it("checks keys against each other, naming them as the caller names them", () => {
    const messages = (input: Record<string, unknown>, names = SPEC_NAMES) => validateLoad(input, { names }).problems.map((p) => p.message);
    expect(messages({ connections: 3, requests: 2 })).toEqual([expect.stringContaining("2 requests for 3 connections: each connection sends its own share")]);
    expect(messages({ connections: 3, requests: 2, budget: "pooled" })).toEqual([]);
    expect(messages({ connections: 2 })).toEqual(["the load is unbounded: give requests, duration or stages"]);
    expect(messages({ connections: 2, duration: "0s", timeout: "0ms" })).toEqual(["duration must be above 0", "timeout must be above 0"]);
    expect(messages({ connections: 2, requests: 2, workers: 3 })).toEqual([expect.stringContaining("workers 3 is more than the 2 connections")]);
    expect(messages({ connections: 2, duration: "1s", think_time: "1s", arrival_rate: 5 })).toEqual([expect.stringContaining("think_time is a pause of the closed model")]);
    // Source addresses are loopback, IPv6's too (bound as given, so without brackets).
    expect(messages({ connections: 2, requests: 2, source_addresses: ["127.0.0.2", "::1"] })).toEqual([]);
    expect(messages({ connections: 2, requests: 2, source_addresses: ["[::1]", "10.0.0.1"] })).toEqual([
      expect.stringContaining("is not on loopback: the IPv6 loopback address is ::1"),
      expect.stringContaining("10.0.0.1 is not on loopback"),
    ]);
    // Fractions of a request per second are an arrival rate too: a run that holds connections idle.
    expect(messages({ connections: 2, duration: "1s", arrival_rate: 0.001 })).toEqual([]);
    const flags = { name: (path: readonly (string | number)[]) => `--${String(path[0])}`, example: (k: string, v: string | number) => `--${k} ${v}` };
    expect(messages({ connections: 4, requests: 4, connect_rate: 5 }, flags)).toEqual([expect.stringMatching(/^--connect_rate 5 is more than the 4 connections: each burst opens up to --connect_rate of them/)]);
  });

  it("fills defaults and rejects impossible values with exit code 1", () => {
    const p = parseLoadProfile({ requests: 10 }, { url: "http://localhost:8080/a?b=1" });
    expect(p).toMatchObject({ protocol: "h2c", connections: 1, streams: 1, path: "/a?b=1", authority: "localhost:8080", reconnect: true, countBy: "x-spillway-backend", timeoutMs: 30_000, drainMs: 30_000 });
    expect(parseLoadProfile({ duration: "5ms" }, { url: "https://127.0.0.1/" }).protocol).toBe("h2");
    expect(parseLoadProfile({ protocol: "h1-close", requests: 1 }, { url: "http://127.0.0.1/" }).closeAfterRequests).toBe(1);
    expect(parseLoadProfile({ requests: 1, path: "/x" }, { url: "http://127.0.0.1:81/y" }).url).toBe("http://127.0.0.1:81/x");
    const err = (() => {
      try {
        parseLoadProfile({ protocol: "h2", requests: 1, arrival_rate: 5, think_time: "10ms", connections: 1 }, { url: "http://127.0.0.1/", countBy: "a b" });
      } catch (e) {
        return e as UsageError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect(err!.exitCode).toBe(1);
    expect(err!.message).toContain("protocol h2 needs an https:// URL");
    expect(err!.message).toContain("think_time");
    expect(err!.message).toContain('countBy "a b" is not a header name');
  });

  it("refuses more connections than one process may open files for only where the processes are fixed, when the run starts", () => {
    const limit = openFileLimit().soft;
    const p = parseLoadProfile({ connections: 1, duration: "1s" }, { url: "http://127.0.0.1/" });
    expect(() => normalizeProfile({ ...p, connections: limit - 63 }, { processes: 1 })).toThrow(/with --processes 1, one process holds \d+ of the connections \d+ connections: more file descriptors than a process may open/);
    expect(fileDescriptorProblem(limit - 63, undefined, { processes: 1 })?.hint).toContain("Give --processes 2 or more");
    expect(normalizeProfile({ ...p, connections: limit - 64 }, { processes: 1 }).connections).toBe(limit - 64);
    expect(fileDescriptorProblem(limit - 64, undefined, { processes: 1 })).toBeNull();
    // Left to choose, a run takes as many processes as its connections need, up to 64.
    expect(normalizeProfile({ ...p, connections: limit - 63 }).connections).toBe(limit - 63);
    expect(fileDescriptorProblem(64 * (limit - 64))).toBeNull();
    expect(fileDescriptorProblem(64 * (limit - 64) + 1)?.message).toMatch(/needs more file descriptors than 64 driver processes may open/);
  });

  it("sends load only to loopback literals and localhost", async () => {
    expect(await resolveLoopback("localhost")).toBe("127.0.0.1");
    expect(await resolveLoopback("::1")).toBe("::1");
    await expect(resolveLoopback("0.0.0.0")).rejects.toBeInstanceOf(UsageError);
  });

  it("accepts only IP literals and the name localhost: any other name is refused, exit 1, without a lookup", async () => {
    // ip6-localhost and localhost.localdomain resolve to loopback on many machines: a lookup would have let them in.
    for (const host of ["127.example.com", "127.0.0.1.nip.io", "ip6-localhost", "localhost.localdomain", "localhost.", "example.com"]) {
      const err = (await resolveLoopback(host).catch((e: unknown) => e)) as UsageError;
      expect(err, host).toBeInstanceOf(UsageError);
      expect(err.exitCode).toBe(1);
      expect(err.message).toContain(`refusing host "${host}"`);
      expect(err.hint).toContain("127.0.0.1");
    }
  });
});

describe("splitting a run over workers", () => {
  it("deals connections round-robin and budgets in proportion", () => {
    const p = normalizeProfile(parseLoadProfile({ connections: 5, requests: 1001, arrival_rate: 100, workers: 2 }, { url: "http://127.0.0.1/" }));
    const tasks = splitTasks(p, "127.0.0.1");
    expect(tasks.map((t) => t.requests)).toEqual([601, 400]);
    expect(tasks.map((t) => t.arrivalRate)).toEqual([60, 40]);
    expect([localCount(5, 0, 2), localCount(5, 1, 2), localCount(0, 0, 2), localCount(1, 1, 2)]).toEqual([3, 2, 0, 0]);
  });

  it("ramps stages linearly from zero", () => {
    const stages = [
      { durationMs: 100, target: 10 },
      { durationMs: 100, target: 10 },
      { durationMs: 100, target: 0 },
    ];
    expect([0, 50, 100, 150, 250, 400].map((t) => stageTarget(stages, t))).toEqual([0, 5, 10, 10, 5, 0]);
  });

  it("ramps as k6's ramping-vus does: a staircase truncated toward the stage's start, the target reached at its end", () => {
    // k6: VU u (from+1..to) starts at S + D*(u-from)/(to-from); down, the count drops at S + D*k/(from-to).
    const up = [{ durationMs: 30, target: 10 }];
    expect([0, 2, 3, 29, 30].map((t) => stageTarget(up, t))).toEqual([0, 0, 1, 9, 10]);
    const down = [
      { durationMs: 0, target: 10 },
      { durationMs: 100, target: 0 },
    ];
    // A 0-length stage is an instant jump.
    expect([0, 9, 10, 16, 99, 100].map((t) => stageTarget(down, t))).toEqual([10, 10, 9, 9, 1, 0]);
  });
});
