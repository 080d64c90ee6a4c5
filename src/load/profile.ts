/**
 * The load profile as the engine takes it, and the checks made before a run
 * opens a socket: file descriptors enough for its connections, and a
 * loopback target. The profile itself (schema, checks, defaults) is built in
 * spec/load-profile.ts, so a spec is checked by the same rules without
 * loading the engine; the engine takes only the zod-free part of it
 * (spec/load-check.ts), so a run and its child processes load no schema.
 */
import { isIP } from "node:net";
import { UsageError } from "../errors.js";
import { openFileLimit } from "../runtime/limits.js";
import { SPEC_NAMES, type KeyNames, type LoadProblem, type LoadProfile, type NormalizedProfile } from "../spec/load-check.js";
import { isLoopbackIp } from "../wire.js";
import { connectionsPerProcess, fewestProcesses, MAX_PROCESSES, processConnections, RESERVED_FDS } from "./processes.js";

export {
  normalizeLoad,
  profileFor,
  runProblems,
  SPEC_NAMES,
  type CheckedLoad,
  type KeyNames,
  type KeyPath,
  type LoadBudget,
  type LoadInput,
  type LoadProblem,
  type LoadProfile,
  type LoadProtocol,
  type LoadStage,
  type NormalizedLoad,
  type NormalizedProfile,
  type RunOptions,
} from "../spec/load-check.js";

/** How a run is spread over driver processes: `processes` null chooses the fewest that fit. */
export interface ProcessPlan {
  processes?: number | null;
  workers?: number;
}

/**
 * Too many connections for one process's open-file limit: every connection
 * is a descriptor, and the threads of a process share its limit. Each
 * driver process has its own, so only a process's share must fit.
 */
export function fileDescriptorProblem(connections: number, names: KeyNames = SPEC_NAMES, plan: ProcessPlan = {}): LoadProblem | null {
  const limit = openFileLimit().soft;
  const perProcess = connectionsPerProcess(limit);
  const workers = plan.workers ?? 1;
  const fewest = fewestProcesses(connections, workers, perProcess);
  const given = plan.processes ?? null;
  const processes = given ?? fewest;
  if (processes !== null && Math.max(...processConnections(connections, workers, processes)) <= perProcess) return null;
  const n = names.name(["connections"]);
  const held = processes !== null ? Math.max(...processConnections(connections, workers, processes)) : Math.ceil(connections / MAX_PROCESSES);
  const where = given !== null ? `with --processes ${given}, one process holds ${held} of the ${n} ${connections} connections: more file descriptors than a process may open` : `${n} ${connections} needs more file descriptors than ${MAX_PROCESSES} driver processes may open`;
  return {
    path: ["connections"],
    message: `${where} (limit ${limit} each, ${RESERVED_FDS} of them kept for other files)`,
    hint:
      fewest !== null
        ? `Give --processes ${fewest} or more (or leave --processes out: the fewest that fit is the default), lower ${n}, or raise the open-file limit (ulimit -n).`
        : `Lower ${n}, or raise the open-file limit (ulimit -n).`,
  };
}

/**
 * The engine's form of a profile: plain data, the NDJSON sink replaced by a
 * flag, after the check that depends on this machine. UsageError (exit 1)
 * when it cannot run here.
 */
export function normalizeProfile(p: LoadProfile, plan: ProcessPlan = {}): NormalizedProfile {
  const fd = fileDescriptorProblem(p.connections, SPEC_NAMES, { workers: p.workers, ...plan });
  if (fd) throw new UsageError(`invalid load profile:\n  ${fd.message}`, fd.hint);
  const { ndjson, ...rest } = p;
  return { ...rest, ndjson: typeof ndjson === "function" };
}

/**
 * The address to send load to, or a UsageError (exit 1). Only loopback IP
 * literals and the name `localhost` (taken as 127.0.0.1) are accepted, and no
 * name is ever looked up: a DNS query for `127.example.com` would leave the
 * machine, and a name's answer can change between the check and the connect.
 */
export async function resolveLoopback(host: string): Promise<string> {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (isIP(h) !== 0) {
    if (!isLoopbackIp(h)) {
      throw new UsageError(
        `refusing to send load to ${h}: spillway only drives load at loopback addresses (127.0.0.0/8 or ::1)`,
        "point the URL at 127.0.0.1, [::1] or localhost",
      );
    }
    return h;
  }
  if (h === "localhost") return "127.0.0.1";
  throw new UsageError(
    `refusing host "${h}": spillway sends load only to loopback IP addresses (127.0.0.0/8, ::1) or the name localhost, and does not look other names up`,
    "write the address instead, e.g. http://127.0.0.1:PORT/ (or http://[::1]:PORT/ for IPv6)",
  );
}
