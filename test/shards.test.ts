import http2 from "node:http2";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLoadProfile } from "../src/load/index.js";
import { shardProfile } from "../src/load/shard.js";
import { runCliAsync as cli } from "./helpers/cli.js";

/** An h2c server that names one of three backends per request, round-robin, and counts requests per connection. */
function startCountingServer() {
  const perSession = new Map<http2.ServerHttp2Session, number>();
  let served = 0;
  const server = http2.createServer();
  server.on("stream", (stream) => {
    const session = stream.session!;
    perSession.set(session, (perSession.get(session) ?? 0) + 1);
    const backend = ["a", "b", "c"][served++ % 3]!;
    stream.respond({ ":status": 200, "x-spillway-backend": backend });
    stream.end("ok");
  });
  return {
    server,
    /** Requests each connection carried since the last reset, smallest first. */
    takeShares(): number[] {
      const shares = [...perSession.values()].sort((a, b) => a - b);
      perSession.clear();
      return shares;
    },
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe("spillway load --shard i/N and spillway merge", () => {
  const counting = startCountingServer();
  let url = "";
  let dir = "";

  beforeAll(async () => {
    await new Promise<void>((r) => counting.server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(counting.server.address() as AddressInfo).port}/`;
    dir = mkdtempSync(join(tmpdir(), "spillway-shards-"));
  });

  afterAll(async () => {
    await new Promise<void>((r) => counting.server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const load = ["-c", "7", "-m", "2", "-n", "1000"];
  const part = (i: number) => join(dir, `part-${i}.json`);

  it("three shard processes of -c 7 -n 1000 send, client by client, what one run with -t 3 sends, and merge into its totals", async () => {
    const one = await cli(["load", url, ...load, "-t", "3", "--json", "-", "-q"]);
    expect(one.code, one.stderr).toBe(0);
    const single = JSON.parse(one.stdout);
    const singleShares = counting.takeShares();
    // h2load's split: 334/333/333 over threads of 3/2/2 clients, then each thread's share over its clients.
    expect(singleShares).toEqual([111, 111, 112, 166, 166, 167, 167]);

    const runs = await Promise.all([1, 2, 3].map((i) => cli(["load", url, ...load, "--shard", `${i}/3`, "--json", part(i)])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(runs[0]!.stdout).toContain("shard 1/3: 3 of the load's 7 connections, 334 of its 1000 requests");
    expect(counting.takeShares()).toEqual(singleShares);

    const parts = await Promise.all([1, 2, 3].map(async (i) => JSON.parse(await import("node:fs/promises").then((f) => f.readFile(part(i), "utf8")))));
    expect(parts.map((p) => p.requests.sent)).toEqual([334, 333, 333]);
    expect(parts.map((p) => p.connections.opened)).toEqual([3, 2, 2]);
    expect(parts.map((p) => [p.shard.index, p.shard.count])).toEqual([[1, 3], [2, 3], [3, 3]]);

    // Parts in any order: merge sorts them by shard.
    const m = await cli(["merge", part(3), part(1), part(2), "--json", "-"]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toContain("merged 3 shards of one load");
    expect(m.stderr).toContain("reconciled: in each of the 3 parts, sent = attributed + unattributed and completed = responses by status; merged sent 1000 = 334 + 333 + 333, completed 1000 = 334 + 333 + 333, connections opened 7 = 3 + 2 + 2");
    expect(m.stderr).toContain("requests: 1000 total, 1000 started, 1000 done, 1000 succeeded");
    const merged = JSON.parse(m.stdout);
    expect(merged.shard).toBeUndefined();
    expect(merged.requests).toEqual(single.requests);
    expect(merged.connections.opened).toBe(single.connections.opened);
    expect(merged.unattributed).toEqual({ total: 0, byCause: {} });
    for (const b of ["a", "b", "c"]) {
      expect(merged.backends[b].count, b).toBe(sum(parts.map((p) => p.backends[b]?.count ?? 0)));
      expect(merged.backends[b].statuses, b).toEqual({ "200": merged.backends[b].count });
    }
    expect(sum(Object.values(merged.backends).map((b) => (b as { count: number }).count))).toBe(1000);
    // The server named backends round-robin over all 1000 requests: 334, 333, 333 in all, whichever shard sent them.
    expect(Object.values(merged.backends).map((b) => (b as { count: number }).count).sort()).toEqual([333, 333, 334]);
    const timelineTotal = sum(merged.timeline.map((w: { byBackend: Record<string, number> }) => sum(Object.values(w.byBackend))));
    expect(timelineTotal).toBe(1000);
    merged.timeline.forEach((w: { tMs: number }, i: number) => expect(w.tMs).toBe(i * merged.timelineWindowMs));
    // Histograms merge: the merged extremes are the parts' extremes, not an average of them.
    expect(merged.latency.max).toBe(Math.max(...parts.map((p) => p.latency.max)));
    expect(merged.latency.min).toBe(Math.min(...parts.map((p) => p.latency.min)));
  });

  it("a shard may run over processes: --processes 2 in each shard splits it as -t 2 does, and the parts merge into the same totals", async () => {
    const threaded = await Promise.all([1, 2, 3].map((i) => cli(["load", url, ...load, "-t", "2", "--processes", "1", "--shard", `${i}/3`, "-q"])));
    for (const r of threaded) expect(r.code, r.stderr).toBe(0);
    const threadShares = counting.takeShares();
    const procPart = (i: number) => join(dir, `proc-part-${i}.json`);
    const runs = await Promise.all([1, 2, 3].map((i) => cli(["load", url, ...load, "--processes", "2", "--shard", `${i}/3`, "--json", procPart(i)])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(runs[0]!.stdout).toContain("2 driver processes");
    expect(counting.takeShares()).toEqual(threadShares);
    const m = await cli(["merge", procPart(1), procPart(2), procPart(3), "--json", "-", "-q"]);
    expect(m.code, m.stderr).toBe(0);
    const merged = JSON.parse(m.stdout);
    expect(merged.requests).toMatchObject({ sent: 1000, completed: 1000, succeeded: 1000, failed: 0 });
    expect(merged.connections.opened).toBe(7);
  });

  it("refuses a part whose counts do not add up with exit 2, naming it", async () => {
    const json = JSON.parse(await import("node:fs/promises").then((f) => f.readFile(part(2), "utf8")));
    json.shard.data.backends.a.count += 1;
    const tampered = join(dir, "tampered.json");
    writeFileSync(tampered, JSON.stringify(json));
    const r = await cli(["merge", part(1), tampered, part(3)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("tampered.json (shard 2/3) does not add up: it sent 333 requests but counts 334 outcomes (334 attributed to backends + 0 unattributed)");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    json.shard.data.backends.a.count -= 1;
    json.shard.data.statuses["200"] -= 1;
    writeFileSync(tampered, JSON.stringify(json));
    const s = await cli(["merge", part(1), tampered, part(3)]);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain("it completed 333 requests but counts 332 responses by status");
  });

  it("refuses a shard missing or given twice, parts of different loads, a plain result and broken JSON with exit 2, a file that is not there with exit 1", async () => {
    const missing = await cli(["merge", part(1), part(3)]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("shard 2 of 3 is missing");
    const twice = await cli(["merge", part(1), part(2), part(2), part(3)]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain("shard 2/3 is given twice");

    const other = join(dir, "other-1.json");
    const r = await cli(["load", url, "-c", "7", "-m", "2", "-n", "999", "--shard", "1/3", "--json", other, "-q"]);
    expect(r.code, r.stderr).toBe(0);
    counting.takeShares();
    const different = await cli(["merge", other, part(2), part(3)]);
    expect(different.code).toBe(2);
    expect(different.stderr).toContain("parts of different loads (they differ in requests)");

    const plain = join(dir, "plain.json");
    expect((await cli(["load", url, "-c", "1", "-n", "3", "--json", plain, "-q"])).code).toBe(0);
    counting.takeShares();
    const notPart = await cli(["merge", plain, part(2), part(3)]);
    expect(notPart.code).toBe(2);
    expect(notPart.stderr).toContain("is not a shard's result");

    const broken = join(dir, "broken.json");
    writeFileSync(broken, '{"requests": {');
    const bad = await cli(["merge", broken, part(2), part(3)]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("broken.json is not JSON");
    const absent = await cli(["merge", join(dir, "nowhere.json")]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain("cannot read it");
    for (const x of [missing, twice, different, notPart, bad, absent]) expect(x.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses a shard out of range, a 0-based index, more shards than connections and a rate too small to share, with exit 1", async () => {
    const cases: [string[], string][] = [
      [["--shard", "0/3"], "shards are numbered from 1 to 3, not from 0"],
      [["--shard", "4/3"], "there is no shard 4 of 3"],
      [["--shard", "1-3"], "is not i/N"],
      [["--shard", "1/0"], "at least 1 shard"],
      [["-c", "2", "--shard", "3/3"], "3 shards are more than the load's 2 connections"],
      [["-c", "6", "--rate", "2", "--shard", "1/3"], "--rate 2 is less than the 3 shards"],
    ];
    for (const [flags, message] of cases) {
      const r = await cli(["load", url, "-n", "60", ...flags]);
      expect(r.code, flags.join(" ")).toBe(1);
      expect(r.stderr, flags.join(" ")).toContain(message);
    }
    expect(counting.takeShares()).toEqual([]);
  });
});

describe("a shard's part of a load", () => {
  const whole = parseLoadProfile({ connections: 10, stages: [{ duration: "1s", target: 10 }, { duration: "1s", target: 4 }], arrival_rate: 100 }, { url: "http://127.0.0.1:1/" });
  const shards = [1, 2, 3].map((index) => shardProfile(whole, { index, count: 3 }, 1));

  it("splits connections, each stage's target and the arrival rate so that the parts add up to the whole", () => {
    expect(shards.map((s) => s.connections)).toEqual([4, 3, 3]);
    expect(shards.map((s) => s.stages!.map((st) => st.target))).toEqual([[4, 2], [3, 1], [3, 1]]);
    expect(sum(shards.map((s) => s.arrivalRate!))).toBeCloseTo(100, 9);
    expect(shards.map((s) => s.arrivalRate)).toEqual([40, 30, 30]);
  });

  it("splits a request budget and a connect rate as h2load splits them over threads", () => {
    const rated = parseLoadProfile({ connections: 8, requests: 100, connect_rate: 5 }, { url: "http://127.0.0.1:1/" });
    const parts = [1, 2, 3].map((index) => shardProfile(rated, { index, count: 3 }, 1));
    expect(parts.map((p) => p.requests)).toEqual([34, 33, 33]);
    expect(parts.map((p) => p.connectRate)).toEqual([2, 2, 1]);
    expect(parts.map((p) => p.connections)).toEqual([3, 3, 2]);
  });
});
