/**
 * `spillway explore`: every grid point on every target, one bounded run each,
 * measured as `verify` measures a scenario and set beside the model's
 * prediction. Consecutive points that differ only in load keys share one
 * stack (stubs and proxies keep running, only the load restarts); any other
 * step tears the stack down and starts the next. An abort ends the cell under
 * way and resolves with the cells measured before it (`complete: false`).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { InfraError, SpillwayError, UsageError } from "../errors.js";
import { profileFor, startLoad, type LoadResult, type LoadRun } from "../load/index.js";
import { startWsSessions, type WsResult, type WsRun } from "../load/ws/index.js";
import type { RoutedResult } from "../load/result.js";
import { predictInputFromSpec } from "../predict/from-spec.js";
import { predict } from "../predict/index.js";
import { render, versionText, type FidelityEntry, type Version } from "../render/index.js";
import { atLeast, DEFAULT_VERSIONS } from "../render/version.js";
import { planPorts, startProxy, startStubs, withSession, type RunContext, type RunningProxy, type RunningStubs } from "../runtime/index.js";
import { PACKAGE_VERSION } from "../package-info.js";
import { feConnSet } from "../spec/intervals.js";
import type { Model, Scenario, Target } from "../spec/model.js";
import { readNginxStatus, showStat } from "../verify/counters.js";
import { flipPoints } from "../verify/routes.js";
import { runParts, wsSessionOptions } from "../verify/run.js";
import type { StackRunOptions } from "../verify/verify.js";
import { applyGrid, prepareGrid, type AppliedPoint, type GridSpec } from "./apply.js";
import { describeDifference, fidelityRows } from "./differences.js";
import { findKnee, rampWindows } from "./knee.js";
import { varyScope } from "./paths.js";
import { applyRamp, checkRamp, rampMs, rampRateAt, rampText, type RampStage } from "./ramp.js";
import type { ExploreCell, ExploreFlip, ExploreReport, ExploreTimelineWindow, ExploreWsCell, MeasuredCell, PredictedCell, TargetDifference } from "./types.js";
import { gridPoints, parseVary, stepKind, type GridPoint, type ParsedAxis } from "./vary.js";

/** What `explore` does when an option is left out; the CLI's flags default to the same. */
export const EXPLORE_DEFAULTS = {
  runtime: "process",
  keepPorts: false,
  readyTimeoutMs: 15_000,
  /** Hard bound on each cell's load: a grid is many runs, and none may run away. */
  maxRunMs: 120_000,
  /** How long a reused proxy may take to close the last cell's connections before the next cell starts anyway. */
  settleMs: 5_000,
} as const;

/** A cell about to run: which, of how many, and on what stack. */
export interface CellStart {
  target: Target;
  values: GridPoint;
  /** 0-based among the cells this call measures (resumed cells are not counted). */
  index: number;
  /** Cells this call measures. */
  total: number;
  stack: "new" | "reused";
}

export interface ExploreOptions extends StackRunOptions {
  /** The scenario whose load every cell runs. */
  scenario: string;
  /** `--vary` arguments: `PATH=V1,V2,...` or `PATH=A..B/STEP`. */
  vary: readonly string[];
  /** Each cell's load becomes this k6-style ramp of connections; the knee comes from its timeline (a ramp always gets fixed windows). */
  ramp?: readonly RampStage[] | null;
  /** Aborting it ends the cell under way; `explore` then resolves with the cells measured before it, `complete: false`. */
  signal?: AbortSignal;
  /** A report of an earlier, interrupted exploration of the same spec, scenario, grid, targets and ramp: its measured cells are kept, the rest run. */
  resume?: ExploreReport;
  onCellStart?: (start: CellStart) => void;
  /** The cell's load is running: subscribe to its events. */
  onLoad?: (load: LoadRun, start: CellStart) => void;
  /** The cell's WebSocket sessions are running (a scenario with load.websockets): subscribe to their events. */
  onWebSockets?: (run: WsRun, start: CellStart) => void;
  /** A cell is done; `report` holds every cell so far (complete: false), for a checkpoint. Awaited. */
  onCell?: (cell: ExploreCell, report: ExploreReport) => void | Promise<void>;
  /** A stack came up: its proxies and where they run. */
  onStack?: (stack: { proxies: { target: Target; where: string }[] }) => void;
}

/** An exploration ready to run: the grid applied to the spec, every point checked. */
export interface ExplorePlan {
  file: string;
  sha256: string;
  scenario: string;
  axes: ParsedAxis[];
  grid: GridSpec;
  points: AppliedPoint[];
  targets: Target[];
  ramp: readonly RampStage[] | null;
}

/** Reads the spec: a path, or YAML text with the name its diagnostics call it. */
export function readSpec(spec: string | { text: string; name?: string }): { text: string; file: string } {
  if (typeof spec !== "string") return { text: spec.text, file: spec.name ?? "<text>" };
  try {
    return { text: readFileSync(spec, "utf8"), file: spec };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === "ENOENT" ? `spec file not found: ${spec}` : `cannot read spec file ${spec}: ${(err as Error).message}`, "Pass the path of a spillway YAML spec, e.g. fixtures/classic.yaml.");
  }
}

/**
 * Checks everything a user can get wrong before anything starts: the spec
 * (SpecError, exit 2), the scenario, the --vary paths and values, the ramp and
 * the targets (UsageError, exit 1).
 */
export function planExplore(text: string, file: string, opts: Pick<ExploreOptions, "scenario" | "vary" | "targets" | "ramp">): ExplorePlan {
  const first = prepareGrid(text, file, opts.scenario, []);
  const scenario = first.model.scenarios.find((s) => s.name === opts.scenario)!;
  const axes = parseVary(opts.vary, varyScope(first.model, scenario));
  const ramp = opts.ramp && opts.ramp.length > 0 ? opts.ramp : null;
  let base = text;
  if (ramp) {
    if (scenario.load.websockets !== null) {
      throw new UsageError(
        `--ramp: scenario '${opts.scenario}' holds WebSocket sessions, and a ramp changes only the HTTP load's connections: the knee would be of HTTP with the sessions held as they are`,
        "Explore the sessions with --vary load.websockets.connections=50,100,200 (or any other load.websockets key), or ramp a scenario without websockets.",
      );
    }
    checkRamp(scenario, axes);
    base = applyRamp(text, file, opts.scenario, ramp, scenario.load.arrivalRate !== null);
  }
  const grid = prepareGrid(base, file, opts.scenario, axes);
  const points = applyGrid(grid, gridPoints(axes));
  const allowed = scenario.targets;
  const targets = opts.targets ? [...new Set(opts.targets)] : allowed;
  const refused = targets.filter((t) => !allowed.includes(t));
  if (refused.length > 0) {
    throw new UsageError(`scenario '${opts.scenario}' runs on ${allowed.join(" and ")} only, not on ${refused.join(" or ")}`, `Leave --target out, or choose ${allowed.join(" or ")}.`);
  }
  if (targets.length === 0) throw new UsageError(`scenario '${opts.scenario}' has no target to run on`);
  return { file, sha256: createHash("sha256").update(text, "utf8").digest("hex"), scenario: opts.scenario, axes, grid, points, targets, ramp };
}

/** A word as a shell reads it back unchanged. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command that measures one cell alone. */
export function cellCommand(plan: Pick<ExplorePlan, "file" | "scenario" | "ramp">, target: Target, values: GridPoint): string {
  const words = ["spillway", "explore", plan.file, "--scenario", plan.scenario, "--target", target];
  for (const [path, value] of Object.entries(values)) words.push("--vary", `${path}=${value}`);
  if (plan.ramp) words.push("--ramp", rampText(plan.ramp));
  return words.map(shellWord).join(" ");
}

/** The scenario frontend's connection-count rules, as the lines a timeline draws: a rule routes above `conns`. */
export function ruleThresholds(model: Model, scenario: Scenario): ExploreReport["thresholds"] {
  const f = model.frontends.find((x) => x.name === scenario.frontend);
  if (f === undefined) return [];
  const out: ExploreReport["thresholds"] = [];
  for (const r of f.rules) {
    const set = feConnSet(r.condition);
    if (set === null || r.useBackend === f.defaultBackend) continue;
    for (const i of set) {
      if (i.lo > 0) out.push({ rule: r.name ?? r.text, backend: r.useBackend, conns: i.lo - 1 });
      if (i.hi !== Infinity) out.push({ rule: r.name ?? r.text, backend: r.useBackend, conns: i.hi });
    }
  }
  return out;
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * A report `--resume` may continue: made from the same spec text, scenario,
 * grid, targets and ramp. UsageError (exit 1) naming what differs.
 */
export function checkResume(plan: ExplorePlan, resume: ExploreReport): void {
  const differs: string[] = [];
  if (resume.spec !== plan.file) differs.push(`spec ${resume.spec} (now ${plan.file})`);
  else if (resume.spec_sha256 !== undefined && resume.spec_sha256 !== plan.sha256) differs.push(`the text of ${plan.file}, which has changed since`);
  if (resume.scenario !== plan.scenario) differs.push(`scenario ${resume.scenario} (now ${plan.scenario})`);
  const vary = plan.axes.map((a) => ({ path: a.path, values: a.values }));
  const theirs = (resume.vary ?? []).map((a) => ({ path: a.path, values: a.values }));
  if (!sameJson(theirs, vary)) differs.push(`the grid ${theirs.map((a) => `${a.path}=${a.values.join(",")}`).join(" ") || "(none)"} (now ${vary.map((a) => `${a.path}=${a.values.join(",")}`).join(" ")})`);
  if (!sameJson(resume.targets, plan.targets)) differs.push(`targets ${(resume.targets ?? []).join(",")} (now ${plan.targets.join(",")})`);
  const ramp = plan.ramp ? rampText(plan.ramp) : null;
  if ((resume.ramp ?? null) !== ramp) differs.push(`ramp ${resume.ramp ?? "none"} (now ${ramp ?? "none"})`);
  if (differs.length > 0) {
    throw new UsageError(`--resume: the report was made by another exploration: ${differs.join("; ")}`, "Resume with the same spec, --scenario, --vary, --target and --ramp as the run that wrote it, or start afresh without --resume.");
  }
}

// ---- measuring one cell ----

/** Client connections the proxy holds now: HAProxy's frontend `scur`, nginx's active connections less the status read itself. */
async function heldConnections(proxy: RunningProxy, frontend: string): Promise<number | null> {
  if (proxy.stats.kind === "nginx-status") return (await readNginxStatus(proxy.stats.url, 2000)).active - 1;
  const lines = (await showStat(proxy.stats.address, 2000)).split("\n").filter(Boolean);
  const header = (lines[0] ?? "").replace(/^# /, "").split(",");
  const [px, sv, scur] = [header.indexOf("pxname"), header.indexOf("svname"), header.indexOf("scur")];
  for (const line of lines.slice(1)) {
    const cells = line.split(",");
    if (cells[px] === frontend && cells[sv] === "FRONTEND") return Number(cells[scur] || 0);
  }
  return null;
}

/**
 * Waits, bounded, until the proxy has closed every client connection: a
 * reused proxy still holding the last cell's connections would count them
 * in this cell's rules. Past the bound the cell runs anyway.
 */
async function settle(proxy: RunningProxy, frontend: string, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + EXPLORE_DEFAULTS.settleMs;
  while (Date.now() < deadline && !signal?.aborted) {
    const held = await heldConnections(proxy, frontend).catch(() => null);
    if (held === null || held <= 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * p99 latency per timeline window, from the driver's per-request lines: the
 * driver's timeline counts responses per window but keeps no latencies there.
 * A response lands in the window its completion time falls in, as in the
 * driver's own timeline.
 */
class WindowLatencies {
  private t0 = 0;
  private readonly windows: number[][] = [];
  constructor(private readonly windowMs: number) {}
  start(): void {
    this.t0 = performance.timeOrigin + performance.now();
  }
  line = (text: string): void => {
    const lat = /"latencyUs":([0-9]+)/.exec(text);
    const t = /"t":([0-9]+)/.exec(text);
    if (lat === null || t === null) return;
    const i = Math.max(0, Math.floor((Number(t[1]) - this.t0) / this.windowMs));
    (this.windows[i] ??= []).push(Number(lat[1]) / 1000);
  };
  p99(i: number): number | null {
    const w = this.windows[i];
    if (w === undefined || w.length === 0) return null;
    w.sort((a, b) => a - b);
    return Math.round(w[Math.max(0, Math.ceil(0.99 * w.length) - 1)]! * 100) / 100;
  }
}

function explorerFlips(flips: readonly { rule: string; backend: string; lastDefaultConns: number | null; firstRuleConns: number | null; atMs: number | null }[]): ExploreFlip[] {
  return flips.map((f) => ({ rule: f.rule, backend: f.backend, last_default_conns: f.lastDefaultConns, first_rule_conns: f.firstRuleConns, at_ms: f.atMs }));
}

/** A cell's WebSocket sessions, from the driver's result. */
export function wsCell(ws: WsResult, asked: number): ExploreWsCell {
  const m = ws.messages;
  return {
    sessions: { asked, opened: ws.sessions.opened, failed: ws.sessions.failed, completed: ws.sessions.completed, max_open: ws.sessions.maxOpen },
    failed_by_cause: { ...ws.sessions.failedByCause },
    msgs_sent: ws.ws_msgs_sent,
    msgs_received: ws.ws_msgs_received,
    expected: m.expected,
    delivered: m.delivered,
    delivery_ratio: m.deliveryRatio,
    fanout_ms: m.delivered > 0 ? { p50: ws.fanout.p50, p99: ws.fanout.p99 } : { p50: null, p99: null },
    upgrades: { ...ws.upgrades.byBackend },
    timeline: ws.timeline.map((w) => ({ t_ms: w.tMs, open_sessions: w.openSessions, sent: w.sent, received: w.received, expected: w.expected, delivered: w.delivered })),
    window_ms: ws.timelineWindowMs,
  };
}

/** What a cell measured of HTTP when its load sent none: nothing, and no share of it. */
const NO_HTTP: Omit<MeasuredCell, "duration_ms" | "window_ms"> = {
  backends: {},
  routed: {},
  sent: 0,
  succeeded: 0,
  failed: {},
  latency_ms: { p50: null, p99: null },
  rps: 0,
  max_proxy_conns_seen: null,
  flips: [],
  timeline: [],
};

/**
 * A load's result as a cell's measurement: shares of all requests sent, as
 * `verify` reports them, and the WebSocket sessions beside them. `result`
 * is null for a load of sessions alone.
 */
export function measuredCell(
  result: LoadResult | null,
  model: Model,
  scenario: Scenario,
  p99ByWindow: ((i: number) => number | null) | null,
  websockets: WsResult | null = null,
): MeasuredCell {
  const ws = websockets === null || scenario.load.websockets === null ? null : wsCell(websockets, scenario.load.websockets.connections);
  if (result === null) return { ...NO_HTTP, window_ms: ws?.window_ms ?? 0, duration_ms: websockets?.durationMs ?? 0, websockets: ws };
  const sent = result.requests.sent;
  const backends: MeasuredCell["backends"] = {};
  for (const [name, b] of Object.entries(result.backends)) backends[name] = { count: b.count, share: sent > 0 ? b.count / sent : 0 };
  const failed: Record<string, number> = { ...result.unattributed.byCause };
  // Responses a stub sent with a failure status: attributed to their backend, and not a success.
  for (const [name, b] of Object.entries(result.backends)) {
    for (const [status, n] of Object.entries(b.statuses)) if (!/^2/.test(status)) failed[`status-${status}-from-${name}`] = (failed[`status-${status}-from-${name}`] ?? 0) + n;
  }
  const timeline: ExploreTimelineWindow[] = result.timeline.map((w, i) => ({
    t_ms: w.tMs,
    by_backend: { ...w.byBackend },
    errors: w.errors,
    open_connections: w.openConnections,
    max_proxy_conns: w.maxProxyConns ?? null,
    ...(p99ByWindow ? { p99_ms: p99ByWindow(i) } : {}),
  }));
  const frontend = model.frontends.find((f) => f.name === scenario.frontend);
  const answered = result.requests.completed > 0;
  return {
    backends,
    routed: Object.fromEntries(Object.entries(result.routed).map(([k, r]) => [k, r.count])),
    sent,
    succeeded: result.requests.succeeded,
    failed,
    latency_ms: { p50: answered ? result.latency.p50 : null, p99: answered ? result.latency.p99 : null },
    rps: result.rps,
    max_proxy_conns_seen: result.maxProxyConnsSeen,
    flips: frontend ? explorerFlips(flipPoints(frontend, result)) : [],
    timeline,
    window_ms: result.timelineWindowMs,
    duration_ms: result.durationMs,
    ...(ws !== null ? { websockets: ws } : {}),
  };
}

/**
 * The model's prediction for a cell, with this cell's measured throughput as
 * the service's capacity (the stubs' latency on top): the machine the run
 * shared decides how fast requests come back, and no spec key says that.
 * Shares are of the requests each backend served (routed less refused), as
 * the measured ones are. null when the model cannot take this load.
 */
export function predictedCell(model: Model, scenario: Scenario, target: Target, measured: MeasuredCell | null, version: Version | null): PredictedCell | null {
  // The model predicts where HTTP requests go; a load of sessions alone sends none.
  if (!scenario.load.http) return null;
  const rps = measured !== null && measured.rps > 0 ? measured.rps : null;
  const service = rps !== null ? { capacityRps: rps, source: `this cell's measured throughput (${rps} requests/s) and the stubs' latency` } : undefined;
  let p;
  try {
    p = predict(predictInputFromSpec(model, scenario, target, { ...(service ? { service } : {}), haproxyClosesAfterRequests: target === "haproxy" && version !== null && atLeast(version, 2, 9) }));
  } catch (err) {
    if (err instanceof UsageError) return null;
    throw err;
  }
  const total = p.requests;
  const backends = Object.fromEntries(Object.entries(p.routed).map(([name, n]) => [name, total > 0 ? (n - (p.refused[name] ?? 0)) / total : 0]));
  const refused = Object.values(p.refused).reduce((a, n) => a + n, 0);
  return {
    backends,
    flips: explorerFlips(p.flips),
    max_proxy_conns_seen: total > 0 ? p.maxConnsAtRouting : null,
    assumptions: [
      ...p.assumptions,
      `Shares are of the requests each backend served: routed there and not refused${refused > 0 ? ` (${refused} of ${total} refused)` : ""}, as the measured shares are.`,
      ...(p.truncated ? ["The simulation hit its event bound and was cut short: the shares are of the part it simulated."] : []),
    ],
  };
}

/** Percentage points, measured minus predicted, per backend either names. */
export function shareGap(measured: MeasuredCell | null, predicted: PredictedCell | null): Record<string, number> | null {
  if (measured === null || predicted === null) return null;
  const names = [...new Set([...Object.keys(measured.backends), ...Object.keys(predicted.backends)])].sort();
  return Object.fromEntries(names.map((b) => [b, Math.round(((measured.backends[b]?.share ?? 0) - (predicted.backends[b] ?? 0)) * 1000) / 10]));
}

/** The stack of one segment of the grid: stubs once, each target's proxy started when its first cell needs it. */
interface Stack {
  ctx: RunContext;
  model: Model;
  plans: Awaited<ReturnType<typeof planPorts>>;
  /** Whose port plan the stubs take: every target's plan holds the same stub addresses. */
  stubsFrom: Target;
  stubs: RunningStubs | null;
  proxies: Map<Target, RunningProxy>;
}

/** The target's proxy in this stack: the running one, or one started now (with the stubs, the first time). */
async function proxyFor(stack: Stack, target: Target, versions: Map<Target, Version>, opts: ExploreOptions): Promise<RunningProxy> {
  const running = stack.proxies.get(target);
  if (running !== undefined) return running;
  stack.stubs ??= await startStubs(stack.model, stack.plans[stack.stubsFrom].stubs, stack.ctx);
  const proxy = await startProxy(stack.model, target, stack.plans[target], stack.ctx);
  versions.set(target, proxy.info.version);
  stack.proxies.set(target, proxy);
  opts.onStack?.({ proxies: [...stack.proxies.values()].map((p) => ({ target: p.target, where: p.proxy.where })) });
  return proxy;
}

interface Measurement {
  measured: MeasuredCell;
  loadMs: number;
  /** A staircase's arrival rate, window by window. */
  rates?: number[];
}

async function measure(proxy: RunningProxy, point: AppliedPoint, target: Target, plan: ExplorePlan, opts: ExploreOptions, start: CellStart): Promise<Measurement> {
  const scenario = point.scenario;
  const frontend = proxy.frontends.find((f) => f.name === scenario.frontend);
  if (!frontend) throw new InfraError(`no frontend '${scenario.frontend}' to send load to`);
  if (frontend.speaks === "h2c only" && scenario.load.websockets !== null) {
    throw new InfraError(
      `scenario '${scenario.name}' holds WebSocket sessions, but ${target} ${versionText(proxy.info.version)} speaks only h2c on frontend '${frontend.name}' (a cleartext http2 listener before nginx 1.25.1): no upgrade could succeed`,
      "Disable HTTP/2 on the frontend (http2.enabled: false, with load.protocol: h1 for any HTTP load), or run nginx 1.25.1 or later.",
    );
  }
  if (scenario.load.http && frontend.speaks === "h2c only" && (scenario.load.protocol === "h1" || scenario.load.protocol === "h1-close")) {
    throw new InfraError(
      `scenario '${scenario.name}' sends HTTP/1.1, but ${target} ${versionText(proxy.info.version)} speaks only h2c on frontend '${frontend.name}' (a cleartext http2 listener before nginx 1.25.1): no request could succeed`,
      "Use load.protocol: h2c, disable HTTP/2 on the frontend (http2.enabled: false), or run nginx 1.25.1 or later.",
    );
  }
  await settle(proxy, frontend.name, opts.signal);
  // An abort that came before the listener below would never stop the load: the proxy is already gone.
  opts.signal?.throwIfAborted();
  if (plan.ramp && scenario.load.arrivalRate !== null) return rateStaircase(frontend.url, point, plan.ramp, opts, start);
  // A ramp's windows are its load levels: fixed, about 50 of them, each with its p99.
  const windowMs = plan.ramp ? Math.max(100, Math.round(rampMs(plan.ramp) / 50 / 100) * 100) : (opts.windowMs ?? null);
  const latencies = plan.ramp ? new WindowLatencies(windowMs!) : null;
  const maxRunMs = opts.maxRunMs ?? EXPLORE_DEFAULTS.maxRunMs;
  // Both parts start together, as verify starts them; the cell ends when both have.
  const run = scenario.load.http
    ? startLoad(
        profileFor(scenario.load, {
          url: frontend.url,
          maxRunMs,
          timelineWindowMs: windowMs,
          ...(latencies ? { ndjson: latencies.line } : {}),
        }),
      )
    : null;
  const wsOptions = wsSessionOptions(scenario.load, frontend.url, maxRunMs);
  const wsRun = wsOptions === null ? null : startWsSessions(wsOptions);
  if (latencies) run?.once("start", () => latencies.start());
  if (wsRun) opts.onWebSockets?.(wsRun, start);
  if (run) opts.onLoad?.(run, start);
  const [result, websockets] = await runParts(run, wsRun, opts.signal);
  opts.signal?.throwIfAborted();
  const measured = measuredCell(result, point.model, scenario, latencies ? (i) => latencies.p99(i) : null, websockets);
  // The sessions start with the warmup, the measured HTTP part after it.
  return { measured, loadMs: Math.max(result === null ? 0 : scenario.load.warmupMs + result.durationMs, websockets?.durationMs ?? 0) };
}

/** One load to its end, stopped by an abort. */
async function runOnce(run: LoadRun, opts: ExploreOptions, start: CellStart): Promise<LoadResult> {
  opts.onLoad?.(run, start);
  const stop = () => run.stop();
  opts.signal?.addEventListener("abort", stop, { once: true });
  const result = await run.done.finally(() => opts.signal?.removeEventListener("abort", stop));
  opts.signal?.throwIfAborted();
  return result;
}

function percentile(sorted: readonly number[], p: number): number | null {
  return sorted.length === 0 ? null : Math.round(sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]! * 100) / 100;
}

/**
 * An open model's ramp: the driver holds an arrival rate steady through a
 * run, so the ramp is a staircase of short runs back to back on the same
 * stack, each at the ramp's rate at the middle of its step (k6's
 * ramping-arrival-rate, in steps). Each step is one timeline window: what
 * completed within the step, with the p99 of every request the step sent;
 * the cell's totals add the steps up, and its p50 and p99 are of every
 * response, from the driver's per-request lines.
 */
async function rateStaircase(url: string, point: AppliedPoint, ramp: readonly RampStage[], opts: ExploreOptions, start: CellStart): Promise<Measurement> {
  const scenario = point.scenario;
  const totalMs = Math.max(1, rampMs(ramp));
  const steps = Math.max(1, Math.round(totalMs / Math.max(1000, totalMs / 30)));
  const stepMs = Math.max(1, Math.round(totalMs / steps));
  const latencies: number[] = [];
  const collect = (text: string): void => {
    const lat = /"latencyUs":([0-9]+)/.exec(text);
    if (lat !== null) latencies.push(Number(lat[1]) / 1000);
  };
  const backends: Record<string, number> = {};
  const failed: Record<string, number> = {};
  const routed: Record<string, RoutedResult> = {};
  const timeline: ExploreTimelineWindow[] = [];
  const rates: number[] = [];
  let sent = 0;
  let succeeded = 0;
  let completed = 0;
  let maxConns: number | null = null;
  let loadMs = 0;
  const add = (into: Record<string, number>, key: string, n: number) => (into[key] = (into[key] ?? 0) + n);
  for (let i = 0; i < steps; i++) {
    opts.signal?.throwIfAborted();
    const offset = i * stepMs;
    const rate = Math.round(rampRateAt(ramp, offset + stepMs / 2) * 100) / 100;
    rates.push(rate);
    if (rate <= 0) {
      // A stage held at 0: nothing to send, the time passes all the same.
      await new Promise((r) => setTimeout(r, stepMs));
      timeline.push({ t_ms: offset, by_backend: {}, errors: 0, open_connections: 0, max_proxy_conns: null, p99_ms: null });
      loadMs += stepMs;
      continue;
    }
    const load = { ...scenario.load, arrivalRate: rate, durationMs: stepMs, warmupMs: 0, requests: null, stages: null, budget: "pooled" as const };
    const result = await runOnce(startLoad(profileFor(load, { url, maxRunMs: opts.maxRunMs ?? EXPLORE_DEFAULTS.maxRunMs, timelineWindowMs: stepMs, ndjson: collect })), opts, start);
    loadMs += result.durationMs;
    sent += result.requests.sent;
    succeeded += result.requests.succeeded;
    completed += result.requests.completed;
    for (const [b, r] of Object.entries(result.backends)) {
      add(backends, b, r.count);
      for (const [status, n] of Object.entries(r.statuses)) if (!/^2/.test(status)) add(failed, `status-${status}-from-${b}`, n);
    }
    for (const [cause, n] of Object.entries(result.unattributed.byCause)) add(failed, cause, n);
    for (const [b, r] of Object.entries(result.routed)) {
      const into = (routed[b] ??= { count: 0, served: {}, proxyStatuses: {}, minConns: null, maxConns: null, firstMs: Infinity, lastMs: 0 });
      into.count += r.count;
      for (const [k, n] of Object.entries(r.served)) add(into.served, k, n);
      for (const [k, n] of Object.entries(r.proxyStatuses)) add(into.proxyStatuses, k, n);
      if (r.minConns !== null) into.minConns = into.minConns === null ? r.minConns : Math.min(into.minConns, r.minConns);
      if (r.maxConns !== null) into.maxConns = into.maxConns === null ? r.maxConns : Math.max(into.maxConns, r.maxConns);
      if (r.count > 0) {
        into.firstMs = Math.min(into.firstMs, offset + r.firstMs);
        into.lastMs = Math.max(into.lastMs, offset + r.lastMs);
      }
    }
    if (result.maxProxyConnsSeen !== null) maxConns = Math.max(maxConns ?? 0, result.maxProxyConnsSeen);
    // The step's window holds what completed within the step: its throughput at this rate. What the
    // step left in flight drains before the next one starts, and counts in the totals only.
    const w = result.timeline[0];
    timeline.push({
      t_ms: offset,
      by_backend: { ...(w?.byBackend ?? {}) },
      errors: w?.errors ?? 0,
      open_connections: result.connections.maxOpen,
      max_proxy_conns: w?.maxProxyConns ?? null,
      // Of every request sent at this rate, the drained ones included: they waited longest.
      p99_ms: result.requests.completed > 0 ? result.latency.p99 : null,
    });
  }
  latencies.sort((a, b) => a - b);
  const frontend = point.model.frontends.find((f) => f.name === scenario.frontend);
  const seconds = loadMs / 1000;
  const measured: MeasuredCell = {
    backends: Object.fromEntries(Object.entries(backends).map(([b, n]) => [b, { count: n, share: sent > 0 ? n / sent : 0 }])),
    routed: Object.fromEntries(Object.entries(routed).map(([b, r]) => [b, r.count])),
    sent,
    succeeded,
    failed,
    latency_ms: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
    rps: seconds > 0 ? Math.round((completed / seconds) * 10) / 10 : 0,
    max_proxy_conns_seen: maxConns,
    // flipPoints reads a result's routes and nothing else; the steps' routes, added up, are the cell's.
    flips: frontend ? explorerFlips(flipPoints(frontend, { routed } as Pick<LoadResult, "routed"> as LoadResult)) : [],
    timeline,
    window_ms: stepMs,
    duration_ms: Math.round(loadMs),
  };
  return { measured, loadMs, rates };
}

/** The knee of a ramped cell: over connections open, or over the arrival rate of a staircase's windows. */
function kneeOf(m: Measurement): ReturnType<typeof findKnee> {
  const rates = m.rates;
  if (rates === undefined) return findKnee("connections", rampWindows(m.measured));
  return findKnee("arrival_rate", rampWindows(m.measured, (w) => rates[Math.round(w.t_ms / m.measured.window_ms)] ?? 0));
}

function errorText(err: SpillwayError): string {
  return `${err.message}${err.hint ? `\n${err.hint}` : ""}`;
}

/** A cell's place in the grid: its target and its values, in the axes' order. */
function cellKey(plan: ExplorePlan, target: Target, values: GridPoint): string {
  return `${target}\u0000${JSON.stringify(plan.axes.map((a) => values[a.path]))}`;
}

/** Every cell of the plan, measured and predicted, as `spillway explore --json` writes it. */
export async function runExplore(plan: ExplorePlan, opts: ExploreOptions): Promise<ExploreReport> {
  if (opts.resume) checkResume(plan, opts.resume);
  const key = (target: Target, values: GridPoint) => cellKey(plan, target, values);
  const cells = new Map<string, ExploreCell>();
  for (const c of opts.resume?.cells ?? []) if (c.measured !== null && plan.targets.includes(c.target)) cells.set(key(c.target, c.values), c);
  // Grid order, every target of a point in turn: both proxies of a stack serve its points one after the other.
  const work = plan.points.flatMap((point) => plan.targets.filter((t) => !cells.has(key(t, point.values))).map((target) => ({ point, target })));
  const versions = new Map<Target, Version>();
  const startedAt = opts.resume?.started_at ?? new Date().toISOString();
  const rendered = renderer(versions);
  const report = (complete: boolean): ExploreReport => assemble(plan, cells, rendered, complete, startedAt);
  const session = {
    runtime: opts.runtime ?? EXPLORE_DEFAULTS.runtime,
    ...(opts.image ? { image: opts.image } : {}),
    keepPorts: opts.keepPorts ?? EXPLORE_DEFAULTS.keepPorts,
    readyTimeoutMs: opts.readyTimeoutMs ?? EXPLORE_DEFAULTS.readyTimeoutMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    warn: opts.warn ?? ((text: string) => void process.stderr.write(text)),
  };
  let next = 0;
  try {
    while (next < work.length) {
      opts.signal?.throwIfAborted();
      // One stack for the points from `next` on whose steps change only load keys.
      const first = work[next]!;
      next = await withSession(session, async (ctx) => {
        const stack: Stack = {
          ctx,
          model: first.point.model,
          plans: await planPorts(first.point.model, plan.targets, ctx.keepPorts),
          stubsFrom: plan.targets[0]!,
          stubs: null,
          proxies: new Map(),
        };
        let k = next;
        for (; k < work.length; k++) {
          const w = work[k]!;
          if (k > next && stepKind(plan.axes, work[k - 1]!.point.values, w.point.values) === "stack") break;
          opts.signal?.throwIfAborted();
          const started = Date.now();
          const fresh = !stack.proxies.has(w.target);
          const start: CellStart = { target: w.target, values: w.point.values, index: k, total: work.length, stack: fresh ? "new" : "reused" };
          opts.onCellStart?.(start);
          let m: Measurement | null = null;
          let error: string | null = null;
          try {
            const proxy = await proxyFor(stack, w.target, versions, opts);
            m = await measure(proxy, w.point, w.target, plan, opts, start);
          } catch (err) {
            if (opts.signal?.aborted || !(err instanceof SpillwayError)) throw err;
            error = errorText(err);
            // A proxy that broke a cell is not trusted with the next: the next cell of its target starts a new one.
            const broken = stack.proxies.get(w.target);
            stack.proxies.delete(w.target);
            await broken?.proxy.stop().catch(() => undefined);
          }
          // The model's own time is not the stack's: it is left out of the overhead.
          const wallMs = Date.now() - started;
          const measured = m?.measured ?? null;
          // The model takes one arrival rate per run; a ramped rate is no input it can take.
          const staircase = plan.ramp !== null && w.point.scenario.load.arrivalRate !== null;
          const predicted = staircase ? null : predictedCell(w.point.model, w.point.scenario, w.target, measured, versions.get(w.target) ?? null);
          const cell: ExploreCell = {
            target: w.target,
            values: w.point.values,
            measured,
            predicted,
            gap: shareGap(measured, predicted),
            knee: plan.ramp && m ? kneeOf(m) : null,
            error,
            command: cellCommand(plan, w.target, w.point.values),
            overhead_ms: Math.max(0, wallMs - Math.round(m?.loadMs ?? 0)),
            stack: start.stack,
          };
          cells.set(key(w.target, w.point.values), cell);
          await opts.onCell?.(cell, report(false));
        }
        return k;
      });
    }
  } catch (err) {
    if (!opts.signal?.aborted) throw err;
    return report(false);
  }
  return report(true);
}

/**
 * Renders a grid point for the proxies' versions (the installed ones once a
 * proxy has run, Debian 12's before), once per point and versions: the
 * report is assembled after every cell.
 */
function renderer(versions: Map<Target, Version>): (point: AppliedPoint) => ReturnType<typeof render> {
  const cache = new WeakMap<AppliedPoint, { at: string; rendered: ReturnType<typeof render> }>();
  return (point) => {
    const v = { haproxy: versions.get("haproxy") ?? DEFAULT_VERSIONS.haproxy, nginx: versions.get("nginx") ?? DEFAULT_VERSIONS.nginx };
    const at = `${versionText(v.haproxy)} ${versionText(v.nginx)}`;
    const hit = cache.get(point);
    if (hit?.at === at) return hit.rendered;
    const rendered = render(point.model, { versions: v, generator: PACKAGE_VERSION });
    cache.set(point, { at, rendered });
    return rendered;
  };
}

/** The report from the cells so far, in grid order, target by target. */
function assemble(plan: ExplorePlan, cells: Map<string, ExploreCell>, rendered: (point: AppliedPoint) => ReturnType<typeof render>, complete: boolean, startedAt: string): ExploreReport {
  const key = (target: Target, values: GridPoint) => cellKey(plan, target, values);
  const ordered: ExploreCell[] = [];
  for (const target of plan.targets) for (const p of plan.points) {
    const c = cells.get(key(target, p.values));
    if (c) ordered.push(c);
  }
  const differences: TargetDifference[] = [];
  if (plan.targets.includes("haproxy") && plan.targets.includes("nginx")) {
    for (const p of plan.points) {
      const h = cells.get(key("haproxy", p.values));
      const n = cells.get(key("nginx", p.values));
      if (!h || !n) continue;
      const fidelity: FidelityEntry[] = rendered(p).fidelity;
      differences.push(describeDifference({ values: p.values, haproxy: h.measured, nginx: n.measured, model: p.model, scenario: p.scenario, fidelity }));
    }
  }
  const first = plan.points[0]!;
  const r = rendered(first);
  return {
    spec: plan.file,
    spec_sha256: plan.sha256,
    scenario: plan.scenario,
    started_at: startedAt,
    vary: plan.axes.map((a) => ({ path: a.path, values: [...a.values] })),
    targets: [...plan.targets],
    ramp: plan.ramp ? rampText(plan.ramp) : null,
    cells: ordered,
    differences,
    configs: Object.fromEntries(plan.targets.map((t) => [t, r[t]])),
    fidelity: fidelityRows(r.fidelity),
    thresholds: ruleThresholds(first.model, first.scenario),
    complete,
  };
}

/**
 * Explores a spec: `spillway explore` as a library call. Rejects at once on
 * a bad option or spec (UsageError, SpecError); a cell that breaks is a cell
 * with an `error`; an abort of `options.signal` resolves with the cells
 * measured before it and `complete: false`.
 */
export async function explore(spec: string | { text: string; name?: string }, options: ExploreOptions): Promise<ExploreReport> {
  options.signal?.throwIfAborted();
  const { text, file } = readSpec(spec);
  return runExplore(planExplore(text, file, options), options);
}
