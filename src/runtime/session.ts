import { SpillwayError } from "../errors.js";
import { PACKAGE_VERSION } from "../package-info.js";
import { createRuntime, type RuntimeKind } from "./create.js";
import { createRun, runContext } from "./run.js";
import type { RunContext } from "./stack.js";
import { formatTeardownReport } from "./teardown.js";

export interface SessionOptions {
  runtime: RuntimeKind;
  image?: string;
  keepPorts: boolean;
  readyTimeoutMs: number;
  /** Aborting it tears the run down at once; the session then rejects with its reason, once teardown has finished. */
  signal?: AbortSignal;
  /** Lines for people: capacity warnings, what could not be cleaned up, where a failed run's files are kept. */
  warn?: (text: string) => void;
}

/**
 * Runs `fn` inside a run that owns everything it starts: on success, on an
 * error and on abort, teardown stops it all in reverse order before this
 * settles. When something failed, the run's directory (configs, proxy logs)
 * is kept and named.
 */
export async function withSession<T>(opts: SessionOptions, fn: (ctx: RunContext) => Promise<T>): Promise<T> {
  opts.signal?.throwIfAborted();
  const warn = opts.warn ?? (() => undefined);
  const run = createRun(opts.runtime);
  // Teardown starts the moment the signal aborts, not when `fn` next looks: a proxy that is
  // still starting, or a load in flight, ends because what it talks to is gone.
  const stop = () => void run.teardown.run();
  opts.signal?.addEventListener("abort", stop, { once: true });
  const ctx = runContext(run, createRuntime(opts.runtime, run.registry, opts.image ? { image: opts.image } : {}), {
    keepPorts: opts.keepPorts,
    readyTimeoutMs: opts.readyTimeoutMs,
    warn,
    generator: PACKAGE_VERSION,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  let kept = false;
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: await fn(ctx) };
  } catch (err) {
    // Interrupted runs fail because their teardown began: nothing to keep then. A run refused
    // before it wrote anything (a frontend off loopback, a port in use) has nothing to keep either.
    if (err instanceof SpillwayError && !run.teardown.started && run.hasFiles()) {
      run.keepDir();
      kept = true;
    }
    outcome = { error: err };
  } finally {
    opts.signal?.removeEventListener("abort", stop);
    const report = await run.teardown.run();
    if (report.failed.length > 0) warn(`spillway: ${formatTeardownReport(report)}\nRun \`spillway down\` to remove what is left.\n`);
    if (kept) warn(`spillway: configs and proxy logs of this run are kept in ${run.runDir}\n`);
  }
  // What failed after an abort failed because of it: the abort is the answer.
  opts.signal?.throwIfAborted();
  if ("error" in outcome) throw outcome.error;
  return outcome.value;
}
