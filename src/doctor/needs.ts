/**
 * What a scenario asks of the machine, participant by participant, and how
 * many client connections each limit lets it hold. Pure: the facts come in.
 *
 * Counted as spillway runs it: the driver spreads its connections over as
 * many processes as their open-file limits need (each with its own), and over
 * 127.0.0.1…k when one source address's ephemeral ports cannot hold them, so
 * neither bounds a run unless the user forced the processes or the sources,
 * or the target is ::1 (no other loopback address). The proxies get the
 * sizing `proxyLimits` gives `up` and `verify` (HAProxy's global maxconn,
 * nginx's worker_connections and worker_rlimit_nofile, from the open-file
 * limit), nginx with the workers `nginxSizing` renders.
 */
import { isIP } from "node:net";
import { connectionsPerProcess, driverFixedFds, MAX_PROCESSES, RESERVED_FDS } from "../load/processes.js";
import { PORT_MARGIN } from "../load/sources.js";
import { NGINX_WORKER_FILL, nginxWorkersFor } from "../render/nginx.js";
import { proxyLimits } from "../runtime/limits.js";
import { DEFAULTS } from "../spec/defaults.js";
import type { LoadSpec, Model, Scenario, Target } from "../spec/model.js";
import type { MachineFacts } from "./facts.js";
import { peakConnections } from "./glance.js";

/** The driver's own descriptors are its own figure (load/processes.ts), so `load`'s glance at the machine (glance.ts) needs none of this module. */
export { DRIVER_BASE_FDS, DRIVER_FDS_PER_EXTRA_WORKER, driverFixedFds } from "../load/processes.js";
export { peakConnections } from "./glance.js";

/** nginx's listen backlog on Linux when `listen` names none (NGX_LISTEN_BACKLOG; `ss -ltn` shows 511 for nginx 1.22.1 here); spillway writes none. */
export const NGINX_LISTEN_BACKLOG = 511;

/** The most driver processes `spillway load` spreads over (its --processes range). */
export const MAX_DRIVER_PROCESSES = MAX_PROCESSES;

/** Of one source address's ports, the share the driver fills before it adds 127.0.0.(k+1): the driver's own rule (load/sources.ts). */
export const SOURCE_PORT_FILL = PORT_MARGIN;

/** Memory one connection takes, measured by `measureMemory`, in KiB. */
export interface MemoryPerConnection {
  driver: number;
  nginx: number | null;
  haproxy: number | null;
  /** Socket buffers (sockstat mem) and socket structures (Slab) of both ends. */
  kernel: number;
  /** The connections held while measuring. */
  connections: number;
}

const fmt = (n: number) => n.toLocaleString("en-US");
const kib = (k: number) => `${k.toFixed(1)} KiB`;

export type Participant = "driver" | "haproxy" | "nginx" | "kernel" | "stubs";

export type LimitId =
  | "driver-open-files"
  | "driver-ports"
  | "haproxy-connections"
  | "nginx-worker-connections"
  | "file-max"
  | "conntrack"
  | "accept-queue"
  | "upstream-ports"
  | "stub-open-files"
  | "memory";

export interface Need {
  id: LimitId;
  participant: Participant;
  /** The limit in words, with its source: "open files (soft limit)". */
  limit: string;
  /** What this scenario asks of it, in the limit's own unit. */
  needs: number;
  /** What the machine (or the rendered config) allows, in the same unit. */
  has: number;
  /** The most client connections the limit lets this scenario hold; null: it does not bound them. */
  holds: number | null;
  /** A run past it fails; false: past it a run slows, or fails only in a worst case. */
  fatal: boolean;
  /** What a run past it meets, in the words the user would see. */
  past: string;
  /** How `needs` is counted. */
  basis: string;
}

/** What of a scenario and its spec the needs depend on. */
export interface NeedsInput {
  /** The proxy the load goes through; null: `spillway load` at a URL, whose server spillway does not run. */
  target: Target | null;
  /** The host the driver connects to; null when not known. */
  host: string | null;
  /** Driver processes the user forced (`load --processes`); null: as many as the connections need. */
  processes: number | null;
  /** Upstream connections the servers allow in all (their maxconn, or the table's count for each without). */
  upstreamConnections: number;
  load: Pick<LoadSpec, "connections" | "streams" | "connectRate" | "workers" | "sourceAddresses" | "stages"> & Partial<Pick<LoadSpec, "websockets">>;
  /** Listening sockets the proxy opens: the spec's frontends, and the stats listener spillway adds. */
  listeners: number;
  /** The scenario frontend's maxconn: HAProxy's listen backlog when set. */
  frontendMaxconn: number | null;
  /** The stubs and servers the scenario's frontend can route to, each with its connection cap. */
  servers: { address: string; maxconn: number | null }[];
  /** Stubs of the stack: every one runs in one process (the fleet), so its open-file limit holds all their connections. */
  stubs: number;
}

/** The scenario's needs input from a spec. */
export function needsInput(model: Model, scenario: Scenario, target: Target): NeedsInput {
  const frontend = model.frontends.find((f) => f.name === scenario.frontend);
  const backends = new Set([frontend?.defaultBackend, ...(frontend?.rules.map((r) => r.useBackend) ?? [])]);
  const servers = model.backends.filter((b) => backends.has(b.name)).flatMap((b) => b.servers.map((s) => ({ address: `${s.address.host}:${s.address.port}`, maxconn: s.maxconn })));
  const upstreamConnections = model.backends.reduce((sum, b) => sum + b.servers.reduce((n, srv) => n + (srv.maxconn ?? DEFAULTS.serverConnections.value), 0), 0);
  const host = frontend?.bind.host ?? null;
  const stubs = model.backends.reduce((n, b) => n + b.servers.filter((srv) => srv.stub).length, 0);
  return { target, host, processes: null, upstreamConnections, load: scenario.load, listeners: model.frontends.length + 1, frontendMaxconn: frontend?.maxconn ?? null, servers, stubs };
}

/** The needs input of `spillway load` at a URL: the driver and the kernel only. */
export function loadNeedsInput(load: NeedsInput["load"], host: string, processes: number | null): NeedsInput {
  return { target: null, host, processes, upstreamConnections: 0, load, listeners: 0, frontendMaxconn: null, servers: [], stubs: 0 };
}

/** Whether the driver picks 127.0.0.1…k by itself: an IPv4 loopback target and no source addresses given. */
export function autoSources(input: NeedsInput): boolean {
  if (input.load.sourceAddresses.length > 0 || input.host === null) return false;
  const host = input.host.replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  return isIP(host) === 4 && (host.startsWith("127.") || host === "0.0.0.0");
}

/** nginx's workers for this scenario, as `nginxSizing` renders them at run time. */
export function nginxWorkersHere(input: NeedsInput, facts: MachineFacts): { workers: number; workerConnections: number; demand: number } {
  const workerConnections = proxyLimits(facts.openFiles.soft).nginxWorkerConnections;
  // As the renderer's scenarioDemand: a WebSocket session holds its client side and its tunnel's upstream.
  const http = peakConnections({ ...input.load, websockets: null });
  const demand = http + Math.min(input.upstreamConnections, http * input.load.streams) + 2 * (input.load.websockets?.connections ?? 0);
  return { workers: nginxWorkersFor(demand, workerConnections, input.listeners, DEFAULTS.nginxWorkerProcesses.value), workerConnections, demand };
}


/** Source addresses the driver's connections come from: the kernel picks one when none is given. */
export function sourceCount(load: Pick<LoadSpec, "sourceAddresses">): number {
  return Math.max(1, new Set(load.sourceAddresses).size);
}

/** Proxied connections one nginx worker holds: worker_connections counts the client and the upstream side, and the listeners. */
export function nginxPerWorker(workerConnections: number, listeners: number): number {
  return Math.max(0, Math.floor((workerConnections - listeners) / 2));
}

/** The connections opened at once: a connect_rate burst, or all of them. */
export function burstSize(load: Pick<LoadSpec, "connections" | "connectRate" | "stages">): number {
  return load.connectRate === null ? peakConnections(load) : Math.min(load.connectRate, peakConnections(load));
}

/** The listener's accept queue as the kernel caps it, or null when somaxconn is unknown. */
export function acceptQueue(input: NeedsInput, facts: MachineFacts): { backlog: number; depth: number } | null {
  if (facts.somaxconn === null || input.target === null) return null;
  if (input.target === "nginx") {
    // reuseport gives every worker a listening socket, each with its own queue.
    const { workers } = nginxWorkersHere(input, facts);
    return { backlog: NGINX_LISTEN_BACKLOG * workers, depth: Math.min(NGINX_LISTEN_BACKLOG, facts.somaxconn) * workers };
  }
  // HAProxy's bind backlog is the frontend's maxconn, which defaults to the global one: under global maxconn 9936, `ss -ltn` shows 4096 here, somaxconn's cap.
  const backlog = input.frontendMaxconn ?? proxyLimits(facts.openFiles.soft).haproxyMaxconn;
  return { backlog, depth: Math.min(backlog, facts.somaxconn) };
}

/** Driver processes a run uses: the forced count, or the fewest whose open-file limits hold the connections. */
export function driverProcesses(input: NeedsInput, facts: MachineFacts): { processes: number; forced: boolean; perProcess: number } {
  const soft = facts.openFiles.soft;
  if (input.processes !== null) {
    const threads = Math.ceil(input.load.workers / input.processes);
    return { processes: input.processes, forced: true, perProcess: Math.max(0, soft - driverFixedFds(threads)) };
  }
  // The driver's own rule (load/processes.ts), so doctor and load agree on the count near a boundary.
  const perProcess = Math.max(1, connectionsPerProcess(soft));
  return { processes: Math.min(MAX_DRIVER_PROCESSES, Math.max(1, Math.ceil(peakConnections(input.load) / perProcess))), forced: false, perProcess };
}

export function needsFor(input: NeedsInput, facts: MachineFacts, memory: MemoryPerConnection | null = null): Need[] {
  const n = peakConnections(input.load);
  const soft = facts.openFiles.soft;
  const out: Need[] = [];
  const driver = driverProcesses(input, facts);
  const fixed = driverFixedFds(input.load.workers);

  out.push({
    id: "driver-open-files",
    participant: "driver",
    past: "the driver's connects fail with EMFILE (too many open files)",
    limit: `open files (soft limit ${soft.toLocaleString("en-US")} per process)`,
    needs: Math.ceil(n / driver.processes) + fixed,
    has: soft,
    holds: driver.forced ? driver.perProcess * driver.processes : null,
    fatal: true,
    basis: driver.forced
      ? `--processes ${driver.processes}: each holds its share of the connections, one descriptor each, plus the driver's own (measured ${fixed}); worker threads share their process's limit`
      : `${driver.processes} driver process${driver.processes === 1 ? "" : "es"}, chosen by the driver, each with its own limit (at most ${fmt(driver.perProcess)} connections each)`,
  });

  if (facts.portRange !== null) {
    const auto = autoSources(input);
    const sources = auto ? Math.max(1, Math.ceil(n / Math.floor(facts.portRange.count * SOURCE_PORT_FILL))) : sourceCount(input.load);
    out.push({
      id: "driver-ports",
      participant: "driver",
      past: "the driver's connects fail with EADDRNOTAVAIL (cannot assign requested address)",
      limit: `ephemeral ports ${facts.portRange.low}-${facts.portRange.high} per source address`,
      needs: Math.ceil(n / sources),
      has: facts.portRange.count,
      holds: auto ? null : facts.portRange.count * sources,
      fatal: true,
      basis: auto
        ? `one port per connection; the driver spreads them over ${sources} source address${sources === 1 ? "" : "es"} (127.0.0.1…) by itself`
        : `one port per connection to the target, over ${sources} source address${sources === 1 ? "" : "es"}${input.load.sourceAddresses.length > 0 ? " (as given)" : input.host !== null && input.host.includes(":") ? " (::1 has no other loopback address)" : ""}`,
    });
  }

  const limits = proxyLimits(soft);
  if (input.target === "haproxy") {
    out.push({
      id: "haproxy-connections",
      participant: "haproxy",
      past: "HAProxy stops accepting at maxconn: the rest wait in the accept queue until the driver times out",
      limit: `global maxconn ${limits.haproxyMaxconn.toLocaleString("en-US")} (two descriptors per connection)`,
      needs: n,
      has: limits.haproxyMaxconn,
      holds: limits.haproxyMaxconn,
      fatal: true,
      basis: "one process; each proxied connection holds a client and a server descriptor; connections past maxconn wait in the accept queue and are never served",
    });
  } else if (input.target === "nginx") {
    const { workers, workerConnections, demand } = nginxWorkersHere(input, facts);
    out.push({
      id: "nginx-worker-connections",
      participant: "nginx",
      past: "nginx logs \"worker_connections are not enough\" and closes connections",
      limit: `worker_connections ${fmt(workerConnections)} x ${workers} worker${workers === 1 ? "" : "s"}, as rendered for this scenario`,
      needs: Math.ceil(demand / workers) + input.listeners,
      has: workerConnections,
      // The renderer adds workers until they hold the scenario: nginx bounds no count itself.
      holds: null,
      fatal: true,
      basis: `per worker: one per client connection and one per upstream connection (at most a request per stream in flight, at most the servers' ${fmt(input.upstreamConnections)})${(input.load.websockets?.connections ?? 0) > 0 ? ", two per WebSocket session (its client side and its tunnel's upstream)" : ""}, plus ${input.listeners} listening socket${input.listeners === 1 ? "" : "s"}; ${workers === 1 ? "one worker holds them" : `the fewest workers that hold them with ${Math.round((1 - NGINX_WORKER_FILL) * 100)}% spare each, connections dealt by reuseport`}`,
    });
  }

  const proxied = input.target !== null;
  if (facts.fileMax !== null) {
    // Driver, proxy (both sides) and stubs all count against the system-wide table; `load` counts only the driver's, its target is not spillway's.
    const perConnection = proxied ? 4 : 1;
    const fixedAll = fixed * driver.processes + (proxied ? 128 + input.listeners : 0);
    out.push({
      id: "file-max",
      participant: "kernel",
      past: "opens fail with ENFILE (too many open files in system)",
      limit: "fs.file-max (open files, whole machine)",
      needs: perConnection * n + fixedAll,
      has: facts.fileMax,
      holds: Math.max(0, Math.floor((facts.fileMax - fixedAll) / perConnection)),
      fatal: true,
      basis: proxied ? "four descriptors per connection: the driver's, the proxy's two, the stub's" : "one descriptor per connection, the driver's (the target's own are not counted: spillway does not run it)",
    });
  }

  if (facts.conntrackMax !== null) {
    const perConnection = proxied ? 2 : 1;
    out.push({
      id: "conntrack",
      participant: "kernel",
      past: "the kernel drops packets of new flows (\"nf_conntrack: table full\"): connects time out",
      limit: "net.netfilter.nf_conntrack_max",
      needs: perConnection * n,
      has: facts.conntrackMax,
      holds: Math.floor(facts.conntrackMax / perConnection),
      fatal: true,
      basis: proxied ? "two tracked flows per proxied connection: driver to proxy, proxy to stub" : "one tracked flow per connection: driver to target",
    });
  }
  const queue = acceptQueue(input, facts);
  if (queue !== null) {
    const burst = burstSize(input.load);
    out.push({
      id: "accept-queue",
      participant: input.target ?? "kernel",
      past: "SYNs beyond the queue are dropped and retried after 1 s, 3 s, 7 s: connecting slows, and fails past the timeout",
      limit: `accept queue: backlog ${queue.backlog}, somaxconn ${facts.somaxconn}`,
      needs: burst,
      has: queue.depth,
      // With a connect_rate at most the queue, no connection count overflows it.
      holds: input.load.connectRate !== null && input.load.connectRate <= queue.depth ? null : queue.depth,
      fatal: false,
      basis: input.load.connectRate === null ? "every connection opens at once (no connect_rate)" : `connect_rate ${input.load.connectRate} opens that many at once`,
    });
  }

  if (facts.portRange !== null && input.servers.length > 0) {
    /*
     * Reuse only saves idle connections: HAProxy (no http-reuse line is
     * written, so its default, safe) and nginx (`keepalive` idle ones per
     * worker, backends.<backend>.keepalive) still open one server connection
     * per request in flight. The proxy connects from 127.0.0.1 with no
     * source address set, so each stub is one (source, destination) pair.
     */
    const uncapped = input.servers.filter((s) => s.maxconn === null || s.maxconn > facts.portRange!.count);
    const inFlight = n * input.load.streams;
    out.push({
      id: "upstream-ports",
      participant: input.target ?? "kernel",
      past: "in the worst case the proxy cannot connect to the stub: 502 or 503 answers",
      limit: `ephemeral ports from the proxy to one stub (${facts.portRange.count})`,
      needs: uncapped.length > 0 ? inFlight : Math.max(...input.servers.map((s) => s.maxconn ?? 0)),
      has: facts.portRange.count,
      holds: uncapped.length > 0 ? Math.floor(facts.portRange.count / input.load.streams) : null,
      fatal: false,
      basis:
        uncapped.length > 0
          ? `one server connection per request in flight (reuse keeps only idle ones); worst case every stream in flight at once, all to one stub without a maxconn (${uncapped.map((s) => s.address).join(", ")})`
          : "every server's maxconn caps its connections below the port range",
    });
  }
  const sessions = input.load.websockets?.connections ?? 0;
  if (input.target !== null && input.stubs > 0 && sessions > 0) {
    // The fleet's own files: its listeners (one per stub), and the node process's base (measured below 30).
    const own = RESERVED_FDS + input.stubs;
    out.push({
      id: "stub-open-files",
      participant: "stubs",
      past: "the stubs' accepts fail with EMFILE: the proxy answers the upgrades past it 500 or 502, or resets them",
      limit: `open files (soft limit ${soft.toLocaleString("en-US")} for the one process every stub runs in)`,
      needs: sessions + own,
      has: soft,
      // The HTTP connections ride on few upstream ones; it is the sessions that are bounded.
      holds: peakConnections({ ...input.load, websockets: null }) + Math.max(0, soft - own),
      fatal: true,
      basis: `each WebSocket session holds a tunnel to a stub for its whole life, and the ${input.stubs} stub${input.stubs === 1 ? "" : "s"} share one process (that is what lets a chat room span them), with ${own} descriptors of its own`,
    });
  }
  if (memory !== null && facts.memory.availableBytes !== null) {
    const proxy = input.target === null ? 0 : (memory[input.target] ?? 0);
    const perConnection = memory.driver + proxy + memory.kernel;
    const available = Math.floor(facts.memory.availableBytes / 1024);
    out.push({
      id: "memory",
      participant: "kernel",
      past: "the machine runs out of memory: the kernel's OOM killer ends the driver or the proxy",
      limit: `MemAvailable ${fmt(Math.round(available / 1024))} MiB`,
      needs: Math.ceil(perConnection * n),
      has: available,
      holds: perConnection > 0 ? Math.floor(available / perConnection) : null,
      fatal: true,
      basis: `measured per connection over ${fmt(memory.connections)} HTTP/2 connections: driver ${kib(memory.driver)}${input.target === null ? "" : `, ${input.target} ${memory[input.target] === null ? "not measured" : kib(proxy)}`}, kernel ${kib(memory.kernel)}`,
    });
  }
  return out;
}
