/**
 * Memory per connection, measured on this machine: a real nginx and HAProxy
 * with a minimal config on a free loopback port, ~1,000 HTTP/2 connections
 * held from this process, and the growth of the proxy's VmRSS, this
 * process's RSS and the kernel's socket memory, divided by the count.
 * Everything it starts it stops by pid, on every path.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as http2Connect, type ClientHttp2Session } from "node:http2";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectVersion } from "../check/index.js";
import { InfraError } from "../errors.js";
import { atLeast, type Version } from "../render/version.js";
import type { MemoryPerConnection } from "./needs.js";

/** Connections held while measuring: enough that a few hundred KiB of noise is under 1 KiB each, few enough to take a few seconds. */
export const MEASURE_CONNECTIONS = 1000;

/** Opened this many at a time, so no burst overflows nginx's 511-deep accept queue. */
const BATCH = 200;

/** Slab caches a TCP connection's two ends allocate from: the socket, its inode and dentry, its file, its epoll entry. */
const SOCKET_SLABS = ["TCP", "sock_inode_cache", "dentry", "filp", "eventpoll_epi", "eventpoll_pwq"];

const PAGE = 4096;

/** VmRSS of a process, in bytes. */
export function parseVmRss(status: string): number | null {
  const m = /^VmRSS:\s+([0-9]+) kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

/** The TCP line of /proc/net/sockstat: `mem` is socket buffer memory, in pages. */
export function parseSockstatMem(text: string): number | null {
  const m = /^TCP:.*\bmem ([0-9]+)/m.exec(text);
  return m ? Number(m[1]) * PAGE : null;
}

/** Bytes in use in the named slab caches (active objects x object size); null when /proc/slabinfo cannot be read. */
export function parseSlabBytes(text: string, caches: readonly string[]): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const [name, active, , size] = line.trim().split(/\s+/);
    if (name !== undefined && caches.includes(name)) sum += Number(active) * Number(size);
  }
  return sum;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** The kernel's memory for sockets: buffers (sockstat) and the socket slabs, or the whole Slab line where slabinfo is closed. */
function kernelBytes(): number {
  const buffers = parseSockstatMem(read("/proc/net/sockstat") ?? "") ?? 0;
  const slabinfo = read("/proc/slabinfo");
  if (slabinfo !== null) return buffers + parseSlabBytes(slabinfo, SOCKET_SLABS);
  const m = /^Slab:\s+([0-9]+) kB$/m.exec(read("/proc/meminfo") ?? "");
  return buffers + (m ? Number(m[1]) * 1024 : 0);
}

function rssOf(pid: number): number {
  const v = parseVmRss(read(`/proc/${pid}/status`) ?? "");
  if (v === null) throw new InfraError(`measuring memory: process ${pid} is gone`, "Run spillway doctor again; --no-measure skips the measurement.");
  return v;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function nginxConfig(port: number, version: Version): string {
  const listen = atLeast(version, 1, 25, 1) ? `listen 127.0.0.1:${port};\n        http2 on;` : `listen 127.0.0.1:${port} http2;`;
  return `# spillway doctor: memory per connection
daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log stderr error;
events { worker_connections ${MEASURE_CONNECTIONS * 2 + 64}; }
http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    keepalive_timeout 300s;
    server {
        ${listen}
        location / { return 200 "ok"; }
    }
}
`;
}

function haproxyConfig(port: number): string {
  return `# spillway doctor: memory per connection
global
    maxconn ${MEASURE_CONNECTIONS * 2 + 64}
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
frontend measure
    bind 127.0.0.1:${port} proto h2
    http-request return status 200 content-type text/plain string ok
`;
}

async function untilListening(port: number, child: ChildProcess, what: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new InfraError(`measuring memory: ${what} exited with ${child.exitCode}: ${log().trim().split("\n").slice(-3).join(" / ")}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new InfraError(`measuring memory: ${what} did not listen on 127.0.0.1:${port} within 10s: ${log().trim().split("\n").slice(-3).join(" / ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One session that has answered one request: a held connection as a hold test leaves it. */
function openSession(port: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://127.0.0.1:${port}`);
    session.once("error", reject);
    const req = session.request({ ":path": "/" });
    req.on("response", () => undefined);
    req.resume();
    req.once("end", () => resolve(session));
    req.once("error", reject);
    req.end();
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  }, 3000);
  await exited;
  clearTimeout(timer);
}

export interface ProxyMeasurement {
  /** KiB per connection of each side. */
  proxy: number;
  driver: number;
  kernel: number;
}

/** One proxy: started, ~count connections held and counted, stopped. */
export async function measureProxy(target: "nginx" | "haproxy", count = MEASURE_CONNECTIONS): Promise<ProxyMeasurement | null> {
  const found = await detectVersion(target).catch(() => null);
  if (!found) return null;
  const dir = mkdtempSync(join(tmpdir(), `spillway-measure-${target}-`));
  const port = await freePort();
  let child: ChildProcess | null = null;
  const sessions: ClientHttp2Session[] = [];
  let log = "";
  try {
    if (target === "nginx") {
      writeFileSync(join(dir, "nginx.conf"), nginxConfig(port, found.version));
      child = spawn(found.binary, ["-p", dir, "-c", "nginx.conf"], { stdio: ["ignore", "ignore", "pipe"] });
    } else {
      writeFileSync(join(dir, "haproxy.cfg"), haproxyConfig(port));
      child = spawn(found.binary, ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "ignore", "pipe"] });
    }
    child.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const started = child;
    await untilListening(port, started, target, () => log);
    const pid = started.pid!;
    // A few connections first, so the proxy's one-time allocations (HTTP/2 tables, first buffers) are not counted per connection.
    for (let i = 0; i < 10; i++) sessions.push(await openSession(port));
    await new Promise((r) => setTimeout(r, 100));
    const before = { proxy: rssOf(pid), driver: process.memoryUsage().rss, kernel: kernelBytes() };
    for (let opened = 0; opened < count; opened += BATCH) {
      sessions.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, count - opened) }, () => openSession(port)))));
    }
    await new Promise((r) => setTimeout(r, 200));
    const after = { proxy: rssOf(pid), driver: process.memoryUsage().rss, kernel: kernelBytes() };
    const per = (a: number, b: number) => Math.max(0, a - b) / count / 1024;
    return { proxy: per(after.proxy, before.proxy), driver: per(after.driver, before.driver), kernel: per(after.kernel, before.kernel) };
  } finally {
    for (const s of sessions) s.destroy();
    if (child) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * nginx and HAProxy, one after the other (each alone on the machine's cores);
 * null for one not installed. The client and the sockets are the same in
 * both runs: the kernel's figure is the larger, the driver's the smaller,
 * since this process's first run also grows its heap and compiles code once.
 */
export async function measureMemory(count = MEASURE_CONNECTIONS): Promise<MemoryPerConnection | null> {
  const nginx = await measureProxy("nginx", count);
  const haproxy = await measureProxy("haproxy", count);
  const runs = [nginx, haproxy].filter((r): r is ProxyMeasurement => r !== null);
  if (runs.length === 0) return null;
  return {
    driver: Math.min(...runs.map((r) => r.driver)),
    nginx: nginx?.proxy ?? null,
    haproxy: haproxy?.proxy ?? null,
    kernel: Math.max(...runs.map((r) => r.kernel)),
    connections: count,
  };
}
