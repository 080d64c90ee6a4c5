import type { RunningStack, RunningStubs } from "../runtime/index.js";
import { formatHostPort } from "../wire.js";
import type { UpReport } from "./commands.js";
import { formatTable } from "./table.js";

/** Where each stub listens. */
export function formatStubs(stubs: RunningStubs): string {
  return formatTable(["stub", "url"], Object.entries(stubs.addresses).map(([k, a]) => [k, `http://${formatHostPort(a)}`]));
}

/** `spillway up`'s report (and its `--json`): where everything of a running stack is. */
export function upReport(stack: RunningStack, run: { runId: string; runtime: "process" | "docker" }, stopsAfterMs: number | null): UpReport {
  return {
    runId: run.runId,
    runtime: run.runtime,
    frontends: stack.proxies.flatMap((p) => p.frontends.map((f) => ({ target: p.target, frontend: f.name, url: f.url, speaks: f.speaks, proxy: p.proxy.where }))),
    stubs: Object.fromEntries(Object.entries(stack.stubs.addresses).map(([k, a]) => [k, `http://${formatHostPort(a)}`])),
    logs: Object.fromEntries(stack.proxies.map((p) => [p.target, p.logFile])),
    counters: Object.fromEntries(stack.proxies.map((p) => [p.target, p.stats.kind === "nginx-status" ? p.stats.url : formatHostPort(p.stats.address)])),
    stopsAfterMs,
  };
}
