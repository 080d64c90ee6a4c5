import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readHaproxyStats } from "../src/verify/counters.js";
import { RUN_LABEL, createRun, down } from "../src/runtime/index.js";
import type { ContainerClient } from "../src/runtime/docker/index.js";
import { runCli } from "./helpers/cli.js";
import { dockerUsability, itRequiresDocker } from "./helpers/docker.js";
import { expectServedByAde, h1Get, h2cGet } from "./helpers/http.js";
import {
  MARK_VAR,
  STACK_LINE,
  containersWithLabel,
  expectFailedRunLeftNothing,
  killLeftovers,
  newMarker,
  processState,
  removeContainersWithLabel,
  startClassicStack,
  testScratch,
  writeClassicCopy,
  type ClassicStack,
} from "./helpers/processes.js";

const docker = await dockerUsability("Docker runtime tests");
const { client, image: IMAGE, skip } = docker;

const where = testScratch("spillway-test-rtdocker");
const { scratch, runsDir, cleanups } = where;

describe("docker engine for the runtime tests", () => {
  itRequiresDocker(docker);
});

describe.skipIf(skip)("docker runtime through the library: classic spec, haproxy and nginx in containers", () => {
  let stack: ClassicStack;

  beforeAll(async () => {
    stack = await startClassicStack("docker", where, 30_000);
  });

  it("routes through each container to an ade stub, labels the containers with the run, and teardown removes them all", async () => {
    const { run, stubs, haproxy, nginx } = stack;
    expect(haproxy.proxy.where).toBe(`container spillway-${run.runId}-haproxy`);
    expect(nginx.proxy.where).toBe(`container spillway-${run.runId}-nginx`);
    expect((await containersWithLabel(RUN_LABEL, run.runId)).sort()).toEqual([`spillway-${run.runId}-haproxy`, `spillway-${run.runId}-nginx`]);
    expect(haproxy.info.details).toContain(`image ${IMAGE}`);

    // HAProxy's stats socket (loopback TCP) answers `show stat` with req_tot for every backend.
    if (haproxy.stats.kind !== "haproxy-socket") throw new Error("haproxy has no stats socket");
    const reqTotBefore = await readHaproxyStats(haproxy.stats.address);

    const served: string[] = [];
    served.push(expectServedByAde(await h2cGet(haproxy.frontends[0]!.url)));
    served.push(expectServedByAde(await h1Get(haproxy.frontends[0]!.url)));
    served.push(expectServedByAde(await h2cGet(nginx.frontends[0]!.url)));
    const counts = await stubs.fleet.counts();
    const expected: Record<string, number> = { "ade/s1": 0, "ade/s2": 0, "pbcoffee/s1": 0 };
    for (const s of served) expected[s]! += 1;
    expect(Object.fromEntries(Object.entries(counts).map(([k, c]) => [k, c.served]))).toEqual(expected);

    // req_tot grew by exactly the two requests sent through HAProxy, both to ade.
    const reqTot = await readHaproxyStats(haproxy.stats.address);
    expect(Object.keys(reqTot).sort()).toEqual(["ade", "pbcoffee"]);
    expect({ ade: reqTot.ade! - reqTotBefore.ade!, pbcoffee: reqTot.pbcoffee! - reqTotBefore.pbcoffee! }).toEqual({ ade: 2, pbcoffee: 0 });
    const statusUrl = nginx.stats.kind === "nginx-status" ? nginx.stats.url : "";
    expect((await h1Get(statusUrl)).body).toMatch(/^Active connections: \d+/);

    const report = await run.teardown.run();
    expect(report.failed).toEqual([]);
    expect(await containersWithLabel(RUN_LABEL, run.runId), "containers of the run after teardown").toEqual([]);
    expect(processState(stubs.fleet.pid), `stub fleet (pid ${stubs.fleet.pid}) state after teardown`).toBeNull();
    expect(existsSync(run.runDir), `run directory ${run.runDir}`).toBe(false);
    expect(readdirSync(runsDir), "run record").not.toContain(`${run.runId}.json`);
    expect(await run.teardown.run()).toEqual(report);
  });
});

describe("docker runtime failures through the CLI: exit 3, one clear message, nothing left", () => {
  /** Containers of every spillway run, through the docker CLI: a failed start must add none. */
  const allRunContainers = async (): Promise<string[]> => {
    if (skip) return [];
    const out = execFileSync("docker", ["ps", "-a", "--filter", `label=${RUN_LABEL}`, "--format", "{{.Names}}"], { encoding: "utf8", timeout: 30_000 });
    return out.split("\n").filter(Boolean);
  };
  async function expectNothingLeft(marker: string, stderr: string, containersBefore: string[]): Promise<void> {
    const { kept, runId } = expectFailedRunLeftNothing(marker, stderr, runsDir);
    if (kept) {
      // Something was written before the failure: the directory is kept for the post-mortem and names the run.
      expect(runId, "the kept run directory names the run").toBeTruthy();
      if (!skip) expect(await containersWithLabel(RUN_LABEL, runId!), "containers of the run").toEqual([]);
      rmSync(kept, { recursive: true, force: true });
    } else {
      // Refused before anything was written: no directory, and no container appeared.
      expect(stderr).not.toContain("kept in");
      expect((await allRunContainers()).filter((c) => !containersBefore.includes(c)), "containers created by the failed run").toEqual([]);
    }
  }

  it.skipIf(skip)("an image that does not exist: names it and how to build one", async () => {
    const spec = writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, "no-image.yaml");
    const marker = newMarker("no-image");
    cleanups.push(() => void killLeftovers({ marker }));
    const before = await allRunContainers();
    const r = runCli(["up", spec, "--runtime", "docker", "--image", "spillway/does-not-exist:1", "--for", "1s"], { env: { [MARK_VAR]: marker } });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("spillway/does-not-exist:1");
    expect(r.stderr).toContain(".ci/docker-setup.sh");
    expect(r.stderr).not.toMatch(STACK_LINE);
    await expectNothingLeft(marker, r.stderr, before);
  });

  it("an unreachable engine (DOCKER_HOST): says how to start dockerd", async () => {
    const spec = writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, "no-engine.yaml");
    const marker = newMarker("no-engine");
    cleanups.push(() => void killLeftovers({ marker }));
    const before = await allRunContainers();
    const r = runCli(["up", spec, "--runtime", "docker", "--for", "1s"], { env: { [MARK_VAR]: marker, DOCKER_HOST: "unix:///nonexistent.sock" } });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("unix:///nonexistent.sock");
    expect(r.stderr).toMatch(/dockerd --storage-driver=vfs/);
    expect(r.stderr).not.toMatch(STACK_LINE);
    await expectNothingLeft(marker, r.stderr, before);
  });
});

describe.skipIf(skip)("spillway down and containers of runs it does not know", () => {
  it("down leaves alone the containers of a live run recorded in another runs directory", async () => {
    // A live run (owner: this process) whose record sits in one runs directory...
    const otherRuns = join(scratch, "other-runs");
    mkdirSync(otherRuns, { recursive: true });
    process.env.SPILLWAY_RUNS_DIR = otherRuns;
    const live = createRun("docker");
    cleanups.push(async () => {
      await live.teardown.run();
      await removeContainersWithLabel(RUN_LABEL, live.runId);
    });
    const container = await client.start({
      name: `spillway-${live.runId}-sleeper`,
      image: IMAGE,
      cmd: ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"],
      binds: [],
      labels: { [RUN_LABEL]: live.runId },
    });
    live.teardown.add("sleeper", () => container.stop());
    // ...and `down` run with another (say, another user's TMPDIR, or a CI job next to this one).
    const emptyRuns = join(scratch, "empty-runs");
    mkdirSync(emptyRuns, { recursive: true });
    process.env.SPILLWAY_RUNS_DIR = emptyRuns;
    // Whatever down asks to remove is narrowed to this test's own container, so no one else's is touched.
    const narrowed: ContainerClient = {
      ping: () => client.ping(),
      image: (n) => client.image(n),
      start: (s) => client.start(s),
      version: () => client.version(),
      endpoint: client.endpoint,
      removeByLabel: async (key, value) => (key === RUN_LABEL && (value === undefined || value === live.runId) ? client.removeByLabel(key, live.runId) : []),
    };
    try {
      await down({ client: narrowed });
    } finally {
      process.env.SPILLWAY_RUNS_DIR = runsDir;
    }
    expect(await containersWithLabel(RUN_LABEL, live.runId), "the live run's container").toEqual([`spillway-${live.runId}-sleeper`]);
    await live.teardown.run();
    expect(await containersWithLabel(RUN_LABEL, live.runId)).toEqual([]);
  });
});
