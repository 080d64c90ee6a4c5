/**
 * Runs a load profile: validates it, refuses non-loopback targets, runs one
 * engine in this thread, one per worker thread, or groups of them in child
 * processes when one process's open files cannot hold the connections,
 * merges their data and re-emits progress as `start`, `tick` and `done`
 * events.
 */
import { fork, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import { InfraError, UsageError } from "../errors.js";
import { openFileLimit } from "../runtime/limits.js";
import { Engine, localCount, type EngineOptions, type TickInfo } from "./engine.js";
import { localPortRange, type PortRange } from "./ports.js";
import { connectionsPerProcess, engineCount, fewestProcesses, h2loadSplit, MAX_PROCESSES, processEngines } from "./processes.js";
import { chooseSources, portsPerSource } from "./sources.js";
import { normalizeProfile, resolveLoopback, type LoadProfile, type NormalizedProfile } from "./profile.js";
import { mergeRunData, toLoadResult, type LoadResult, type RunData } from "./result.js";
import { compiledScript } from "./scripts.js";

/** How to lay a run out on this machine, beside the profile (what to load): not a spec key, since it is the machine's business. */
export interface LoadOptions {
  /** Driver processes, 1..64; default: the fewest whose open-file limits hold the connections (1 for most runs). */
  processes?: number;
  /**
   * Connections one source address may hold to the target, in place of
   * 90% of ip_local_port_range: lets a test see the addresses spread
   * without opening tens of thousands of sockets.
   */
  portsPerSource?: number;
  /**
   * The local ports a large run binds (ports.ts), in place of
   * ip_local_port_range: lets a test see the driver's choice in a band the
   * kernel's would not keep to.
   */
  localPorts?: PortRange;
}

export interface LoadStartInfo {
  url: string;
  protocol: string;
  connections: number;
  streams: number;
  workers: number;
  /** Driver processes: 1 runs in this one. */
  processes: number;
  /** The child processes' pids (empty when the run is in this process): they end with the run. */
  pids: number[];
  /** The source addresses connections are spread over (empty: the kernel's choice). */
  sourceAddresses: string[];
  /** Whether spillway chose those addresses because one address's ephemeral ports cannot hold the connections. */
  sourcesChosen: boolean;
}

export interface LoadRunEvents {
  start: [LoadStartInfo];
  tick: [TickInfo];
  done: [LoadResult];
}

/** A running load: subscribe to `start`, `tick` (about every 250 ms) and `done`. */
export interface LoadRun extends EventEmitter<LoadRunEvents> {
  /** Resolves with the result; rejects with a UsageError (bad profile, non-loopback URL) or an InfraError. */
  readonly done: Promise<LoadResult>;
  /** The mergeable data behind `done`'s result, for a caller that merges it with other runs' (`spillway merge`). */
  readonly data: Promise<RunData>;
  /** Graceful stop: no new requests, in-flight ones finish (bounded by timeoutMs). */
  stop(): void;
}

/** What a worker thread needs to run its share: the engine's options less the log sink; plain data. */
export type WorkerTask = Omit<EngineOptions, "ndjson">;

/** What a worker thread or a driver child process sends its parent. */
export type WorkerMessage =
  | { type: "tick"; info: TickInfo }
  | { type: "ndjson"; lines: string[] }
  | { type: "done"; data: RunData }
  | { type: "error"; message: string };

export { h2loadSplit };

/**
 * Splits a run over workers. Connections are dealt round-robin, so worker w
 * holds C / W of them, the first C % W one more: h2load's split of -c over
 * threads. The connect rate and a per-client request count are split the
 * same way (h2load's -r and -n); a pooled budget and an arrival rate in
 * proportion to the connections each worker holds.
 */
export function splitTasks(profile: NormalizedProfile, address: string, engines = profile.workers): WorkerTask[] {
  const W = engines;
  const C = profile.connections;
  const counts = Array.from({ length: W }, (_, w) => localCount(C, w, W));
  let requests: (number | null)[] = counts.map(() => null);
  if (profile.requests !== null && profile.budget === "per-client") {
    requests = counts.map((_, w) => h2loadSplit(profile.requests!, w, W));
  } else if (profile.requests !== null) {
    const n = profile.requests;
    const base = counts.map((c) => Math.floor((n * c) / C));
    let rest = n - base.reduce((a, b) => a + b, 0);
    for (let w = 0; rest > 0; w = (w + 1) % W, rest--) base[w]!++;
    requests = base;
  }
  return counts.map((c, w) => ({
    profile,
    address,
    workerIndex: w,
    workerCount: W,
    requests: requests[w] ?? null,
    arrivalRate: profile.arrivalRate !== null ? (profile.arrivalRate * c) / C : null,
    connectRate: profile.connectRate !== null ? h2loadSplit(profile.connectRate, w, W) : null,
  }));
}


const idleTick = (): TickInfo => ({ elapsedMs: 0, measuring: false, sent: 0, completed: 0, succeeded: 0, unattributed: 0, openConnections: 0, byBackend: {} });

export function mergeTicks(ticks: readonly TickInfo[]): TickInfo {
  const out: TickInfo = { ...idleTick(), measuring: true };
  for (const t of ticks) {
    out.elapsedMs = Math.max(out.elapsedMs, t.elapsedMs);
    out.measuring &&= t.measuring;
    out.sent += t.sent;
    out.completed += t.completed;
    out.succeeded += t.succeeded;
    out.unattributed += t.unattributed;
    out.openConnections += t.openConnections;
    for (const [k, v] of Object.entries(t.byBackend)) out.byBackend[k] = (out.byBackend[k] ?? 0) + v;
  }
  return out;
}

/** Engines under way in this process or others: their merged data when all have ended, and a graceful stop for all. */
export interface RunningEngines {
  readonly data: Promise<RunData>;
  stop(): void;
}

/** Progress ticks merged from several sources, at most one every 200 ms, and the last one always. */
function tickMerger(n: number, tick: (t: TickInfo) => void): { set(i: number, t: TickInfo): void; flush(): void } {
  const ticks = Array.from({ length: n }, idleTick);
  let last = 0;
  return {
    set(i, t) {
      ticks[i] = t;
      const now = Date.now();
      if (now - last >= 200) {
        last = now;
        tick(mergeTicks(ticks));
      }
    },
    flush: () => tick(mergeTicks(ticks)),
  };
}

/** Runs tasks in this process: one engine in this thread, or one worker thread each. */
export function runTasks(tasks: readonly WorkerTask[], tick: (t: TickInfo) => void, ndjson: ((line: string) => void) | null): RunningEngines {
  if (tasks.length === 1) {
    const engine = new Engine({ ...tasks[0]!, ndjson });
    engine.on("tick", tick);
    return { data: engine.run(), stop: () => engine.stop() };
  }
  return runWorkers(tasks, tick, ndjson);
}

function runWorkers(tasks: readonly WorkerTask[], tick: (t: TickInfo) => void, ndjson: ((line: string) => void) | null): RunningEngines {
  const script = compiledScript("worker");
  const profile = tasks[0]!.profile;
  const workers = tasks.map((task) => new Worker(script, { workerData: task }));
  const data = new Promise<RunData>((resolve, reject) => {
    const results: (RunData | null)[] = tasks.map(() => null);
    const ticks = tickMerger(tasks.length, tick);
    let failed: Error | null = null;
    let exited = 0;
    // Workers stop by themselves at maxRunMs; this only guards against a wedged thread.
    const guard = setTimeout(() => {
      failed ??= new InfraError(`load workers did not finish within ${profile.maxRunMs + 10_000} ms`, "lower the load or the duration");
      for (const w of workers) void w.terminate();
    }, profile.maxRunMs + 10_000);
    workers.forEach((w, i) => {
      w.on("message", (m: WorkerMessage) => {
        if (m.type === "tick") ticks.set(i, m.info);
        else if (m.type === "ndjson") {
          if (ndjson) for (const l of m.lines) ndjson(l);
        } else if (m.type === "done") results[i] = m.data;
        else if (m.type === "error") failed ??= new InfraError(`load worker ${i} failed: ${m.message}`);
      });
      w.on("error", (e) => {
        failed ??= new InfraError(`load worker ${i} failed: ${e.message}`);
      });
      w.on("exit", () => {
        exited++;
        if (exited < workers.length) return;
        clearTimeout(guard);
        const missing = results.findIndex((r) => r === null);
        if (failed) reject(failed);
        else if (missing >= 0) reject(new InfraError(`load worker ${missing} exited without a result`));
        else {
          ticks.flush();
          resolve(mergeRunData(results as RunData[]));
        }
      });
    });
  });
  return { data, stop: () => workers.forEach((w) => w.postMessage({ type: "stop" })) };
}

/** What the parent sends a driver child process (child.ts). */
export type ChildCommand = { type: "run"; tasks: WorkerTask[] } | { type: "stop" };

/** Bytes of a child's stderr kept to explain its failure. */
const STDERR_TAIL = 2000;

/**
 * Runs each group of tasks in a child process of its own (child.ts), which
 * runs them as this process would (runTasks). Every child ends with the
 * run: a failed child ends the others, and a guard ends all that overrun
 * maxRunMs, each by its pid; a child whose parent dies stops by itself.
 */
function runChildren(groups: readonly WorkerTask[][], tick: (t: TickInfo) => void, ndjson: ((line: string) => void) | null): RunningEngines & { pids: number[] } {
  const script = compiledScript("child");
  const profile = groups[0]![0]!.profile;
  const n = groups.length;
  const children: ChildProcess[] = groups.map(() =>
    // Not the parent's execArgv: a test runner's loader flags are not the compiled child's business.
    fork(script, [], { execArgv: [], serialization: "advanced", stdio: ["ignore", "ignore", "pipe", "ipc"] }),
  );
  const pids = children.map((c) => c.pid ?? -1);
  const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
  const data = new Promise<RunData>((resolve, reject) => {
    const results: (RunData | null)[] = groups.map(() => null);
    const stderr = groups.map(() => "");
    const ticks = tickMerger(n, tick);
    let failed: Error | null = null;
    let closed = 0;
    const name = (i: number) => `load process ${i + 1} of ${n} (pid ${pids[i]})`;
    const fail = (err: Error) => {
      if (failed) return;
      failed = err;
      for (const c of children) if (alive(c)) c.kill("SIGKILL");
    };
    const guard = setTimeout(() => {
      fail(new InfraError(`load processes did not finish within ${profile.maxRunMs + 10_000} ms; ended them`, "lower the load or the duration"));
    }, profile.maxRunMs + 10_000);
    children.forEach((c, i) => {
      c.stderr!.setEncoding("utf8");
      c.stderr!.on("data", (d: string) => {
        stderr[i] = (stderr[i] + d).slice(-STDERR_TAIL);
      });
      c.on("message", (m: WorkerMessage) => {
        if (m.type === "tick") ticks.set(i, m.info);
        else if (m.type === "ndjson") {
          if (ndjson) for (const l of m.lines) ndjson(l);
        } else if (m.type === "done") results[i] = m.data;
        else if (m.type === "error") fail(new InfraError(`${name(i)} failed: ${m.message}`, "the other load processes were ended; fix the cause and run again"));
      });
      c.on("error", (e) => {
        fail(new InfraError(`${name(i)} failed: ${e.message}`));
      });
      c.on("close", (code, signal) => {
        closed++;
        if (results[i] === null) {
          const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
          const said = stderr[i]!.trim();
          fail(new InfraError(`${name(i)} ${how} before its result${said ? `; its stderr ended with:\n${said}` : ""}`, "the other load processes were ended; run again, with fewer connections if memory ran out"));
        }
        if (closed < n) return;
        clearTimeout(guard);
        if (failed) reject(failed);
        else {
          ticks.flush();
          resolve(mergeRunData(results as RunData[]));
        }
      });
      const run: ChildCommand = { type: "run", tasks: groups[i]! };
      c.send(run);
    });
  });
  return {
    data,
    pids,
    stop: () => {
      const stop: ChildCommand = { type: "stop" };
      for (const c of children) if (c.connected) c.send(stop);
    },
  };
}

/** A run laid out on this machine: its profile, where it sends, and over how many processes and engines. */
interface Layout {
  profile: NormalizedProfile;
  address: string;
  processes: number;
  engines: number;
  sourcesChosen: boolean;
}

/**
 * Checks the options against the profile and this machine, and lays the run
 * out: processes enough for the open-file limit, source addresses enough
 * for the ephemeral ports. UsageError (exit 1) when it cannot run here.
 */
async function layout(input: LoadProfile, options: LoadOptions): Promise<Layout> {
  const given = options.processes;
  if (given !== undefined && (!Number.isInteger(given) || given < 1 || given > MAX_PROCESSES)) {
    throw new UsageError(`--processes ${given} is not a whole number from 1 to ${MAX_PROCESSES}`, "give --processes N with 1 <= N <= 64, or leave it out to use the fewest processes that hold the connections");
  }
  const ports = options.portsPerSource;
  if (ports !== undefined && (!Number.isInteger(ports) || ports < 1)) throw new UsageError(`portsPerSource ${ports} is not a whole number of at least 1`);
  let profile = normalizeProfile(input, { processes: given ?? null });
  const address = await resolveLoopback(profile.host);
  for (const a of profile.sourceAddresses) await resolveLoopback(a);
  const C = profile.connections;
  const processes = given ?? fewestProcesses(C, profile.workers, connectionsPerProcess(openFileLimit().soft)) ?? 1;
  if (processes > C) {
    throw new UsageError(`--processes ${processes} is more than the ${C} connection${C === 1 ? "" : "s"}: some processes would hold none`, `give at most --processes ${C}`);
  }
  const engines = engineCount(profile.workers, processes);
  if (processes > 1 && profile.connectRate !== null && profile.connectRate < engines) {
    throw new UsageError(
      `--rate ${profile.connectRate} is less than the ${engines} engines of ${processes} processes: each opens its own share of every burst, as h2load's threads do, so some would never connect`,
      given !== undefined ? `give --rate at least ${engines}, or fewer --processes` : `give --rate at least ${engines}: the connections need ${processes} processes for their open files`,
    );
  }
  let sourcesChosen = false;
  if (profile.sourceAddresses.length === 0) {
    const choice = chooseSources(C, address, ports ?? portsPerSource(localPortRange()));
    if (choice.kind === "no-fit") {
      throw new UsageError(
        `${C} connections to ${address} need ${choice.need} source addresses of ${choice.ports} ephemeral ports each (90% of net.ipv4.ip_local_port_range), but ::1 is IPv6's one loopback address, so there is no second source to spread them over`,
        `send to an IPv4 loopback URL such as http://127.0.0.1:PORT/, where spillway spreads connections over 127.0.0.x; or lower -c to ${choice.ports}; or widen net.ipv4.ip_local_port_range`,
      );
    }
    if (choice.kind === "spread") {
      profile = { ...profile, sourceAddresses: choice.addresses };
      sourcesChosen = true;
    }
  }
  return { profile, address, processes, engines, sourcesChosen };
}

class Run extends EventEmitter<LoadRunEvents> implements LoadRun {
  readonly done: Promise<LoadResult>;
  readonly data: Promise<RunData>;
  private resolveData: (d: RunData) => void = () => undefined;
  private stopRequested = false;
  private stopFn: (() => void) | null = null;

  constructor(profile: LoadProfile, options: LoadOptions) {
    super();
    let rejectData: (err: unknown) => void = () => undefined;
    this.data = new Promise<RunData>((resolve, reject) => {
      this.resolveData = resolve;
      rejectData = reject;
    });
    this.done = this.execute(profile, options);
    // A run that fails has no data either: `data` rejects with `done`'s reason instead of never settling.
    this.done.catch(rejectData);
    // The caller may only listen to events; an unobserved rejection must not crash the process.
    this.done.catch(() => undefined);
    this.data.catch(() => undefined);
  }

  stop(): void {
    this.stopRequested = true;
    this.stopFn?.();
  }

  private async execute(input: LoadProfile, options: LoadOptions): Promise<LoadResult> {
    const { profile, address, processes, engines, sourcesChosen } = await layout(input, options);
    const localPorts = options.localPorts ?? null;
    const tasks = splitTasks(profile, address, engines).map((t) => ({ ...t, localPorts }));
    // Let the caller attach listeners before the first event.
    await new Promise<void>((r) => setImmediate(r));
    const tick = (t: TickInfo) => this.emit("tick", t);
    const ndjson = input.ndjson ?? null;
    const running =
      processes === 1 ? { ...runTasks(tasks, tick, ndjson), pids: [] } : runChildren(processEngines(engines, processes).map((ids) => ids.map((e) => tasks[e]!)), tick, ndjson);
    this.stopFn = () => running.stop();
    if (this.stopRequested) running.stop();
    this.emit("start", {
      url: profile.url,
      protocol: profile.protocol,
      connections: profile.connections,
      streams: profile.streams,
      workers: profile.workers,
      processes,
      pids: running.pids,
      sourceAddresses: [...profile.sourceAddresses],
      sourcesChosen,
    });
    const data = await running.data;
    this.resolveData(data);
    const result = toLoadResult(data);
    this.emit("done", result);
    return result;
  }
}

/** Starts a run and returns it at once; events follow, the result arrives on `done`. */
export function startLoad(profile: LoadProfile, options: LoadOptions = {}): LoadRun {
  return new Run(profile, options);
}

/** Runs a profile to the end. */
export function runLoad(profile: LoadProfile, options: LoadOptions = {}): Promise<LoadResult> {
  return startLoad(profile, options).done;
}
