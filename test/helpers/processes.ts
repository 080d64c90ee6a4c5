import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect } from "vitest";
import {
  RUN_LABEL,
  createRun,
  createRuntime,
  planPorts,
  runContext,
  startProxy,
  startStubs,
  type Run,
  type RunningProxy,
  type RunningStubs,
} from "../../src/runtime/index.js";
import { loadSpecFile } from "../../src/spec/load.js";
import { BIN, ROOT } from "./cli.js";

/**
 * Finds what a test's runs left behind, by markers unique to those runs only:
 * an environment variable the test passes to the CLI (inherited by the stub
 * fleet and haproxy), the run directory (named in haproxy's and nginx's
 * command lines, and the working directory of nginx's workers, whose
 * environment nginx rewrites). Never by a process name: other people run
 * haproxy and nginx on this machine at the same time.
 */
export const MARK_VAR = "SPILLWAY_TEST_MARK";

export function newMarker(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

export interface FoundProcess {
  pid: number;
  cmdline: string;
  why: string;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** R, S, D, Z... or null when the pid does not exist. */
export function processState(pid: number): string | null {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name is in parentheses and may itself hold spaces or parentheses.
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) || null;
}

/** Gone: no such pid (ESRCH), or a zombie an init-like parent has not reaped yet (it runs nothing and holds no port). */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return true;
  }
  const state = processState(pid);
  return state === null || state === "Z" || state === "X";
}

export function childPids(pid: number): number[] {
  const text = read(`/proc/${pid}/task/${pid}/children`);
  return text === null ? [] : text.trim().split(/\s+/).filter(Boolean).map(Number);
}

/**
 * Live (non-zombie) processes carrying the marker in their environment, or
 * one of `paths` in their command line or working directory, with their
 * descendants. The calling process is never listed.
 */
export function findProcesses(opts: { marker?: string; paths?: string[] }): FoundProcess[] {
  const paths = (opts.paths ?? []).filter((p) => p.length > 0);
  const found = new Map<number, FoundProcess>();
  const all = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
  for (const pid of all) {
    if (pid === process.pid || isGone(pid)) continue;
    const cmdline = (read(`/proc/${pid}/cmdline`) ?? "").replace(/\0/g, " ").trim();
    let why: string | null = null;
    if (opts.marker) {
      const env = read(`/proc/${pid}/environ`);
      if (env !== null && env.split("\0").includes(`${MARK_VAR}=${opts.marker}`)) why = `environment has ${MARK_VAR}=${opts.marker}`;
    }
    for (const p of paths) {
      if (why) break;
      if (cmdline.includes(p)) why = `command line names ${p}`;
      else {
        let cwd = "";
        try {
          cwd = readlinkSync(`/proc/${pid}/cwd`);
        } catch {
          // gone, or not ours to read
        }
        if (cwd === p || cwd.startsWith(`${p}/`)) why = `working directory is ${cwd}`;
      }
    }
    if (why) found.set(pid, { pid, cmdline, why });
  }
  const queue = [...found.keys()];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const c of childPids(parent)) {
      if (found.has(c) || isGone(c)) continue;
      found.set(c, { pid: c, cmdline: (read(`/proc/${c}/cmdline`) ?? "").replace(/\0/g, " ").trim(), why: `child of ${parent}` });
      queue.push(c);
    }
  }
  return [...found.values()];
}

export function describeProcesses(list: FoundProcess[]): string {
  return list.map((p) => `pid ${p.pid} (${p.cmdline || "?"}): ${p.why}`).join("\n");
}

/**
 * SIGKILLs what `findProcesses` finds for these markers: cleanup after a test
 * that failed half-way. Only ever processes of this test's own runs.
 */
export function killLeftovers(opts: { marker?: string; paths?: string[] }): FoundProcess[] {
  const list = findProcesses(opts);
  for (const p of list) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return list;
}

/** Polls until `check` returns a value other than undefined; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Names of containers (running or not) carrying label key=value, through the docker CLI, not the code under test. */
export function containersWithLabel(key: string, value: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(
      "docker",
      ["ps", "-a", "--filter", `label=${key}=${value}`, "--format", "{{.Names}}"],
      { env, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`docker ps failed: ${err.message} ${String(stderr)}`));
        else resolve(String(stdout).split("\n").filter(Boolean));
      },
    );
  });
}

/** Cleanup after a failed test: force-removes containers of one run id only. */
export async function removeContainersWithLabel(key: string, value: string): Promise<void> {
  const names = await containersWithLabel(key, value).catch(() => []);
  if (names.length === 0) return;
  await new Promise<void>((resolve) => execFile("docker", ["rm", "-f", "-v", ...names], { timeout: 60_000 }, () => resolve()));
}

/** A long-running CLI (`spillway up`) spawned as a user would, with its output collected as it comes. */
export interface SpawnedCli {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number when killed by a signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until stdout contains `text`; fails with both streams if the CLI exits first or `timeoutMs` passes. */
  waitForStdout(text: string, timeoutMs: number): Promise<string>;
  /** Waits for exit, bounded; fails with both streams. */
  waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv): SpawnedCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  const streams = () => `\n--- stdout ---\n${out}\n--- stderr ---\n${err}`;
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForStdout(text, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (exitInfo) throw new Error(`the CLI exited (${JSON.stringify(exitInfo)}) before printing ${JSON.stringify(text)}${streams()}`);
        if (Date.now() >= deadline) throw new Error(`the CLI did not print ${JSON.stringify(text)} within ${timeoutMs} ms${streams()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return out;
    },
    async waitExit(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the CLI did not exit within ${timeoutMs} ms${streams()}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** What `spillway up` printed: run id, frontends, proxies' pids or containers, stubs, run directory. */
export interface UpOutput {
  runId: string;
  frontends: { target: string; frontend: string; url: string; proxy: string }[];
  pids: number[];
  containers: string[];
  stubs: { name: string; url: string }[];
  runDir: string;
}

export function parseUpOutput(stdout: string): UpOutput {
  const runId = /spillway up: run (\S+),/.exec(stdout)?.[1];
  if (!runId) throw new Error(`no run id in:\n${stdout}`);
  const frontends: UpOutput["frontends"] = [];
  const stubs: UpOutput["stubs"] = [];
  for (const line of stdout.split("\n")) {
    const f = /^(haproxy|nginx)\s+(\S+)\s+(http:\/\/\S+)\s+.*?((?:pid \d+)|(?:container \S+))\s*$/.exec(line);
    if (f) frontends.push({ target: f[1]!, frontend: f[2]!, url: f[3]!, proxy: f[4]! });
    const s = /^(\S+\/\S+)\s+(http:\/\/127\.0\.0\.1:\d+)\s*$/.exec(line);
    if (s) stubs.push({ name: s[1]!, url: s[2]! });
  }
  const logDir = /^\s+(?:haproxy|nginx): (\/\S+)\/(?:haproxy|nginx)\/(?:haproxy|nginx)\.log/m.exec(stdout)?.[1];
  if (!logDir) throw new Error(`no log path in:\n${stdout}`);
  return {
    runId,
    frontends,
    pids: frontends.flatMap((f) => (f.proxy.startsWith("pid ") ? [Number(f.proxy.slice(4))] : [])),
    containers: frontends.flatMap((f) => (f.proxy.startsWith("container ") ? [f.proxy.slice("container ".length)] : [])),
    stubs,
    runDir: logDir,
  };
}

/** The run directory `spillway` names when it keeps one after a failure. */
export function keptRunDir(stderr: string): string | null {
  return /configs and proxy logs of this run are kept in (\S+)/.exec(stderr)?.[1] ?? null;
}

/** A stack trace line as Node prints them. */
export const STACK_LINE = /^\s+at .+/m;

/**
 * A port nothing listens on now, with the next `count - 1` ports free too
 * (for a spec's consecutive stub ports). Picked below the kernel's ephemeral
 * range, so other people's outgoing connections cannot take it meanwhile.
 */
export async function freePortRun(count = 1, host = "127.0.0.1"): Promise<number> {
  const { createServer } = await import("node:net");
  const range = (read("/proc/sys/net/ipv4/ip_local_port_range") ?? "32768 60999").trim().split(/\s+/).map(Number);
  const low = Math.max(2_000, Math.min(range[0] ?? 32_768, 65_535) - count);
  const tryListen = (port: number) =>
    new Promise<string | null>((resolve) => {
      const s = createServer();
      s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
      s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(null)));
    });
  const failures: string[] = [];
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * (low - 10_000));
    let why: string | null = null;
    for (let i = 0; i < count && why === null; i++) {
      const err = await tryListen(base + i);
      if (err !== null) why = `${base + i}: ${err}`;
    }
    if (why === null) return base;
    failures.push(why);
  }
  throw new Error(`no run of ${count} free ports found on ${host}; last failures: ${failures.slice(-5).join(", ")}`);
}

/**
 * Writes a copy of fixtures/classic.yaml into `dir` with the frontend on
 * `frontendPort` and the stubs from `stubBasePort`, so runs with
 * --keep-ports never collide with anyone else's, and the copy's path marks
 * this test's runs.
 */
export function writeClassicCopy(dir: string, ports: { frontendPort: number; stubBasePort: number }, name = "classic-copy.yaml"): string {
  const text = readFileSync(`${ROOT}/fixtures/classic.yaml`, "utf8");
  const bind = 'bind: "127.0.0.1:8080"';
  if (!text.includes(bind) || !/^backends:$/m.test(text)) throw new Error("fixtures/classic.yaml changed: update writeClassicCopy");
  const copy = text
    .replace(/^# yaml-language-server.*\n/m, "")
    .replace(bind, `bind: "127.0.0.1:${ports.frontendPort}"`)
    .replace(/^backends:$/m, `stubs: { base_port: ${ports.stubBasePort} }\nbackends:`);
  const file = `${dir}/${name}`;
  writeFileSync(file, copy);
  return file;
}

/** What a test file cleans up after itself in, and where its runs are recorded. */
export interface TestScratch {
  /** A directory of this file's own: spec copies and the like. */
  scratch: string;
  /** A private runs directory, set as SPILLWAY_RUNS_DIR for this file: `spillway down` sees this file's runs only. */
  runsDir: string;
  /** Run after all tests, last added first; a failing one does not stop the others. */
  cleanups: (() => Promise<void> | void)[];
}

/**
 * Makes a scratch directory and a private runs directory (set as
 * SPILLWAY_RUNS_DIR), and registers an afterAll that runs the cleanups,
 * restores SPILLWAY_RUNS_DIR and removes the scratch directory.
 */
export function testScratch(prefix: string): TestScratch {
  const scratch = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const runsDir = join(scratch, "runs");
  mkdirSync(runsDir);
  const savedRunsDir = process.env.SPILLWAY_RUNS_DIR;
  process.env.SPILLWAY_RUNS_DIR = runsDir;
  const cleanups: TestScratch["cleanups"] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
    if (savedRunsDir === undefined) delete process.env.SPILLWAY_RUNS_DIR;
    else process.env.SPILLWAY_RUNS_DIR = savedRunsDir;
    rmSync(scratch, { recursive: true, force: true });
  });
  return { scratch, runsDir, cleanups };
}

/** The classic spec's stack started through the library: one run, its stubs, haproxy and nginx. */
export interface ClassicStack {
  run: Run;
  stubs: RunningStubs;
  haproxy: RunningProxy;
  nginx: RunningProxy;
}

/**
 * Starts a copy of fixtures/classic.yaml through the library with the given
 * runtime. Cleanups for whatever got started (the run's teardown, then by run
 * directory or run label, and the stub fleet by pid) are pushed before each
 * part starts, so a start that fails half-way leaves nothing either.
 */
export async function startClassicStack(kind: "process" | "docker", where: TestScratch, readyTimeoutMs: number): Promise<ClassicStack> {
  const spec = loadSpecFile(writeClassicCopy(where.scratch, { frontendPort: 8080, stubBasePort: 9001 }, "lib-classic.yaml"));
  const run = createRun(kind);
  where.cleanups.push(async () => {
    await run.teardown.run();
    if (kind === "docker") await removeContainersWithLabel(RUN_LABEL, run.runId);
    else killLeftovers({ paths: [run.runDir] });
  });
  const ctx = runContext(run, createRuntime(kind, run.registry), { readyTimeoutMs });
  const plans = await planPorts(spec.model, ["haproxy", "nginx"], false);
  const stubs = await startStubs(spec.model, plans.haproxy.stubs, ctx);
  where.cleanups.push(() => {
    try {
      process.kill(stubs.fleet.pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  });
  const haproxy = await startProxy(spec.model, "haproxy", plans.haproxy, ctx);
  const nginx = await startProxy(spec.model, "nginx", plans.nginx, ctx);
  return { run, stubs, haproxy, nginx };
}

/**
 * After a CLI run that failed: nothing of it still running (found by its
 * marker and by the run directory it kept, if any), and no run record of it
 * left for `spillway down`. Returns the kept run directory and the run id it names.
 */
export function expectFailedRunLeftNothing(marker: string, stderr: string, runsDir: string): { kept: string | null; runId: string | undefined } {
  const kept = keptRunDir(stderr);
  const left = findProcesses({ marker, paths: kept ? [kept] : [] });
  expect(left, `left running:\n${describeProcesses(left)}`).toEqual([]);
  const runId = kept ? /spillway-run-(.+)-[^-]+$/.exec(kept)?.[1] : undefined;
  if (runId) expect(readdirSync(runsDir), "run record left for `spillway down`").not.toContain(`${runId}.json`);
  return { kept, runId };
}
