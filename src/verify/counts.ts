/**
 * Counting both sides of a hold test: the driver's open connections, the
 * proxy's own count and the kernel's, sampled over time, and the sentences
 * that say where they disagree. Pure: the texts read from /proc and from the
 * proxies' stats endpoints come in as strings (the reading is in sampler.ts).
 */

/** The `ss -s` figures: /proc/net/sockstat and sockstat6, plus CurrEstab from /proc/net/snmp. */
export interface KernelCounts {
  /** TCP sockets in a hash table (any state but TIME_WAIT), IPv4 and IPv6 added. */
  inuse: number;
  /** Sockets no process holds any more, still sending or closing. */
  orphan: number;
  /** Sockets in TIME_WAIT. */
  tw: number;
  /** TCP sockets allocated, any state. */
  alloc: number;
  /** Pages of memory TCP buffers hold. */
  mem_pages: number;
  /** ESTABLISHED and CLOSE_WAIT sockets on the whole machine (ss -s's "estab"); on loopback each connection is two of them. */
  estab: number | null;
  /**
   * ESTABLISHED sockets whose local port is the proxy's listening port: the
   * connections the proxy's side of the kernel holds, one per client connection.
   * Null in a sample where /proc/net/tcp was not read (see SamplerOptions).
   */
  established_on_port: number | null;
}

export interface CountSample {
  t_ms: number;
  /** Connections the driver counts as open (handshake done), from its latest progress tick. */
  driver_open: number;
  /** What the proxy counts now (see ProxyCountKind); null without a stats endpoint or when it did not answer. */
  proxy_current: number | null;
  kernel: KernelCounts;
}

export type ProxyCountKind = "nginx" | "haproxy";

export interface CountsReport {
  interval_ms: number;
  /** Which proxy counted, and what its figure counts; null when only the driver and the kernel were sampled. */
  proxy: { kind: ProxyCountKind; counts: string } | null;
  /** The local port whose ESTABLISHED sockets are counted, or null. */
  port: number | null;
  samples: CountSample[];
  /** Sentences, one per stretch of samples where two counts differ by more than the tolerance. */
  disagreements: string[];
  /** "agree within N" when nothing disagreed, or why nothing could be compared. */
  verdict: string;
  /** Why a count was left out, when one was. */
  note: string | null;
}

/** What each proxy's figure counts, said in the report beside the numbers. */
export const PROXY_COUNTS: Record<ProxyCountKind, string> = {
  nginx:
    "stub_status 'Active connections' less its own status request: every client connection nginx has accepted and not yet closed, on all its listeners, " +
    "whether reading a request, writing a response or idle in keep-alive ('Waiting'); not connections still in the kernel's accept queue, nor nginx's own connections to upstreams",
  haproxy:
    "the sum of scur over the FRONTEND rows of `show stat`: client connections each frontend has accepted and not yet closed (HTTP/2 streams are not counted apart); " +
    "`show info` CurrConns is the same count for the whole process, but it takes in every listener, so the per-frontend sum is what the load's connections alone make",
};

const SOCKSTAT_LINE = /^(TCP6?):((?:\s+[a-z_]+\s+-?\d+)+)\s*$/;

/**
 * /proc/net/sockstat (and sockstat6) as `ss -s` reads them: inuse from both
 * files added (TCP counts IPv4 sockets, TCP6 IPv6 ones); orphan, tw, alloc
 * and mem are kept for TCP as a whole and appear only in sockstat.
 */
export function parseSockstat(sockstat: string, sockstat6 = ""): Omit<KernelCounts, "estab" | "established_on_port"> {
  const out = { inuse: 0, orphan: 0, tw: 0, alloc: 0, mem_pages: 0 };
  let seen = false;
  for (const line of `${sockstat}\n${sockstat6}`.split("\n")) {
    const m = SOCKSTAT_LINE.exec(line.trim());
    if (!m) continue;
    const fields = new Map<string, number>();
    const parts = m[2]!.trim().split(/\s+/);
    for (let i = 0; i + 1 < parts.length; i += 2) fields.set(parts[i]!, Number(parts[i + 1]));
    out.inuse += fields.get("inuse") ?? 0;
    if (m[1] === "TCP") {
      seen = true;
      out.orphan = fields.get("orphan") ?? 0;
      out.tw = fields.get("tw") ?? 0;
      out.alloc = fields.get("alloc") ?? 0;
      out.mem_pages = fields.get("mem") ?? 0;
    }
  }
  if (!seen) throw new Error("no TCP line in /proc/net/sockstat");
  return out;
}

/** CurrEstab from /proc/net/snmp: a header line of names and a line of values, both starting "Tcp:". */
export function parseSnmpCurrEstab(snmp: string): number | null {
  const tcp = snmp.split("\n").filter((l) => l.startsWith("Tcp:"));
  if (tcp.length < 2) return null;
  const names = tcp[0]!.trim().split(/\s+/);
  const values = tcp[1]!.trim().split(/\s+/);
  const at = names.indexOf("CurrEstab");
  if (at < 0 || values[at] === undefined) return null;
  const n = Number(values[at]);
  return Number.isFinite(n) ? n : null;
}

/**
 * ESTABLISHED sockets on the proxy's port, tallied a line of /proc/net/tcp
 * (or tcp6) at a time. A local port alone does not say the proxy holds the
 * socket: Linux shares an ephemeral port among connections to different
 * destinations, so a client socket elsewhere on the machine can have the
 * proxy's port number as its own. Those connect *to* a listening port, while
 * the proxy's accepted sockets face a client's ephemeral one; so sockets
 * whose remote port is a port something listens on are left out at the end.
 */
export interface PortTally {
  hexPort: string;
  listening: Set<string>;
  /** ESTABLISHED sockets on the port, by remote port (hex). */
  byRemote: Map<string, number>;
}

export function newPortTally(port: number): PortTally {
  return { hexPort: portHex(port), listening: new Set(), byRemote: new Map() };
}

/** One line `sl: local rem st ...`, each address's port after its last ':'; state 01 is ESTABLISHED, 0A LISTEN. */
export function tallyTcpLine(line: string, tally: PortTally): void {
  const colon = line.indexOf(":");
  if (colon < 0) return;
  let i = colon + 1;
  while (line.charCodeAt(i) === 32) i++;
  const localEnd = line.indexOf(" ", i);
  if (localEnd < 0) return;
  let j = localEnd;
  while (line.charCodeAt(j) === 32) j++;
  const remEnd = line.indexOf(" ", j);
  if (remEnd < 0) return;
  let k = remEnd;
  while (line.charCodeAt(k) === 32) k++;
  const state = line.slice(k, k + 2);
  const localPort = line.slice(line.lastIndexOf(":", localEnd) + 1, localEnd);
  if (state === "0A") tally.listening.add(localPort);
  else if (state === "01" && localPort === tally.hexPort) {
    const remotePort = line.slice(line.lastIndexOf(":", remEnd) + 1, remEnd);
    tally.byRemote.set(remotePort, (tally.byRemote.get(remotePort) ?? 0) + 1);
  }
}

export function tallyTotal(tally: PortTally): number {
  let n = 0;
  for (const [remote, count] of tally.byRemote) if (!tally.listening.has(remote)) n += count;
  return n;
}

export function portHex(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, "0");
}

/** The proxy's ESTABLISHED sockets on a port in whole /proc/net/tcp and tcp6 texts. */
export function countEstablishedOnPort(port: number, ...texts: string[]): number {
  const tally = newPortTally(port);
  for (const text of texts) for (const line of text.split("\n")) tallyTcpLine(line, tally);
  return tallyTotal(tally);
}

/**
 * HAProxy's client connections: scur summed over the FRONTEND rows of `show
 * stat`. Null when the text is not `show stat` CSV (no header with pxname,
 * svname and scur), so a wrong endpoint is not read as zero connections.
 */
export function frontendCurrent(csv: string): number | null {
  const lines = csv.split("\n").filter(Boolean);
  const header = (lines[0] ?? "").replace(/^# /, "").split(",");
  const [sv, scur] = [header.indexOf("svname"), header.indexOf("scur")];
  if (header.indexOf("pxname") < 0 || sv < 0 || scur < 0) return null;
  let total = 0;
  for (const line of lines.slice(1)) {
    const cells = line.split(",");
    if (cells[sv] === "FRONTEND") total += Number(cells[scur] || 0);
  }
  return total;
}

/** `show info` as name -> value; CurrConns and the like come out as numbers where they are numbers. */
export function parseShowInfo(text: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const v = m[2]!;
    out[m[1]!] = /^-?\d+$/.test(v) ? Number(v) : v;
  }
  return out;
}

/** nginx's stub_status Active connections less the status request itself; null on any other page. */
export function nginxCurrent(page: string): number | null {
  const m = /Active connections:\s*(\d+)/.exec(page);
  return m ? Math.max(0, Number(m[1]) - 1) : null;
}

/**
 * How far two counts of the same connections may differ before it is said.
 * The reads are not one atomic snapshot: the driver's count is from its last
 * progress tick (up to ~250 ms old) and each read takes its own moment, so a
 * connection set up or closed between them is counted by one side only. At a
 * plateau that is a handful; 1% (at least 2) leaves room for it and still
 * names any real leak or refusal.
 */
export function tolerance(driverOpen: number): number {
  return Math.max(2, Math.ceil(driverOpen * 0.01));
}

const fmt = (n: number) => n.toLocaleString("en-US");
const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`;

interface Side {
  name: string;
  value: (s: CountSample) => number | null;
  why: { fewer: string; more: string };
}

function sides(kind: ProxyCountKind | null, port: number | null): Side[] {
  const out: Side[] = [];
  if (kind !== null) {
    out.push({
      name: kind === "nginx" ? "nginx counted" : "HAProxy counted",
      value: (s) => s.proxy_current,
      why: {
        fewer: "connections the driver holds that the proxy has not accepted (still in the kernel's accept queue) or has already closed (a timeout) while the driver has not noticed",
        more: "the proxy counts connections that are not this driver's (another client, or ones it has not closed yet)",
      },
    });
  }
  if (port !== null) {
    out.push({
      name: `the kernel had established on port ${port}`,
      value: (s) => s.kernel.established_on_port,
      why: {
        fewer: "connections the driver counts as open that the kernel no longer holds as ESTABLISHED on the proxy's side (closed, or never completed)",
        more:
          "the kernel has completed TCP handshakes the proxy has not accepted yet (its accept queue, as when it is at maxconn), which the driver does not count as open until its HTTP/2 handshake is answered; " +
          "or the port holds connections that are not this driver's",
      },
    });
  }
  return out;
}

/**
 * Compares the series where the driver's count holds still: a sample is
 * compared when the driver's count equals both the previous sample's and the
 * next one's. While it moves, the sides are read at different moments of a
 * ramp; and the driver's figure is from its last progress tick, up to ~250 ms
 * old, so the sample just before a change (the end of -D, say) would set a
 * stale count against fresh ones. Consecutive samples that differ the same
 * way make one sentence, with the widest gap.
 */
export function compareCounts(samples: readonly CountSample[], proxy: ProxyCountKind | null, port: number | null): { disagreements: string[]; verdict: string } {
  const compared = samples.filter((s, i) => i > 0 && i + 1 < samples.length && samples[i - 1]!.driver_open === s.driver_open && samples[i + 1]!.driver_open === s.driver_open);
  const against = sides(proxy, port);
  if (against.length === 0) return { disagreements: [], verdict: "only the driver's count and the kernel's totals were sampled: nothing to compare" };
  if (compared.length === 0) return { disagreements: [], verdict: "the driver's count never held still across three samples: nothing compared" };
  const sentences: string[] = [];
  let widestTol = 0;
  let widestGap = 0;
  let checked = 0;
  for (const side of against) {
    const gap = (s: CountSample) => (side.value(s) ?? 0) - s.driver_open;
    // Stretches of consecutive samples that differ beyond the tolerance, the same way.
    const stretches: { sign: number; samples: CountSample[] }[] = [];
    let open: { sign: number; samples: CountSample[] } | null = null;
    let previousIndex = -2;
    for (const s of compared) {
      if (side.value(s) === null) continue;
      checked++;
      const tol = tolerance(s.driver_open);
      widestTol = Math.max(widestTol, tol);
      const index = samples.indexOf(s);
      const adjacent = index - previousIndex === 1;
      previousIndex = index;
      const diff = gap(s);
      widestGap = Math.max(widestGap, Math.abs(diff));
      if (Math.abs(diff) <= tol) {
        open = null;
        continue;
      }
      if (open !== null && open.sign === Math.sign(diff) && adjacent) open.samples.push(s);
      else stretches.push((open = { sign: Math.sign(diff), samples: [s] }));
    }
    for (const { sign, samples: run } of stretches) {
      const first = run[0]!;
      const last = run[run.length - 1]!;
      const widest = run.reduce((a, b) => (Math.abs(gap(b)) > Math.abs(gap(a)) ? b : a));
      const span = run.length > 1 ? ` (and so through ${secs(last.t_ms)}, ${run.length} samples; the widest gap ${fmt(Math.abs(gap(widest)))} at ${secs(widest.t_ms)})` : "";
      sentences.push(
        `at ${secs(first.t_ms)} the driver held ${fmt(first.driver_open)} connections, ${side.name} ${fmt(side.value(first) ?? 0)} ` +
          `(${fmt(Math.abs(gap(first)))} ${sign < 0 ? "fewer" : "more"})${span}: ${sign < 0 ? side.why.fewer : side.why.more}`,
      );
    }
  }
  if (checked === 0) return { disagreements: [], verdict: "no comparable sample: the proxy's and the kernel's counts were not read while the driver's count held still" };
  const who = ["the driver", ...against.map((s) => (s.name.startsWith("the kernel") ? "the kernel" : s.name.split(" ")[0]!))];
  const names = `${who.slice(0, -1).join(", ")} and ${who.at(-1)!}`;
  return {
    disagreements: sentences,
    verdict: sentences.length > 0
        ? `${sentences.length} disagreement${sentences.length === 1 ? "" : "s"}`
        : `${names} agree within ${widestTol} connections (the widest gap ${fmt(widestGap)}) at the ${compared.length} sample${compared.length === 1 ? "" : "s"} where the driver's count held still`,
  };
}

export function countsReport(intervalMs: number, proxy: ProxyCountKind | null, port: number | null, samples: CountSample[], note: string | null = null): CountsReport {
  return { interval_ms: intervalMs, proxy: proxy === null ? null : { kind: proxy, counts: PROXY_COUNTS[proxy] }, port, samples, ...compareCounts(samples, proxy, port), note };
}
