/**
 * `spillway load`'s report: an h2load-like text summary of a result, plus
 * the per-backend table. Returns a string; the caller prints it.
 */
import type { LoadResult } from "../load/index.js";
import { CAUSES } from "../wire.js";
import { formatTable } from "./table.js";

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
