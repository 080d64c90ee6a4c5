import type { RunningStack, RunningStubs } from "../runtime/index.js";
import { formatTable } from "./table.js";

/** Where each stub listens. */
export function formatStubs(stubs: RunningStubs): string {
  return formatTable(["stub", "url"], Object.entries(stubs.addresses).map(([k, a]) => [k, `http://${a.host}:${a.port}`]));
}

/** Where everything of a running stack is, and what to try against it. */
export function formatStack(stack: RunningStack, run: { runId: string; runtime: "process" | "docker" }): string {
  const rows = stack.proxies.flatMap((p) => p.frontends.map((f) => [p.target, f.name, f.url, f.speaks, p.proxy.where]));
  const logs = stack.proxies.map((p) => `${p.target}: ${p.logFile}${run.runtime === "docker" ? " (written at stop; `docker logs` meanwhile)" : ""}`);
  const first = rows[0];
  return [
    `spillway up: run ${run.runId}, ${run.runtime} runtime\n\n`,
    `${formatTable(["target", "frontend", "url", "speaks", "proxy"], rows)}\n\n`,
    `${formatStubs(stack.stubs)}\n\n`,
    `logs:\n  ${logs.join("\n  ")}\n\n`,
    first ? `Try: h2load -c10 -m10 -n1000 ${first[2]}/   or   curl --http2-prior-knowledge -si ${first[2]}/\n` : "",
  ].join("");
}
