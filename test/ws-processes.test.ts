import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { startStubFleet, type StartedStubFleet } from "../src/stub/index.js";
import { fewestWsProcesses, mergeWsTicks, startWsSessions, wsShareSessions, wsShareSizes, type WsRun } from "../src/load/ws/index.js";

/**
 * WebSocket sessions over driver child processes, whole rooms to each,
 * against real stubs on loopback: forced with `processes`, and chosen by the
 * driver when one process's open files cannot hold the sessions (a shell
 * with a lowered limit runs the compiled driver). Every child ends with
 * the run.
 */

const fleets: StartedStubFleet[] = [];
const runs: WsRun[] = [];
const scratch = mkdtempSync(join(tmpdir(), "spillway-ws-processes-"));

afterEach(async () => {
  for (const r of runs.splice(0)) r.stop();
  await Promise.allSettled(fleets.splice(0).map((f) => f.stop()));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stubUrl(): Promise<string> {
  const f = await startStubFleet([{ backend: "rooms", server: "s1" }]);
  fleets.push(f);
  return `${f.stubs[0]!.url.replace("http://", "ws://")}/chat`;
}

describe("sharing sessions out over processes (pure)", () => {
  test("whole rooms go to each share; echo sessions are dealt one by one", () => {
    // 10 rooms of 3 over 3 shares: rooms 0,3,6,9 / 1,4,7 / 2,5,8.
    expect(wsShareSizes(30, 10, 3)).toEqual([12, 9, 9]);
    // 31 sessions in 10 rooms: room 0 holds 4.
    expect(wsShareSizes(31, 10, 3)).toEqual([13, 9, 9]);
    expect(wsShareSizes(10, 0, 3)).toEqual([4, 3, 3]);
    // The sizes are those of the shares the runs hold.
    for (const [c, r, n] of [[30, 10, 3], [31, 10, 3], [10, 0, 3], [7, 7, 4], [100, 1, 2]] as const) {
      expect(wsShareSizes(c, r, n)).toEqual(Array.from({ length: n }, (_, i) => wsShareSessions(c, r, { index: i, count: n }).length));
    }
  });

  test("the fewest processes whose largest share fits; none when a room is larger than one process may hold", () => {
    expect(fewestWsProcesses(100, 1, 236)).toBe(1);
    expect(fewestWsProcesses(300, 0, 136)).toBe(3);
    expect(fewestWsProcesses(300, 10, 136)).toBe(3);
    expect(fewestWsProcesses(300, 1, 136)).toBeNull();
    expect(fewestWsProcesses(100_000, 100, 19_936)).toBe(6);
  });

  test("ticks add up, the elapsed time is the longest", () => {
    const t = (n: number) => ({ elapsedMs: n * 100, open: n, opened: n, failed: 0, sent: 2 * n, received: 3 * n, expected: 3 * n, delivered: 3 * n });
    expect(mergeWsTicks([t(1), t(2), t(4)])).toEqual({ elapsedMs: 400, open: 7, opened: 7, failed: 0, sent: 14, received: 21, expected: 21, delivered: 21 });
  });
});

describe("sessions in driver child processes, against a real stub", () => {
  test("processes: 3 holds every room whole in one process, delivers all, and merges to what one process counts", async () => {
    const url = await stubUrl();
    const options = { url, connections: 30, rooms: 3, messageIntervalMs: 100, payloadBytes: 32, sessionMs: 600, connectRate: null };
    const spread = startWsSessions({ ...options, processes: 3 });
    runs.push(spread);
    let started = 0;
    spread.on("start", (info) => (started = info.sessions));
    let maxOpen = 0;
    spread.on("tick", (t) => (maxOpen = Math.max(maxOpen, t.open)));
    expect(spread.pids).toHaveLength(3);
    const r = await spread.done;
    expect(started).toBe(30);
    expect(maxOpen).toBe(30);
    expect(r.sessions).toMatchObject({ started: 30, opened: 30, completed: 30, failed: 0 });
    expect(Object.keys(r.rooms)).toEqual(["room-1", "room-2", "room-3"]);
    for (const room of Object.values(r.rooms)) {
      expect(room.sessions).toBe(10);
      // Every member of a room was in one process's view, so what it was owed is exact.
      expect(room.delivered).toBe(room.expected);
    }
    expect(r.messages.deliveryRatio).toBe(1);
    expect(r.upgrades.byBackend).toEqual({ rooms: 30 });
    await new Promise((res) => setTimeout(res, 200));
    expect(spread.pids.filter(alive)).toEqual([]);

    // The same sessions in this process: the same messages sent, rooms and deliveries owed alike.
    const one = startWsSessions({ ...options, processes: 1 });
    runs.push(one);
    expect(one.pids).toEqual([]);
    const o = await one.done;
    expect(o.ws_msgs_sent).toBe(r.ws_msgs_sent);
    expect(o.messages.deliveryRatio).toBe(1);
  }, 30_000);

  test("stop() ends the sessions in every child, and every child exits", async () => {
    const url = await stubUrl();
    const run = startWsSessions({ url, connections: 12, rooms: 4, messageIntervalMs: 100, payloadBytes: 16, sessionMs: 60_000, connectRate: null, processes: 2 });
    runs.push(run);
    await new Promise<void>((res) => run.on("tick", (t) => t.open === 12 && res()));
    run.stop();
    const r = await run.done;
    expect(r.sessions.opened).toBe(12);
    expect(r.sessions.stopped).toBe(12);
    expect(r.messages.deliveryRatio).toBe(1);
    await new Promise((res) => setTimeout(res, 200));
    expect(run.pids.filter(alive)).toEqual([]);
  }, 30_000);

  test("under a lowered open-file limit the driver forks the fewest processes that hold the sessions, and refuses a room no process can hold", async () => {
    const url = await stubUrl();
    const script = join(scratch, "limited.mjs");
    const index = resolve("dist/load/ws/index.js");
    writeFileSync(
      script,
      `import { startWsSessions } from ${JSON.stringify(index)};
const url = process.argv[2];
const base = { url, messageIntervalMs: 200, payloadBytes: 16, sessionMs: 800, connectRate: 500 };
const spread = startWsSessions({ ...base, connections: 300, rooms: 10 });
const r = await spread.done;
const refused = await startWsSessions({ ...base, connections: 300, rooms: 1 }).done.then(() => null, (e) => e.message + "\\n" + e.hint);
console.log(JSON.stringify({ processes: spread.pids.length, pids: spread.pids, opened: r.sessions.opened, failed: r.sessions.failed, ratio: r.messages.deliveryRatio, refused }));
`,
    );
    const out = spawnSync("sh", ["-c", `ulimit -Sn 200 && ulimit -Hn 200 && exec "${process.execPath}" "${script}" "${url}"`], { encoding: "utf8", timeout: 60_000 });
    expect(out.status, out.stderr).toBe(0);
    const got = JSON.parse(out.stdout.trim()) as { processes: number; pids: number[]; opened: number; failed: number; ratio: number; refused: string | null };
    // 200 descriptors less the 64 kept aside: 136 sessions a process, so 300 in rooms of 30 take 3.
    expect(got.processes).toBe(fewestWsProcesses(300, 10, 136));
    expect(got.processes).toBe(3);
    expect(got.opened).toBe(300);
    expect(got.failed).toBe(0);
    expect(got.ratio).toBe(1);
    expect(got.pids.filter(alive)).toEqual([]);
    expect(got.refused).toContain("rooms of up to 300 sessions cannot be held: a room's members must be in one driver process, one process may open 136");
    expect(got.refused).toContain("Use more rooms (at least 3)");
  }, 60_000);
});
