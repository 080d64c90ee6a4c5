/**
 * Samples the three counts of a hold test while a load runs: the driver's
 * open connections (its progress ticks), the proxy's own count (its stats
 * endpoint) and the kernel's (/proc/net). The parsing is in counts.ts.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import type { HostPort } from "../spec/address.js";
import { readNginxStatusPage, showCommand } from "./counters.js";
import {
  countsReport,
  frontendCurrent,
  newPortTally,
  nginxCurrent,
  parseSnmpCurrEstab,
  parseSockstat,
  tallyTcpLine,
  tallyTotal,
  type CountSample,
  type CountsReport,
  type KernelCounts,
  type PortTally,
  type ProxyCountKind,
} from "./counts.js";

export type ProxyStatsEndpoint = { kind: "nginx"; url: string } | { kind: "haproxy"; address: HostPort };

export interface SamplerOptions {
  /** Between samples; one more is taken at the start and one at the end. Default 1000. */
  intervalMs?: number;
  proxy: ProxyStatsEndpoint | null;
  /** The proxy's listening port, whose ESTABLISHED sockets the kernel is asked for; null: not counted. */
  port: number | null;
  /** The driver's open connections now. */
  driverOpen: () => number;
  /** Why the proxy's count is left out, said in the report. */
  note?: string;
}

export interface Sampler {
  /** Takes the last sample and returns the series with its comparison. */
  stop(): Promise<CountsReport>;
  /** Reads of the proxy's stats that it answered: nginx counts each stub_status read as a request. */
  readonly proxyReads: number;
}

/** A stats read that takes longer than this is counted as no answer, so one slow read does not stall the series. */
const READ_TIMEOUT_MS = 2000;

/**
 * /proc/net/tcp grows with the connections (about two lines per loopback
 * connection: ~30 MB at 100,000), so it is read as a stream, a chunk at a
 * time, and the driver's event loop on this thread keeps running between
 * chunks. Reading and parsing cost about 3 us a line here (25,000 lines: 75 ms
 * for the kernel to write them, 5 ms to parse), so up to this many lines are
 * read every sample, about a tenth of a 1 s interval; a file n times as long
 * is read every n-th sample. The rule is by size, not by the time a read
 * took: on a busy machine that time is mostly waiting, and would thin the
 * column exactly when it is wanted.
 */
const PORT_LINES_PER_SAMPLE = 30_000;

/** Tallies a /proc/net/tcp file into `tally`; returns its line count. */
async function tallyFile(file: string, tally: PortTally): Promise<number> {
  let lines = 0;
  let rest = "";
  const stream = createReadStream(file, { encoding: "utf8", highWaterMark: 256 * 1024 });
  for await (const chunk of stream as AsyncIterable<string>) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    lines += parts.length;
    for (const line of parts) tallyTcpLine(line, tally);
  }
  tallyTcpLine(rest, tally);
  return lines;
}

async function readOptional(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch {
    // An IPv4-only kernel has no sockstat6 and no tcp6: nothing is counted there.
    return "";
  }
}

/** The proxy's count now, or null when it did not answer in time or answered something else. */
export async function readProxyCurrent(proxy: ProxyStatsEndpoint): Promise<number | null> {
  try {
    if (proxy.kind === "nginx") return nginxCurrent(await readNginxStatusPage(proxy.url, READ_TIMEOUT_MS));
    return frontendCurrent(await showCommand(proxy.address, "show stat", READ_TIMEOUT_MS));
  } catch {
    return null;
  }
}

export function startSampler(opts: SamplerOptions): Sampler {
  const intervalMs = opts.intervalMs ?? 1000;
  const t0 = Date.now();
  const samples: CountSample[] = [];
  const port = opts.port;
  let samplesToSkip = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  let proxyReads = 0;

  const kernel = async (force: boolean): Promise<KernelCounts> => {
    const [sockstat, sockstat6, snmp] = await Promise.all([readFile("/proc/net/sockstat", "utf8"), readOptional("/proc/net/sockstat6"), readOptional("/proc/net/snmp")]);
    let onPort: number | null = null;
    if (port !== null && (force || samplesToSkip <= 0)) {
      // One tally for both files: a listener on IPv6 (or dual-stack) leaves out its port's client sockets on IPv4 too.
      const tally = newPortTally(port);
      const [v4, v6] = await Promise.all([tallyFile("/proc/net/tcp", tally), tallyFile("/proc/net/tcp6", tally).catch(() => 0)]);
      onPort = tallyTotal(tally);
      samplesToSkip = Math.ceil((v4 + v6) / PORT_LINES_PER_SAMPLE) - 1;
    } else samplesToSkip--;
    return { ...parseSockstat(sockstat, sockstat6), estab: parseSnmpCurrEstab(snmp), established_on_port: onPort };
  };

  const sample = async (force: boolean): Promise<void> => {
    const at = Date.now();
    // The driver's count is taken first and the slower reads after it, all for the moment `at`.
    const driver = opts.driverOpen();
    const [proxy, k] = await Promise.all([opts.proxy ? readProxyCurrent(opts.proxy) : Promise.resolve(null), kernel(force)]);
    if (proxy !== null) proxyReads++;
    samples.push({ t_ms: at - t0, driver_open: driver, proxy_current: proxy, kernel: k });
  };

  const schedule = () => {
    if (stopped) return;
    const next = intervalMs - ((Date.now() - t0) % intervalMs);
    timer = setTimeout(() => {
      inFlight = sample(false).catch(() => undefined).then(schedule);
    }, next);
    timer.unref();
  };
  inFlight = sample(true).catch(() => undefined).then(schedule);

  return {
    get proxyReads() {
      return proxyReads;
    },
    async stop(): Promise<CountsReport> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
      await sample(true);
      const kind: ProxyCountKind | null = opts.proxy?.kind ?? null;
      return countsReport(intervalMs, kind, opts.port, samples, opts.note ?? null);
    },
  };
}
