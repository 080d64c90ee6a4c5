import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { InfraError } from "../errors.js";
import { detectVersion, requireBinary } from "../check/index.js";
import { run } from "../check/binaries.js";
import type { Target } from "../spec/model.js";
import { childPids, type RunRegistry } from "./registry.js";
import type { Teardown } from "./teardown.js";
import type { ProxyInfo, ProxyLaunch, ProxyRuntime, StartedProxy } from "./types.js";

export function tailFile(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export function proxyArgs(target: Target, launch: { dir: string; config: string }): string[] {
  return target === "haproxy"
    ? ["-db", "-f", launch.config]
    : ["-p", `${launch.dir}/`, "-c", launch.config, "-e", "stderr", "-g", "daemon off;"];
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Runs the system's haproxy and nginx as child processes on loopback. */
export class ProcessRuntime implements ProxyRuntime {
  readonly kind = "process" as const;

  constructor(private readonly registry: RunRegistry | null = null) {}

  async inspect(target: Target): Promise<ProxyInfo> {
    const binary = requireBinary(target);
    const found = await detectVersion(target);
    if (!found) throw new InfraError(`cannot tell the version of ${binary}`, `Run ${binary} -v by hand to see what is wrong.`);
    const details = await run(binary, [target === "haproxy" ? "-vv" : "-V"]);
    return { version: found.version, details: `${binary}\n${`${details.stdout}${details.stderr}`.trim()}` };
  }

  async start(launch: ProxyLaunch, teardown: Teardown): Promise<StartedProxy> {
    const binary = requireBinary(launch.target);
    const logFd = openSync(launch.log, "a");
    let child: ChildProcess;
    try {
      child = spawn(binary, proxyArgs(launch.target, launch), { cwd: launch.dir, stdio: ["ignore", logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
        const workers = childPids(child.pid);
        child.kill("SIGTERM");
        if (await waitExit(child, 5000)) return;
        child.kill("SIGKILL");
        for (const w of workers) {
          try {
            process.kill(w, "SIGKILL");
          } catch {
            // gone with its master
          }
        }
        if (!(await waitExit(child, 2000))) throw new Error(`${launch.target} (pid ${child.pid}) did not exit after SIGKILL`);
      })();
      return stopping;
    };
    // Registered before anything is awaited, so a signal arriving now still stops it.
    teardown.add(`${launch.target} (pid ${child.pid ?? "not started"})`, stop);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (err) =>
        reject(new InfraError(`cannot start ${binary}: ${err.message}`, `Install ${launch.target} or set SPILLWAY_${launch.target.toUpperCase()}.`)),
      );
    });
    const pid = child.pid!;
    this.registry?.addProcess(pid, launch.target, launch.dir);
    return {
      target: launch.target,
      id: String(pid),
      where: `pid ${pid}`,
      logs: async (n) => tailFile(launch.log, n),
      running: async () => child.exitCode === null && child.signalCode === null,
      stop,
    };
  }
}
