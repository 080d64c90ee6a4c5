/**
 * How a run is laid out over processes and source addresses, before any
 * socket opens: pure arithmetic over counts.
 *
 * A process is a group of threads. A run of P processes with T threads each
 * has P×T engines, and engine e runs exactly what worker thread e of a run
 * with -t P×T would (splitTasks): its connections, its share of a
 * per-client -n, of --rate and of an arrival rate. Processes exist because
 * threads share one process's open-file limit; each child has its own.
 *
 * Source addresses exist because the kernel hands out ephemeral ports per
 * (source address, destination): about 28,000 of them with Linux's default
 * ip_local_port_range, fewer once TIME_WAIT and other programs hold some.
 * @internal
 */
import { isIPv6 } from "node:net";
import { localCount } from "./scheduler.js";
import type { PortRange } from "./ports.js";

/** The most driver processes one run forks: enough for 100,000 connections under a 2,000-descriptor limit. */
export const MAX_PROCESSES = 64;

/** Descriptors a driver process keeps aside for its listeners, pipes, log files and worker threads. */
export const RESERVED_FDS = 64;

/** Of the ephemeral range, the share a run plans to use per source address: TIME_WAIT and other programs hold the rest. */
export const PORT_MARGIN = 0.9;

/** h2load's split of a count over threads: n / t each, the first n % t threads one more. */
export function h2loadSplit(n: number, w: number, W: number): number {
  return Math.floor(n / W) + (w < n % W ? 1 : 0);
}

/** Engines of a run with `workers` threads in all over `processes` processes: every process runs at least one. */
export function engineCount(workers: number, processes: number): number {
  return Math.max(workers, processes);
}

/** The global engine indices each process runs: `engines` split as h2load splits a count over threads, in order. */
export function processEngines(engines: number, processes: number): number[][] {
  let next = 0;
  return Array.from({ length: processes }, (_, p) => {
    const n = h2loadSplit(engines, p, processes);
    const ids = Array.from({ length: n }, (_, k) => next + k);
    next += n;
    return ids;
  });
}

/** Connections each process holds: the sum of its engines' shares (localCount deals them round-robin). */
export function processConnections(connections: number, workers: number, processes: number): number[] {
  const E = engineCount(workers, processes);
  return processEngines(E, processes).map((ids) => ids.reduce((sum, e) => sum + localCount(connections, e, E), 0));
}

/** Connections one process can hold under an open-file limit: one descriptor each, less the reserve. */
export function connectionsPerProcess(softLimit: number): number {
  return Math.max(0, softLimit - RESERVED_FDS);
}

/** The fewest processes whose largest share fits `perProcess` connections, or null when even MAX_PROCESSES do not. */
export function fewestProcesses(connections: number, workers: number, perProcess: number): number | null {
  for (let p = 1; p <= Math.min(MAX_PROCESSES, Math.max(1, connections)); p++) {
    if (Math.max(...processConnections(connections, workers, p)) <= perProcess) return p;
  }
  return null;
}

/** Connections one source address can hold towards one destination: the ephemeral range less the margin. */
export function portsPerSource(range: PortRange): number {
  return Math.floor((range.high - range.low + 1) * PORT_MARGIN);
}

/** The fewest source addresses whose ports hold `connections` to one destination, `ports` each. */
export function sourceCount(connections: number, ports: number): number {
  return Math.max(1, Math.ceil(connections / Math.max(1, ports)));
}

/** 127.0.0.1 … 127.0.0.k: every 127.0.0.0/8 address is on the loopback interface, so each binds without setup. */
export function loopbackSources(k: number): string[] {
  return Array.from({ length: k }, (_, i) => `127.0.0.${i + 1}`);
}

/**
 * The source of engine `engine`'s `local`-th connection: each engine deals
 * its own connections over every source in turn from its own offset, so
 * every engine holds an even share of every source (its ports per source
 * are its own slice of the range, ports.ts) and the sources stay even over
 * all engines. With one engine this is the run's connection index modulo
 * the sources.
 */
export function sourceIndex(local: number, engine: number, sources: number): number {
  return (local + engine) % sources;
}

/** Source addresses the driver chooses when none were given: one is enough, several, or none fits (IPv6). */
export type SourceChoice = { kind: "one" } | { kind: "spread"; addresses: string[] } | { kind: "no-fit"; need: number; ports: number };

/**
 * Whether a run to `address` needs more than one source address, and
 * which. Only an IPv4 loopback target has more: ::1 is IPv6's one
 * loopback address, and an address in 127.0.0.0/8 beyond 127.0.0.254 is
 * never needed below the schema's 100,000 connections.
 */
export function chooseSources(connections: number, address: string, ports: number): SourceChoice {
  const k = sourceCount(connections, ports);
  if (k === 1) return { kind: "one" };
  if (isIPv6(address) || k > 254) return { kind: "no-fit", need: k, ports };
  return { kind: "spread", addresses: loopbackSources(k) };
}
