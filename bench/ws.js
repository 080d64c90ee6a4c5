#!/usr/bin/env node
// The WebSocket driver's own figures: messages per second it sends and
// receives in a chat room, CPU per message, and memory per held session.
//
//   node --expose-gc bench/ws.js        (run by bench/run.js unless --skip-ws)
//
// No other WebSocket load tool is installable here to run beside it: Debian
// has none (apt-cache search websocket: no load or bench tool), and the npm
// ones are not installed (artillery is listed on the registry). So the
// figures are the physical ones the issue allows: CPU time per message
// (process.cpuUsage of this process, which is the driver, over messages sent
// plus received) and resident memory per held session.
//
// The sessions go straight to one stub of fixtures/chat.yaml (brought up by
// `spillway up`, stopped by pid), so the proxy's CPU is not in the figures.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const { startWsSessions } = await import(join(root, "dist", "index.js"));

const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? NaN);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const up = spawn(process.execPath, [join(root, "bin", "spillway.js"), "up", join(root, "fixtures", "chat.yaml"), "--target", "haproxy", "--for", "10m", "--json", "-", "-q"], {
  stdio: ["ignore", "pipe", "inherit"],
});
try {
  const line = await new Promise((resolve, reject) => {
    let buf = "";
    up.stdout.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
    });
    up.on("exit", (code) => reject(new Error(`spillway up exited with ${code}`)));
  });
  const stub = Object.values(JSON.parse(line).stubs)[0].replace("http:", "ws:") + "/";

  async function room(members, intervalMs, sessionMs) {
    const t0 = process.cpuUsage();
    const w0 = performance.now();
    const r = await startWsSessions({ url: stub, connections: members, rooms: 1, messageIntervalMs: intervalMs, payloadBytes: 64, sessionMs, connectRate: null }).done;
    const cpu = process.cpuUsage(t0);
    const msgs = r.ws_msgs_sent + r.ws_msgs_received;
    return { msgsPerS: msgs / ((performance.now() - w0) / 1000), cpuUsPerMsg: (cpu.user + cpu.system) / msgs, ratio: r.messages.deliveryRatio, p99: r.fanout.p99 };
  }

  const rows = [];
  for (const [members, intervalMs, sessionMs] of [
    [100, 1000, 10_000],
    [100, 100, 5_000],
  ]) {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await room(members, intervalMs, sessionMs));
    rows.push([
      `${members} members, one message every ${intervalMs} ms, ${sessionMs / 1000} s`,
      median(runs.map((x) => x.msgsPerS)).toFixed(0),
      median(runs.map((x) => x.cpuUsPerMsg)).toFixed(1),
      runs.map((x) => (x.ratio === null ? "-" : x.ratio.toFixed(3))).join(" "),
      median(runs.map((x) => x.p99)).toFixed(1),
    ]);
  }
  console.log("WebSocket driver straight at a stub (median of 3):");
  console.log("room | msgs/s sent+received | driver CPU us/msg | delivery ratios | fan-out p99 ms");
  for (const r of rows) console.log(r.join(" | "));

  // Memory: sessions that send one message each and then stay open.
  const held = 2000;
  globalThis.gc?.();
  const before = rssKb();
  let peak = before;
  const run = startWsSessions({ url: stub, connections: held, rooms: 0, messageIntervalMs: 20_000, payloadBytes: 16, sessionMs: 20_000, connectRate: 1000 });
  run.on("tick", (t) => {
    if (t.open === held) {
      globalThis.gc?.();
      peak = Math.max(peak, rssKb());
    }
  });
  const r = await run.done;
  console.log(`memory per held session: ${((peak - before) / held).toFixed(1)} KiB resident (${held} sessions, ${r.sessions.completed} completed${globalThis.gc ? ", after gc" : ", without --expose-gc"})`);
} finally {
  up.kill("SIGTERM");
}
