import { UsageError } from "../errors.js";
import type { ExitCode } from "../exit-codes.js";
import { toHtml } from "../report/html.js";
import { toJson } from "../report/json.js";
import { toJunit } from "../report/junit.js";
import { attachProgress, attachWsProgress } from "../report/progress.js";
import { formatRun, formatSummary } from "../report/terminal.js";
import type { Model } from "../spec/model.js";
import { verifyExitCode, verifyModel, type VerifyOptions } from "../verify/verify.js";
import type { Io } from "./io.js";
import { checkOutputFiles, openOutputStream, writeFiles, type OutputFile, type OutputStream } from "./output.js";
import { untilSignal } from "./signals.js";

/** Where `spillway verify` writes its reports: a file, or - for stdout (--json only). */
export interface ReportFiles {
  json?: string;
  junit?: string;
  html?: string;
  ndjson?: string;
}

/** How the run shows on the terminal: decided by the CLI. */
/** What runs before the stacks start. */
export interface Preflight {
  /** doctor's check: a run that cannot fit is refused before anything starts (--no-preflight: false). */
  preflight: boolean;
}

export interface Display {
  /** -q: no tables, no progress; a run that broke is still named on stderr. */
  quiet: boolean;
  /** Colour PASS/FAIL in the tables, for the stream they go to. */
  color: boolean;
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

/** `spillway verify`: the run's tables as it goes, its reports at the end, and its exit code; a signal stops it. */
export async function verify(model: Model, opts: Omit<VerifyOptions, "signal" | "warn" | "ndjson" | "onRunStart" | "onLoad" | "onWebSockets" | "onRunEnd">, files: ReportFiles, display: Display, io: Io, checks: Preflight = { preflight: true }): Promise<number> {
  if (checks.preflight) {
    const { preflightModel } = await import("../doctor/preflight.js");
    const { readFacts } = await import("../doctor/facts.js");
    preflightModel(model, await readFacts({ versions: false }), { ...(opts.scenarios ? { scenarios: opts.scenarios } : {}), ...(opts.targets ? { targets: opts.targets } : {}) });
  }
  return untilSignal(io, (signal) => verifyReporting(model, { ...opts, signal }, files, display, io));
}

async function verifyReporting(model: Model, opts: Omit<VerifyOptions, "warn" | "ndjson" | "onRunStart" | "onLoad" | "onWebSockets" | "onRunEnd">, files: ReportFiles, display: Display, io: Io): Promise<ExitCode> {
  // Before the run, not after minutes of it: every report must have a place it can be written to.
  if (files.ndjson === "-") throw new UsageError("--ndjson - is not supported: give it a file", "Use --json - for a report on stdout.");
  await checkOutputFiles([
    ["--json", files.json],
    ["--junit", files.junit],
    ["--html", files.html],
    ["--ndjson", files.ndjson],
  ]);
  const tables = display.quiet ? () => undefined : files.json === "-" ? io.err : io.out;
  const progress = io.isTTY && !display.quiet;
  const ndjson = files.ndjson ? await openOutputStream("--ndjson", files.ndjson) : null;
  let report;
  try {
    report = await verifyModel(model, {
      ...opts,
      warn: display.quiet ? () => undefined : io.err,
      ...(ndjson ? { ndjson: (line: string) => ndjson.write(`${line}\n`) } : {}),
      onRunStart: (target, scenario) => {
        if (!io.isTTY && !display.quiet) io.err(`spillway: ${target} / ${scenario.name}: starting\n`);
      },
      onLoad: (load, target, scenario) => {
        if (progress) attachProgress(load, `${target} / ${scenario.name}`, scenario.load.requests, io.err);
      },
      // Two lines cannot share one terminal line: with an HTTP load beside them the sessions' figures come in the report.
      onWebSockets: (sessions, target, scenario) => {
        if (progress && !scenario.load.http && scenario.load.websockets) attachWsProgress(sessions, `${target} / ${scenario.name}`, scenario.load.websockets.connections, io.err);
      },
      onRunEnd: (run) => {
        tables(`${formatRun(run, { color: display.color })}\n\n`);
        if (display.quiet && run.status === "error") io.err(`spillway: ${run.target} / ${run.scenario}: ${run.error ?? "the run broke"}\n`);
      },
    });
  } catch (err) {
    await ndjson?.abort();
    throw err;
  }
  tables(`${formatSummary(report, { color: display.color })}\n`);
  const reports: OutputFile[] = [];
  if (files.json) reports.push({ option: "--json", path: files.json, text: toJson(report) });
  if (files.junit) reports.push({ option: "--junit", path: files.junit, text: toJunit(report) });
  if (files.html) reports.push({ option: "--html", path: files.html, text: toHtml(report) });
  await writeReports(reports, ndjson, io);
  return verifyExitCode(report.runs);
}
