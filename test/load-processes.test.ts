/**
 * The driver across child processes (--processes) and source addresses
 * chosen when one address's ephemeral ports cannot hold the connections:
 * real h2c servers on loopback, real child processes, real sockets.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InfraError, UsageError } from "../src/errors.js";
import { parseLoadProfile, startLoad, splitTasks, type LoadInput, type LoadStartInfo } from "../src/load/index.js";
import { fewestProcesses, processConnections, processEngines } from "../src/load/processes.js";
import { chooseSources, portsPerSource, sourceIndex } from "../src/load/sources.js";
import { localCount } from "../src/load/scheduler.js";
import { normalizeProfile } from "../src/load/profile.js";
import { runCliAsync as cli, ROOT } from "./helpers/cli.js";

/** An h2c server naming backends a, b, c round-robin, counting requests per connection and connections per source address. */
function startCountingServer() {
  const perSession = new Map<http2.ServerHttp2Session, number>();
  const sources = new Map<string, number>();
  const sessionTimes: number[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  let served = 0;
  const server = http2.createServer();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    sessionTimes.push(performance.now());
    const a = s.socket.remoteAddress ?? "?";
    sources.set(a, (sources.get(a) ?? 0) + 1);
  });
  server.on("stream", (stream) => {
    const session = stream.session!;
    perSession.set(session, (perSession.get(session) ?? 0) + 1);
    const backend = ["a", "b", "c"][served++ % 3]!;
    stream.respond({ ":status": 200, "x-spillway-backend": backend });
    stream.end("ok");
  });
  return {
    server,
    sessions,
    /** Requests each connection carried, smallest first, then connections by source address, since the last take. */
    take(): { shares: number[]; sources: Record<string, number>; times: number[] } {
      const out = { shares: [...perSession.values()].sort((a, b) => a - b), sources: Object.fromEntries([...sources].sort()), times: [...sessionTimes] };
      perSession.clear();
      sources.clear();
      sessionTimes.length = 0;
      served = 0;
      return out;
    },
  };
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe("the pure layout: processes and source addresses", () => {
  it("chooses the fewest processes whose share fits, with workers split over them", () => {
    expect(fewestProcesses(10_000, 1, 19_936)).toBe(1);
    expect(fewestProcesses(30_000, 1, 19_936)).toBe(2);
    expect(fewestProcesses(100_000, 1, 19_936)).toBe(6);
    // Three threads over two processes: 2 and 1 engines, so the first holds two thirds.
    expect(processConnections(30_000, 3, 2)).toEqual([20_000, 10_000]);
    expect(fewestProcesses(30_000, 3, 19_936)).toBe(3);
    expect(fewestProcesses(100_000, 1, 1_000)).toBeNull();
    expect(processEngines(5, 2)).toEqual([[0, 1, 2], [3, 4]]);
    expect(processEngines(2, 2)).toEqual([[0], [1]]);
  });

  it("spreads over 1, 2 and 4 source addresses for 10k, 30k and 100k connections in a 32768-60999 port range", () => {
    const ports = portsPerSource({ low: 32768, high: 60999 });
    expect(ports).toBe(25_408);
    expect(chooseSources(10_000, "127.0.0.1", ports)).toEqual({ kind: "one" });
    expect(chooseSources(30_000, "127.0.0.1", ports)).toEqual({ kind: "spread", addresses: ["127.0.0.1", "127.0.0.2"] });
    expect(chooseSources(100_000, "127.0.0.1", ports)).toEqual({ kind: "spread", addresses: ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"] });
    expect(chooseSources(30_000, "::1", ports)).toEqual({ kind: "no-fit", need: 2, ports });
    expect(chooseSources(10_000, "::1", ports)).toEqual({ kind: "one" });
  });

  it("deals every engine's connections evenly over every source, so each engine's port slice per source is enough", () => {
    // 4 engines and 2 sources: dealt by the run's connection index, engines 0 and 2 would hold only the first source.
    for (const [C, E, k] of [
      [1000, 4, 2],
      [1000, 6, 4],
      [999, 3, 3],
      [30, 3, 3],
    ] as const) {
      const total = Array<number>(k).fill(0);
      for (let e = 0; e < E; e++) {
        const mine = Array<number>(k).fill(0);
        for (let i = 0; i < localCount(C, e, E); i++) mine[sourceIndex(i, e, k)]!++;
        expect(Math.max(...mine) - Math.min(...mine), `engine ${e} of ${E}, ${k} sources`).toBeLessThanOrEqual(1);
        mine.forEach((n, s) => (total[s]! += n));
      }
      expect(sum(total)).toBe(C);
      expect(Math.max(...total) - Math.min(...total), `${C} over ${k} sources`).toBeLessThanOrEqual(E);
    }
    // One engine: the connection index modulo the sources, as before processes.
    expect([0, 1, 2, 3, 4].map((i) => sourceIndex(i, 0, 3))).toEqual([0, 1, 2, 0, 1]);
  });

  it("gives the engines of 3 processes exactly what 3 threads get: connections, per-client -n, --rate and an arrival rate", () => {
    const p = normalizeProfile(parseLoadProfile({ connections: 30, requests: 3000, connect_rate: 7 }, { url: "http://127.0.0.1:1/" }));
    const threads = splitTasks({ ...p, workers: 3 }, "127.0.0.1");
    const engines = splitTasks(p, "127.0.0.1", 3);
    expect(engines).toEqual(threads.map((t) => ({ ...t, profile: p })));
    expect(engines.map((t) => [t.requests, t.connectRate])).toEqual([
      [1000, 3],
      [1000, 2],
      [1000, 2],
    ]);
    const open = normalizeProfile(parseLoadProfile({ connections: 10, duration: "1s", arrival_rate: 100 }, { url: "http://127.0.0.1:1/" }));
    expect(splitTasks(open, "127.0.0.1", 3).map((t) => t.arrivalRate)).toEqual([40, 30, 30]);
  });
});

describe("spillway load --processes", () => {
  const counting = startCountingServer();
  let url = "";
  let port = 0;

  beforeAll(async () => {
    await new Promise<void>((r) => counting.server.listen(0, "127.0.0.1", r));
    port = (counting.server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}/`;
  });

  afterAll(async () => {
    for (const s of counting.sessions) s.destroy();
    await new Promise<void>((r) => counting.server.close(() => r()));
  });

  const profile = (input: LoadInput, u = url) => parseLoadProfile(input, { url: u });

  it("-c 30 -n 3000 over 3 processes sends, client by client, what -t 3 in one process sends, with the same totals", async () => {
    const load = ["-c", "30", "-m", "2", "-n", "3000", "--json", "-", "-q"];
    const one = await cli(["load", url, ...load, "--processes", "1"]);
    expect(one.code, one.stderr).toBe(0);
    const single = JSON.parse(one.stdout);
    counting.take();

    const threaded = await cli(["load", url, ...load, "-t", "3", "--processes", "1"]);
    expect(threaded.code, threaded.stderr).toBe(0);
    const threadShares = counting.take().shares;

    const three = await cli(["load", url, ...load, "--processes", "3"]);
    expect(three.code, three.stderr).toBe(0);
    const spread = JSON.parse(three.stdout);
    // h2load's split: 1000 per thread of 10 clients, 100 per client; per-client shares the same whether the 3 engines are threads or processes.
    expect(counting.take().shares).toEqual(threadShares);
    expect(threadShares).toEqual(Array(30).fill(100));

    expect(spread.requests).toEqual(single.requests);
    expect(spread.requests.sent).toBe(3000);
    expect(spread.connections.opened).toBe(single.connections.opened);
    expect(spread.connections.opened).toBe(30);
    expect(spread.connections.maxOpen).toBe(30);
    for (const b of ["a", "b", "c"]) expect(spread.backends[b].count, b).toBe(single.backends[b].count);
    expect(sum(spread.timeline.map((w: { byBackend: Record<string, number> }) => sum(Object.values(w.byBackend))))).toBe(3000);
  });

  it("threads inside processes: -t 4 over 2 processes is 4 engines, per-client -n split as -t 4 splits it", async () => {
    const threads = await cli(["load", url, "-c", "10", "-n", "1000", "-t", "4", "--processes", "1", "-q"]);
    expect(threads.code, threads.stderr).toBe(0);
    const threadShares = counting.take().shares;
    // -t 4 over 10 clients: threads of 3, 3, 2, 2 clients and 250 requests each.
    expect(threadShares).toEqual([83, 83, 83, 83, 84, 84, 125, 125, 125, 125]);
    const log = join(mkdtempSync(join(tmpdir(), "spillway-procs-")), "requests.ndjson");
    const r = await cli(["load", url, "-c", "10", "-n", "1000", "-t", "4", "--processes", "2", "--ndjson", log, "--json", "-", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    expect(counting.take().shares).toEqual(threadShares);
    // Every request's line comes back from the children, once.
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines).toHaveLength(1000);
    rmSync(dirname(log), { recursive: true, force: true });
    expect(JSON.parse(r.stdout).requests.sent).toBe(1000);
  });

  it("--rate is split over the processes' engines as over threads: 3 connections per burst in all", async () => {
    const r = await cli(["load", url, "-c", "6", "-n", "600", "--rate", "3", "--rate-period", "2s", "--processes", "3", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    const { times } = counting.take();
    expect(times).toHaveLength(6);
    const first = Math.min(...times);
    // Each of the 3 engines opens 1 at once and 1 a period later; the processes start some ms apart, far less than the period.
    expect(times.filter((t) => t - first < 1200)).toHaveLength(3);
    expect(times.filter((t) => t - first >= 1600)).toHaveLength(3);
  });

  it("stop() reaches every child: the run ends early with what was sent, and no child is left", async () => {
    const run = startLoad(profile({ connections: 4, duration: "60s" }), { processes: 2 });
    const started = await new Promise<LoadStartInfo>((r) => run.once("start", r));
    expect(started.processes).toBe(2);
    expect(started.pids).toHaveLength(2);
    for (const pid of started.pids) expect(alive(pid)).toBe(true);
    await new Promise<void>((r) => run.on("tick", (t) => t.completed > 50 && r()));
    const t0 = Date.now();
    run.stop();
    const result = await run.done;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(result.requests.sent).toBeGreaterThan(50);
    expect(result.requests.sent).toBe(sum(Object.values(result.backends).map((b) => b.count)) + result.unattributed.total);
    for (const pid of started.pids) expect(alive(pid), `child ${pid}`).toBe(false);
    counting.take();
  });

  it("children that cannot connect stop early as one process does, and none is left", async () => {
    const closed = http2.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const run = startLoad(profile({ connections: 4, duration: "30s", timeout: "1s" }, `http://127.0.0.1:${deadPort}/`), { processes: 2 });
    const started = await new Promise<LoadStartInfo>((r) => run.once("start", r));
    const result = await run.done;
    expect(result.stoppedEarly?.reason).toBe("no-connection");
    expect(result.connections.opened).toBe(0);
    expect(result.connections.failedByCause.refused).toBeGreaterThan(0);
    for (const pid of started.pids) expect(alive(pid)).toBe(false);
  });

  it("a child that dies fails the run with an InfraError naming it, and the others are ended", async () => {
    const run = startLoad(profile({ connections: 4, duration: "60s" }), { processes: 2 });
    const started = await new Promise<LoadStartInfo>((r) => run.once("start", r));
    await new Promise<void>((r) => run.on("tick", (t) => t.completed > 20 && r()));
    process.kill(started.pids[1]!, "SIGKILL");
    const err = await run.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as Error).message).toContain(`load process 2 of 2 (pid ${started.pids[1]}) was killed by SIGKILL before its result`);
    await expect(run.data).rejects.toBe(err);
    for (const pid of started.pids) expect(alive(pid)).toBe(false);
    counting.take();
  });

  it("a guard ends a child that overruns --max-run, by its pid, and fails the run", async () => {
    const run = startLoad(parseLoadProfile({ connections: 2, duration: "60s" }, { url, maxRunMs: 1000 }), { processes: 2 });
    const started = await new Promise<LoadStartInfo>((r) => run.once("start", r));
    // A stopped process answers nothing, as a wedged one would; only SIGKILL ends it.
    process.kill(started.pids[0]!, "SIGSTOP");
    const err = await run.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as Error).message).toContain("load processes did not finish within 11000 ms; ended them");
    for (const pid of started.pids) expect(alive(pid)).toBe(false);
    counting.take();
  }, 30_000);

  it("children stop by themselves when their parent dies", async () => {
    const script = [
      `import { parseLoadProfile, startLoad } from ${JSON.stringify(join(ROOT, "dist", "index.js"))};`,
      `const run = startLoad(parseLoadProfile({ connections: 4, duration: "60s" }, { url: ${JSON.stringify(url)} }), { processes: 2 });`,
      `run.on("start", (s) => console.log(JSON.stringify(s.pids)));`,
    ].join("\n");
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const pids = await new Promise<number[]>((resolve, reject) => {
      parent.stdout.once("data", (d: Buffer) => resolve(JSON.parse(d.toString()) as number[]));
      parent.once("exit", (code) => reject(new Error(`parent exited with ${code} before starting`)));
    });
    expect(pids).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of pids) expect(alive(pid)).toBe(true);
    parent.kill("SIGKILL");
    const deadline = Date.now() + 5000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const pid of pids) expect(alive(pid), `orphaned child ${pid}`).toBe(false);
    counting.take();
  });

  it("spreads connections over 127.0.0.x when one address's ports cannot hold them, evenly over processes and threads", async () => {
    const run = startLoad(profile({ connections: 30, requests: 300, workers: 3 }), { processes: 2, portsPerSource: 10 });
    const started = await new Promise<LoadStartInfo>((r) => run.once("start", r));
    expect(started.sourcesChosen).toBe(true);
    expect(started.sourceAddresses).toEqual(["127.0.0.1", "127.0.0.2", "127.0.0.3"]);
    const result = await run.done;
    expect(result.requests.succeeded).toBe(300);
    expect(counting.take().sources).toEqual({ "127.0.0.1": 10, "127.0.0.2": 10, "127.0.0.3": 10 });

    const cliRun = await cli(["load", url, "-c", "20", "-n", "200"]);
    expect(cliRun.code, cliRun.stderr).toBe(0);
    expect(cliRun.stdout).not.toContain("source addresses");
    expect(Object.keys(counting.take().sources)).toEqual(["127.0.0.1"]);
  });

  it("under a low open-file limit, chooses the processes itself: 600 connections with ulimit -n 400 run in 2, each under its own limit", async () => {
    // 400 descriptors less 64 hold 336 connections a process: 600 need 2. Both limits: Node raises its soft limit to the hard one at start.
    const limited = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const quoted = [process.execPath, join(ROOT, "bin", "spillway.js"), ...args].map((a) => `'${a}'`).join(" ");
        const child = spawn("bash", ["-c", `ulimit -n 400 && exec ${quoted}`], { stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("exit", (code) => resolve({ code, stdout, stderr }));
      });
    const r = await limited(["load", url, "-c", "600", "-n", "1200"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("2 driver processes");
    expect(r.stdout).toContain("connections: 600 opened");
    expect(r.stdout).toContain("requests: 1200 total, 1200 started, 1200 done, 1200 succeeded");
    expect(counting.take().shares).toEqual(Array(600).fill(2));
    const one = await limited(["load", url, "-c", "600", "-n", "1200", "--processes", "1"]);
    expect(one.code).toBe(1);
    expect(one.stderr).toContain("with --processes 1, one process holds 600 of the -c 600 connections: more file descriptors than a process may open (limit 400 each, 64 of them kept for other files)");
    expect(one.stderr).toContain("Give --processes 2 or more");
  });

  it("refuses ::1 when its ports cannot hold the connections, and bad --processes values, with exit 1 and what to do", async () => {
    const v6 = startLoad(profile({ connections: 30, requests: 300 }, `http://[::1]:${port}/`), { portsPerSource: 10 });
    const err = await v6.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain("30 connections to ::1 need 3 source addresses of 10 ephemeral ports each");
    expect((err as UsageError).hint).toContain("http://127.0.0.1:PORT/");

    const cases: [string[], string, string][] = [
      [["--processes", "0"], '--processes "0" must be a whole number from 1 to 64', "Give --processes N"],
      [["--processes", "65"], '--processes "65" must be a whole number from 1 to 64', "leave it out"],
      [["--processes", "two"], '--processes "two" must be a whole number from 1 to 64', "Give --processes N"],
      [["-c", "3", "--processes", "4"], "--processes 4 is more than the 3 connections", "at most --processes 3"],
      [["-c", "30000", "-n", "30000", "--processes", "1"], "with --processes 1, one process holds 30000 of the -c 30000 connections", "Give --processes 2 or more"],
      [["-c", "6", "-n", "60", "--rate", "2", "--processes", "3"], "--rate 2 is less than the 3 engines of 3 processes", "give --rate at least 3"],
    ];
    for (const [args, message, hint] of cases) {
      const r = await cli(["load", url, "-n", "100", ...args]);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toContain(message);
      expect(r.stderr, args.join(" ")).toContain(hint);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
