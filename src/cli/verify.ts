import { ExitCode } from "../exit-codes.js";
import { UsageError } from "../errors.js";
import { attachProgress } from "../report/progress.js";
import { formatRun, formatSummary } from "../report/terminal.js";
import { toJson } from "../report/json.js";
import { toJunit } from "../report/junit.js";
import { toHtml } from "../report/html.js";
import { didYouMean } from "../spec/diagnostics.js";
import type { Model, Target } from "../spec/model.js";
import { assertLoopbackStack } from "../runtime/stack.js";
import { runScenario } from "../verify/run.js";
import type { ScenarioRun, VerifyReport } from "../verify/types.js";
import type { Io } from "./io.js";
import { checkOutputFiles, openOutputStream, writeFiles, type OutputFile, type OutputStream } from "./output.js";
import { withSession, type SessionOptions } from "./session.js";

export interface VerifyOptions {
  targets: Target[];
  scenarios: string[] | undefined;
  session: SessionOptions;
  maxRunMs: number;
  /** null: adaptive, about 50 windows per run. */
  windowMs: number | null;
  json?: string;
  junit?: string;
  html?: string;
  ndjson?: string;
  /** -q: no tables, no progress; a run that broke is still named on stderr. */
  quiet?: boolean;
  /** Colour PASS/FAIL in the tables: decided by the CLI for the stream they go to. */
  color?: boolean;
}

/** Which scenarios run: all, or the named ones (each must exist). */
export function selectScenarios(model: Model, names: string[] | undefined) {
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

export function verifyExitCode(runs: ScenarioRun[]): number {
  if (runs.some((r) => r.status === "error")) return ExitCode.Infrastructure;
  if (runs.some((r) => r.status === "failed")) return ExitCode.ExpectationFailed;
  return ExitCode.Ok;
}

/** Writes the reports to their files all or nothing (with the --ndjson file), then the one for stdout. */
async function writeReports(reports: OutputFile[], ndjson: OutputStream | null, io: Io) {
  await writeFiles(
    reports.filter((r) => r.path !== "-"),
    ndjson ? [ndjson] : [],
  );
  for (const r of reports) if (r.path === "-") io.out(r.text);
  await io.flushOut?.();
}

/** Every target x scenario in its own stack, one after the other; the reports are built from the same result. */
export async function verify(model: Model, opts: VerifyOptions, io: Io): Promise<number> {
  const scenarios = selectScenarios(model, opts.scenarios);
  assertLoopbackStack(model);
  // Before the run, not after minutes of it: every report must have a place it can be written to.
  if (opts.ndjson === "-") throw new UsageError("--ndjson - is not supported: give it a file", "Use --json - for a report on stdout.");
  await checkOutputFiles([
    ["--json", opts.json],
    ["--junit", opts.junit],
    ["--html", opts.html],
    ["--ndjson", opts.ndjson],
  ]);
  const report: VerifyReport = { spec: model.file, startedAt: new Date().toISOString(), runs: [], passed: false };
  const tables = opts.quiet ? () => undefined : opts.json === "-" ? io.err : io.out;
  const progress = io.isTTY && !opts.quiet;
  const ndjson = opts.ndjson ? await openOutputStream("--ndjson", opts.ndjson) : null;
  try {
    for (const scenario of scenarios) {
      for (const target of opts.targets) {
        if (!scenario.targets.includes(target)) continue;
        if (!io.isTTY && !opts.quiet) io.err(`spillway: ${target} / ${scenario.name}: starting\n`);
        const run = await withSession(opts.session, io, (ctx) =>
          runScenario(model, target, scenario, ctx, {
            maxRunMs: opts.maxRunMs,
            windowMs: opts.windowMs,
            onLoad: (load) => {
              if (progress) attachProgress(load, `${target} / ${scenario.name}`, scenario.load.requests, io.err);
            },
            ...(ndjson ? { ndjson: (line: string) => ndjson!.write(`${line.replace(/^\{/, `{"target":"${target}","scenario":"${scenario.name}",`)}\n`) } : {}),
          }),
        );
        report.runs.push(run);
        tables(`${formatRun(run, { color: opts.color ?? false })}\n\n`);
        if (opts.quiet && run.status === "error") io.err(`spillway: ${target} / ${scenario.name}: ${run.error ?? "the run broke"}\n`);
      }
    }
  } catch (err) {
    await ndjson?.abort();
    throw err;
  }
  report.passed = report.runs.length > 0 && report.runs.every((r) => r.status === "passed");
  tables(`${formatSummary(report, { color: opts.color ?? false })}\n`);
  const reports: OutputFile[] = [];
  if (opts.json) reports.push({ option: "--json", path: opts.json, text: toJson(report) });
  if (opts.junit) reports.push({ option: "--junit", path: opts.junit, text: toJunit(report) });
  if (opts.html) reports.push({ option: "--html", path: opts.html, text: toHtml(report) });
  await writeReports(reports, ndjson, io);
  return verifyExitCode(report.runs);
}
