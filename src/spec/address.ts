import { isIPv6 } from "node:net";

/**
 * IP literals, parsed rather than matched as text. A proxy given anything
 * else as an address resolves it as a host name, and that lookup leaves the
 * machine; so the spec takes IP literals only, and every loopback check
 * parses the address first.
 */

export interface HostPort {
  /** IPv4 dotted quad, or IPv6 in canonical compressed form without brackets. */
  host: string;
  port: number;
}

export type AddressProblem = { ok: false; reason: string };

/** A dotted-quad IPv4 address: four decimal octets 0-255, no leading zeros. */
export function parseIPv4(text: string): string | AddressProblem {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^[0-9]{1,3}$/.test(p))) {
    return { ok: false, reason: "is not an IPv4 address (four decimal numbers 0-255 separated by dots)" };
  }
  for (const p of parts) {
    if (p.length > 1 && p.startsWith("0")) {
      return { ok: false, reason: `has the octet '${p}' with a leading zero, which HAProxy reads as octal and nginx as decimal; write it without the zero` };
    }
    if (Number(p) > 255) return { ok: false, reason: `has the octet ${p}, above 255` };
  }
  return text;
}

/** An IPv6 address (no zone index), returned in canonical compressed lower-case form. */
export function parseIPv6(text: string): string | AddressProblem {
  if (text.includes("%")) return { ok: false, reason: "has a zone index (%...), which spillway does not render" };
  if (!isIPv6(text)) return { ok: false, reason: "is not an IPv6 address" };
  // The WHATWG URL parser canonicalises IPv6 (RFC 5952): [0:0::1] and [::1] become one string.
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/**
 * `a.b.c.d:port` or `[v6]:port`, with a port 1-65535. Host names are refused:
 * a proxy would resolve them.
 */
export function parseHostPort(text: string): HostPort | AddressProblem {
  const m = /^(\[([^\]]*)\]|([^:[\]]*)):([0-9]+)$/.exec(text);
  if (!m) {
    if (/^[^:]*$/.test(text)) return { ok: false, reason: "has no port: write host:port, e.g. 127.0.0.1:8080" };
    if (!text.startsWith("[") && (text.match(/:/g) ?? []).length > 1) return { ok: false, reason: "is an IPv6 address without brackets: write [::1]:8080" };
    return { ok: false, reason: "is not host:port, e.g. 127.0.0.1:8080 or [::1]:8080" };
  }
  const portText = m[4]!;
  const port = Number(portText);
  if (portText.length > 5 || port < 1 || port > 65535 || (portText.length > 1 && portText.startsWith("0"))) {
    return { ok: false, reason: `has port ${portText}; a port is a whole number from 1 to 65535 without leading zeros` };
  }
  if (m[2] !== undefined) {
    const v6 = parseIPv6(m[2]);
    return typeof v6 === "string" ? { host: v6, port } : v6;
  }
  const hostText = m[3]!;
  const v4 = parseIPv4(hostText);
  if (typeof v4 === "string") return { host: v4, port };
  if (/[A-Za-z]/.test(hostText)) {
    return { ok: false, reason: `names the host '${hostText}'; spillway takes IP addresses only, so no proxy ever resolves a host name (use 127.0.0.1, or the address the name stands for)` };
  }
  return v4;
}

export function isProblem(value: unknown): value is AddressProblem {
  return typeof value === "object" && value !== null && (value as AddressProblem).ok === false;
}

/** The wildcard addresses: they overlap every address on the same port. */
export function isWildcardIp(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

/**
 * Why a listening socket cannot take this address, or null. nginx listens
 * IPv6-only, so a v4-mapped address fails bind() with EINVAL; a link-local
 * address needs a zone; a multicast address cannot be bound to listen.
 */
export function bindProblem(host: string): string | null {
  if (!host.includes(":")) return null;
  if (/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(host)) return "is an IPv4-mapped IPv6 address, which nginx cannot listen on (bind fails with EINVAL): write the IPv4 address";
  if (/^fe[89ab][0-9a-f]?:/.test(host)) return "is a link-local IPv6 address, which needs a zone (%interface) to listen on";
  if (/^ff[0-9a-f]{2}:/.test(host)) return "is a multicast IPv6 address, which cannot be listened on";
  return null;
}
