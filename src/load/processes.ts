/**
 * How a run is laid out over processes, before any socket opens: pure
 * arithmetic over counts (sources.ts lays out its source addresses).
 *
 * A process is a group of threads. A run of P processes with T threads each
 * has P×T engines, and engine e runs exactly what worker thread e of a run
 * with -t P×T would (splitTasks): its connections, its share of a
 * per-client -n, of --rate and of an arrival rate. Processes exist because
 * threads share one process's open-file limit; each child has its own.
 * @internal
 */

/** The most driver processes one run forks: enough for 100,000 connections under a 2,000-descriptor limit. */
export const MAX_PROCESSES = 64;

/** Descriptors a driver process keeps aside for its listeners, pipes, log files and worker threads. */
export const RESERVED_FDS = 64;

/**
 * Descriptors the driver holds besides its connections, measured: `spillway
 * load -c 1` held 21 descriptors, -c 100 held 120; with -t 2 and -t 4 (one
 * connection per worker) 31 and 43. 20, and 10 per further worker thread,
 * covers what each measurement showed.
 */
export const DRIVER_BASE_FDS = 20;
export const DRIVER_FDS_PER_EXTRA_WORKER = 10;

export function driverFixedFds(workers: number): number {
  return DRIVER_BASE_FDS + DRIVER_FDS_PER_EXTRA_WORKER * Math.max(0, workers - 1);
}

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

/** How many of the global slots [0, target) belong to worker w of W (slots are dealt round-robin). */
export function localCount(target: number, w: number, W: number): number {
  return target > w ? Math.floor((target - w - 1) / W) + 1 : 0;
}
