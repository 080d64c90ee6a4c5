/**
 * `spillway load`'s report: an h2load-like text summary of a result, plus
 * the per-backend table. Returns a string; the caller prints it.
 */
import type { LoadResult } from "../load/index.js";
import { CAUSES } from "../wire.js";
import { formatTable } from "./table.js";
import type { CountSample, CountsReport } from "../verify/counts.js";

function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : v >= 1 ? `${v.toFixed(2)}ms` : `${Math.round(v * 1000)}us`;
}

/** `profile`: where the load went, and the request count it asked for (null or absent: bounded otherwise). */
export function formatLoadSummary(result: LoadResult, profile: { url: string; requests?: number | null | undefined }): string {
  const r = result.requests;
  const byCause = result.unattributed.byCause;
  let errored = 0;
  for (const [cause, n] of Object.entries(byCause)) {
    if (!cause.startsWith("status-") && cause !== CAUSES.timeout && cause !== CAUSES.cutByDuration) errored += n;
  }
  const timeout = byCause[CAUSES.timeout] ?? 0;
  const cut = byCause[CAUSES.cutByDuration] ?? 0;
  const classes = [0, 0, 0, 0];
  for (const [code, n] of Object.entries(result.statuses)) {
    const c = Math.floor(Number(code) / 100);
    if (c >= 2 && c <= 5) classes[c - 2]! += n;
  }
  const lines: string[] = [];
  lines.push(`target: ${profile.url}`);
  lines.push(`finished in ${(result.durationMs / 1000).toFixed(2)}s, ${result.rps.toFixed(2)} req/s`);
  lines.push(
    `requests: ${profile.requests ?? r.sent} total, ${r.sent} started, ${r.completed} done, ${r.succeeded} succeeded, ` +
      `${r.failed} failed, ${errored} errored, ${timeout} timeout` +
      (cut > 0 ? `, ${cut} cut by duration` : "") +
      (r.retried > 0 ? `, ${r.retried} retried` : ""),
  );
  lines.push(`status codes: ${classes[0]} 2xx, ${classes[1]} 3xx, ${classes[2]} 4xx, ${classes[3]} 5xx`);
  const c = result.connections;
  const failedCauses = Object.entries(c.failedByCause).map(([k, n]) => `${k} ${n}`);
  const unfinished = c.unfinished.connecting + c.unfinished.handshaking;
  lines.push(
    `connections: ${c.opened} opened, ${c.maxOpen} max open, ${c.failed} failed${failedCauses.length > 0 ? ` (${failedCauses.join(", ")})` : ""}, ${c.goaways} goaway` +
      (unfinished > 0 ? `, ${unfinished} unfinished at the end (${c.unfinished.connecting} connecting, ${c.unfinished.handshaking} in TLS/HTTP/2 handshake)` : ""),
  );
  if (result.stoppedEarly !== null) {
    const why = result.stoppedEarly.reason === "no-connection" ? "no connection opened" : "no request got an answer";
    lines.push(`stopped early after ${(result.stoppedEarly.afterMs / 1000).toFixed(2)}s: ${why} within the timeout`);
  }
  const l = result.latency;
  lines.push(`latency: min ${ms(l.min)}, max ${ms(l.max)}, mean ${ms(l.mean)}, p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, p99 ${ms(l.p99)}`);
  if (result.maxProxyConnsSeen !== null) lines.push(`max proxy connections seen: ${result.maxProxyConnsSeen}`);
  lines.push("");
  const total = r.sent;
  const share = (n: number) => (total > 0 ? `${((n / total) * 100).toFixed(2)}%` : "-");
  const rows = [
    ...Object.entries(result.backends).map(([name, b]) => [name, String(b.count), share(b.count), ms(b.latency.p50), ms(b.latency.p99)]),
    ...Object.entries(byCause).map(([cause, n]) => [`(unattributed: ${cause})`, String(n), share(n), "-", "-"]),
  ];
  lines.push(formatTable(["backend", "count", "share", "p50", "p99"], rows));
  return lines.join("\n") + "\n";
}

/**
 * The three counts of a hold test as a short table (the first sample, the
 * one where the driver held most, the last, and each column's own peak),
 * then what each proxy figure counts and where the counts disagree.
 */
export function formatCounts(counts: CountsReport): string {
  const s = counts.samples;
  if (s.length === 0) return "";
  const proxyName = counts.proxy === null ? null : counts.proxy.kind;
  const cell = (v: number | null) => (v === null ? "-" : String(v));
  const peakAt = s.reduce((a, b) => (b.driver_open > a.driver_open ? b : a));
  const row = (label: string, x: CountSample) => [
    label,
    `${(x.t_ms / 1000).toFixed(1)}s`,
    String(x.driver_open),
    ...(proxyName ? [cell(x.proxy_current)] : []),
    ...(counts.port !== null ? [cell(x.kernel.established_on_port)] : []),
    cell(x.kernel.estab),
    String(x.kernel.inuse),
    String(x.kernel.orphan),
    String(x.kernel.tw),
    String(x.kernel.mem_pages),
  ];
  const max = (f: (x: CountSample) => number | null) => {
    const vs = s.map(f).filter((v): v is number => v !== null);
    return vs.length > 0 ? String(Math.max(...vs)) : "-";
  };
  const peaks = [
    "peak of each",
    "",
    max((x) => x.driver_open),
    ...(proxyName ? [max((x) => x.proxy_current)] : []),
    ...(counts.port !== null ? [max((x) => x.kernel.established_on_port)] : []),
    max((x) => x.kernel.estab),
    max((x) => x.kernel.inuse),
    max((x) => x.kernel.orphan),
    max((x) => x.kernel.tw),
    max((x) => x.kernel.mem_pages),
  ];
  const header = [
    "",
    "t",
    "driver open",
    ...(proxyName ? [`${proxyName} counts`] : []),
    ...(counts.port !== null ? [`kernel estab :${counts.port}`] : []),
    "kernel estab",
    "tcp inuse",
    "orphan",
    "timewait",
    "mem pages",
  ];
  const lines = [
    "",
    `connections counted both sides, every ${counts.interval_ms} ms (${s.length} samples):`,
    formatTable(header, [row("start", s[0]!), row("driver's peak", peakAt), row("end", s[s.length - 1]!), peaks]),
  ];
  if (counts.proxy) lines.push(`${counts.proxy.kind} counts ${counts.proxy.counts}.`);
  if (counts.note) lines.push(`${counts.note}.`);
  for (const d of counts.disagreements) lines.push(`DISAGREE: ${d}`);
  if (counts.disagreements.length === 0) lines.push(counts.verdict);
  return lines.join("\n") + "\n";
}
