import { readFileSync } from "node:fs";

/** This process's RLIMIT_NOFILE, which the proxies it starts inherit. */
export function openFileLimit(): { soft: number; hard: number } {
  try {
    const text = readFileSync("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
    if (m) {
      const parse = (s: string) => (s === "unlimited" ? 1_048_576 : Number(s));
      return { soft: parse(m[1]!), hard: parse(m[2]!) };
    }
  } catch {
    // not Linux: fall through
  }
  return { soft: 1024, hard: 1024 };
}

/** File descriptors kept aside for logs, listeners, sockets to the stats endpoints and the like. */
const RESERVED_FDS = 128;

/**
 * HAProxy holds two descriptors per proxied connection (client and server),
 * nginx counts both in worker_connections. From the descriptor limit:
 */
export function proxyLimits(fdLimit: number): { haproxyMaxconn: number; nginxWorkerConnections: number; nginxRlimitNofile: number } {
  const usable = Math.max(256, fdLimit - RESERVED_FDS);
  return {
    haproxyMaxconn: Math.floor(usable / 2),
    nginxWorkerConnections: usable,
    nginxRlimitNofile: fdLimit,
  };
}
