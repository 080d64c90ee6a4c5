import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import type { CellStart, ExploreOptions } from "../explore/run.js";
import type { ExploreReport } from "../explore/types.js";
import type { Io } from "./io.js";
import type { Preflight } from "./verify.js";
import { stagesArg } from "./load.js";
import { checkOutputFiles, writeFiles, type OutputFile } from "./output.js";
import { untilSignal } from "./signals.js";

/** Where `spillway explore` writes its reports: a file, or - for stdout (--json and --csv, one of them). */
export interface ExploreFiles {
  json?: string;
  csv?: string;
  html?: string;
  resume?: string;
}

/**
 * `--ramp`: k6 stages as `spillway load --stages` reads them, where a stage
 * that jumps at once may be written with a bare 0 (`0:10,60s:400`).
 */
export function rampArg(v: string): { duration: string; target: number }[] {
  return stagesArg(v.split(",").map((part) => part.replace(/^(\s*)0(\s*:)/, "$10s$2")).join(","), "--ramp");
}

/** Reads a report to resume from; UsageError (exit 1) when it is not one. */
export async function readResume(path: string): Promise<ExploreReport> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === "ENOENT" ? `--resume ${path}: no such file` : `--resume ${path}: cannot read it: ${(err as Error).message}`, "Give --resume the JSON report (--json) of an interrupted exploration.");
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--resume ${path}: not JSON (${(err as Error).message})`, "Give --resume the JSON report (--json) of an interrupted exploration.");
  }
  const r = data as Partial<ExploreReport> | null;
  if (r === null || typeof r !== "object" || typeof r.spec !== "string" || typeof r.scenario !== "string" || !Array.isArray(r.vary) || !Array.isArray(r.cells) || !Array.isArray(r.targets)) {
    throw new UsageError(`--resume ${path}: not a report of spillway explore (it needs spec, scenario, vary, targets and cells)`, "Give --resume the JSON report (--json) of an interrupted exploration.");
  }
  return r as ExploreReport;
}

export interface ExploreDisplay {
  quiet: boolean;
}

/** `spillway explore`: the cells as they finish, the tables at the end, the reports; a signal stops it and the cells so far are still written. */
export function exploreCommand(spec: string, opts: Omit<ExploreOptions, "signal" | "warn" | "onCellStart" | "onLoad" | "onCell" | "onStack" | "resume">, files: ExploreFiles, display: ExploreDisplay, io: Io, checks: Preflight = { preflight: true }): Promise<number> {
  // untilSignal runs only the measurement: a refusal before it is a plain error.
  if (checks.preflight) return preflightExplore(spec, opts).then(() => untilSignal(io, (signal) => exploreReporting(spec, { ...opts, signal }, files, display, io)));
  return untilSignal(io, (signal) => exploreReporting(spec, { ...opts, signal }, files, display, io));
}

/** Every cell on every target through doctor's check, before any stack starts. */
async function preflightExplore(spec: string, opts: Pick<ExploreOptions, "scenario" | "vary" | "targets" | "ramp">): Promise<void> {
  const { planExplore, readSpec } = await import("../explore/run.js");
  const { readFacts } = await import("../doctor/facts.js");
  const { diagnose } = await import("../doctor/index.js");
  const { refusal } = await import("../doctor/preflight.js");
  const { text, file } = readSpec(spec);
  const plan = planExplore(text, file, opts);
  const facts = await readFacts({ versions: false });
  const results = plan.points.flatMap((p) => {
    const cell = Object.entries(p.values).map(([k, v]) => `${k}=${v}`).join(" ");
    return diagnose(p.model, facts, { scenarios: [plan.scenario], targets: plan.targets }, file).results.map((r) => ({ ...r, label: `cell ${cell || "(base)"} on ${r.target ?? "-"}` }));
  });
  const err = refusal(results);
  if (err) throw err;
}

async function exploreReporting(spec: string, opts: Omit<ExploreOptions, "warn" | "onCellStart" | "onLoad" | "onCell" | "onStack" | "resume">, files: ExploreFiles, display: ExploreDisplay, io: Io): Promise<number> {
  if (files.json === "-" && files.csv === "-") throw new UsageError("--json - and --csv - would both write to stdout", "Give one of them a file.");
  if (files.html === "-") throw new UsageError("--html - is not supported: give it a file", "Use --json - for a report on stdout.");
  const { planExplore, readSpec, runExplore } = await import("../explore/run.js");
  const { formatCellLine, formatExploreCsv, formatExploreProgress, formatExploreTables } = await import("../report/explore.js");
  const { toExploreHtml } = await import("../report/explore-html.js");
  const { text, file } = readSpec(spec);
  const plan = planExplore(text, file, opts);
  const resume = files.resume ? await readResume(files.resume) : undefined;
  // Before the run, not after minutes of it: every report must have a place it can be written to.
  await checkOutputFiles([
    ["--json", files.json],
    ["--csv", files.csv],
    ["--html", files.html],
  ]);
  const text_ = display.quiet ? () => undefined : files.json === "-" || files.csv === "-" ? io.err : io.out;
  const progress = io.isTTY && !display.quiet;
  const log = !io.isTTY && !display.quiet;
  let done = 0;
  let total = 0;
  let cellStarted = 0;
  let current = "starting";
  const walls: number[] = [];
  const draw = () => {
    const mean = walls.length > 0 ? walls.reduce((a, x) => a + x, 0) / walls.length : null;
    io.err(`\r\u001b[2K${formatExploreProgress({ done, total, meanCellMs: mean, cellElapsedMs: Date.now() - cellStarted, current })}`);
  };
  const timer = progress ? setInterval(draw, 500) : null;
  timer?.unref();
  const onCellStart = (s: CellStart) => {
    total = s.total;
    cellStarted = Date.now();
    current = `${s.target} ${Object.entries(s.values).map(([k, v]) => `${k.split(".").pop()}=${v}`).join(" ")}${s.stack === "new" ? " (starting its proxy)" : ""}`;
    if (progress) draw();
  };
  let report: ExploreReport;
  try {
    report = await runExplore(plan, {
      ...opts,
      ...(resume ? { resume } : {}),
      warn: display.quiet ? () => undefined : io.err,
      onCellStart,
      onCell: async (cell, sofar) => {
        const wall = Date.now() - cellStarted;
        walls.push(wall);
        done++;
        if (progress) io.err("\r\u001b[2K");
        if (log || progress) io.err(`spillway: ${formatCellLine(cell, sofar, done - 1, total, wall)}\n`);
        else if (cell.error !== null) io.err(`spillway: ${formatCellLine(cell, sofar, done - 1, total, wall)}\n`);
        // A checkpoint: a run killed outright (no chance to write at the end) can still be resumed.
        if (files.json && files.json !== "-") await writeFiles([{ option: "--json", path: files.json, text: `${JSON.stringify(sofar, null, 2)}\n` }]);
      },
    });
  } finally {
    if (timer) clearInterval(timer);
    if (progress) io.err("\r\u001b[2K");
  }
  text_(`${formatExploreTables(report)}\n`);
  const reports: OutputFile[] = [];
  if (files.json) reports.push({ option: "--json", path: files.json, text: `${JSON.stringify(report, null, 2)}\n` });
  if (files.csv) reports.push({ option: "--csv", path: files.csv, text: formatExploreCsv(report) });
  if (files.html) reports.push({ option: "--html", path: files.html, text: toExploreHtml(report) });
  await writeFiles(reports.filter((r) => r.path !== "-"));
  for (const r of reports) if (r.path === "-") io.out(r.text);
  await io.flushOut?.();
  if (!display.quiet) for (const r of reports) if (r.path !== "-") io.err(`wrote ${r.option.slice(2)} report ${r.path}\n`);
  return report.cells.some((c) => c.error !== null) ? ExitCode.Infrastructure : ExitCode.Ok;
}
