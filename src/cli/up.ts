import type { Model, Target } from "../spec/model.js";
import { down, planPorts, startProxy, startStubs, type RunContext } from "../runtime/index.js";
import type { Io } from "./io.js";
import { formatTable } from "../report/table.js";

/** Brings every target up in front of one set of stubs and prints where everything is. */
export async function up(model: Model, targets: Target[], ctx: RunContext, io: Io, holdMs: number | null): Promise<void> {
  const plans = await planPorts(model, targets, ctx.keepPorts);
  const stubs = await startStubs(model, plans[targets[0]!].stubs, ctx);
  const rows: string[][] = [];
  const logs: string[] = [];
  for (const target of targets) {
    const running = await startProxy(model, target, plans[target], ctx);
    for (const f of running.frontends) rows.push([target, f.name, f.url, f.speaks, running.proxy.where]);
    logs.push(`${target}: ${running.logFile}${ctx.runtime.kind === "docker" ? " (written at stop; `docker logs` meanwhile)" : ""}`);
  }
  io.out(`spillway up: run ${ctx.runId}, ${ctx.runtime.kind} runtime\n\n`);
  io.out(`${formatTable(["target", "frontend", "url", "speaks", "proxy"], rows)}\n\n`);
  io.out(`${formatTable(["stub", "url"], Object.entries(stubs.addresses).map(([k, a]) => [k, `http://${a.host}:${a.port}`]))}\n\n`);
  io.out(`logs:\n  ${logs.join("\n  ")}\n\n`);
  const first = rows[0];
  if (first) io.out(`Try: h2load -c10 -m10 -n1000 ${first[2]}/   or   curl --http2-prior-knowledge -si ${first[2]}/\n`);
  io.out(holdMs === null ? "Press Ctrl-C to stop; everything this run started stops with it.\n" : `Stopping by itself in ${Math.round(holdMs / 1000)} s (or on Ctrl-C).\n`);
  await new Promise<void>((resolve) => {
    if (holdMs !== null) setTimeout(resolve, holdMs);
    // Otherwise the signal handler tears down and exits.
  });
}

/** Only the stubs, on the spec's addresses, until a signal ends the run. */
export async function runStubs(model: Model, ctx: RunContext, io: Io): Promise<void> {
  const addresses = Object.fromEntries(model.backends.flatMap((b) => b.servers.filter((s) => s.stub).map((s) => [`${b.name}/${s.name}`, s.address])));
  const stubs = await startStubs(model, addresses, ctx);
  io.out(`${formatTable(["stub", "url"], Object.entries(stubs.addresses).map(([k, a]) => [k, `http://${a.host}:${a.port}`]))}\n\nPress Ctrl-C to stop.\n`);
  await new Promise<void>(() => {
    // Ends with the process, through the run's signal handler.
  });
}

export async function runDown(io: Io, all: boolean): Promise<void> {
  const r = await down({ all });
  const lines = [
    ...r.killed.map((k) => `stopped ${k}`),
    ...r.containers.map((c) => `removed container ${c}`),
    ...r.removedDirs.map((d) => `removed ${d}`),
    ...r.skipped.map((s) => `left alone: run ${s}`),
  ];
  if (r.dockerNote) lines.push(r.dockerNote);
  io.out(`${lines.length > 0 ? lines.join("\n") : "nothing left behind"}\n`);
}
