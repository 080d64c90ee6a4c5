/**
 * Same load, same answer: h2load itself and spillway's driver, given the same
 * h2load flags, against one real HAProxy started from fixtures/classic.yaml
 * (maxconn 310, `use_backend pbcoffee if { fe_conn gt 300 }`). For every cell
 * the overflow share is read from HAProxy's own per-backend req_tot, for both
 * tools, and the two must agree within 5 percentage points.
 *
 * At 300 connections or fewer one run of each tool decides it. Above 300 the
 * share is decided at the end of the run (see perClient), and h2load itself
 * gives 88% in one run and 100% in the next with the same flags: one run of
 * each would compare two draws, not two tools. There each tool runs ROUNDS
 * times and the ranges of their shares must meet within 5 points; a driver
 * that routes differently (spillway's old evenly spread --connect-rate gave
 * 43-58% where h2load gave 100%) fails that as surely as a single run would.
 *
 * Between runs the test waits until HAProxy holds no client connection, so
 * no run's fe_conn counts another's connections.
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseH2loadCommand } from "../src/spec/h2load-args.js";
import { parseLoadProfile, runLoad } from "../src/load/index.js";
import type { Run, RunningProxy } from "../src/runtime/index.js";
import { waitFor } from "./helpers/processes.js";
import { startHaproxyStack } from "./helpers/stack.js";

const CLIENTS = [299, 300, 301, 310];
const STREAMS = [1, 40];
/**
 * Requests per client. Above 300 connections the share HAProxy sends to
 * pbcoffee is decided at the end of a run: h2load's clients close when their
 * share is done, and once c - 300 of them have, fe_conn is 300 and whatever
 * the other clients have not sent yet goes to ade. Measured with the driver's
 * NDJSON: at -c310 -m1 -n24800 every request of the first 90% overflowed and
 * no connection's first response came from ade; at -c310 -m40 -n49600 (6 runs)
 * ade got nothing when every client had sent its last request before the
 * 10th client finished, and 7-8% when not, all of it late in the run. Which
 * happens varies from run to run, with h2load as with the driver; more
 * rounds per client make the tail a smaller part of the run. At 300
 * connections or fewer nothing can overflow, so one round is enough there.
 */
function perClient(c: number, m: number): number {
  if (c <= 300) return m === 1 ? 20 : 40;
  return m === 1 ? 80 : 160;
}
const MARGIN_PP = 5;
/**
 * Rounds per tool above 300 connections: at least ROUNDS, and up to
 * MAX_ROUNDS while the two ranges have not met. The share there has two
 * modes for both tools (at -c301 -m40, 88-89% and 93-100%, each about half
 * the time: four runs of this cell on 2026-11-23 gave h2load 89.2-99.4,
 * 88.4-99.5, 88.1-99.9 and 88.5-93.2, spillway 92.2-93.3, 90.0-96.3,
 * 88.5-94.2 and 88.2-100.0), so three draws of each land on opposite
 * modes in about 3% of runs, as one CI run did (h2load 88.0-88.8, spillway
 * 98.4-99.7). More draws only when they disagree: a driver whose share
 * differs from h2load's fails at MAX_ROUNDS as surely as at three.
 */
const ROUNDS = 3;
const MAX_ROUNDS = 7;

interface Cell {
  args: string;
  h2load: number[];
  spillway: number[];
}

const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}${xs.length > 1 ? `-${Math.max(...xs).toFixed(1)}` : ""}%`;
/** How far apart two sets of shares are: 0 when their ranges overlap. */
const gap = (a: number[], b: number[]) => Math.max(0, Math.min(...a) - Math.max(...b), Math.min(...b) - Math.max(...a));

/** `show stat` over the stats socket: req_tot per backend and scur per frontend. */
function showStat(address: { host: string; port: number }): Promise<{ req: Record<string, number>; scur: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const s = connect(address.port, address.host);
    let text = "";
    const timer = setTimeout(() => s.destroy(new Error("stats socket: no answer within 5 s")), 5000);
    s.setEncoding("utf8");
    s.on("connect", () => s.write("show stat\n"));
    s.on("data", (d: string) => (text += d));
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on("close", () => {
      clearTimeout(timer);
      const lines = text.split("\n").filter(Boolean);
      const header = (lines[0] ?? "").replace(/^# /, "").split(",");
      const [px, sv, req, scur] = ["pxname", "svname", "req_tot", "scur"].map((n) => header.indexOf(n));
      const out = { req: {} as Record<string, number>, scur: {} as Record<string, number> };
      for (const line of lines.slice(1)) {
        const c = line.split(",");
        if (c[sv!] === "BACKEND") out.req[c[px!]!] = Number(c[req!] || 0);
        if (c[sv!] === "FRONTEND") out.scur[c[px!]!] = Number(c[scur!] || 0);
      }
      resolve(out);
    });
  });
}

/** Runs h2load with these arguments against url, bounded; resolves with its output. */
function runH2load(args: string[], url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("h2load", [...args, url], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`h2load ${args.join(" ")} exited ${code}:\n${out}`));
    });
  });
}

describe("h2load and spillway's driver agree on HAProxy's overflow share", () => {
  let run: Run;
  let proxy: RunningProxy;
  let url = "";
  let stats: { host: string; port: number };
  const cells: Cell[] = [];

  beforeAll(async () => {
    ({ run, proxy } = await startHaproxyStack("fixtures/classic.yaml"));
    if (proxy.stats.kind !== "haproxy-socket") throw new Error("no stats socket");
    stats = proxy.stats.address;
    url = `${proxy.frontends.find((f) => f.name === "webserver")!.url}/`;
  }, 60_000);

  afterAll(async () => {
    // Every cell's two shares, for the record (also when a cell fails).
    console.log(["cell                              h2load        spillway", ...cells.map((c) => `${c.args.padEnd(32)}  ${range(c.h2load).padStart(12)}  ${range(c.spillway).padStart(12)}`)].join("\n"));
    expect((await run.teardown.run()).failed).toEqual([]);
  });

  /** Overflow share of what HAProxy routed during `drive`, after it has let go of every client connection. */
  async function measure(n: number, drive: () => Promise<void>): Promise<number> {
    await waitFor("HAProxy to hold no client connection", async () => ((await showStat(stats)).scur["webserver"] === 0 ? true : undefined), 15_000);
    const before = (await showStat(stats)).req;
    await drive();
    const after = (await showStat(stats)).req;
    const over = after["pbcoffee"]! - before["pbcoffee"]!;
    const main = after["ade"]! - before["ade"]!;
    expect(over + main, "HAProxy routed every request of the run").toBe(n);
    return (100 * over) / n;
  }

  const matrix = CLIENTS.flatMap((c) => STREAMS.flatMap((m) => [false, true].map((rate) => ({ c, m, rate }))));
  it.each(matrix)("-c$c -m$m rate=$rate", async ({ c, m, rate }) => {
    const n = c * perClient(c, m);
    const args = [`-c${c}`, `-m${m}`, `-n${n}`, ...(rate ? [`--rate=${c}`] : [])];
    const parsed = parseH2loadCommand(args.join(" "));
    expect(parsed.problems).toEqual([]);
    const cell: Cell = { args: args.join(" "), h2load: [], spillway: [] };
    cells.push(cell);
    for (let round = 0; c > 300 ? round < ROUNDS || (gap(cell.h2load, cell.spillway) > MARGIN_PP && round < MAX_ROUNDS) : round < 1; round++) {
      cell.h2load.push(
        await measure(n, async () => {
          const out = await runH2load(args, url);
          expect(out).toContain(`requests: ${n} total, ${n} started, ${n} done, ${n} succeeded`);
        }),
      );
      cell.spillway.push(
        await measure(n, async () => {
          const r = await runLoad(parseLoadProfile({ ...parsed.load, timeout: "30s" }, { url }));
          expect(r.requests.succeeded).toBe(n);
        }),
      );
    }
    expect(gap(cell.h2load, cell.spillway), `h2load ${range(cell.h2load)} vs spillway ${range(cell.spillway)}`).toBeLessThanOrEqual(MARGIN_PP);
  }, 180_000);
});
