import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunRegistry } from "./registry.js";
import type { RunContext } from "./stack.js";
import { Teardown } from "./teardown.js";
import type { ProxyRuntime } from "./types.js";

export interface Run {
  runId: string;
  /** Where the run's configs and logs go; created by ensureDir(), not before. */
  runDir: string;
  teardown: Teardown;
  registry: RunRegistry;
  /**
   * Creates the run directory and the run's record for `spillway down`, once.
   * Called just before the run starts something: a run refused before that
   * (a frontend off loopback, a port in use) leaves nothing on disk.
   */
  ensureDir(): void;
  /** True once the run directory holds anything (configs, logs): worth keeping after a failure. */
  hasFiles(): boolean;
  /** Keep the run directory (configs and logs) after teardown, e.g. because something failed. */
  keepDir(): void;
}

/**
 * A new run: an id, a directory and a record for `spillway down` (both made
 * when it first starts something), and the teardown that removes them last,
 * after everything else it started.
 */
export function createRun(runtime: "process" | "docker"): Run {
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  // Random, and created without `recursive` below: an existing path (someone else's) is an error, never reused.
  const runDir = join(tmpdir(), `spillway-run-${runId}-${randomBytes(3).toString("hex")}`);
  const teardown = new Teardown();
  const registry = new RunRegistry(runId, runtime);
  let created = false;
  let keep = false;
  // Last of all, and only when everything else went: otherwise `spillway down` needs the record.
  teardown.add("run record", () => {
    if (teardown.failedSoFar === 0) registry.remove();
  });
  teardown.add(`run directory ${runDir}`, () => {
    if (created && !keep) rmSync(runDir, { recursive: true, force: true });
  });
  return {
    runId,
    runDir,
    teardown,
    registry,
    ensureDir: () => {
      if (created) return;
      // Recorded first, so `spillway down` knows the directory even if the process dies right after.
      registry.addDir(runDir);
      mkdirSync(runDir, { mode: 0o700 });
      created = true;
    },
    hasFiles: () => created && existsSync(runDir) && readdirSync(runDir).length > 0,
    keepDir: () => {
      keep = true;
    },
  };
}

/** What the stack functions need of a run, with the choices a caller makes. */
export function runContext(
  run: Run,
  runtime: ProxyRuntime,
  opts: { keepPorts?: boolean; readyTimeoutMs?: number; warn?: (text: string) => void; generator?: string; signal?: AbortSignal } = {},
): RunContext {
  return {
    runId: run.runId,
    runDir: run.runDir,
    ensureRunDir: () => run.ensureDir(),
    teardown: run.teardown,
    registry: run.registry,
    runtime,
    keepPorts: opts.keepPorts ?? false,
    readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
    warn: opts.warn ?? (() => undefined),
    ...(opts.generator ? { generator: opts.generator } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}
