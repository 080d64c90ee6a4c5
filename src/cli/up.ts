import type { Model, Target } from "../spec/model.js";
import { planPorts, startProxy, startStubs, type RunContext } from "../runtime/index.js";
import type { Io } from "./io.js";
import type { UpReport } from "../report/commands.js";
import { formatTable } from "../report/table.js";

/** Brings every target up in front of one set of stubs and hands `show` where everything is. */
export async function up(model: Model, targets: Target[], ctx: RunContext, holdMs: number | null, show: (report: UpReport) => Promise<void>): Promise<void> {
  const plans = await planPorts(model, targets, ctx.keepPorts);
  const stubs = await startStubs(model, plans[targets[0]!].stubs, ctx);
  const report: UpReport = { runId: ctx.runId, runtime: ctx.runtime.kind, frontends: [], stubs: {}, logs: {}, stopsAfterMs: holdMs };
  for (const target of targets) {
    const running = await startProxy(model, target, plans[target], ctx);
    for (const f of running.frontends) report.frontends.push({ target, frontend: f.name, url: f.url, speaks: f.speaks, proxy: running.proxy.where });
    report.logs[target] = running.logFile;
  }
  report.stubs = Object.fromEntries(Object.entries(stubs.addresses).map(([k, a]) => [k, `http://${a.host}:${a.port}`]));
  await show(report);
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
