/**
 * WebSocket sessions spread over driver child processes (child.ts), whole
 * rooms to each, when one process's open-file limit cannot hold them (or
 * `processes` asks for more). Each child runs its share as one process
 * would; the parent merges their ticks and run data (mergeWsRunData) into
 * the one run a caller sees. Every child ends with the run: a failed child
 * ends the others, a guard ends all that overrun the run's bound, each by
 * its pid, and a child whose parent dies stops by itself.
 * @internal
 */
import { fork, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { InfraError, UsageError } from "../../errors.js";
import { compiledScript } from "../scripts.js";
import { mergeWsRunData, toWsResult, type WsResult, type WsRunData } from "./data.js";
import { wsMaxRunMs, type WsSessionOptions, type WsShare } from "./options.js";
import type { WsRun, WsRunEvents, WsStartInfo, WsTickInfo } from "./types.js";

/** What the parent sends a child. */
export type WsChildCommand = { type: "run"; options: WsSessionOptions; share: WsShare } | { type: "stop" };

/** What a child sends its parent. */
export type WsChildMessage =
  | { type: "start"; info: WsStartInfo }
  | { type: "tick"; info: WsTickInfo }
  | { type: "done"; data: WsRunData }
  | { type: "error"; message: string; usage: boolean };

const STDERR_TAIL = 2000;

/** The ticks of every process as one: counts add, the elapsed time is the longest. */
export function mergeWsTicks(ticks: readonly WsTickInfo[]): WsTickInfo {
  const out: WsTickInfo = { elapsedMs: 0, open: 0, opened: 0, failed: 0, sent: 0, received: 0, expected: 0, delivered: 0 };
  for (const t of ticks) {
    out.elapsedMs = Math.max(out.elapsedMs, t.elapsedMs);
    out.open += t.open;
    out.opened += t.opened;
    out.failed += t.failed;
    out.sent += t.sent;
    out.received += t.received;
    out.expected += t.expected;
    out.delivered += t.delivered;
  }
  return out;
}

/**
 * A run's result from its data, emitted as `done` on the run; a caller may
 * await only one of the two, so neither surfaces as an unhandled rejection.
 */
export function resultOf(run: EventEmitter<WsRunEvents>, data: Promise<WsRunData>): Promise<WsResult> {
  const done = data.then((d) => toWsResult(d));
  data.catch(() => {});
  done.then(
    (r) => run.emit("done", r),
    () => {},
  );
  return done;
}

export class WsProcessesRun extends EventEmitter<WsRunEvents> implements WsRun {
  readonly done: Promise<WsResult>;
  readonly data: Promise<WsRunData>;
  /** The child processes' pids: they end with the run. */
  readonly pids: number[] = [];
  private readonly children: ChildProcess[] = [];

  /** `count` processes, or a refusal (a room no process can hold) that rejects the run at once. */
  constructor(options: WsSessionOptions, count: number | UsageError) {
    super();
    this.data = count instanceof UsageError ? Promise.reject(count) : this.spawn(options, count);
    this.done = resultOf(this, this.data);
  }

  stop(): void {
    const stop: WsChildCommand = { type: "stop" };
    for (const c of this.children) if (c.connected) c.send(stop);
  }

  private spawn(options: WsSessionOptions, n: number): Promise<WsRunData> {
    const script = compiledScript("ws/child");
    for (let i = 0; i < n; i++) {
      // Not the parent's execArgv: a test runner's loader flags are not the compiled child's business.
      const c = fork(script, [], { execArgv: [], serialization: "advanced", stdio: ["ignore", "ignore", "pipe", "ipc"] });
      this.children.push(c);
      this.pids.push(c.pid ?? -1);
    }
    const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
    const boundMs = wsMaxRunMs(options) + 10_000;
    return new Promise<WsRunData>((resolve, reject) => {
      const results: (WsRunData | null)[] = this.children.map(() => null);
      const starts: (WsStartInfo | null)[] = this.children.map(() => null);
      const ticks: WsTickInfo[] = this.children.map(() => ({ elapsedMs: 0, open: 0, opened: 0, failed: 0, sent: 0, received: 0, expected: 0, delivered: 0 }));
      const stderr = this.children.map(() => "");
      let failed: Error | null = null;
      let closed = 0;
      const name = (i: number) => `WebSocket load process ${i + 1} of ${n} (pid ${this.pids[i]})`;
      const fail = (err: Error) => {
        if (failed) return;
        failed = err;
        for (const c of this.children) if (alive(c)) c.kill("SIGKILL");
      };
      const guard = setTimeout(() => fail(new InfraError(`WebSocket load processes did not finish within ${boundMs} ms; ended them`, "lower the sessions or their length")), boundMs);
      this.children.forEach((c, i) => {
        c.stderr!.setEncoding("utf8");
        c.stderr!.on("data", (d: string) => {
          stderr[i] = (stderr[i] + d).slice(-STDERR_TAIL);
        });
        c.on("message", (m: WsChildMessage) => {
          if (m.type === "tick") {
            ticks[i] = m.info;
            this.emit("tick", mergeWsTicks(ticks));
          } else if (m.type === "start") {
            starts[i] = m.info;
            if (starts.every((s) => s !== null)) {
              const all = starts as WsStartInfo[];
              this.emit("start", { url: all[0]!.url, sessions: all.reduce((a, s) => a + s.sessions, 0), connections: all[0]!.connections, rooms: all.flatMap((s) => s.rooms), share: { index: 0, count: 1 } });
            }
          } else if (m.type === "done") results[i] = m.data;
          else if (m.type === "error") fail(m.usage ? new UsageError(m.message) : new InfraError(`${name(i)} failed: ${m.message}`, "the other WebSocket load processes were ended; fix the cause and run again"));
        });
        c.on("error", (e) => fail(new InfraError(`${name(i)} failed: ${e.message}`)));
        c.on("close", (code, signal) => {
          closed++;
          if (results[i] === null) {
            const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
            const said = stderr[i]!.trim();
            fail(new InfraError(`${name(i)} ${how} before its result${said ? `; its stderr ended with:\n${said}` : ""}`, "the other WebSocket load processes were ended; run again, with fewer sessions if memory ran out"));
          }
          if (closed < n) return;
          clearTimeout(guard);
          if (failed) reject(failed);
          else {
            this.emit("tick", mergeWsTicks(ticks));
            resolve(mergeWsRunData(results as WsRunData[]));
          }
        });
        const run: WsChildCommand = { type: "run", options, share: { index: i, count: n } };
        c.send(run);
      });
    });
  }
}
