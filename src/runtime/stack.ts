import { formatHostPort, isLoopbackIp, NGINX_STATUS_PATH } from "../wire.js";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InfraError, UsageError } from "../errors.js";
import { render, type Version } from "../render/index.js";
import { atLeast } from "../render/version.js";
import type { HostPort, Model, Target } from "../spec/model.js";
import { startStubFleet, type StartedStubFleet, type StubOptions } from "../stub/index.js";
import { openFileLimit, proxyLimits } from "./limits.js";
import { applyPortPlan, capacityWarnings, runtimeRenderOptions, type PortPlan } from "./plan.js";
import { assertPortFree, freePort } from "./ports.js";
import { waitUntilServing } from "./readiness.js";
import type { RunRegistry } from "./registry.js";
import type { Teardown } from "./teardown.js";
import type { ProxyInfo, ProxyRuntime, StartedProxy } from "./types.js";

export interface RunContext {
  runId: string;
  /** Writable directory of this run: one subdirectory per proxy. Exists once ensureRunDir() ran. */
  runDir: string;
  /** Creates the run directory and the run's record; called before the run starts anything. */
  ensureRunDir: () => void;
  teardown: Teardown;
  registry: RunRegistry | null;
  runtime: ProxyRuntime;
  /** Use the spec's own ports instead of free ones. */
  keepPorts: boolean;
  readyTimeoutMs: number;
  warn: (text: string) => void;
  generator?: string;
  /** Aborted when the run is cancelled: start nothing more, stop waiting. */
  signal?: AbortSignal;
}

export interface FrontendEndpoint {
  name: string;
  host: string;
  port: number;
  url: string;
  /** What the readiness probe and clients should speak first. */
  protocol: "h2c" | "h1";
  /** What the listener accepts, for people. */
  speaks: string;
}

export interface RunningProxy {
  target: Target;
  proxy: StartedProxy;
  info: ProxyInfo;
  dir: string;
  configFile: string;
  config: string;
  logFile: string;
  frontends: FrontendEndpoint[];
  /** HAProxy's stats socket or nginx's stub_status URL. */
  stats: { kind: "haproxy-socket"; address: HostPort } | { kind: "nginx-status"; url: string };
  model: Model;
}

export interface RunningStubs {
  fleet: StartedStubFleet;
  addresses: Record<string, HostPort>;
}

/** The run was cancelled and its teardown began: start nothing more. */
function throwIfInterrupted(ctx: RunContext): void {
  if (ctx.teardown.started || ctx.signal?.aborted) throw new InfraError("interrupted: the run is being torn down");
}

function url(hp: HostPort): string {
  return `http://${formatHostPort(hp)}`;
}

/** Proxies started by spillway listen, and send what they proxy, on loopback only: addresses are parsed, never prefix-matched. */
export function assertLoopbackStack(model: Model): void {
  for (const f of model.frontends) {
    if (!isLoopbackIp(f.bind.host)) {
      throw new UsageError(
        `frontend '${f.name}' binds ${formatHostPort(f.bind)}: spillway runs proxies on loopback only`,
        "Bind it to 127.0.0.1 in the spec you verify (the rendered config for production can differ).",
      );
    }
  }
  for (const b of model.backends) {
    for (const s of b.servers) {
      if (!s.stub && !isLoopbackIp(s.address.host)) {
        throw new UsageError(
          `backend '${b.name}' server '${s.name}' is at ${formatHostPort(s.address)}: a proxy started by spillway would send traffic off this machine`,
          `Give the verify spec loopback servers (127.0.0.0/8 or [::1]), or use servers: N for spillway's stubs.`,
        );
      }
    }
  }
}

/** Picks the addresses of one stack: the spec's with --keep-ports, free loopback ports otherwise. */
export async function planPorts(model: Model, targets: Target[], keepPorts: boolean): Promise<Record<Target, PortPlan>> {
  if (keepPorts && targets.length > 1) {
    throw new UsageError(
      `--keep-ports with ${targets.length} targets: ${targets.join(" and ")} would both listen on ${model.frontends.map((f) => `${f.bind.host}:${f.bind.port}`).join(", ")}`,
      "Pick one with --target, or drop --keep-ports.",
    );
  }
  assertLoopbackStack(model);
  // The kernel may hand out the same free port twice in a row: never plan one port for two listeners.
  const taken = new Set<string>();
  const pick = async (host: string): Promise<number> => {
    for (;;) {
      const port = await freePort(host);
      if (!taken.has(`${host}:${port}`)) {
        taken.add(`${host}:${port}`);
        return port;
      }
    }
  };
  const stubs: Record<string, HostPort> = {};
  for (const b of model.backends) {
    for (const s of b.servers) {
      if (!s.stub) continue;
      const key = `${b.name}/${s.name}`;
      stubs[key] = keepPorts ? s.address : { host: s.address.host, port: await pick(s.address.host) };
    }
  }
  const plans = {} as Record<Target, PortPlan>;
  for (const t of targets) {
    const frontends: Record<string, HostPort> = {};
    for (const f of model.frontends) {
      frontends[f.name] = keepPorts ? f.bind : { host: f.bind.host, port: await pick(f.bind.host) };
    }
    plans[t] = { frontends, stubs, nginxStatus: { host: "127.0.0.1", port: await pick("127.0.0.1") }, haproxyStats: { host: "127.0.0.1", port: await pick("127.0.0.1") } };
  }
  return plans;
}

/** Starts one stub per stub server of the spec, in a child process, and registers its stop. */
export async function startStubs(model: Model, addresses: Record<string, HostPort>, ctx: RunContext): Promise<RunningStubs> {
  const options: StubOptions[] = [];
  for (const b of model.backends) {
    for (const s of b.servers) {
      if (!s.stub) continue;
      const at = addresses[`${b.name}/${s.name}`] ?? s.address;
      if (ctx.keepPorts) await assertPortFree(at.host, at.port, `stub ${b.name}/${s.name}`);
      options.push({
        backend: b.name,
        server: s.name,
        host: at.host,
        port: at.port,
        latencyMs: b.stub.latencyMs,
        ...(b.stub.bodyBytes !== null ? { bodyBytes: b.stub.bodyBytes } : {}),
        failureRate: b.stub.failureRate,
        failureStatus: b.stub.failureStatus,
      });
    }
  }
  throwIfInterrupted(ctx);
  ctx.ensureRunDir();
  const fleet = await startStubFleet(options);
  ctx.registry?.addProcess(fleet.pid, "stubs", "spillway-stub-fleet");
  ctx.teardown.add(`backend stubs (pid ${fleet.pid})`, () => fleet.stop());
  return { fleet, addresses };
}

/** Renders the spec for this runtime, starts the proxy and waits until it answers through to a stub. */
export async function startProxy(model: Model, target: Target, plan: PortPlan, ctx: RunContext, info?: ProxyInfo): Promise<RunningProxy> {
  const proxyInfo = info ?? (await ctx.runtime.inspect(target));
  throwIfInterrupted(ctx);
  ctx.ensureRunDir();
  const dir = join(ctx.runDir, target);
  await mkdir(dir, { recursive: true });
  const fd = openFileLimit();
  const limits = proxyLimits(fd.soft);
  if (target === "haproxy") for (const w of capacityWarnings(model, limits.haproxyMaxconn, fd.soft)) ctx.warn(`warning: ${w}\n`);
  const planned = applyPortPlan(model, plan);
  const versions: { haproxy?: Version; nginx?: Version } = { [target]: proxyInfo.version };
  const rendered = render(planned, { versions, runtime: runtimeRenderOptions(target, plan, limits), ...(ctx.generator ? { generator: ctx.generator } : {}) });
  const configFile = join(dir, target === "haproxy" ? "haproxy.cfg" : "nginx.conf");
  await writeFile(configFile, rendered[target]);
  if (ctx.keepPorts) {
    for (const f of planned.frontends) await assertPortFree(f.bind.host, f.bind.port, `${target} frontend '${f.name}'`);
  }
  const logFile = join(dir, `${target}.log`);
  throwIfInterrupted(ctx);
  const proxy = await ctx.runtime.start({ target, runId: ctx.runId, dir, config: configFile, log: logFile }, ctx.teardown);
  const frontends: FrontendEndpoint[] = planned.frontends.map((f) => ({
    name: f.name,
    host: f.bind.host,
    port: f.bind.port,
    url: url(f.bind),
    protocol: f.http2.enabled ? "h2c" : "h1",
    speaks: !f.http2.enabled ? "HTTP/1.1" : target === "nginx" && !atLeast(proxyInfo.version, 1, 25, 1) ? "h2c only" : "h2c + HTTP/1.1",
  }));
  for (const f of frontends) {
    await waitUntilServing({
      what: `${target} (${proxy.where}) frontend '${f.name}'`,
      host: f.host,
      port: f.port,
      protocol: f.protocol,
      timeoutMs: ctx.readyTimeoutMs,
      alive: () => proxy.running(),
      logs: () => proxy.logs(20),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  }
  return {
    target,
    proxy,
    info: proxyInfo,
    dir,
    configFile,
    config: rendered[target],
    logFile,
    frontends,
    stats: target === "haproxy" ? { kind: "haproxy-socket", address: plan.haproxyStats } : { kind: "nginx-status", url: `${url(plan.nginxStatus)}${NGINX_STATUS_PATH}` },
    model: planned,
  };
}

/** What `spillway up` runs: every target's proxy in front of one set of stubs. */
export interface RunningStack {
  stubs: RunningStubs;
  proxies: RunningProxy[];
}

/** Brings every target up in front of one set of stubs, each proxy answering through to a stub. */
export async function startStack(model: Model, targets: Target[], ctx: RunContext): Promise<RunningStack> {
  const plans = await planPorts(model, targets, ctx.keepPorts);
  const stubs = await startStubs(model, plans[targets[0]!].stubs, ctx);
  const proxies: RunningProxy[] = [];
  for (const target of targets) proxies.push(await startProxy(model, target, plans[target], ctx));
  return { stubs, proxies };
}

/** Only the stubs, each on its own address in the spec. */
export function startSpecStubs(model: Model, ctx: RunContext): Promise<RunningStubs> {
  const addresses = Object.fromEntries(model.backends.flatMap((b) => b.servers.filter((s) => s.stub).map((s) => [`${b.name}/${s.name}`, s.address])));
  return startStubs(model, addresses, ctx);
}
