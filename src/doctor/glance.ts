/**
 * Whether a `spillway load` run fits this machine at a glance: four figures
 * read synchronously and compared with the connections. Most runs are far
 * inside every limit, and for them doctor's full verdict (its modules, its
 * reads, its worded limits) cost a tenth of a short run's wall time.
 *
 * It never clears a run the full verdict would refuse: each bound below is
 * at least as strict as the fatal limit it stands for in needs.ts for a load
 * at a URL (driver open files, driver ports, fs.file-max, conntrack). A run
 * it does not clear gets the full preflight, which says why or lets it run.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { driverFixedFds, MAX_PROCESSES } from "../load/processes.js";
import { openFileLimit } from "../runtime/limits.js";
import type { LoadSpec } from "../spec/model.js";

export interface GlanceFacts {
  softOpenFiles: number;
  /** Ports in net.ipv4.ip_local_port_range; null when it cannot be read (the full verdict then skips it too). */
  ports: number | null;
  fileMax: number | null;
  conntrackMax: number | null;
}

function readSys(proc: string, path: string): string | null {
  try {
    return readFileSync(join(proc, "sys", path), "utf8");
  } catch {
    return null;
  }
}

/** The figures as facts.ts reads and parses them, so both judge the same numbers. */
export function glanceFacts(proc = "/proc"): GlanceFacts {
  const whole = (text: string | null) => (text !== null && /^[0-9]+$/.test(text.trim()) ? Number(text.trim()) : null);
  const range = /^\s*([0-9]+)\s+([0-9]+)\s*$/.exec(readSys(proc, "net/ipv4/ip_local_port_range") ?? "");
  const ports = range && Number(range[2]) >= Number(range[1]) ? Number(range[2]) - Number(range[1]) + 1 : null;
  return {
    softOpenFiles: openFileLimit().soft,
    ports,
    fileMax: whole(readSys(proc, "fs/file-max")),
    conntrackMax: whole(readSys(proc, "net/netfilter/nf_conntrack_max")),
  };
}

/** The most connections the load holds at once: its pool, or its ramp's highest target, and its WebSocket sessions beside them. */
export function peakConnections(load: Pick<LoadSpec, "connections" | "stages"> & Partial<Pick<LoadSpec, "websockets">>): number {
  return Math.max(load.connections, ...(load.stages ?? []).map((s) => s.target)) + (load.websockets?.connections ?? 0);
}

/** True only when every fatal limit of a load at a URL holds the run; false: ask the full preflight. `processes`: as forced, or null. */
export function fitsAtAGlance(load: Pick<LoadSpec, "connections" | "stages" | "workers"> & Partial<Pick<LoadSpec, "websockets">>, processes: number | null, facts: GlanceFacts): boolean {
  const n = peakConnections(load);
  const fixed = driverFixedFds(load.workers);
  // One process holding every connection and every thread's descriptors is the most any process of the run holds.
  if (n + fixed > facts.softOpenFiles) return false;
  // One source address holding every connection is the most any address holds, the driver's own spread or the user's.
  if (facts.ports !== null && n > facts.ports) return false;
  if (facts.fileMax !== null && n + fixed * (processes ?? MAX_PROCESSES) > facts.fileMax) return false;
  if (facts.conntrackMax !== null && n > facts.conntrackMax) return false;
  return true;
}
