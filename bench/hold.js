#!/usr/bin/env node
// Holding connections at the machine's scale: fixtures/hold.yaml's stack
// brought up by `spillway up`, and one `spillway load` holding the scenario's
// connections through it, counted by the driver, the proxy and the kernel
// (--nginx-status / --haproxy-stats).
//
//   node bench/hold.js                      (nginx 100,000, then HAProxy at its ceiling, 9,936)
//   node bench/hold.js --connections 20000  (a smaller nginx run)
//   node bench/hold.js --skip-haproxy
//
// Prints how long the connections took to open, how long all of them were
// held, the three counts at the plateau, and memory per connection: the
// machine's MemAvailable drop, and the resident size of the driver's
// processes and of the proxy's, divided by the connections. Everything it
// starts is stopped by pid.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const bin = join(root, "bin", "spillway.js");
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const nginxConnections = Number(opt("connections", "100000"));
const skipHaproxy = argv.includes("--skip-haproxy");
const dir = mkdtempSync(join(tmpdir(), "spillway-hold-"));
const started = [];

function memAvailableKb() {
  const m = /MemAvailable:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** Resident KiB of `pid` and everything under it, summed by command name. */
function treeRss(pid) {
  const children = new Map();
  const comm = new Map();
  const rss = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, "utf8");
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
      comm.set(Number(name), /Name:\s+(\S+)/.exec(status)?.[1] ?? "?");
      rss.set(Number(name), Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  const out = {};
  const walk = (p) => {
    const c = comm.get(p);
    if (c !== undefined) out[c] = (out[c] ?? 0) + (rss.get(p) ?? 0);
    for (const k of children.get(p) ?? []) walk(k);
  };
  walk(pid);
  return out;
}

function track(child) {
  started.push(child);
  return child;
}

function stopAll() {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
}
process.on("SIGINT", () => {
  stopAll();
  process.exit(130);
});

/** `spillway up` for one target, until its JSON line says where everything is. */
async function up(target) {
  const child = track(spawn(process.execPath, [bin, "up", join(root, "fixtures", "hold.yaml"), "--target", target, "--for", "10m", "--json", "-", "-q"], { stdio: ["ignore", "pipe", "inherit"] }));
  const line = await new Promise((resolve, reject) => {
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
    });
    child.on("exit", (code) => reject(new Error(`spillway up exited with ${code} before it was up`)));
  });
  return { child, report: JSON.parse(line) };
}

async function hold(target, connections, durationS) {
  const { child: upChild, report } = await up(target);
  const url = `${report.frontends[0].url}/`;
  const counter = target === "nginx" ? ["--nginx-status", report.counters.nginx] : ["--haproxy-stats", report.counters.haproxy];
  const out = join(dir, `${target}.json`);
  const args = [bin, "load", url, "-c", String(connections), "--rate", "2500", "--rate-period", "250ms", "-D", `${durationS}s`, "--arrival-rate", "100", "--timeout", "60s", ...counter, "--json", out, "-q"];
  const baseAvail = memAvailableKb();
  const baseProxy = treeRss(upChild.pid);
  const load = track(spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] }));
  let minAvail = baseAvail;
  let peakDriver = 0;
  let peakProxy = 0;
  const proxyName = target;
  const timer = setInterval(() => {
    minAvail = Math.min(minAvail, memAvailableKb());
    const d = treeRss(load.pid);
    peakDriver = Math.max(peakDriver, Object.values(d).reduce((a, b) => a + b, 0));
    peakProxy = Math.max(peakProxy, treeRss(upChild.pid)[proxyName] ?? 0);
  }, 1000);
  const code = await new Promise((resolve) => load.on("exit", (c) => resolve(c)));
  clearInterval(timer);
  upChild.kill("SIGTERM");
  await new Promise((resolve) => upChild.on("exit", resolve));
  if (code !== 0) throw new Error(`spillway load exited with ${code}`);
  const result = JSON.parse(readFileSync(out, "utf8"));
  const samples = result.counts.samples;
  const full = samples.filter((s) => s.driver_open === connections);
  const firstOpen = samples.find((s) => s.driver_open > 0);
  const allOpen = full[0];
  const lastAll = full.filter((s) => s.t_ms < durationS * 1000).at(-1);
  const atPlateau = full.find((s) => s.kernel.established_on_port !== null && s.proxy_current !== null) ?? full[0];
  const kib = (x) => (x / connections).toFixed(1);
  console.log(`\n${target}: ${connections.toLocaleString("en-US")} connections asked, ${result.connections.maxOpen.toLocaleString("en-US")} held at once, ${result.connections.failed} failed, ${result.connections.goaways} GOAWAY; ${result.requests.succeeded} of ${result.requests.sent} requests succeeded`);
  if (allOpen && firstOpen) {
    console.log(`  all open after ${((allOpen.t_ms - firstOpen.t_ms) / 1000).toFixed(0)} s (samples every ${result.counts.interval_ms} ms; asked: 2,500 every 250 ms), all held from ${(allOpen.t_ms / 1000).toFixed(0)} s to ${((lastAll?.t_ms ?? allOpen.t_ms) / 1000).toFixed(0)} s: ${(((lastAll?.t_ms ?? allOpen.t_ms) - allOpen.t_ms) / 1000).toFixed(0)} s`);
  } else {
    console.log("  never all open at once");
  }
  if (atPlateau) {
    console.log(`  at ${(atPlateau.t_ms / 1000).toFixed(0)} s: driver ${atPlateau.driver_open}, ${target} ${atPlateau.proxy_current}, kernel established on the port ${atPlateau.kernel.established_on_port}, kernel TCP sockets in use ${atPlateau.kernel.inuse}`);
  }
  console.log(`  counts: ${result.counts.verdict}`);
  for (const d of result.counts.disagreements) console.log(`    ${d}`);
  console.log(
    `  memory per connection: machine ${kib(baseAvail - minAvail)} KiB (MemAvailable drop), driver processes ${kib(peakDriver)} KiB, ${target} ${kib(peakProxy - (baseProxy[proxyName] ?? 0))} KiB (resident peaks)`,
  );
}

try {
  await hold("nginx", nginxConnections, 75);
  if (!skipHaproxy) await hold("haproxy", 9936, 30);
} finally {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
}
