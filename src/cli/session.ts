import { SpillwayError } from "../errors.js";
import { createRun, createRuntime, formatTeardownReport, runContext, type RunContext, type RuntimeKind } from "../runtime/index.js";
import type { Io } from "./io.js";
import { PACKAGE_VERSION } from "./package-info.js";

export interface SessionOptions {
  runtime: RuntimeKind;
  image?: string;
  keepPorts: boolean;
  readyTimeoutMs: number;
  /** -q: warnings are not printed; errors still are. */
  quiet?: boolean;
}

/**
 * Runs `fn` inside a run that owns everything it starts: on success, on an
 * error and on Ctrl-C, teardown stops it all in reverse order. When
 * something failed, the run's directory (configs, proxy logs) is kept and
 * named.
 */
export async function withSession<T>(opts: SessionOptions, io: Io, fn: (ctx: RunContext) => Promise<T>): Promise<T> {
  const run = createRun(opts.runtime);
  const removeHandlers = run.teardown.onSignals(io.err);
  const ctx = runContext(run, createRuntime(opts.runtime, run.registry, opts.image ? { image: opts.image } : {}), {
    keepPorts: opts.keepPorts,
    readyTimeoutMs: opts.readyTimeoutMs,
    warn: opts.quiet ? () => undefined : io.err,
    generator: PACKAGE_VERSION,
  });
  let kept = false;
  try {
    return await fn(ctx);
  } catch (err) {
    // Interrupted runs fail because their teardown began: nothing to keep then. A run refused
    // before it wrote anything (a frontend off loopback, a port in use) has nothing to keep either.
    if (err instanceof SpillwayError && !run.teardown.started && run.hasFiles()) {
      run.keepDir();
      kept = true;
    }
    throw err;
  } finally {
    const report = await run.teardown.run();
    removeHandlers();
    if (report.failed.length > 0) io.err(`spillway: ${formatTeardownReport(report)}\nRun \`spillway down\` to remove what is left.\n`);
    if (kept) io.err(`spillway: configs and proxy logs of this run are kept in ${run.runDir}\n`);
  }
}
