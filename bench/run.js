#!/usr/bin/env node
// spillway load driver vs h2load, side by side on the same local nginx.
//
//   npm run bench                 (tsc, then this script)
//   node bench/run.js --rounds 5 --max-conns 18000
//   node bench/run.js --skip-e2e --skip-memory   (the in-process comparison alone)
//   node bench/run.js --skip-e2e --skip-memory --compare ../other-checkout
//   node bench/run.js --skip-hold                 (leave out bench/hold.js: 100,000 connections through nginx)
//   node bench/run.js --skip-ws                   (leave out bench/ws.js: the WebSocket driver's messages/s, CPU and memory)
//
// --compare runs a second build of the driver (another checkout, built) in the
// same rounds, right after this one, and prints the paired ratio of their CPU
// per request: on a shared, noisy machine pairs cancel the drift between runs.
//
// Starts its own nginx (h2c, `return 200`, worker_processes 1) and an h2c
// "hold" server in a temporary directory, runs h2load and the driver
// alternately with the same connections x streams x requests, and prints
// req/s, their ratio and CPU time per request (medians over the rounds);
// then memory per open connection for both, and the most connections the
// driver held at once. Everything it starts is stopped by pid at the end.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const rounds = Number(opt("rounds", "3"));
// nginx starts closing idle connections at 15/16 of worker_connections (19800 here).
const maxConns = Number(opt("max-conns", "18000"));
const requests = Number(opt("requests", "200000"));
const skipMemory = argv.includes("--skip-memory");
const e2eOnly = argv.includes("--e2e-only");
const skipE2e = argv.includes("--skip-e2e");
const compareDir = opt("compare", null);
const skipHold = argv.includes("--skip-hold");
const skipWs = argv.includes("--skip-ws");
const e2eRounds = Number(opt("e2e-rounds", "5"));
// Whole processes, as a user runs them: `spillway load` (node start-up included) against `h2load -t1`.
const e2eConfigs = [
  { c: 50, m: 20, n: requests },
  { c: 300, m: 40, n: requests },
];
const configs = [
  { c: 10, m: 10, n: requests },
  { c: 300, m: 40, n: requests },
];

const started = [];
function track(child) {
  started.push(child);
  return child;
}
function stopAll() {
  for (const c of started.reverse()) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    }
  }
}
process.on("SIGINT", () => {
  stopAll();
  process.exit(130);
});

function need(cmd, pkg) {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
  } catch {
    console.error(`bench: ${cmd} is not installed (Debian package ${pkg})`);
    process.exit(3);
  }
}
need("h2load", "nghttp2-client");
need("nginx", "nginx");
if (!existsSync(join(here, "../dist/load/index.js"))) {
  console.error("bench: build first (npx tsc -p tsconfig.json)");
  process.exit(3);
}
const compareDist = compareDir === null ? null : resolve(compareDir, "dist");
if (compareDist !== null && !existsSync(join(compareDist, "load/index.js"))) {
  console.error(`bench: --compare ${compareDir}: no build there (run npx tsc -p tsconfig.json in it)`);
  process.exit(1);
}
const haveTime = existsSync("/usr/bin/time");

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function waitPort(port, what, ms = 10_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, "127.0.0.1");
      c.once("connect", () => (c.destroy(), resolve(true)));
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not open port ${port}`);
}

/** Runs a command to the end (killed after `ms`), collecting output. */
function run(cmd, args, { ms = 180_000, onSpawn } = {}) {
  return new Promise((resolve) => {
    const child = track(spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }));
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, "SIGKILL"), ms);
    onSpawn?.(child);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

function timed(cmd, args) {
  return haveTime ? ["/usr/bin/time", ["-f", "TIME %U %S %M", cmd, ...args]] : [cmd, args];
}

function parseTime(stderr) {
  const m = /TIME ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
  return m ? { cpuS: Number(m[1]) + Number(m[2]), maxRssKb: Number(m[3]) } : { cpuS: NaN, maxRssKb: NaN };
}

async function h2load(url, c, m, n) {
  const [cmd, args] = timed("h2load", ["-c", String(c), "-m", String(m), "-n", String(n), url]);
  const r = await run(cmd, args);
  const fin = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(r.out);
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(r.out);
  return { rps: fin ? Number(fin[1]) : NaN, succeeded: done ? Number(done[2]) : 0, ...parseTime(r.err) };
}

async function driver(profile, hold = 0, dist = join(here, "..", "dist")) {
  // --rate means h2load's: a burst of that many connections every period, never more than -c.
  if (profile.connect_rate > profile.connections) profile = { ...profile, connect_rate: profile.connections };
  const [cmd, args] = timed(process.execPath, ["--expose-gc", join(here, "driver.js"), JSON.stringify(profile), String(hold), dist]);
  const r = await run(cmd, args);
  const line = r.out.trim().split("\n").at(-1) ?? "";
  try {
    return { ...JSON.parse(line), ...parseTime(r.err) };
  } catch {
    throw new Error(`driver run failed: ${r.err.slice(-1000)}`);
  }
}

function statusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** h2load holding `c` connections, one stream each, on the hold server: its largest resident size. */
async function h2loadHeld(url, c) {
  let peak = 0;
  let poll;
  await run("h2load", ["-c", String(c), "-m", "1", "-n", String(c), url], {
    onSpawn: (child) => {
      poll = setInterval(() => {
        const v = statusKb(child.pid, "VmRSS");
        if (v !== null && v > peak) peak = v;
      }, 50);
    },
  });
  clearInterval(poll);
  return peak;
}

const median = (xs) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const pad = (s, n) => String(s).padStart(n);

function printTable(head, rows) {
  const widths = head.map((_, i) => Math.max(head[i].length, ...rows.map((r) => r[i].length)));
  console.log("");
  console.log(head.map((h, i) => (i === 0 ? h.padEnd(widths[i]) : pad(h, widths[i]))).join("  "));
  for (const r of rows) console.log(r.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : pad(x, widths[i]))).join("  "));
}

/** One whole process: wall time from spawn to exit, CPU from /usr/bin/time, and the requests it says succeeded. */
async function wholeProcess(cmd, args, n, succeededRe) {
  const [c, a] = timed(cmd, args);
  const t0 = process.hrtime.bigint();
  const r = await run(c, a);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = succeededRe.exec(r.out + r.err);
  return { wallS, succeeded: m ? Number(m[1]) : 0, ...parseTime(r.err) };
}

const dir = mkdtempSync(join(tmpdir(), "spillway-bench-"));
try {
  const port = await freePort();
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
worker_rlimit_nofile 20000;
events { worker_connections 19800; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  http2_max_concurrent_streams 128;
  server {
    listen 127.0.0.1:${port} http2 backlog=20000;
    location / { add_header x-spillway-backend bench; add_header x-spillway-route bench; add_header x-spillway-proxy-conns $connections_active; return 200; }
  }
}
`,
  );
  const nginx = track(spawn("nginx", ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "ignore" }));
  await waitPort(port, "nginx");
  const url = `http://127.0.0.1:${port}/`;

  console.log(`machine: ${execFileSync("nproc", { encoding: "utf8" }).trim()} cores, load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
  if (!skipE2e) {
    console.log("");
    console.log(`end to end: \`spillway load\` vs \`h2load -t1\` as whole processes (start-up included), alternating, ${e2eRounds} rounds, medians`);
    const e2eRows = [];
    for (const { c, m, n } of e2eConfigs) {
      const h = [];
      const d = [];
      for (let i = 0; i < e2eRounds; i++) {
        h.push(await wholeProcess("h2load", ["-t1", "-c", String(c), "-m", String(m), "-n", String(n), url], n, /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/));
        d.push(await wholeProcess(process.execPath, [join(here, "..", "bin", "spillway.js"), "load", url, "-c", String(c), "-m", String(m), "-n", String(n)], n, /(\d+) succeeded/));
      }
      // Ratio > 1: spillway finished the same work sooner. Pairwise, so drift of the machine's speed cancels.
      const ratios = h.map((x, i) => x.wallS / d[i].wallS);
      e2eRows.push([`c=${c} m=${m} n=${n}`, fmt(median(h.map((x) => n / x.wallS))), fmt(median(d.map((x) => n / x.wallS))), `${fmt(median(ratios), 2)}x`, fmt(median(h.map((x) => (x.cpuS * 1e6) / n)), 1), fmt(median(d.map((x) => (x.cpuS * 1e6) / n)), 1)]);
      const bad = [...h, ...d].filter((x) => x.succeeded !== n).length;
      if (bad > 0) console.log(`  warning: ${bad} run(s) of c=${c} m=${m} did not complete all ${n} requests`);
      console.log(`  c=${c} m=${m}: ratios ${ratios.map((r) => fmt(r, 2)).join(", ")}`);
    }
    printTable(["config", "h2load req/s", "spillway req/s", "ratio", "h2load cpu us/req", "spillway cpu us/req"], e2eRows);
  }
  if (e2eOnly) {
    process.kill(nginx.pid, "SIGTERM");
    process.exit(0);
  }
  console.log("");
  console.log(`in process: the driver vs h2load: nginx return 200 over h2c (worker_processes 1), ${rounds} rounds each, medians`);
  const head = ["config", "h2load req/s", "driver req/s", "ratio", "h2load cpu us/req", "driver cpu us/req"];
  if (compareDist !== null) head.push("compare cpu us/req", "cpu ratio");
  const rows = [];
  for (const { c, m, n } of configs) {
    const h = [];
    const d = [];
    const o = [];
    for (let i = 0; i < rounds; i++) {
      h.push(await h2load(url, c, m, n));
      const profile = { url, connections: c, streams: m, requests: n };
      // The two builds take turns going first, so neither always runs on the heels of h2load.
      if (compareDist !== null && i % 2 === 1) o.push(await driver(profile, 0, compareDist));
      d.push(await driver(profile));
      if (compareDist !== null && i % 2 === 0) o.push(await driver(profile, 0, compareDist));
    }
    const hr = median(h.map((x) => x.rps));
    const dr = median(d.map((x) => x.rps));
    const ratios = h.map((x, i) => d[i].rps / x.rps);
    rows.push([
      `c=${c} m=${m} n=${n}`,
      fmt(hr),
      fmt(dr),
      `${fmt(median(ratios), 2)}x`,
      fmt(median(h.map((x) => (x.cpuS * 1e6) / n)), 1),
      fmt(median(d.map((x) => x.cpuUs / n)), 1),
    ]);
    if (compareDist !== null) {
      // Below 1: this build spent less CPU per request than the other, pair by pair.
      const cpuRatios = d.map((x, i) => x.cpuUs / o[i].cpuUs);
      rows.at(-1).push(fmt(median(o.map((x) => x.cpuUs / n)), 1), `${fmt(median(cpuRatios), 3)}x`);
      console.log(`  c=${c} m=${m}: compare ${o.map((x) => fmt(x.cpuUs / n, 1)).join(", ")} cpu us/req; cpu ratios ${cpuRatios.map((r) => fmt(r, 3)).join(", ")}`);
    }
    const bad = d.filter((x) => x.succeeded !== n).length + h.filter((x) => x.succeeded !== n).length;
    if (bad > 0) console.log(`  warning: ${bad} run(s) of c=${c} m=${m} did not complete all ${n} requests`);
    console.log(`  c=${c} m=${m}: h2load ${h.map((x) => fmt(x.rps)).join(", ")} req/s; driver ${d.map((x) => fmt(x.rps)).join(", ")} req/s, ${d.map((x) => fmt(x.cpuUs / n, 1)).join(", ")} cpu us/req`);
  }
  printTable(head, rows);

  if (!skipMemory) {
    console.log("");
    const hold = track(spawn(process.execPath, [join(here, "hold-server.js"), "8000"], { stdio: ["ignore", "pipe", "inherit"] }));
    const holdPort = await new Promise((resolve) => hold.stdout.once("data", (d) => resolve(Number(String(d).trim()))));
    const holdUrl = `http://127.0.0.1:${holdPort}/`;
    const [lo, hi] = [100, 2000];
    // Same shape for both: `c` connections, each with one request waiting on the hold server.
    const hLo = await h2loadHeld(holdUrl, lo);
    const hHi = await h2loadHeld(holdUrl, hi);
    const dLo = await driver({ url: holdUrl, connections: lo, streams: 1, requests: lo, connect_rate: 4000 }, lo);
    const dHi = await driver({ url: holdUrl, connections: hi, streams: 1, requests: hi, connect_rate: 4000 }, hi);
    // Truly idle: open connections with nothing in flight (h2load cannot hold those; it disconnects when done).
    const iLo = await driver({ url, connections: lo, streams: 1, arrival_rate: 0.001, duration: "60s", connect_rate: 4000 }, lo);
    const iHi = await driver({ url, connections: hi, streams: 1, arrival_rate: 0.001, duration: "60s", connect_rate: 4000 }, hi);
    const per = (a, b) => ((b - a) / (hi - lo)).toFixed(1);
    console.log(`memory per open connection (resident size growth from ${lo} to ${hi} connections):`);
    console.log(`  one stream in flight:  h2load ${per(hLo, hHi)} KB, driver ${per(dLo.heldRssKb, dHi.heldRssKb)} KB`);
    console.log(`  idle (no stream):      driver ${per(iLo.heldRssKb, iHi.heldRssKb)} KB`);
    console.log(`  resident at ${hi}:      h2load ${hHi} KB, driver ${dHi.heldRssKb} KB (driver process at start ${dHi.baseRssKb} KB)`);
    process.kill(hold.pid, "SIGTERM");

    // Three source addresses: each has its own ephemeral port range, so connect() does not
    // spend its time searching for a free port.
    const big = await driver(
      {
        url,
        connections: maxConns,
        streams: 1,
        arrival_rate: 0.001,
        duration: "120s",
        connect_rate: 5000,
        timeout: "30s",
        source_addresses: ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
      },
      maxConns,
    );
    console.log(`largest number of concurrent connections held by the driver: ${big.maxOpen} of ${maxConns} asked (resident ${big.heldRssKb} KB)`);
  }
  process.kill(nginx.pid, "SIGTERM");
} finally {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
}

if (!skipWs) {
  console.log("\nWebSocket sessions (bench/ws.js):");
  execFileSync(process.execPath, ["--expose-gc", join(here, "ws.js")], { stdio: "inherit" });
}

if (!skipHold) {
  // Issue 11's figure: fixtures/hold.yaml's 100,000 connections through nginx and HAProxy's ceiling, counted on both sides.
  console.log("\nholding connections (bench/hold.js):");
  execFileSync(process.execPath, [join(here, "hold.js")], { stdio: "inherit" });
}
