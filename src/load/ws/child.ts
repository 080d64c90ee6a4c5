/**
 * WebSocket driver child process entry: runs its share of a run's sessions
 * (whole rooms) under its own open-file limit, and sends its start, ticks
 * and run data to the parent over IPC. When the parent is gone (the IPC
 * channel closes), nobody can take its result, so it exits at once.
 * @internal
 */
import { UsageError } from "../../errors.js";
import { startWsSessions, type WsRun } from "./run.js";
import type { WsChildCommand, WsChildMessage } from "./processes.js";

const send = process.send?.bind(process);
if (send === undefined) throw new Error("WebSocket load child started without an IPC channel to its parent");
const post = (m: WsChildMessage, then?: () => void): void => {
  if (process.connected) send(m, undefined, {}, () => then?.());
};

let run: WsRun | null = null;

process.on("disconnect", () => process.exit(run === null ? 1 : 0));

process.on("message", (m: WsChildCommand) => {
  if (m.type === "stop") {
    run?.stop();
    return;
  }
  if (run !== null) return;
  run = startWsSessions({ ...m.options, share: m.share, processes: 1 });
  run.on("start", (info) => post({ type: "start", info }));
  run.on("tick", (info) => post({ type: "tick", info }));
  run.data.then(
    (data) => post({ type: "done", data }, () => process.disconnect()),
    (e: unknown) => post({ type: "error", message: e instanceof Error ? e.message : String(e), usage: e instanceof UsageError }, () => process.disconnect()),
  );
});
