import { ExitCode } from "../exit-codes.js";
import type { Model, Target } from "../spec/model.js";
import { startSpecStubs, startStack, withSession, type SessionOptions } from "../runtime/index.js";
import type { UpReport } from "../report/commands.js";
import { formatStubs, upReport } from "../report/stack.js";
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

/** `spillway up`: every target in front of one set of stubs, `show`n where everything is, held until a signal (or `holdMs`). */
export function up(
  model: Model,
  targets: Target[],
  session: Omit<SessionOptions, "signal" | "warn"> & { quiet?: boolean },
  holdMs: number | null,
  io: Io,
  show: (report: UpReport) => Promise<void>,
): Promise<number> {
  return untilSignal(io, async (signal) => {
    await withSession({ ...session, signal, warn: session.quiet ? () => undefined : io.err }, async (ctx) => {
      const stack = await startStack(model, targets, ctx);
      await show(upReport(stack, { runId: ctx.runId, runtime: ctx.runtime.kind }, holdMs));
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
