import { InfraError, SpillwayError } from "../errors.js";
import { profileFor, startLoad, type LoadProfile, type LoadResult, type LoadRun } from "../load/index.js";
import { startWsSessions, WS_DEFAULTS, type WsResult, type WsRun, type WsSessionOptions } from "../load/ws/index.js";
import { versionText } from "../render/index.js";
import { planPorts, startProxy, startStubs, type RunContext } from "../runtime/index.js";
import type { LoadSpec, Model, Scenario, Target } from "../spec/model.js";
import { evaluateExpectations } from "./evaluate.js";
import { readCounters } from "./counters.js";
import { startSampler } from "./sampler.js";
import { reconcile } from "./reconcile.js";
import { flipPoints, proxyFailures } from "./routes.js";
import type { ScenarioRun } from "./types.js";

export function loadProfile(load: LoadSpec, url: string, maxRunMs: number, windowMs: number | null, ndjson?: (line: string) => void): LoadProfile {
  return profileFor(load, { url, maxRunMs, timelineWindowMs: windowMs, ...(ndjson ? { ndjson } : {}) });
}

/**
 * The scenario's WebSocket sessions, at the frontend's URL with the load's
 * path, from the load's source addresses. Bounded by verify's own bound, or
 * sooner by the driver's: the last session's start, its connect, its length,
 * its drain and its close, plus 10 s.
 */
export function wsSessionOptions(load: LoadSpec, frontendUrl: string, maxRunMs: number): WsSessionOptions | null {
  const w = load.websockets;
  if (w === null) return null;
  const url = new URL(load.path ?? "/", frontendUrl);
  url.protocol = "ws:";
  const lastStartMs = w.connectRate === null ? 0 : ((w.connections - 1) / w.connectRate) * 1000;
  const ownBoundMs = lastStartMs + WS_DEFAULTS.connectTimeoutMs + w.sessionMs + WS_DEFAULTS.drainTimeoutMs + WS_DEFAULTS.closeTimeoutMs + 10_000;
  return { ...w, url: url.toString(), maxRunMs: Math.min(maxRunMs, ownBoundMs), ...(load.sourceAddresses.length > 0 ? { sourceAddresses: load.sourceAddresses } : {}) };
}

/**
 * A scenario's HTTP load and its WebSocket sessions (either may be absent)
 * to their end. When one part fails, the other is stopped and awaited, so
 * nothing of the run outlives it, and the failure is thrown; an abort of
 * `signal` stops both.
 */
export async function runParts(run: LoadRun | null, wsRun: WsRun | null, signal: AbortSignal | undefined): Promise<[LoadResult | null, WsResult | null]> {
  const stop = () => {
    run?.stop();
    wsRun?.stop();
  };
  signal?.addEventListener("abort", stop, { once: true });
  const parts = await Promise.allSettled([
    run ? run.done.catch((err: unknown) => (wsRun?.stop(), Promise.reject(err))) : Promise.resolve(null),
    wsRun ? wsRun.done.catch((err: unknown) => (run?.stop(), Promise.reject(err))) : Promise.resolve(null),
  ]);
  signal?.removeEventListener("abort", stop);
  const failure = parts.find((p): p is PromiseRejectedResult => p.status === "rejected");
  if (failure) throw failure.reason;
  return [(parts[0] as PromiseFulfilledResult<LoadResult | null>).value, (parts[1] as PromiseFulfilledResult<WsResult | null>).value];
}

export interface ScenarioHooks {
  /** Called with the running load, so a progress display can subscribe to its events. */
  onLoad?: (run: LoadRun, target: Target, scenario: Scenario) => void;
  /** Called with the running WebSocket sessions, when the scenario holds any. */
  onWebSockets?: (run: WsRun, target: Target, scenario: Scenario) => void;
  ndjson?: (line: string) => void;
}

/**
 * One scenario against one target, in its own stack: stubs and proxy up,
 * counters read, load driven, counters read again, expectations checked.
 * Infrastructure failures come back as an `error` run, not an exception,
 * so the other runs still happen; the caller's teardown stops the stack.
 */
export async function runScenario(model: Model, target: Target, scenario: Scenario, ctx: RunContext, opts: { maxRunMs: number; windowMs: number | null } & ScenarioHooks): Promise<ScenarioRun> {
  const started = Date.now();
  const base: ScenarioRun = {
    target,
    scenario: scenario.name,
    description: scenario.description,
    runtime: ctx.runtime.kind,
    proxy: null,
    status: "error",
    error: null,
    load: null,
    websockets: null,
    expectations: [],
    reconciliation: null,
    counts: null,
    proxyFailures: [],
    flips: [],
    durationMs: 0,
  };
  try {
    const plans = await planPorts(model, [target], ctx.keepPorts);
    const plan = plans[target];
    const stubs = await startStubs(model, plan.stubs, ctx);
    const proxy = await startProxy(model, target, plan, ctx);
    base.proxy = { version: versionText(proxy.info.version), details: proxy.info.details };
    const frontend = proxy.frontends.find((f) => f.name === scenario.frontend) ?? proxy.frontends[0];
    if (!frontend) throw new InfraError(`no frontend to send load to in scenario '${scenario.name}'`);
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
    const stubsBefore = await stubs.fleet.counts();
    const countersBefore = await readCounters(proxy);
    let httpOpen = 0;
    let wsOpen = 0;
    // A stub_status read is itself a client connection of nginx, and $connections_active, which nginx's
    // connection-count rules route on, counts it: reading it during the load would move the routing under test.
    const nginxRoutesOnCount = proxy.stats.kind === "nginx-status" && model.frontends.some((f) => f.rules.length > 0);
    const sampler = startSampler({
      proxy: proxy.stats.kind === "haproxy-socket" ? { kind: "haproxy", address: proxy.stats.address } : nginxRoutesOnCount ? null : { kind: "nginx", url: proxy.stats.url },
      port: Number(new URL(frontend.url).port),
      // A WebSocket session holds a proxy connection as a request's connection does.
      driverOpen: () => httpOpen + wsOpen,
      compareUntilMs: scenario.load.durationMs ?? null,
      ...(nginxRoutesOnCount
        ? { note: "nginx's stub_status was not read during the load: each read is a client connection that $connections_active, which this spec's rules route on, would count; the kernel's count on nginx's port stands for it" }
        : {}),
    });
    // Both parts start together; the scenario ends when both have.
    const run = scenario.load.http ? startLoad(loadProfile(scenario.load, frontend.url, opts.maxRunMs, opts.windowMs, opts.ndjson)) : null;
    const wsOptions = wsSessionOptions(scenario.load, frontend.url, opts.maxRunMs);
    const wsRun = wsOptions === null ? null : startWsSessions(wsOptions);
    run?.on("tick", (t) => (httpOpen = t.openConnections));
    wsRun?.on("tick", (t) => (wsOpen = t.open));
    if (run) opts.onLoad?.(run, target, scenario);
    if (wsRun) opts.onWebSockets?.(wsRun, target, scenario);
    let result: LoadResult | null;
    let websockets: WsResult | null;
    try {
      [result, websockets] = await runParts(run, wsRun, ctx.signal);
    } catch (err) {
      await sampler.stop().catch(() => undefined);
      throw err;
    }
    // Stopped before the counters are read again: its stub_status reads would otherwise fall between them uncounted.
    const counts = await sampler.stop();
    ctx.signal?.throwIfAborted();
    // Let the last responses' bookkeeping settle in the stubs and the proxy.
    await new Promise((r) => setTimeout(r, 100));
    const stubsAfter = websockets === null ? await stubs.fleet.counts() : await settledWsCounts(() => stubs.fleet.counts(), stubsBefore);
    const countersAfter = await readCounters(proxy);
    // The after-read itself and each of the sampler's reads are requests in nginx's count.
    const reconciliation = reconcile(target, result, { before: stubsBefore, after: stubsAfter }, { before: countersBefore, after: countersAfter }, 1 + sampler.proxyReads, websockets);
    const expectations = evaluateExpectations(scenario.expect[target], result, websockets);
    const passed = expectations.every((e) => e.passed) && reconciliation.ok;
    const flips = result === null ? [] : flipPoints(model.frontends.find((f) => f.name === frontend.name) ?? model.frontends[0]!, result);
    return {
      ...base,
      status: passed ? "passed" : "failed",
      load: result,
      websockets,
      expectations,
      reconciliation,
      counts,
      proxyFailures: result === null ? [] : proxyFailures(target, model, result),
      flips,
      durationMs: Date.now() - started,
    };
  } catch (err) {
    if (!(err instanceof SpillwayError)) throw err;
    return { ...base, status: "error", error: `${err.message}${err.hint ? `\n${err.hint}` : ""}`, durationMs: Date.now() - started };
  }
}

type CountsByStub = Awaited<ReturnType<Awaited<ReturnType<typeof startStubs>>["fleet"]["counts"]>>;

/**
 * The stubs' counts once they have heard every session end: a stub sees a
 * close a moment after the driver does, and its message counts are final
 * only then. Bounded: after 2 s the counts are taken as they are, and the
 * reconciliation says what differs.
 */
async function settledWsCounts(read: () => Promise<CountsByStub>, before: CountsByStub): Promise<CountsByStub> {
  const openBefore = Object.values(before).reduce((n, c) => n + (c.ws?.open ?? 0), 0);
  const deadline = Date.now() + 2000;
  for (;;) {
    const now = await read();
    const open = Object.values(now).reduce((n, c) => n + (c.ws?.open ?? 0), 0);
    if (open <= openBefore || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 25));
  }
}
