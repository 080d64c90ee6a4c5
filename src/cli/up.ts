import { ExitCode } from "../exit-codes.js";
import type { Model, Target } from "../spec/model.js";
import { down, startSpecStubs, startStack, withSession, type SessionOptions } from "../runtime/index.js";
import { formatStack, formatStubs } from "../report/stack.js";
import type { Io } from "./io.js";
import { untilSignal } from "./signals.js";

/** Resolves when `signal` aborts, or after `ms` when given. */
function held(signal: AbortSignal, ms: number | null): Promise<void> {
  return new Promise((resolve) => {
    const timer = ms === null ? null : setTimeout(done, ms);
    function done() {
      if (timer) clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    if (signal.aborted) done();
    else signal.addEventListener("abort", done, { once: true });
  });
}

/** `spillway up`: every target in front of one set of stubs, where everything is, held until a signal (or `holdMs`). */
export function up(model: Model, targets: Target[], session: Omit<SessionOptions, "signal" | "warn">, holdMs: number | null, io: Io): Promise<number> {
  return untilSignal(io, async (signal) => {
    await withSession({ ...session, signal, warn: io.err }, async (ctx) => {
      const stack = await startStack(model, targets, ctx);
      io.out(formatStack(stack, { runId: ctx.runId, runtime: ctx.runtime.kind }));
      io.out(holdMs === null ? "Press Ctrl-C to stop; everything this run started stops with it.\n" : `Stopping by itself in ${Math.round(holdMs / 1000)} s (or on Ctrl-C).\n`);
      await held(signal, holdMs);
    });
    return ExitCode.Ok;
  });
}

/** `spillway stubs`: only the stubs, on the spec's addresses, until a signal. */
export function runStubs(model: Model, io: Io): Promise<number> {
  return untilSignal(io, async (signal) => {
    await withSession({ runtime: "process", keepPorts: true, readyTimeoutMs: 15_000, signal, warn: io.err }, async (ctx) => {
      const stubs = await startSpecStubs(model, ctx);
      io.out(`${formatStubs(stubs)}\n\nPress Ctrl-C to stop.\n`);
      await held(signal, null);
    });
    return ExitCode.Ok;
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
