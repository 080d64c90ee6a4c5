import { connect } from "node:net";
import { request } from "node:http";
import { InfraError } from "../errors.js";
import type { RunningProxy } from "../runtime/index.js";
import type { ProxyCounters } from "./reconcile.js";

/** HAProxy's `show stat` CSV, read over its stats socket. */
export function showStat(address: { host: string; port: number }, timeoutMs = 5000): Promise<string> {
  return showCommand(address, "show stat", timeoutMs);
}

/** One command's answer over HAProxy's stats socket (`show stat`, `show info`). */
export function showCommand(address: { host: string; port: number }, command: string, timeoutMs = 5000): Promise<string> {
  const where = `${address.host}:${address.port}`;
  return new Promise((resolve, reject) => {
    const socket = connect(address.port, address.host);
    let text = "";
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${command}\n`));
    socket.on("data", (d: string) => (text += d));
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(new InfraError(`cannot read HAProxy's stats socket at ${where}: ${err.message}`));
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

/** `show stat` over HAProxy's stats socket: req_tot of every backend. */
export async function readHaproxyStats(address: { host: string; port: number }, timeoutMs = 5000): Promise<Record<string, number>> {
  return parseShowStat(await showStat(address, timeoutMs));
}

export function parseShowStat(csv: string): Record<string, number> {
  const lines = csv.split("\n").filter(Boolean);
  const header = (lines[0] ?? "").replace(/^# /, "").split(",");
  const col = (name: string) => header.indexOf(name);
  const [px, sv, req] = [col("pxname"), col("svname"), col("req_tot")];
  const out: Record<string, number> = {};
  if (px < 0 || sv < 0 || req < 0) return out;
  for (const line of lines.slice(1)) {
    const cells = line.split(",");
    if (cells[sv] === "BACKEND") out[cells[px]!] = Number(cells[req] || 0);
  }
  return out;
}

/** nginx's stub_status page as text, whatever it says. */
export function readNginxStatusPage(url: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => reject(new InfraError(`cannot read nginx's stub_status at ${url}: ${err.message}`)));
    req.end();
  });
}

/** nginx's stub_status page. */
export async function readNginxStatus(url: string, timeoutMs = 5000): Promise<{ active: number; accepts: number; handled: number; requests: number }> {
  const body = await readNginxStatusPage(url, timeoutMs);
  const active = /Active connections:\s*(\d+)/.exec(body);
  const counts = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(body);
  if (!active || !counts) throw new InfraError(`nginx's stub_status at ${url} answered with an unexpected page`);
  return { active: Number(active[1]), accepts: Number(counts[1]), handled: Number(counts[2]), requests: Number(counts[3]) };
}

export async function readCounters(proxy: RunningProxy): Promise<ProxyCounters> {
  if (proxy.stats.kind === "haproxy-socket") return { kind: "haproxy", backendRequests: await readHaproxyStats(proxy.stats.address) };
  return { kind: "nginx", ...(await readNginxStatus(proxy.stats.url)) };
}
