/**
 * `spillway doctor` for people: the machine's facts, then per scenario and
 * target the first limit, its count and the fix. Pure: the caller prints it.
 */
import type { DoctorReport } from "../doctor/index.js";
import type { MachineFacts } from "../doctor/facts.js";
import { formatTable } from "./table.js";

const fmt = (n: number | null) => (n === null ? "-" : n.toLocaleString("en-US"));
const missing = "(not present)";

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function formatFacts(f: MachineFacts): string {
  const rows: [string, string][] = [
    ["open files (this process)", `soft ${fmt(f.openFiles.soft)}, hard ${fmt(f.openFiles.hard)}${f.canRaiseHardLimit === false ? " (hard cannot be raised: no CAP_SYS_RESOURCE)" : f.canRaiseHardLimit ? " (hard can be raised up to fs.nr_open)" : ""}`],
    ["fs.file-max", f.fileMax === null ? missing : fmt(f.fileMax)],
    ["fs.nr_open", f.nrOpen === null ? missing : fmt(f.nrOpen)],
    ["net.ipv4.ip_local_port_range", f.portRange === null ? missing : `${f.portRange.low}-${f.portRange.high} (${fmt(f.portRange.count)} ports per source address and destination)`],
    ["net.core.somaxconn", f.somaxconn === null ? missing : fmt(f.somaxconn)],
    ["net.ipv4.tcp_max_syn_backlog", f.tcpMaxSynBacklog === null ? missing : fmt(f.tcpMaxSynBacklog)],
    ["net.ipv4.tcp_tw_reuse", f.tcpTwReuse === null ? missing : `${f.tcpTwReuse}${f.tcpTwReuse === 2 ? " (loopback only)" : ""}`],
    ["net.netfilter.nf_conntrack_max", f.conntrackMax === null ? missing : fmt(f.conntrackMax)],
    ["memory", `${gib(f.memory.totalBytes)} total, ${gib(f.memory.freeBytes)} free${f.memory.availableBytes === null ? "" : `, ${gib(f.memory.availableBytes)} available`}`],
    ["cores", String(f.cores)],
    ["haproxy", f.versions.haproxy ?? "not installed"],
    ["nginx", f.versions.nginx ?? "not installed"],
  ];
  return formatTable(["limit", "value"], rows);
}

const kib = (k: number | null) => (k === null ? "not installed" : `${k.toFixed(1)} KiB`);

/** HAProxy's ceiling, and memory per connection as measured or the words that it was not. */
export function formatCapacity(report: Pick<DoctorReport, "haproxyCeiling" | "memory" | "facts">): string {
  const c = report.haproxyCeiling;
  const lines = [
    `HAProxy is one process: at most ${fmt(c.maxconn)} connections here (global maxconn as spillway renders it: (open files ${fmt(report.facts.openFiles.soft)} - 128) / 2 descriptors per connection)` +
      (c.atHardLimit > c.maxconn ? `, ${fmt(c.atHardLimit)} after ulimit -n ${report.facts.openFiles.hard}` : ""),
  ];
  const m = report.memory;
  if (m === null) {
    lines.push("Memory per connection: not measured (--no-measure, or neither proxy installed); memory is not checked.");
  } else {
    lines.push(
      `Memory per connection, measured over ${fmt(m.connections)} HTTP/2 connections: driver ${kib(m.driver)}, nginx ${kib(m.nginx)}, haproxy ${kib(m.haproxy)}, kernel ${kib(m.kernel)} (both ends' sockets)` +
        (report.facts.memory.availableBytes === null ? "" : `; MemAvailable ${fmt(Math.round(report.facts.memory.availableBytes / 2 ** 20))} MiB`),
    );
  }
  return lines.join("\n");
}

export function formatDoctorReport(report: DoctorReport): string {
  const parts = [`This machine:\n${formatFacts(report.facts)}\n`, `${formatCapacity(report)}\n`];
  if (report.spec === null) return parts.join("\n");
  if (report.results.length === 0) {
    parts.push(`${report.spec}: no scenario runs on the targets asked for.\n`);
    return parts.join("\n");
  }
  const rows = report.results.map((r) => [
    r.scenario,
    r.target ?? "-",
    fmt(r.connections),
    r.first === null ? "-" : `${r.first.participant}: ${r.first.limit}`,
    r.first === null ? "-" : fmt(r.first.holds),
    r.fits ? "fits" : (r.first?.fix?.text ?? "-"),
  ]);
  parts.push(`${report.spec}, what each scenario meets first:\n${formatTable(["scenario", "target", "connections", "first limit", "at most", "fix"], rows)}\n`);
  const firsts = report.results.filter((r) => !r.fits && r.first !== null).map((r) => `  ${r.scenario} on ${r.target}: ${r.first!.past}`);
  if (firsts.length > 0) parts.push(`Past the first limit:\n${firsts.join("\n")}\n`);
  const past: string[] = [];
  for (const r of report.results) {
    for (const l of r.limits) {
      if (!l.exceeded || l === r.first) continue;
      past.push(`  ${r.scenario} on ${r.target}: ${l.participant}: ${l.limit}, at most ${fmt(l.holds)} (${l.basis})\n    past it: ${l.past}\n    fix: ${l.fix?.text ?? "-"}`);
    }
  }
  if (past.length > 0) parts.push(`Also past their limits, lowest count first:\n${past.join("\n")}\n`);
  parts.push(
    report.fits
      ? "Every scenario fits on this machine.\n"
      : "A scenario does not fit on this machine as it is: a run would fail part-way (too many open files, cannot assign requested address, or connections never accepted). Apply the fix, then run spillway doctor again.\n",
  );
  return parts.join("\n");
}
