/**
 * Runs a load profile: validates it, refuses non-loopback targets, runs one
 * engine in this thread or one per worker thread, merges the workers' data
 * and re-emits progress as `start`, `tick` and `done` events.
 */
import { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { InfraError } from "../errors.js";
import { Engine, localCount, type EngineOptions, type TickInfo } from "./engine.js";
import { normalizeProfile, resolveLoopback, type LoadProfile, type NormalizedProfile } from "./profile.js";
import { mergeRunData, toLoadResult, type LoadResult, type RunData } from "./result.js";

export interface LoadStartInfo {
  url: string;
  protocol: string;
  connections: number;
  streams: number;
  workers: number;
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

export type WorkerMessage =
  | { type: "tick"; info: TickInfo }
  | { type: "ndjson"; lines: string[] }
  | { type: "done"; data: RunData }
  | { type: "error"; message: string };

/** h2load's split of a count over threads: n / t each, the first n % t threads one more. */
export function h2loadSplit(n: number, w: number, W: number): number {
  return Math.floor(n / W) + (w < n % W ? 1 : 0);
}

/**
 * Splits a run over workers. Connections are dealt round-robin, so worker w
 * holds C / W of them, the first C % W one more: h2load's split of -c over
 * threads. The connect rate and a per-client request count are split the
 * same way (h2load's -r and -n); a pooled budget and an arrival rate in
 * proportion to the connections each worker holds.
 */
export function splitTasks(profile: NormalizedProfile, address: string): WorkerTask[] {
  const W = profile.workers;
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

function workerScript(): string {
  const here = new URL(import.meta.url);
  // Under a TypeScript runner (tests) this module is a .ts file; workers run the compiled JavaScript.
  const url = here.pathname.endsWith(".ts") ? new URL("../../dist/load/worker.js", here) : new URL("./worker.js", here);
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    throw new InfraError(`worker script ${path} is missing`, "build the project first (npx tsc -p tsconfig.json)");
  }
  return path;
}

function mergeTicks(ticks: readonly TickInfo[]): TickInfo {
  const out: TickInfo = { elapsedMs: 0, measuring: true, sent: 0, completed: 0, succeeded: 0, unattributed: 0, openConnections: 0, byBackend: {} };
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

class Run extends EventEmitter<LoadRunEvents> implements LoadRun {
  readonly done: Promise<LoadResult>;
  readonly data: Promise<RunData>;
  private resolveData: (d: RunData) => void = () => undefined;
  private stopRequested = false;
  private stopFn: (() => void) | null = null;

  constructor(profile: LoadProfile) {
    super();
    let rejectData: (err: unknown) => void = () => undefined;
    this.data = new Promise<RunData>((resolve, reject) => {
      this.resolveData = resolve;
      rejectData = reject;
    });
    this.done = this.execute(profile);
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

  private async execute(input: LoadProfile): Promise<LoadResult> {
    const profile = normalizeProfile(input);
    const address = await resolveLoopback(profile.host);
    for (const a of profile.sourceAddresses) await resolveLoopback(a);
    const tasks = splitTasks(profile, address);
    // Let the caller attach listeners before the first event.
    await new Promise<void>((r) => setImmediate(r));
    this.emit("start", { url: profile.url, protocol: profile.protocol, connections: profile.connections, streams: profile.streams, workers: profile.workers });
    const data = tasks.length === 1 ? await this.runHere(tasks[0]!, input.ndjson ?? null) : await this.runWorkers(tasks, input.ndjson ?? null);
    this.resolveData(data);
    const result = toLoadResult(data);
    this.emit("done", result);
    return result;
  }

  private runHere(task: WorkerTask, ndjson: ((line: string) => void) | null): Promise<RunData> {
    const engine = new Engine({ ...task, ndjson });
    engine.on("tick", (t: TickInfo) => this.emit("tick", t));
    this.stopFn = () => engine.stop();
    const done = engine.run();
    if (this.stopRequested) engine.stop();
    return done;
  }

  private runWorkers(tasks: WorkerTask[], ndjson: ((line: string) => void) | null): Promise<RunData> {
    const script = workerScript();
    const profile = tasks[0]!.profile;
    return new Promise<RunData>((resolve, reject) => {
      const results: (RunData | null)[] = tasks.map(() => null);
      const ticks: TickInfo[] = tasks.map(() => ({ elapsedMs: 0, measuring: false, sent: 0, completed: 0, succeeded: 0, unattributed: 0, openConnections: 0, byBackend: {} }));
      let lastTick = 0;
      let failed: Error | null = null;
      let exited = 0;
      const workers = tasks.map((task) => new Worker(script, { workerData: task }));
      // Workers stop by themselves at maxRunMs; this only guards against a wedged thread.
      const guard = setTimeout(() => {
        failed ??= new InfraError(`load workers did not finish within ${profile.maxRunMs + 10_000} ms`, "lower the load or the duration");
        for (const w of workers) void w.terminate();
      }, profile.maxRunMs + 10_000);
      this.stopFn = () => {
        for (const w of workers) w.postMessage({ type: "stop" });
      };
      if (this.stopRequested) this.stopFn();
      workers.forEach((w, i) => {
        w.on("message", (m: WorkerMessage) => {
          if (m.type === "tick") {
            ticks[i] = m.info;
            const now = Date.now();
            if (now - lastTick >= 200) {
              lastTick = now;
              this.emit("tick", mergeTicks(ticks));
            }
          } else if (m.type === "ndjson") {
            if (ndjson) for (const l of m.lines) ndjson(l);
          } else if (m.type === "done") {
            results[i] = m.data;
          } else if (m.type === "error") {
            failed ??= new InfraError(`load worker ${i} failed: ${m.message}`);
          }
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
            this.emit("tick", mergeTicks(ticks));
            resolve(mergeRunData(results as RunData[]));
          }
        });
      });
    });
  }
}

/** Starts a run and returns it at once; events follow, the result arrives on `done`. */
export function startLoad(profile: LoadProfile): LoadRun {
  return new Run(profile);
}

/** Runs a profile to the end. */
export function runLoad(profile: LoadProfile): Promise<LoadResult> {
  return startLoad(profile).done;
}
