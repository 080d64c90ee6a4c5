/**
 * Local ports chosen by the driver instead of the kernel, for runs large
 * enough that the kernel's own choice gets slow.
 *
 * Measured here (kernel 6.18, one destination 127.0.0.1:18080, 16,000
 * connections from one process, `node /tmp/hold/connect.mjs`): connect()
 * with the kernel choosing the port took 12.0 s, 11.0 s of it system time,
 * the first 8,000 in 0.65 s; bind() to a source address with port 0 before
 * connect() (what `localAddress` does) took 44 s; binding an explicit
 * (address, port) took 1.3 s. The kernel searches the ephemeral range for a
 * free port on every connect, and the search grows with the ports already
 * held. An explicit port is one hash lookup.
 *
 * The range is split between the engines of a run (threads, processes), so
 * two engines never try the same port; a port another program holds makes
 * bind() fail with EADDRINUSE, and the connection takes the next one.
 */
import { readFileSync } from "node:fs";

/** Per source address, from this many connections on the driver chooses ports (the slowdown above began between 8,000 and 12,000). */
export const EXPLICIT_PORTS_FROM = 5_000;

export interface PortRange {
  low: number;
  high: number;
}

/** `net.ipv4.ip_local_port_range`, or Linux's default when it cannot be read. */
export function localPortRange(): PortRange {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) return { low: low!, high: high! };
  } catch {
    // Not Linux, or /proc hidden: the kernel's default range.
  }
  return { low: 32768, high: 60999 };
}

/**
 * The ports engine `engine` of `engines` may use: every engines-th port of
 * the range from its own offset, handed out in turn for each source address.
 */
export class PortPicker {
  private readonly next = new Map<string, number>();
  /** Ports this engine's open sockets are bound to, per source: a reconnect must not take one (bind() would pass, SO_REUSEADDR, and connect() fail). */
  private readonly held = new Map<string, Set<number>>();
  private readonly count: number;

  constructor(
    private readonly range: PortRange,
    private readonly engine: number,
    private readonly engines: number,
  ) {
    const size = range.high - range.low + 1;
    this.count = Math.max(1, Math.floor((size - engine - 1) / engines) + 1);
  }

  /** How many distinct ports this engine has per source address. */
  get size(): number {
    return this.count;
  }

  /** The next port for a connection from `source` that this engine does not hold already. */
  take(source: string): number {
    let held = this.held.get(source);
    if (held === undefined) this.held.set(source, (held = new Set()));
    let k = this.next.get(source) ?? 0;
    let port = this.range.low + this.engine + k * this.engines;
    for (let i = 0; i < this.count && held.has(port); i++) {
      k = (k + 1) % this.count;
      port = this.range.low + this.engine + k * this.engines;
    }
    this.next.set(source, (k + 1) % this.count);
    held.add(port);
    return port;
  }

  /** The connection on `port` has closed: the port may be taken again. */
  release(source: string, port: number): void {
    this.held.get(source)?.delete(port);
  }
}
