import { createWriteStream, type WriteStream } from "node:fs";
import { ExitCode } from "../exit-codes.js";
import { UsageError } from "../errors.js";
import { attachProgress } from "../report/progress.js";
import { formatRun, formatSummary } from "../report/terminal.js";
import { toJson } from "../report/json.js";
import { toJunit } from "../report/junit.js";
import { toHtml } from "../report/html.js";
import { didYouMean } from "../spec/diagnostics.js";
import type { Model, Target } from "../spec/model.js";
import { runScenario } from "../verify/run.js";
import type { ScenarioRun, VerifyReport } from "../verify/types.js";
import type { Io } from "./io.js";
import { writeAll } from "./output.js";
import { withSession, type SessionOptions } from "./session.js";
import { dirname, basename } from "node:path";

export interface VerifyOptions {
  targets: Target[];
  scenarios: string[] | undefined;
  session: SessionOptions;
  maxRunMs: number;
  windowMs: number;
  json?: string;
  junit?: string;
  html?: string;
  ndjson?: string;
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

async function writeReport(path: string, text: string, io: Io) {
  if (path === "-") io.out(text);
  else await writeAll(dirname(path), { [basename(path)]: text });
}

/** Every target x scenario in its own stack, one after the other; the reports are built from the same result. */
export async function verify(model: Model, opts: VerifyOptions, io: Io): Promise<number> {
  const scenarios = selectScenarios(model, opts.scenarios);
  const report: VerifyReport = { spec: model.file, startedAt: new Date().toISOString(), runs: [], passed: false };
  const tables = opts.json === "-" ? io.err : io.out;
  let ndjson: WriteStream | null = null;
  if (opts.ndjson) ndjson = createWriteStream(opts.ndjson);
  try {
    for (const scenario of scenarios) {
      for (const target of opts.targets) {
        if (!scenario.targets.includes(target)) continue;
        if (!io.isTTY) io.err(`spillway: ${target} / ${scenario.name}: starting\n`);
        const run = await withSession(opts.session, io, (ctx) =>
          runScenario(model, target, scenario, ctx, {
            maxRunMs: opts.maxRunMs,
            windowMs: opts.windowMs,
            onLoad: (load) => {
              if (io.isTTY) attachProgress(load, `${target} / ${scenario.name}`, scenario.load.requests, io.err);
            },
            ...(ndjson ? { ndjson: (line: string) => ndjson!.write(`${line.replace(/^\{/, `{"target":"${target}","scenario":"${scenario.name}",`)}\n`) } : {}),
          }),
        );
        report.runs.push(run);
        tables(`${formatRun(run)}\n\n`);
      }
    }
  } finally {
    if (ndjson) await new Promise<void>((r) => ndjson!.end(r));
  }
  report.passed = report.runs.length > 0 && report.runs.every((r) => r.status === "passed");
  tables(`${formatSummary(report)}\n`);
  if (opts.json) await writeReport(opts.json, toJson(report), io);
  if (opts.junit) await writeReport(opts.junit, toJunit(report), io);
  if (opts.html) await writeReport(opts.html, toHtml(report), io);
  return verifyExitCode(report.runs);
}
