import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RUN_LABEL } from "../src/runtime/index.js";
import { runCli } from "./helpers/cli.js";
import { dockerUsability, itRequiresDocker } from "./helpers/docker.js";
import { h2cGet } from "./helpers/http.js";
import {
  MARK_VAR,
  STACK_LINE,
  childPids,
  containersWithLabel,
  describeProcesses,
  findProcesses,
  isGone,
  killLeftovers,
  newMarker,
  parseUpOutput,
  processState,
  removeContainersWithLabel,
  spawnCli,
  waitFor,
  writeClassicCopy,
  type SpawnedCli,
  type UpOutput,
} from "./helpers/processes.js";

const docker = await dockerUsability("Docker up/down tests");
const skipDocker = docker.skip;

/** Private runs directory: `spillway down` here sees this file's runs only, never anyone else's. */
const scratch = mkdtempSync(join(tmpdir(), "spillway-test-updown-"));
const runsDir = join(scratch, "runs");
mkdirSync(runsDir);
const shortTmp = mkdtempSync("/tmp/sw-");

const READY_MS = 45_000;
const EXIT_MS = 30_000;

interface Started {
  cli: SpawnedCli;
  marker: string;
  /** The CLI's TMPDIR: its run directory is made inside. */
  tmp: string;
  up?: UpOutput;
  /** Run ids read from the run records while it ran (for container cleanup when nothing was printed). */
  runIds?: string[];
}
const started: Started[] = [];

afterAll(async () => {
  // Only what this file started: its CLIs by pid, and what carries their markers.
  for (const s of started) {
    if (s.cli.child.exitCode === null && s.cli.child.signalCode === null) s.cli.child.kill("SIGKILL");
    await s.cli.waitExit(10_000).catch(() => undefined);
    killLeftovers({ marker: s.marker, paths: [s.tmp] });
    for (const runId of s.runIds ?? (s.up ? [s.up.runId] : [])) await removeContainersWithLabel(RUN_LABEL, runId);
  }
  rmSync(scratch, { recursive: true, force: true });
  rmSync(shortTmp, { recursive: true, force: true });
});

/** Status and backend of an h2c GET through a frontend. */
async function servedBy(url: string): Promise<{ status: number; backend: string | string[] | undefined }> {
  const r = await h2cGet(url);
  return { status: r.status, backend: r.headers["x-spillway-backend"] };
}

/**
 * `spillway up` on a copy of the classic spec, with its own TMPDIR (so its run
 * directory, and every process naming it, is marked as this test's) kept
 * short: HAProxy's stats socket path must stay under 97 bytes.
 */
function spawnUp(name: string, extraArgs: string[]): Started {
  const marker = newMarker(name);
  const spec = writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, `${name}.yaml`);
  const tmp = mkdtempSync(join(shortTmp, `${name.slice(0, 12)}-`));
  expect(tmp.length, `TMPDIR ${tmp} is short enough for haproxy's stats socket`).toBeLessThanOrEqual(40);
  const cli = spawnCli(["up", spec, ...extraArgs], { [MARK_VAR]: marker, SPILLWAY_RUNS_DIR: runsDir, TMPDIR: tmp });
  const s: Started = { cli, marker, tmp };
  started.push(s);
  return s;
}

async function startUp(name: string, extraArgs: string[]): Promise<Started & { up: UpOutput }> {
  const s = spawnUp(name, extraArgs);
  await s.cli.waitForStdout("Press Ctrl-C", READY_MS);
  const cli = s.cli;
  s.up = parseUpOutput(cli.stdout());
  return s as Started & { up: UpOutput };
}

/** Every process of a process-runtime run: proxies (from the table), nginx's workers, the stub fleet (by marker). */
function runPids(s: Started & { up: UpOutput }): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const f of s.up.frontends) if (f.proxy.startsWith("pid ")) pids[f.target] = Number(f.proxy.slice(4));
  if (pids.nginx) childPids(pids.nginx).forEach((w, i) => (pids[`nginx worker ${i}`] = w));
  const fleet = findProcesses({ marker: s.marker }).filter((p) => p.cmdline.startsWith("spillway-stub-fleet"));
  expect(fleet.length, "the stub fleet process, found by the run's marker").toBe(1);
  pids.stubs = fleet[0]!.pid;
  return pids;
}

function leftovers(s: Started) {
  return findProcesses({ marker: s.marker, paths: [s.tmp] }).filter((p) => p.pid !== s.cli.pid);
}

/** Run ids whose record names this CLI as owner. */
function recordedRunIds(s: Started): string[] {
  const ids: string[] = [];
  for (const f of readdirSync(runsDir).filter((n) => n.endsWith(".json"))) {
    try {
      const r = JSON.parse(readFileSync(join(runsDir, f), "utf8")) as { runId: string; ownerPid: number };
      if (r.ownerPid === s.cli.pid) ids.push(r.runId);
    } catch {
      // written at this moment; read again later
    }
  }
  return ids;
}

function expectAllRunning(s: Started & { up: UpOutput }, pids: Record<string, number>): void {
  const found = new Set(findProcesses({ marker: s.marker, paths: [s.tmp] }).map((p) => p.pid));
  for (const [name, pid] of Object.entries(pids)) {
    expect(isGone(pid), `${name} (pid ${pid}) running`).toBe(false);
    // The leftover check below would see it: the markers work.
    expect(found.has(pid), `${name} (pid ${pid}) found by the run's markers`).toBe(true);
  }
}

/** Sends `signal` to the CLI: it exits with `code`, says so, and cleaned up without a stack trace. */
async function stopCleanly(s: Started, signal: NodeJS.Signals, code: number): Promise<void> {
  s.cli.child.kill(signal);
  const exit = await s.cli.waitExit(EXIT_MS);
  expect(exit, s.cli.stderr()).toEqual({ code, signal: null });
  expect(s.cli.stderr()).toContain(`${signal} received`);
  expect(s.cli.stderr()).not.toMatch(STACK_LINE);
  expect(s.cli.stderr()).not.toContain("could not clean up");
}

describe("docker engine for the up/down tests", () => {
  itRequiresDocker(docker);
});

describe("spillway up, stopped by a signal", () => {
  it("process runtime: serves through both proxies, Ctrl-C (SIGINT) exits 130 and leaves nothing", async () => {
    const s = await startUp("sigint", []);
    expect(s.up.frontends.map((f) => f.target).sort()).toEqual(["haproxy", "nginx"]);
    expect(s.up.stubs.map((x) => x.name).sort()).toEqual(["ade/s1", "ade/s2", "pbcoffee/s1"]);
    for (const f of s.up.frontends) expect(await servedBy(f.url), `${f.target} at ${f.url}`).toEqual({ status: 200, backend: "ade" });
    const pids = runPids(s);
    expectAllRunning(s, pids);
    expect(existsSync(s.up.runDir)).toBe(true);

    await stopCleanly(s, "SIGINT", 130);

    for (const [name, pid] of Object.entries(pids)) expect(processState(pid), `${name} (pid ${pid}) state`).toBeNull();
    const left = leftovers(s);
    expect(left, describeProcesses(left)).toEqual([]);
    expect(existsSync(s.up.runDir), `run directory ${s.up.runDir}`).toBe(false);
    expect(readdirSync(runsDir), "run record").not.toContain(`${s.up.runId}.json`);
  });

  it.skipIf(skipDocker)("docker runtime: serves through both containers, SIGTERM exits 143 and leaves no container, process or directory", async () => {
    const s = await startUp("sigterm-docker", ["--runtime", "docker"]);
    expect(s.up.containers.sort()).toEqual([`spillway-${s.up.runId}-haproxy`, `spillway-${s.up.runId}-nginx`]);
    expect((await containersWithLabel(RUN_LABEL, s.up.runId)).sort()).toEqual(s.up.containers);
    for (const f of s.up.frontends) expect(await servedBy(f.url), `${f.target} at ${f.url}`).toEqual({ status: 200, backend: "ade" });
    const pids = runPids(s);
    expectAllRunning(s, pids);

    await stopCleanly(s, "SIGTERM", 143);

    expect(await containersWithLabel(RUN_LABEL, s.up.runId), "containers of the run").toEqual([]);
    expect(processState(pids.stubs!), "stub fleet state").toBeNull();
    const left = leftovers(s);
    expect(left, describeProcesses(left)).toEqual([]);
    expect(existsSync(s.up.runDir), `run directory ${s.up.runDir}`).toBe(false);
    expect(readdirSync(runsDir), "run record").not.toContain(`${s.up.runId}.json`);
  });

  /**
   * Starts `up`, sends `signal` as soon as a process of the run matches
   * `trigger` (the stack is part-way up), and returns what was wrong: exit
   * code, a stack trace, or anything of the run still there once bounded
   * waits for it to go have passed.
   */
  async function interruptWhileStarting(
    name: string,
    extraArgs: string[],
    trigger: { what: string; match: (cmdline: string) => boolean },
    signal: NodeJS.Signals,
    code: number,
  ): Promise<string[]> {
    const s = spawnUp(name, extraArgs);
    await waitFor(
      `${trigger.what} (run ${name})`,
      () => (findProcesses({ marker: s.marker, paths: [s.tmp] }).some((p) => trigger.match(p.cmdline)) ? true : undefined),
      READY_MS,
    );
    s.runIds = recordedRunIds(s);
    s.cli.child.kill(signal);
    const exit = await s.cli.waitExit(EXIT_MS);
    const problems: string[] = [];
    const where = `SIGINT once ${trigger.what}`;
    if (exit.code !== code || exit.signal !== null) problems.push(`${where}: exit ${JSON.stringify(exit)}, expected code ${code}`);
    if (!s.cli.stderr().includes(`${signal} received`)) problems.push(`${where}: stderr does not say ${signal} was received`);
    if (STACK_LINE.test(s.cli.stderr())) problems.push(`${where}: stack trace in stderr`);
    if (s.runIds.length !== 1) problems.push(`${where}: expected one run record, found ${JSON.stringify(s.runIds)}`);
    const runId = s.runIds[0] ?? "?";
    await waitFor("processes of the run to go", () => (leftovers(s).length === 0 ? true : undefined), 10_000).catch(() =>
      problems.push(`${where}: left running:\n${describeProcesses(leftovers(s))}`),
    );
    const dirs = () => readdirSync(s.tmp).filter((d) => d.startsWith("spillway-run-"));
    await waitFor("run directories to go", () => (dirs().length === 0 ? true : undefined), 10_000).catch(() =>
      problems.push(`${where}: run directory left: ${dirs().map((d) => `${join(s.tmp, d)} (${readdirSync(join(s.tmp, d)).join(", ") || "empty"})`).join(", ")}`),
    );
    if (readdirSync(runsDir).includes(`${runId}.json`)) problems.push(`${where}: run record ${runId}.json left`);
    if (extraArgs.includes("docker")) {
      const containers = () => containersWithLabel(RUN_LABEL, runId);
      await waitFor("containers of the run to go", async () => ((await containers()).length === 0 ? true : undefined), 10_000).catch(async () =>
        problems.push(`${where}: containers left: ${(await containers()).join(", ")}`),
      );
    }
    if (problems.length > 0) problems.push(`${where}: the CLI's stderr was:\n${s.cli.stderr()}`);
    return problems;
  }

  const HAPROXY = { what: "haproxy of the run is started", match: (c: string) => /(^|\/)haproxy -db /.test(c) };
  const NGINX = { what: "nginx of the run is started", match: (c: string) => c.startsWith("nginx: master process") };
  const STUBS = { what: "the stub fleet of the run is started", match: (c: string) => c.startsWith("spillway-stub-fleet") };

  it("process runtime: SIGINT while the stack is still starting exits 130 and leaves nothing, whichever part is starting", async () => {
    const problems: string[] = [];
    for (const [i, trigger] of [STUBS, HAPROXY, NGINX, HAPROXY].entries()) {
      problems.push(...(await interruptWhileStarting(`midway${i}`, [], trigger, "SIGINT", 130)));
    }
    expect(problems, problems.join("\n")).toEqual([]);
  }, 180_000);

  it.skipIf(skipDocker)("docker runtime: SIGINT while the containers are still starting exits 130 and leaves nothing", async () => {
    const problems: string[] = [];
    for (const [i, trigger] of [HAPROXY, NGINX].entries()) {
      problems.push(...(await interruptWhileStarting(`midway-dk${i}`, ["--runtime", "docker"], trigger, "SIGINT", 130)));
    }
    expect(problems, problems.join("\n")).toEqual([]);
  }, 180_000);
});

describe("spillway down after the CLI was killed outright (SIGKILL: no teardown ran)", () => {
  it("process runtime: the proxies outlive the CLI; down stops them, names them, removes the run directory", async () => {
    const s = await startUp("sigkill", []);
    const pids = runPids(s);
    s.cli.child.kill("SIGKILL");
    expect(await s.cli.waitExit(EXIT_MS)).toEqual({ code: null, signal: "SIGKILL" });

    // The stub fleet stops by itself when its parent is gone; nothing stopped the proxies: they still answer.
    await waitFor("the stub fleet to stop by itself once the CLI is gone", () => (isGone(pids.stubs!) ? true : undefined), 10_000);
    const { stubs: _stubs, ...proxyPids } = pids;
    expectAllRunning(s, proxyPids);
    for (const f of s.up.frontends) expect((await h2cGet(f.url)).status, `${f.target} answers after the CLI died`).toBeGreaterThanOrEqual(200);

    // The engine is pointed nowhere so this `down` cannot touch anyone's containers (see runtime-docker.test.ts).
    const r = runCli(["down"], { env: { SPILLWAY_RUNS_DIR: runsDir, DOCKER_HOST: "unix:///nonexistent.sock" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.stdout).toContain(`stopped haproxy (pid ${pids.haproxy})`);
    expect(r.stdout).toContain(`stopped nginx (pid ${pids.nginx})`);
    expect(r.stdout).toContain(`removed ${s.up.runDir}`);

    // Orphans are reaped by whoever adopted them; a zombie runs nothing, so it counts as gone.
    await waitFor("every process of the killed run to be gone", () => {
      const alive = Object.entries(pids).filter(([, pid]) => !isGone(pid));
      return alive.length === 0 ? true : undefined;
    }, 10_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${Object.entries(pids).filter(([, p]) => !isGone(p)).map(([n, p]) => `${n} (pid ${p})`).join(", ")}`);
    });
    const left = leftovers(s);
    expect(left, describeProcesses(left)).toEqual([]);
    expect(existsSync(s.up.runDir), `run directory ${s.up.runDir}`).toBe(false);
    expect(readdirSync(runsDir), "run record").not.toContain(`${s.up.runId}.json`);

    // A second down finds nothing more of it.
    const again = runCli(["down"], { env: { SPILLWAY_RUNS_DIR: runsDir, DOCKER_HOST: "unix:///nonexistent.sock" } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain("stopped");
    expect(again.stdout).not.toContain(s.up.runDir);
  });

  it.skipIf(skipDocker)("docker runtime: the containers outlive the CLI; down removes them and names them", async () => {
    const s = await startUp("sigkill-docker", ["--runtime", "docker"]);
    const pids = runPids(s);
    s.cli.child.kill("SIGKILL");
    expect(await s.cli.waitExit(EXIT_MS)).toEqual({ code: null, signal: "SIGKILL" });
    await waitFor("the stub fleet to stop by itself once the CLI is gone", () => (isGone(pids.stubs!) ? true : undefined), 10_000);
    expect((await containersWithLabel(RUN_LABEL, s.up.runId)).sort()).toEqual(s.up.containers.sort());
    for (const f of s.up.frontends) expect((await h2cGet(f.url)).status, `${f.target} answers after the CLI died`).toBeGreaterThanOrEqual(200);

    // `down` removes only the containers of dead runs it has a record of. The record of a live run
    // (owned by this test process) must be left alone, and is.
    const guardId = `guard-${s.marker}`;
    const guard = join(runsDir, `${guardId}.json`);
    writeFileSync(guard, JSON.stringify({ runId: guardId, ownerPid: process.pid, startedAt: new Date().toISOString(), runtime: "docker", dirs: [], processes: [] }));
    let r;
    try {
      r = runCli(["down"], { env: { SPILLWAY_RUNS_DIR: runsDir } });
    } finally {
      rmSync(guard, { force: true });
    }
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(STACK_LINE);
    for (const c of s.up.containers) expect(r.stdout).toContain(`removed container ${c}`);
    expect(r.stdout).toContain(`removed ${s.up.runDir}`);
    expect(r.stdout).toContain(`left alone: run ${guardId}`);

    expect(await containersWithLabel(RUN_LABEL, s.up.runId), "containers of the run").toEqual([]);
    const left = leftovers(s);
    expect(left, describeProcesses(left)).toEqual([]);
    expect(existsSync(s.up.runDir), `run directory ${s.up.runDir}`).toBe(false);
    expect(readdirSync(runsDir), "run record").not.toContain(`${s.up.runId}.json`);
  });
});
