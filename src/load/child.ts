/**
 * Driver child process entry: runs its group of engines as a process runs
 * them (runTasks: one in its main thread, more in worker threads) under its
 * own open-file limit, and sends ticks, NDJSON lines and its merged run data
 * to the parent over IPC. When the parent is gone (the IPC channel closes),
 * nobody can take its result, so it exits at once instead of loading on.
 * @internal
 */
import { runTasks, type ChildCommand, type RunningEngines, type WorkerMessage } from "./run.js";

const send = process.send?.bind(process);
if (send === undefined) throw new Error("load child started without an IPC channel to its parent");
const post = (m: WorkerMessage, then?: () => void): void => {
  if (process.connected) send(m, undefined, {}, () => then?.());
};

let lines: string[] = [];
const flushLines = (): void => {
  if (lines.length > 0) {
    post({ type: "ndjson", lines });
    lines = [];
  }
};

let running: RunningEngines | null = null;

process.on("disconnect", () => process.exit(running === null ? 1 : 0));

process.on("message", (m: ChildCommand) => {
  if (m.type === "stop") {
    running?.stop();
    return;
  }
  if (running !== null) return;
  const logs = m.tasks[0]?.profile.ndjson === true;
  try {
    running = runTasks(
      m.tasks,
      (info) => {
        flushLines();
        post({ type: "tick", info });
      },
      logs
        ? (l: string) => {
            lines.push(l);
            if (lines.length >= 1000) flushLines();
          }
        : null,
    );
  } catch (e) {
    post({ type: "error", message: e instanceof Error ? e.message : String(e) }, () => process.disconnect());
    return;
  }
  running.data.then(
    (data) => {
      flushLines();
      post({ type: "done", data }, () => process.disconnect());
    },
    (e: unknown) => post({ type: "error", message: e instanceof Error ? e.message : String(e) }, () => process.disconnect()),
  );
});
