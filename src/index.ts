/**
 * spillway as a library: load a spec, render its configs, check them with
 * the real proxies, verify its scenarios against the real proxies, predict
 * their routing before anything runs, drive load (HTTP, and WebSocket
 * sessions in rooms), explore a grid of values,
 * and read the machine's connection limits (doctor).
 * This file is the package's one public face (`import ... from "spillway"`);
 * every other module is internal, kept out of reach by the `exports` map of
 * package.json, and may change in any release.
 */
import { detectVersion, LocalConfigChecker, type CheckResult } from "./check/index.js";
import { diagnose, readFacts, type DoctorOptions, type DoctorReport } from "./doctor/index.js";
import { startLoad } from "./load/index.js";
import { PACKAGE_VERSION } from "./package-info.js";
import { DEFAULT_VERSIONS, render as renderModel, type Rendered, type Version } from "./render/index.js";
import { toJsonReport, type JsonReport } from "./report/json.js";
import { loadSpecFile, loadSpecText, type LoadedSpec } from "./spec/load.js";
import type { Target } from "./spec/model.js";
import { verifyModel, type VerifyOptions } from "./verify/verify.js";

export { SpillwayError, UsageError, InfraError } from "./errors.js";
export { SpecError, type Diagnostic, type Severity } from "./spec/diagnostics.js";
export { ExitCode } from "./exit-codes.js";
export type { LoadedSpec } from "./spec/load.js";
export type { Backend, Expectations, Frontend, HostPort, LoadSpec, Model, Rule, Scenario, Server, Target, Threshold } from "./spec/model.js";
export { DEFAULT_VERSIONS, parseVersion, versionText, type FidelityEntry, type FidelityLevel, type Rendered, type Version } from "./render/index.js";
export type { CheckResult } from "./check/index.js";
export { startLoad };
export { parseLoadProfile, type LoadInput } from "./spec/load-profile.js";
export type { LoadOptions, LoadRun, LoadRunEvents, LoadStartInfo, LoadResult, TickInfo, LatencySummary, BackendResult, ConnectionCounts, TimelineWindow, StoppedEarly } from "./load/index.js";
export { startWsSessions, mergeWsRunData, toWsResult } from "./load/ws/index.js";
export type { WsRun, WsRunEvents, WsStartInfo, WsTickInfo, WsSessionOptions, WsShare, WsResult, WsRunData, WsTimelineWindow, WsRoomData, WsSessionCounts, WsMessageCounts, WsUpgradeCounts } from "./load/ws/index.js";
export type { WsCause } from "./wire.js";
export type { JsonReport, JsonRun, JsonWebSockets } from "./report/json.js";
export type { JsonFlip } from "./flip.js";
export { verifyExitCode, VERIFY_DEFAULTS, type VerifyOptions } from "./verify/verify.js";
export type { ScenarioRun } from "./verify/types.js";
export type { ExpectationResult } from "./verify/evaluate.js";
export type { Reconciliation, ReconcileRow, WsReconciliation, WsReconcileRow } from "./verify/reconcile.js";
export type { Flip, ProxyFailure } from "./verify/routes.js";
export { explore, EXPLORE_DEFAULTS, type ExploreOptions, type CellStart, type RampStage } from "./explore/index.js";
export type { ExploreReport, ExploreCell, MeasuredCell, PredictedCell, Knee, TargetDifference, VaryAxis, ExploreTimelineWindow, ExploreFlip } from "./explore/types.js";
export { predictSpec, type PredictSpecOptions } from "./predict/spec.js";
export type { PredictedFlipJson, PredictionJson, PredictReport } from "./predict/json.js";
export type { PredictService } from "./predict/types.js";
export type { DoctorOptions, DoctorReport, DoctorResult, Fix, LimitVerdict, MachineFacts, Need } from "./doctor/index.js";

/** What `startLoad` takes: the URL, and how to load it. */
export type LoadProfile = Parameters<typeof startLoad>[0];

/**
 * Reads and validates a spec: from a file path, or from YAML text (`name`
 * is what its diagnostics call it). Throws a SpecError listing every problem,
 * each with its place; `warnings` lists what is legal but likely wrong.
 */
export function loadSpec(source: string | { text: string; name?: string }): LoadedSpec {
  return typeof source === "string" ? loadSpecFile(source) : loadSpecText(source.text, source.name ?? "<text>");
}

export interface RenderOptions {
  /** The proxy versions to write for; default: Debian 12's (HAProxy 2.6, nginx 1.22). */
  versions?: { haproxy?: Version; nginx?: Version };
}

/** haproxy.cfg and nginx.conf from a spec, with where nginx only approximates HAProxy. Pure: nothing is read or run. */
export function render(spec: LoadedSpec, options: RenderOptions = {}): Rendered {
  return renderModel(spec.model, { ...(options.versions ? { versions: options.versions } : {}), generator: PACKAGE_VERSION });
}

export interface CheckOptions {
  /** Only these proxies; default: the spec's targets. */
  targets?: Target[];
  /** Render for these versions; default: the installed binaries' own. */
  versions?: { haproxy?: Version; nginx?: Version };
}

/** One proxy's verdict on the config rendered for it, and the version it was rendered for. */
export interface ConfigCheck extends CheckResult {
  version: Version;
}

/**
 * Renders the spec for the installed haproxy and nginx and runs their own
 * checkers (`haproxy -c`, `nginx -t`) on the result. A config they reject is
 * a result with `ok: false`, their words and the spec places behind them; a
 * missing binary is an InfraError.
 */
export async function check(spec: LoadedSpec, options: CheckOptions = {}): Promise<ConfigCheck[]> {
  const targets = options.targets ? [...new Set(options.targets)] : spec.model.targets;
  const versions: Record<Target, Version> = { ...DEFAULT_VERSIONS };
  for (const target of targets) {
    versions[target] = options.versions?.[target] ?? (await detectVersion(target))?.version ?? DEFAULT_VERSIONS[target];
  }
  const rendered = renderModel(spec.model, { versions, generator: PACKAGE_VERSION });
  const checker = new LocalConfigChecker();
  const results: ConfigCheck[] = [];
  for (const target of targets) results.push({ ...(await checker.check(target, rendered[target])), version: versions[target] });
  return results;
}

/**
 * For every target and scenario: brings the stack up, drives the load,
 * checks the expectations and tears the stack down. Resolves with the report
 * `spillway verify --json` writes; `verifyExitCode(report.results)` gives the
 * CLI's exit code. A bad option or spec rejects at once (UsageError,
 * SpecError); a run that breaks is a result with status `error`. Aborting
 * `options.signal` tears down whatever runs, and then rejects with its reason.
 */
export async function verify(spec: string | LoadedSpec, options: VerifyOptions = {}): Promise<JsonReport> {
  const { model } = typeof spec === "string" ? loadSpecFile(spec) : spec;
  return toJsonReport(await verifyModel(model, options));
}

/**
 * This machine's connection limits and, with a spec, which one each of its
 * scenarios meets first on each target, at what count, and the fix: the
 * object `spillway doctor --json` writes. `report.fits` is false when a
 * scenario cannot run here as the machine is.
 */
export async function doctor(spec: string | LoadedSpec | null = null, options: DoctorOptions = {}): Promise<DoctorReport> {
  const loaded = typeof spec === "string" ? loadSpecFile(spec) : spec;
  return diagnose(loaded?.model ?? null, await readFacts(), options, typeof spec === "string" ? spec : (loaded?.model.file ?? null));
}
