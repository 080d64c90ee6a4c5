/**
 * The machine's limits that decide how many connections a run can hold.
 * The parsers are pure, so tests feed them text; `readFacts` does the reads.
 * A file that is missing (no conntrack module, not Linux) gives null.
 */
import { readFile } from "node:fs/promises";
import { availableParallelism, freemem, totalmem } from "node:os";
import { join } from "node:path";
import { detectVersion } from "../check/index.js";
import { versionText } from "../render/version.js";
import { openFileLimit } from "../runtime/limits.js";

export interface PortRange {
  low: number;
  high: number;
  /** Ports in the range, both ends included. */
  count: number;
}

export interface MachineFacts {
  /** RLIMIT_NOFILE of this process, which the driver has and the proxies it starts inherit. */
  openFiles: { soft: number; hard: number };
  /** CAP_SYS_RESOURCE: whether `ulimit -n` may go above the hard limit (up to fs.nr_open). */
  canRaiseHardLimit: boolean | null;
  fileMax: number | null;
  nrOpen: number | null;
  portRange: PortRange | null;
  somaxconn: number | null;
  tcpMaxSynBacklog: number | null;
  tcpTwReuse: number | null;
  conntrackMax: number | null;
  /** availableBytes: /proc/meminfo's MemAvailable, what can be had without swapping; null where it is not shown. */
  memory: { totalBytes: number; freeBytes: number; availableBytes: number | null };
  cores: number;
  versions: { haproxy: string | null; nginx: string | null };
}

/** A /proc/sys file holding one whole number; null for anything else. */
export function parseSysctlNumber(text: string | null): number | null {
  if (text === null) return null;
  const t = text.trim();
  return /^[0-9]+$/.test(t) ? Number(t) : null;
}

/** net.ipv4.ip_local_port_range: "32768\t60999". */
export function parsePortRange(text: string | null): PortRange | null {
  if (text === null) return null;
  const m = /^\s*([0-9]+)\s+([0-9]+)\s*$/.exec(text);
  if (!m) return null;
  const low = Number(m[1]);
  const high = Number(m[2]);
  return high >= low ? { low, high, count: high - low + 1 } : null;
}

const CAP_SYS_RESOURCE = 24n;

/** Whether /proc/self/status's effective capabilities hold CAP_SYS_RESOURCE. */
export function parseCapSysResource(statusText: string | null): boolean | null {
  if (statusText === null) return null;
  const m = /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(statusText);
  if (!m) return null;
  return ((BigInt(`0x${m[1]}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
}

/** /proc/meminfo's MemAvailable, in bytes. */
export function parseMemAvailable(text: string | null): number | null {
  if (text === null) return null;
  const m = /^MemAvailable:\s+([0-9]+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return null;
  }
}

export interface ReadFactsOptions {
  /** Where /proc is: tests point it at a folder of their own. */
  proc?: string;
  /** Ask the installed haproxy and nginx for their versions (default true). */
  versions?: boolean;
}

/** Reads the machine's limits; what cannot be read is null. */
export async function readFacts(opts: ReadFactsOptions = {}): Promise<MachineFacts> {
  const proc = opts.proc ?? "/proc";
  const sys = (p: string) => readText(join(proc, "sys", p));
  const [fileMax, nrOpen, ports, somaxconn, synBacklog, twReuse, conntrack, status, meminfo] = await Promise.all([
    sys("fs/file-max"),
    sys("fs/nr_open"),
    sys("net/ipv4/ip_local_port_range"),
    sys("net/core/somaxconn"),
    sys("net/ipv4/tcp_max_syn_backlog"),
    sys("net/ipv4/tcp_tw_reuse"),
    sys("net/netfilter/nf_conntrack_max"),
    readText(join(proc, "self", "status")),
    readText(join(proc, "meminfo")),
  ]);
  const version = async (target: "haproxy" | "nginx") => {
    if (opts.versions === false) return null;
    const found = await detectVersion(target).catch(() => null);
    return found ? versionText(found.version) : null;
  };
  const [haproxy, nginx] = await Promise.all([version("haproxy"), version("nginx")]);
  return {
    openFiles: openFileLimit(),
    canRaiseHardLimit: parseCapSysResource(status),
    fileMax: parseSysctlNumber(fileMax),
    nrOpen: parseSysctlNumber(nrOpen),
    portRange: parsePortRange(ports),
    somaxconn: parseSysctlNumber(somaxconn),
    tcpMaxSynBacklog: parseSysctlNumber(synBacklog),
    tcpTwReuse: parseSysctlNumber(twReuse),
    conntrackMax: parseSysctlNumber(conntrack),
    memory: { totalBytes: totalmem(), freeBytes: freemem(), availableBytes: parseMemAvailable(meminfo) },
    cores: availableParallelism(),
    versions: { haproxy, nginx },
  };
}
