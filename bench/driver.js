// Runs the spillway load driver in its own process for bench/run.js and
// prints one JSON line: the result's figures plus memory readings.
// Usage: node [--expose-gc] bench/driver.js '<json: url and the spec's load keys>' [holdConnections] [dist directory]
// The dist directory lets bench/run.js --compare run another build's driver: one with parseLoadProfile (the one load schema),
// or an older one whose startLoad took the profile itself (before a96779e's successors), given only connections, streams and requests.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dist = process.argv[4] ?? new URL("../dist", import.meta.url).pathname;
const { parseLoadProfile, startLoad } = await import(pathToFileURL(join(dist, "load", "index.js")).href);

function statusKb(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) : null;
}

const { url, ...load } = JSON.parse(process.argv[2]);
const hold = process.argv[3] ? Number(process.argv[3]) : 0;
const baseRssKb = statusKb("VmRSS");
const legacy = (l) => {
  const plain = Object.keys(l).every((k) => ["connections", "streams", "requests"].includes(k));
  if (!plain) throw new Error(`${dist}: this build has no parseLoadProfile, and its own profile is compared only for connections, streams and requests`);
  return { url, ...l };
};
const run = startLoad(parseLoadProfile === undefined ? legacy(load) : parseLoadProfile(load, { url }));
let heldRssKb = null;
let sampling = false;
if (hold > 0) {
  run.on("tick", (t) => {
    if (sampling || t.openConnections < hold) return;
    sampling = true;
    // Let the connections settle, collect garbage, then read the resident size.
    setTimeout(() => {
      globalThis.gc?.();
      heldRssKb = statusKb("VmRSS");
      // The figure is taken; the connections go with the process.
      console.log(JSON.stringify({ maxOpen: t.openConnections, baseRssKb, heldRssKb, hwmKb: statusKb("VmHWM") }));
      process.exit(0);
    }, 1000);
  });
}
const r = await run.done;
const ru = process.resourceUsage();
console.log(
  JSON.stringify({
    rps: r.rps,
    durationMs: r.durationMs,
    sent: r.requests.sent,
    succeeded: r.requests.succeeded,
    unattributed: r.unattributed.total,
    maxOpen: r.connections.maxOpen,
    cpuUs: ru.userCPUTime + ru.systemCPUTime,
    baseRssKb,
    heldRssKb,
    hwmKb: statusKb("VmHWM"),
  }),
);
process.exit(0);
