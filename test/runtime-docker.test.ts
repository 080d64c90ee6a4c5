import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHaproxyStats } from "../src/verify/counters.js";
import {
  RUN_LABEL,
  createRun,
  createRuntime,
  down,
  planPorts,
  startProxy,
  startStubs,
  type Run,
  type RunContext,
  type RunningProxy,
  type RunningStubs,
} from "../src/runtime/index.js";
import { createDockerClient, defaultProxyImage, type ContainerClient } from "../src/runtime/docker/index.js";
import { loadSpecFile } from "../src/spec/load.js";
import { runCli } from "./helpers/cli.js";
import {
  MARK_VAR,
  STACK_LINE,
  containersWithLabel,
  describeProcesses,
  findProcesses,
  keptRunDir,
  killLeftovers,
  newMarker,
  removeContainersWithLabel,
  writeClassicCopy,
} from "./helpers/processes.js";

const IMAGE = defaultProxyImage();
const required = process.env["SPILLWAY_REQUIRE_DOCKER"] === "1";
const client = createDockerClient();

async function whyUnusable(): Promise<string | null> {
  try {
    await client.ping();
    await client.image(IMAGE);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const unusable = await whyUnusable();
const skip = unusable !== null && !required;
if (skip) console.warn(`skipping Docker runtime tests (set SPILLWAY_REQUIRE_DOCKER=1 to fail instead): ${unusable}`);

const scratch = mkdtempSync(join(tmpdir(), "spillway-test-rtdocker-"));
const runsDir = join(scratch, "runs");
mkdirSync(runsDir);
const savedRunsDir = process.env.SPILLWAY_RUNS_DIR;
process.env.SPILLWAY_RUNS_DIR = runsDir;

const cleanups: (() => Promise<void> | void)[] = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  if (savedRunsDir === undefined) delete process.env.SPILLWAY_RUNS_DIR;
  else process.env.SPILLWAY_RUNS_DIR = savedRunsDir;
  rmSync(scratch, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function h2cGet(base: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(base);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no h2c answer from ${base} within 10 s`));
    }, 10_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    session.on("error", fail);
    const req = session.request({ ":path": "/" });
    let body = "";
    let headers: Reply["headers"] = {};
    req.setEncoding("utf8");
    req.on("response", (h) => (headers = h as Reply["headers"]));
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      clearTimeout(timer);
      session.close();
      resolve({ status: Number(headers[":status"]), headers, body });
    });
    req.on("error", fail);
    req.end();
  });
}

function h1Get(url: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no HTTP/1.1 answer from ${url} within 10 s`)));
    req.on("error", reject);
  });
}

function expectServedByAde(r: Reply): string {
  expect(r.status).toBe(200);
  expect(r.headers["x-spillway-backend"]).toBe("ade");
  const server = r.headers["x-spillway-server"];
  expect(server).toMatch(/^ade\/s[12]$/);
  expect(r.headers["x-spillway-proxy-conns"], "x-spillway-proxy-conns").toMatch(/^[1-9]\d*$/);
  return server as string;
}

function esrch(pid: number): string {
  try {
    process.kill(pid, 0);
    return "alive";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? "unknown";
  }
}

describe("docker engine for the runtime tests", () => {
  it.runIf(required)("is reachable with the proxies image present (SPILLWAY_REQUIRE_DOCKER=1)", () => {
    expect(unusable).toBeNull();
  });
});

describe.skipIf(skip)("docker runtime through the library: classic spec, haproxy and nginx in containers", () => {
  let run: Run;
  let stubs: RunningStubs;
  const proxies: Partial<Record<"haproxy" | "nginx", RunningProxy>> = {};

  beforeAll(async () => {
    const spec = loadSpecFile(writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, "lib-classic.yaml"));
    run = createRun("docker");
    cleanups.push(async () => {
      await run.teardown.run();
      await removeContainersWithLabel(RUN_LABEL, run.runId);
    });
    const ctx: RunContext = {
      runId: run.runId,
      runDir: run.runDir,
      teardown: run.teardown,
      registry: run.registry,
      runtime: createRuntime("docker", run.registry),
      keepPorts: false,
      readyTimeoutMs: 30_000,
      warn: () => undefined,
    };
    const plans = await planPorts(spec.model, ["haproxy", "nginx"], false);
    stubs = await startStubs(spec.model, plans.haproxy.stubs, ctx);
    cleanups.push(() => {
      try {
        process.kill(stubs.fleet.pid, "SIGKILL");
      } catch {
        // gone, as it should be
      }
    });
    proxies.haproxy = await startProxy(spec.model, "haproxy", plans.haproxy, ctx);
    proxies.nginx = await startProxy(spec.model, "nginx", plans.nginx, ctx);
  });

  it("routes through each container to an ade stub, labels the containers with the run, and teardown removes them all", async () => {
    const haproxy = proxies.haproxy!;
    const nginx = proxies.nginx!;
    expect(haproxy.proxy.where).toBe(`container spillway-${run.runId}-haproxy`);
    expect(nginx.proxy.where).toBe(`container spillway-${run.runId}-nginx`);
    expect((await containersWithLabel(RUN_LABEL, run.runId)).sort()).toEqual([`spillway-${run.runId}-haproxy`, `spillway-${run.runId}-nginx`]);
    expect(haproxy.info.details).toContain(`image ${IMAGE}`);

    const served: string[] = [];
    served.push(expectServedByAde(await h2cGet(haproxy.frontends[0]!.url)));
    served.push(expectServedByAde(await h1Get(haproxy.frontends[0]!.url)));
    served.push(expectServedByAde(await h2cGet(nginx.frontends[0]!.url)));
    const counts = await stubs.fleet.counts();
    const expected: Record<string, number> = { "ade/s1": 0, "ade/s2": 0, "pbcoffee/s1": 0 };
    for (const s of served) expected[s]! += 1;
    expect(Object.fromEntries(Object.entries(counts).map(([k, c]) => [k, c.served]))).toEqual(expected);

    // HAProxy's stats socket (loopback TCP) answers `show stat` with req_tot for every backend.
    if (haproxy.stats.kind !== "haproxy-socket") throw new Error("haproxy has no stats socket");
    const reqTot = await readHaproxyStats(haproxy.stats.address);
    expect(Object.keys(reqTot).sort()).toEqual(["ade", "pbcoffee"]);
    expect(reqTot.ade).toBeGreaterThanOrEqual(1);
    const statusUrl = nginx.stats.kind === "nginx-status" ? nginx.stats.url : "";
    expect((await h1Get(statusUrl)).body).toMatch(/^Active connections: \d+/);

    const report = await run.teardown.run();
    expect(report.failed).toEqual([]);
    expect(await containersWithLabel(RUN_LABEL, run.runId), "containers of the run after teardown").toEqual([]);
    expect(esrch(stubs.fleet.pid), `stub fleet (pid ${stubs.fleet.pid})`).toBe("ESRCH");
    expect(existsSync(run.runDir), `run directory ${run.runDir}`).toBe(false);
    expect(readdirSync(runsDir), "run record").not.toContain(`${run.runId}.json`);
    expect(await run.teardown.run()).toEqual(report);
  });
});

describe("docker runtime failures through the CLI: exit 3, one clear message, nothing left", () => {
  async function expectNothingLeft(marker: string, stderr: string): Promise<void> {
    const kept = keptRunDir(stderr);
    const left = findProcesses({ marker, paths: kept ? [kept] : [] });
    expect(left, `left running:\n${describeProcesses(left)}`).toEqual([]);
    const runId = kept ? /spillway-run-(.+)-[^-]+$/.exec(kept)?.[1] : undefined;
    expect(runId, "the kept run directory names the run").toBeTruthy();
    if (!skip) expect(await containersWithLabel(RUN_LABEL, runId!), "containers of the run").toEqual([]);
    expect(readdirSync(runsDir), "run record left for `spillway down`").not.toContain(`${runId}.json`);
    rmSync(kept!, { recursive: true, force: true });
  }

  it.skipIf(skip)("an image that does not exist: names it and how to build one", async () => {
    const spec = writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, "no-image.yaml");
    const marker = newMarker("no-image");
    cleanups.push(() => void killLeftovers({ marker }));
    const r = runCli(["up", spec, "--runtime", "docker", "--image", "spillway/does-not-exist:1", "--for", "1s"], { env: { [MARK_VAR]: marker } });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("spillway/does-not-exist:1");
    expect(r.stderr).toContain(".ci/docker-setup.sh");
    expect(r.stderr).not.toMatch(STACK_LINE);
    await expectNothingLeft(marker, r.stderr);
  });

  it("an unreachable engine (DOCKER_HOST): says how to start dockerd", async () => {
    const spec = writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, "no-engine.yaml");
    const marker = newMarker("no-engine");
    cleanups.push(() => void killLeftovers({ marker }));
    const r = runCli(["up", spec, "--runtime", "docker", "--for", "1s"], { env: { [MARK_VAR]: marker, DOCKER_HOST: "unix:///nonexistent.sock" } });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("unix:///nonexistent.sock");
    expect(r.stderr).toMatch(/dockerd --storage-driver=vfs/);
    expect(r.stderr).not.toMatch(STACK_LINE);
    await expectNothingLeft(marker, r.stderr);
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
