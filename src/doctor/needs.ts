/**
 * What a scenario asks of the machine, participant by participant, and how
 * many client connections each limit lets it hold. Pure: the facts come in.
 *
 * Counted as spillway runs it: the driver is one process (its worker threads
 * share one open-file limit); the proxies get the sizing `proxyLimits` gives
 * `up` and `verify` (HAProxy's global maxconn, nginx's worker_connections and
 * worker_rlimit_nofile, from the open-file limit), nginx with the one worker
 * the renderer writes.
 */
import { proxyLimits } from "../runtime/limits.js";
import { DEFAULTS } from "../spec/defaults.js";
import type { LoadSpec, Model, Scenario, Target } from "../spec/model.js";
import type { MachineFacts } from "./facts.js";

/**
 * Descriptors the driver holds besides its connections, measured: `spillway
 * load -c 1` held 21 descriptors, -c 100 held 120; with -t 2 and -t 4 (one
 * connection per worker) 31 and 43. 20, and 10 per further worker thread,
 * covers what each measurement showed.
 */
export const DRIVER_BASE_FDS = 20;
export const DRIVER_FDS_PER_EXTRA_WORKER = 10;

/** nginx's listen backlog on Linux when `listen` names none (NGX_LISTEN_BACKLOG; `ss -ltn` shows 511 for nginx 1.22.1 here); spillway writes none. */
export const NGINX_LISTEN_BACKLOG = 511;

/** Connection-tracking entries per proxied connection: driver to proxy, proxy to stub. */
const CONNTRACK_PER_CONNECTION = 2;

export type Participant = "driver" | "haproxy" | "nginx" | "kernel" | "stubs";

export type LimitId =
  | "driver-open-files"
  | "driver-ports"
  | "haproxy-connections"
  | "nginx-worker-connections"
  | "file-max"
  | "conntrack"
  | "accept-queue"
  | "upstream-ports";

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
  target: Target;
  load: Pick<LoadSpec, "connections" | "streams" | "connectRate" | "workers" | "sourceAddresses">;
  /** Listening sockets the proxy opens: the spec's frontends, and the stats listener spillway adds. */
  listeners: number;
  /** The scenario frontend's maxconn: HAProxy's listen backlog when set. */
  frontendMaxconn: number | null;
  /** The stubs and servers the scenario's frontend can route to, each with its connection cap. */
  servers: { address: string; maxconn: number | null }[];
}

/** The scenario's needs input from a spec. */
export function needsInput(model: Model, scenario: Scenario, target: Target): NeedsInput {
  const frontend = model.frontends.find((f) => f.name === scenario.frontend);
  const backends = new Set([frontend?.defaultBackend, ...(frontend?.rules.map((r) => r.useBackend) ?? [])]);
  const servers = model.backends.filter((b) => backends.has(b.name)).flatMap((b) => b.servers.map((s) => ({ address: `${s.address.host}:${s.address.port}`, maxconn: s.maxconn })));
  return { target, load: scenario.load, listeners: model.frontends.length + 1, frontendMaxconn: frontend?.maxconn ?? null, servers };
}

export function driverFixedFds(workers: number): number {
  return DRIVER_BASE_FDS + DRIVER_FDS_PER_EXTRA_WORKER * Math.max(0, workers - 1);
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
export function burstSize(load: Pick<LoadSpec, "connections" | "connectRate">): number {
  return load.connectRate === null ? load.connections : Math.min(load.connectRate, load.connections);
}

/** The listener's accept queue as the kernel caps it, or null when somaxconn is unknown. */
export function acceptQueue(input: NeedsInput, facts: MachineFacts): { backlog: number; depth: number } | null {
  if (facts.somaxconn === null) return null;
  // HAProxy's bind backlog is the frontend's maxconn, which defaults to the global one: under global maxconn 9936, `ss -ltn` shows 4096 here, somaxconn's cap.
  const backlog = input.target === "nginx" ? NGINX_LISTEN_BACKLOG : (input.frontendMaxconn ?? proxyLimits(facts.openFiles.soft).haproxyMaxconn);
  return { backlog, depth: Math.min(backlog, facts.somaxconn) };
}

export function needsFor(input: NeedsInput, facts: MachineFacts): Need[] {
  const n = input.load.connections;
  const soft = facts.openFiles.soft;
  const out: Need[] = [];
  const fixed = driverFixedFds(input.load.workers);

  out.push({
    id: "driver-open-files",
    participant: "driver",
    past: "the driver's connects fail with EMFILE (too many open files)",
    limit: `open files (soft limit ${soft.toLocaleString("en-US")})`,
    needs: n + fixed,
    has: soft,
    holds: Math.max(0, soft - fixed),
    fatal: true,
    basis: `one descriptor per connection, plus ${fixed} of the driver's own (measured); its worker threads (${input.load.workers}) share the one process's limit`,
  });

  if (facts.portRange !== null) {
    const sources = sourceCount(input.load);
    out.push({
      id: "driver-ports",
      participant: "driver",
      past: "the driver's connects fail with EADDRNOTAVAIL (cannot assign requested address)",
      limit: `ephemeral ports ${facts.portRange.low}-${facts.portRange.high} per source address`,
      needs: Math.ceil(n / sources),
      has: facts.portRange.count,
      holds: facts.portRange.count * sources,
      fatal: true,
      basis: `one port per connection to the frontend, over ${sources} source address${sources === 1 ? "" : "es"}`,
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
  } else {
    const workers = DEFAULTS.nginxWorkerProcesses.value;
    const perWorker = nginxPerWorker(limits.nginxWorkerConnections, input.listeners);
    out.push({
      id: "nginx-worker-connections",
      participant: "nginx",
      past: "nginx logs \"worker_connections are not enough\" and closes connections",
      limit: `worker_connections ${limits.nginxWorkerConnections.toLocaleString("en-US")} x ${workers} worker${workers === 1 ? "" : "s"} (two per connection)`,
      needs: 2 * Math.ceil(n / workers) + input.listeners,
      has: limits.nginxWorkerConnections,
      holds: perWorker * workers,
      fatal: true,
      basis: `per worker: two per proxied connection (client and upstream, as the renderer counts them), plus ${input.listeners} listening socket${input.listeners === 1 ? "" : "s"}; an idle HTTP/2 connection holds no upstream one, so a hold test with few requests in flight gets up to twice as far`,
    });
  }

  if (facts.fileMax !== null) {
    // Driver, proxy (both sides) and stubs all count against the system-wide table.
    const perConnection = 4;
    const fixedAll = fixed + 128 + input.listeners;
    out.push({
      id: "file-max",
      participant: "kernel",
      past: "opens fail with ENFILE (too many open files in system)",
      limit: "fs.file-max (open files, whole machine)",
      needs: perConnection * n + fixedAll,
      has: facts.fileMax,
      holds: Math.max(0, Math.floor((facts.fileMax - fixedAll) / perConnection)),
      fatal: true,
      basis: "four descriptors per connection: the driver's, the proxy's two, the stub's",
    });
  }

  if (facts.conntrackMax !== null) {
    out.push({
      id: "conntrack",
      participant: "kernel",
      past: "the kernel drops packets of new flows (\"nf_conntrack: table full\"): connects time out",
      limit: "net.netfilter.nf_conntrack_max",
      needs: CONNTRACK_PER_CONNECTION * n,
      has: facts.conntrackMax,
      holds: Math.floor(facts.conntrackMax / CONNTRACK_PER_CONNECTION),
      fatal: true,
      basis: "two tracked flows per proxied connection: driver to proxy, proxy to stub",
    });
  }

  const queue = acceptQueue(input, facts);
  if (queue !== null) {
    const burst = burstSize(input.load);
    out.push({
      id: "accept-queue",
      participant: input.target,
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
      participant: input.target,
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
  return out;
}
