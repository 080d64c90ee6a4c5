import type { LoadRun } from "../load/index.js";
import type { WsRun, WsTickInfo } from "../load/ws/index.js";
import { formatElapsed } from "../spec/duration.js";

/**
 * Draws one progress line on a terminal from a load's `tick` events; in CI
 * (no TTY) it prints nothing, and the caller prints plain lines instead.
 */
export function attachProgress(run: LoadRun, label: string, total: number | null, write: (t: string) => void): void {
  const width = 24;
  run.on("tick", (t) => {
    // Every request ends once: served by a backend (byBackend) or not (unattributed, which
    // includes responses without the backend header: those are in `completed` too).
    const done = Object.values(t.byBackend).reduce((a, b) => a + b, 0) + t.unattributed;
    const frac = total ? Math.min(1, done / total) : 0;
    const bar = total ? `[${"#".repeat(Math.round(frac * width)).padEnd(width, ".")}] ${Math.round(frac * 100)}%` : formatElapsed(t.elapsedMs);
    const backends = Object.entries(t.byBackend).map(([b, n]) => `${b} ${n}`).join(" ");
    write(`\r\u001b[2K${label} ${bar} ${done} done, ${t.openConnections} conns${backends ? `, ${backends}` : ""}`);
  });
  run.on("done", () => write("\r\u001b[2K"));
}

/** One progress line of a WebSocket run: sessions open of those asked, messages, and delivery so far. */
export function wsProgressLine(label: string, t: WsTickInfo, sessions: number): string {
  const delivery = t.expected > 0 ? `${((100 * t.delivered) / t.expected).toFixed(1)}% delivered` : "nothing owed yet";
  const failed = t.failed > 0 ? `, ${t.failed} failed` : "";
  return `${label} ${formatElapsed(t.elapsedMs)} ${t.open}/${sessions} sessions open${failed}, ${t.sent} sent, ${t.received} received, ${delivery}`;
}

/** Draws `wsProgressLine` on a terminal from a WebSocket run's `tick` events. */
export function attachWsProgress(run: WsRun, label: string, sessions: number, write: (t: string) => void): void {
  run.on("tick", (t) => write(`\r\u001b[2K${wsProgressLine(label, t, sessions)}`));
  run.on("done", () => write("\r\u001b[2K"));
}
