/**
 * Worker-thread entry: runs one engine on its share of the connections and
 * posts ticks, NDJSON lines and its run data back to the parent.
 * @internal
 */
import { parentPort, workerData } from "node:worker_threads";
import { Engine } from "./engine.js";
import type { WorkerMessage, WorkerTask } from "./run.js";

const port = parentPort;
if (port === null) throw new Error("load worker started outside a worker thread");
const task = workerData as WorkerTask;
const post = (m: WorkerMessage): void => port.postMessage(m);

let lines: string[] = [];
const flushLines = (): void => {
  if (lines.length > 0) {
    post({ type: "ndjson", lines });
    lines = [];
  }
};
const engine = new Engine({
  ...task,
  ndjson: task.profile.ndjson
    ? (l: string) => {
        lines.push(l);
        if (lines.length >= 1000) flushLines();
      }
    : null,
});
engine.on("tick", (info) => {
  flushLines();
  post({ type: "tick", info });
});
port.on("message", (m: { type: string }) => {
  if (m.type === "stop") engine.stop();
});
engine
  .run()
  .then((data) => {
    flushLines();
    post({ type: "done", data });
    port.close();
  })
  .catch((e: unknown) => {
    post({ type: "error", message: e instanceof Error ? e.message : String(e) });
    port.close();
  });
