import net from "node:net";
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readHaproxyStats } from "../src/verify/counters.js";
import { findBinary } from "../src/check/binaries.js";
import { runCli } from "./helpers/cli.js";
import { expectServedByAde, h1Get, h2cGet } from "./helpers/http.js";
import {
  MARK_VAR,
  STACK_LINE,
  childPids,
  expectFailedRunLeftNothing,
  findProcesses,
  freePortRun,
  isGone,
  keptRunDir,
  killLeftovers,
  newMarker,
  parseUpOutput,
  processState,
  startClassicStack,
  testScratch,
  writeClassicCopy,
  type ClassicStack,
} from "./helpers/processes.js";

/** This file's own scratch space: spec copies, a private runs dir for `spillway down` records. */
const where = testScratch("spillway-test-rtproc");
const { scratch, runsDir, cleanups } = where;

describe("process runtime through the library: classic spec, real haproxy and nginx", () => {
  let stack: ClassicStack;

  beforeAll(async () => {
    stack = await startClassicStack("process", where, 20_000);
  });

  it("routes h2c and HTTP/1.1 through each frontend to an ade stub, counts exactly what was sent, and tears down without a trace", async () => {
    const { run, stubs, haproxy, nginx } = stack;
    expect(haproxy.proxy.id).not.toBe(nginx.proxy.id);
    const hapUrl = haproxy.frontends[0]!.url;
    const ngxUrl = nginx.frontends[0]!.url;

    // HAProxy's stats socket (loopback TCP) answers `show stat` with req_tot for every backend.
    expect(haproxy.stats.kind).toBe("haproxy-socket");
    if (haproxy.stats.kind !== "haproxy-socket") throw new Error("haproxy has no stats socket");
    const reqTotBefore = await readHaproxyStats(haproxy.stats.address);

    const served: string[] = [];
    served.push(expectServedByAde(await h2cGet(hapUrl)));
    served.push(expectServedByAde(await h1Get(hapUrl)));
    served.push(expectServedByAde(await h2cGet(ngxUrl)));

    // The stubs counted these three requests and nothing else (readiness probes are not counted).
    const counts = await stubs.fleet.counts();
    expect(Object.keys(counts).sort()).toEqual(["ade/s1", "ade/s2", "pbcoffee/s1"]);
    const expected: Record<string, number> = { "ade/s1": 0, "ade/s2": 0, "pbcoffee/s1": 0 };
    for (const s of served) expected[s]! += 1;
    expect(Object.fromEntries(Object.entries(counts).map(([k, c]) => [k, c.served]))).toEqual(expected);

    // req_tot grew by exactly the two requests sent through HAProxy, both to ade.
    const reqTot = await readHaproxyStats(haproxy.stats.address);
    expect(Object.keys(reqTot).sort()).toEqual(["ade", "pbcoffee"]);
    expect({ ade: reqTot.ade! - reqTotBefore.ade!, pbcoffee: reqTot.pbcoffee! - reqTotBefore.pbcoffee! }).toEqual({ ade: 2, pbcoffee: 0 });

    // nginx's stub_status answers.
    expect(nginx.stats.kind).toBe("nginx-status");
    const statusUrl = nginx.stats.kind === "nginx-status" ? nginx.stats.url : "";
    const status = await h1Get(statusUrl);
    expect(status.status).toBe(200);
    expect(status.body).toMatch(/^Active connections: \d+/);

    // Every pid of the run, nginx's workers included, read before teardown.
    const hapPid = Number(haproxy.proxy.id);
    const ngxPid = Number(nginx.proxy.id);
    const workers = childPids(ngxPid);
    expect(workers.length, "nginx worker processes").toBeGreaterThan(0);
    const pids: Record<string, number> = { haproxy: hapPid, nginx: ngxPid, stubs: stubs.fleet.pid };
    workers.forEach((w, i) => (pids[`nginx worker ${i}`] = w));
    for (const [name, pid] of Object.entries(pids)) expect(isGone(pid), `${name} (pid ${pid}) gone before teardown`).toBe(false);
    expect(existsSync(run.runDir)).toBe(true);
    expect(readdirSync(runsDir)).toContain(`${run.runId}.json`);

    const report = await run.teardown.run();
    expect(report.failed).toEqual([]);
    for (const [name, pid] of Object.entries(pids)) expect(processState(pid), `${name} (pid ${pid}) state after teardown`).toBeNull();
    expect(existsSync(run.runDir), `run directory ${run.runDir}`).toBe(false);
    expect(readdirSync(runsDir), "run record").not.toContain(`${run.runId}.json`);
    expect(findProcesses({ paths: [run.runDir] }), "processes naming the run directory").toEqual([]);

    // Safe to call twice: same report, nothing thrown, nothing new.
    expect(await run.teardown.run()).toEqual(report);
  });
});

describe("process runtime failures through the CLI: exit 3, one clear message, nothing left", () => {
  const binaryFound = findBinary("haproxy") !== null;

  const expectNothingLeft = (marker: string, stderr: string): string | null => expectFailedRunLeftNothing(marker, stderr, runsDir).kept;

  it("--keep-ports with the frontend's port taken: names the address, exit 3, stubs and proxies gone", async () => {
    const base = await freePortRun(4);
    const spec = writeClassicCopy(scratch, { frontendPort: base, stubBasePort: base + 1 }, "taken-port.yaml");
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once("error", reject);
      blocker.listen({ host: "127.0.0.1", port: base, exclusive: true }, resolve);
    });
    const marker = newMarker("taken-port");
    cleanups.push(() => void killLeftovers({ marker }));
    try {
      const r = runCli(["up", spec, "--target", "haproxy", "--keep-ports", "--for", "1s"], { env: { [MARK_VAR]: marker } });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`127.0.0.1:${base}`);
      expect(r.stderr).toContain("already in use");
      expect(r.stderr).not.toMatch(STACK_LINE);
      const kept = expectNothingLeft(marker, r.stderr);
      expect(kept, "the kept run directory is named").not.toBeNull();
      rmSync(kept!, { recursive: true, force: true });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  /** `spillway up` with SPILLWAY_HAPROXY naming no file: each test that needs its output runs it itself. */
  const upWithMissingHaproxy = (name: string) => {
    const spec = writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, `${name}.yaml`);
    const marker = newMarker(name);
    cleanups.push(() => void killLeftovers({ marker }));
    const r = runCli(["up", spec, "--target", "haproxy", "--for", "1s"], { env: { [MARK_VAR]: marker, SPILLWAY_HAPROXY: "/nonexistent/haproxy" } });
    const kept = keptRunDir(r.stderr);
    if (kept) cleanups.push(() => rmSync(kept, { recursive: true, force: true }));
    return { ...r, marker };
  };

  it("a missing haproxy binary: exit 3, names it and the variable, no stack trace, stubs gone", () => {
    const r = upWithMissingHaproxy("missing-binary");
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("/nonexistent/haproxy");
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.stderr).toContain("SPILLWAY_HAPROXY");
    expectNothingLeft(r.marker, r.stderr);
  });

  it("the missing-binary message says how to install haproxy", () => {
    const r = upWithMissingHaproxy("missing-binary-hint");
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/apt-get install -y haproxy/);
    expectNothingLeft(r.marker, r.stderr);
  });

  it.skipIf(!binaryFound)("haproxy that cannot bind its listener (port in use) exits while starting: exit 3, its own words shown, nothing left", async () => {
    // A real haproxy, given one more config file whose frontend binds a port this test holds:
    // the proxy itself fails to start, after spillway's own checks passed.
    const held = await freePortRun(1);
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once("error", reject);
      blocker.listen({ host: "127.0.0.1", port: held, exclusive: true }, resolve);
    });
    const extra = join(scratch, "blocker.cfg");
    writeFileSync(extra, `frontend spillway_test_blocker\n    bind 127.0.0.1:${held}\n`);
    const wrapper = join(scratch, "haproxy-with-blocker");
    writeFileSync(
      wrapper,
      `#!/bin/sh\ncase "$1" in -v|-vv) exec ${findBinary("haproxy")} "$@" ;; esac\nexec ${findBinary("haproxy")} "$@" -f ${extra}\n`,
    );
    chmodSync(wrapper, 0o755);
    const spec = writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, "cannot-bind.yaml");
    const marker = newMarker("cannot-bind");
    cleanups.push(() => void killLeftovers({ marker }));
    try {
      const r = runCli(["up", spec, "--target", "haproxy", "--for", "1s"], { env: { [MARK_VAR]: marker, SPILLWAY_HAPROXY: wrapper } });
      const kept = keptRunDir(r.stderr);
      if (kept) cleanups.push(() => rmSync(kept, { recursive: true, force: true }));
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/haproxy \(pid \d+\) frontend 'webserver' exited while starting/);
      expect(r.stderr).toContain(`cannot bind socket (Address already in use) for [127.0.0.1:${held}]`);
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(kept).not.toBeNull();
      expectNothingLeft(marker, r.stderr);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it.skipIf(!binaryFound)("works when TMPDIR is as long as macOS's (haproxy's stats socket path limit is 97 bytes)", () => {
    // macOS TMPDIR looks like /var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T (48 characters).
    const longTmp = join(scratch, "t".repeat(Math.max(1, 48 - scratch.length - 1)));
    mkdirSync(longTmp, { recursive: true });
    expect(longTmp.length).toBeGreaterThanOrEqual(48);
    const spec = writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, "long-tmpdir.yaml");
    const marker = newMarker("long-tmpdir");
    cleanups.push(() => void killLeftovers({ marker }));
    const r = runCli(["up", spec, "--target", "haproxy", "--for", "1s"], { env: { [MARK_VAR]: marker, TMPDIR: longTmp } });
    const kept = keptRunDir(r.stderr);
    if (kept) cleanups.push(() => rmSync(kept, { recursive: true, force: true }));
    expect(findProcesses({ marker, paths: kept ? [kept] : [] })).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
    // The run really lived under the long TMPDIR; otherwise the test proves nothing.
    const { runDir } = parseUpOutput(r.stdout);
    expect(runDir.startsWith(`${longTmp}/`), `run directory ${runDir} is under ${longTmp}`).toBe(true);
  });
});
