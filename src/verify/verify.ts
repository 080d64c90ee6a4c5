import { UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import type { LoadRun } from "../load/index.js";
import type { WsRun } from "../load/ws/index.js";
import { assertLoopbackStack, withSession, type RuntimeKind } from "../runtime/index.js";
import { didYouMean } from "../spec/diagnostics.js";
import type { Model, Scenario, Target } from "../spec/model.js";
import { runScenario } from "./run.js";
import type { ScenarioRun, VerifyReport } from "./types.js";

/** What `verify` does when an option is left out; the CLI's flags default to the same. */
export const VERIFY_DEFAULTS = {
  runtime: "process",
  keepPorts: false,
  readyTimeoutMs: 15_000,
  maxRunMs: 300_000,
} as const;

/** How a command that brings stacks up runs them: what `verify` and `explore` both take. */
export interface StackRunOptions {
  /** Only these proxies; default: the spec's (or scenario's) targets. */
  targets?: Target[];
  /** Run the proxies as local processes (default) or in Docker containers. */
  runtime?: RuntimeKind;
  /** Image holding haproxy and nginx, for the Docker runtime. */
  image?: string;
  /** Listen on the spec's own ports instead of free ones. */
  keepPorts?: boolean;
  /** How long a proxy may take to answer through to a stub. */
  readyTimeoutMs?: number;
  /** Hard bound on each run's load. */
  maxRunMs?: number;
  /** Timeline window; default: about 50 windows per run, whatever its length. */
  windowMs?: number;
  /** Aborting it tears down whatever runs. */
  signal?: AbortSignal;
  /** Lines for people: capacity warnings, what could not be cleaned up, where a failed run's files are kept. Default: stderr. */
  warn?: (text: string) => void;
}

export interface VerifyOptions extends StackRunOptions {
  /** Only these scenarios, each of which must exist; default: all. */
  scenarios?: string[];
  /** Aborting it tears down whatever runs; `verify` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** One JSON line per request, carrying its target and scenario. */
  ndjson?: (line: string) => void;
  /** A target x scenario is about to start its stack. */
  onRunStart?: (target: Target, scenario: Scenario) => void;
  /** Its load is running: subscribe to the load's events. */
  onLoad?: (load: LoadRun, target: Target, scenario: Scenario) => void;
  /** Its WebSocket sessions are running (a scenario with load.websockets): subscribe to their events. */
  onWebSockets?: (sessions: WsRun, target: Target, scenario: Scenario) => void;
  /** It finished, its stack torn down. */
  onRunEnd?: (run: ScenarioRun) => void;
}

/** Which scenarios run: all, or the named ones (each must exist). */
export function selectScenarios(model: Model, names: string[] | undefined): Scenario[] {
  if (model.scenarios.length === 0) {
    throw new UsageError(`${model.file} has no scenarios to verify`, "Add a `scenarios:` block with a load and expectations (see fixtures/classic.yaml).");
  }
  if (!names) return model.scenarios;
  return names.map((n) => {
    const s = model.scenarios.find((x) => x.name === n);
    if (!s) {
      const guess = didYouMean(n, model.scenarios.map((x) => x.name));
      throw new UsageError(`no scenario '${n}' in ${model.file}${guess ? `; did you mean '${guess}'?` : ""}`, `Scenarios: ${model.scenarios.map((x) => x.name).join(", ")}.`);
    }
    return s;
  });
}

/** An infrastructure failure outranks a failed expectation. */
export function verifyExitCode(runs: readonly { status: ScenarioRun["status"] }[]): ExitCode {
  if (runs.some((r) => r.status === "error")) return ExitCode.Infrastructure;
  if (runs.some((r) => r.status === "failed")) return ExitCode.ExpectationFailed;
  return ExitCode.Ok;
}

/**
 * Every target x scenario in its own stack, one after the other, each torn
 * down before the next starts. A run that breaks is an `error` run and the
 * others still happen; an abort ends them all and rejects.
 */
export async function verifyModel(model: Model, opts: VerifyOptions = {}): Promise<VerifyReport> {
  opts.signal?.throwIfAborted();
  const scenarios = selectScenarios(model, opts.scenarios);
  const targets = opts.targets ? [...new Set(opts.targets)] : model.targets;
  assertLoopbackStack(model);
  const session = {
    runtime: opts.runtime ?? VERIFY_DEFAULTS.runtime,
    ...(opts.image ? { image: opts.image } : {}),
    keepPorts: opts.keepPorts ?? VERIFY_DEFAULTS.keepPorts,
    readyTimeoutMs: opts.readyTimeoutMs ?? VERIFY_DEFAULTS.readyTimeoutMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    warn: opts.warn ?? ((text: string) => void process.stderr.write(text)),
  };
  const report: VerifyReport = { spec: model.file, startedAt: new Date().toISOString(), runs: [], passed: false };
  for (const scenario of scenarios) {
    for (const target of targets) {
      if (!scenario.targets.includes(target)) continue;
      opts.onRunStart?.(target, scenario);
      const ndjson = opts.ndjson;
      const run = await withSession(session, (ctx) =>
        runScenario(model, target, scenario, ctx, {
          maxRunMs: opts.maxRunMs ?? VERIFY_DEFAULTS.maxRunMs,
          windowMs: opts.windowMs ?? null,
          ...(opts.onLoad ? { onLoad: opts.onLoad } : {}),
          ...(opts.onWebSockets ? { onWebSockets: opts.onWebSockets } : {}),
          ...(ndjson ? { ndjson: (line: string) => ndjson(line.replace(/^\{/, `{"target":${JSON.stringify(target)},"scenario":${JSON.stringify(scenario.name)},`)) } : {}),
        }),
      );
      report.runs.push(run);
      opts.onRunEnd?.(run);
    }
  }
  report.passed = report.runs.length > 0 && report.runs.every((r) => r.status === "passed");
  return report;
}
