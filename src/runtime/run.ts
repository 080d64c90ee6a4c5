import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunRegistry } from "./registry.js";
import type { RunContext } from "./stack.js";
import { Teardown } from "./teardown.js";
import type { ProxyRuntime } from "./types.js";

export interface Run {
  runId: string;
  runDir: string;
  teardown: Teardown;
  registry: RunRegistry;
  /** Keep the run directory (configs and logs) after teardown, e.g. because something failed. */
  keepDir(): void;
}

/**
 * A new run: an id, a directory, a record for `spillway down`, and the
 * teardown that removes all three last, after everything else it started.
 */
export function createRun(runtime: "process" | "docker"): Run {
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const runDir = mkdtempSync(join(tmpdir(), `spillway-run-${runId}-`));
  const teardown = new Teardown();
  const registry = new RunRegistry(runId, runtime);
  registry.addDir(runDir);
  let keep = false;
  // Last of all, and only when everything else went: otherwise `spillway down` needs the record.
  teardown.add("run record", () => {
    if (teardown.failedSoFar === 0) registry.remove();
  });
  teardown.add(`run directory ${runDir}`, () => {
    if (!keep) rmSync(runDir, { recursive: true, force: true });
  });
  return {
    runId,
    runDir,
    teardown,
    registry,
    keepDir: () => {
      keep = true;
    },
  };
}

/** What the stack functions need of a run, with the choices a caller makes. */
export function runContext(
  run: Run,
  runtime: ProxyRuntime,
  opts: { keepPorts?: boolean; readyTimeoutMs?: number; warn?: (text: string) => void; generator?: string } = {},
): RunContext {
  return {
    runId: run.runId,
    runDir: run.runDir,
    teardown: run.teardown,
    registry: run.registry,
    runtime,
    keepPorts: opts.keepPorts ?? false,
    readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
    warn: opts.warn ?? (() => undefined),
    ...(opts.generator ? { generator: opts.generator } : {}),
  };
}
