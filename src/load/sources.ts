/**
 * Source addresses for a run, before any socket opens: pure arithmetic.
 * They exist because the kernel hands out ephemeral ports per (source
 * address, destination): about 28,000 of them with Linux's default
 * ip_local_port_range, fewer once TIME_WAIT and other programs hold some.
 * @internal
 */
import { isIPv6 } from "node:net";
import type { PortRange } from "./ports.js";

/** Of the ephemeral range, the share a run plans to use per source address: TIME_WAIT and other programs hold the rest. */
export const PORT_MARGIN = 0.9;

/** Connections one source address can hold to one destination: the ephemeral range less the margin. */
export function portsPerSource(range: PortRange): number {
  return Math.floor((range.high - range.low + 1) * PORT_MARGIN);
}

/** The fewest source addresses whose ports hold `connections` to one destination, `ports` each. */
export function sourceCount(connections: number, ports: number): number {
  return Math.max(1, Math.ceil(connections / Math.max(1, ports)));
}

/** 127.0.0.1 … 127.0.0.k: every 127.0.0.0/8 address is on the loopback interface, so each binds without setup. */
export function loopbackSources(k: number): string[] {
  return Array.from({ length: k }, (_, i) => `127.0.0.${i + 1}`);
}

/**
 * The source of engine `engine`'s `local`-th connection: each engine deals
 * its own connections over every source in turn from its own offset, so
 * every engine holds an even share of every source (its ports per source
 * are its own slice of the range, ports.ts) and the sources stay even over
 * all engines. With one engine this is the run's connection index modulo
 * the sources.
 */
export function sourceIndex(local: number, engine: number, sources: number): number {
  return (local + engine) % sources;
}

/** Source addresses the driver chooses when none were given: one is enough, several, or none fits (IPv6). */
export type SourceChoice = { kind: "one" } | { kind: "spread"; addresses: string[] } | { kind: "no-fit"; need: number; ports: number };

/**
 * Whether a run to `address` needs more than one source address, and
 * which. Only an IPv4 loopback target has more: ::1 is IPv6's one
 * loopback address, and an address in 127.0.0.0/8 beyond 127.0.0.254 is
 * never needed below the schema's 100,000 connections.
 */
export function chooseSources(connections: number, address: string, ports: number): SourceChoice {
  const k = sourceCount(connections, ports);
  if (k === 1) return { kind: "one" };
  if (isIPv6(address) || k > 254) return { kind: "no-fit", need: k, ports };
  return { kind: "spread", addresses: loopbackSources(k) };
}
