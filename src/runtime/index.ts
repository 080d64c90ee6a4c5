import { createDockerClient, defaultProxyImage, type ContainerClient } from "./docker/index.js";
import { DockerRuntime, RUN_LABEL } from "./docker-runtime.js";
import { ProcessRuntime } from "./process.js";
import { runsDir, sweepProcessRuns, type RunRegistry } from "./registry.js";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pidAlive, type RunRecord } from "./registry.js";
import type { ProxyRuntime } from "./types.js";

export { createRun, runContext, type Run } from "./run.js";
export { assertLoopbackStack, planPorts, startProxy, startStubs, type FrontendEndpoint, type RunContext, type RunningProxy, type RunningStubs } from "./stack.js";
export { Teardown, formatTeardownReport, type TeardownReport } from "./teardown.js";
export type { ProxyInfo, ProxyRuntime, StartedProxy } from "./types.js";
export { DockerRuntime, RUN_LABEL } from "./docker-runtime.js";
export { ProcessRuntime } from "./process.js";

export type RuntimeKind = "process" | "docker";

export function createRuntime(kind: RuntimeKind, registry: RunRegistry | null, opts: { image?: string; client?: ContainerClient } = {}): ProxyRuntime {
  if (kind === "process") return new ProcessRuntime(registry);
  return new DockerRuntime(opts.client ?? createDockerClient(), opts.image ?? defaultProxyImage());
}

export interface DownResult {
  runs: string[];
  killed: string[];
  removedDirs: string[];
  containers: string[];
  skipped: string[];
  dockerNote: string | null;
}

function dockerRunIds(): { stale: string[]; live: string[] } {
  const dir = runsDir();
  const stale: string[] = [];
  const live: string[] = [];
  if (!existsSync(dir)) return { stale, live };
  for (const name of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    try {
      const r = JSON.parse(readFileSync(join(dir, name), "utf8")) as RunRecord;
      if (r.runtime !== "docker") continue;
      (pidAlive(r.ownerPid) ? live : stale).push(r.runId);
    } catch {
      // unreadable record: nothing to go on
    }
  }
  return { stale, live };
}

/**
 * Removes what crashed runs left behind: processes, directories and
 * containers. Runs still in progress are left alone unless `all`.
 */
export async function down(opts: { all?: boolean; client?: ContainerClient } = {}): Promise<DownResult> {
  const docker = dockerRunIds();
  const sweep = sweepProcessRuns({ includeLive: opts.all ?? false });
  const containers: string[] = [];
  let dockerNote: string | null = null;
  const client = opts.client ?? createDockerClient();
  try {
    await client.ping();
    if (opts.all) containers.push(...(await client.removeByLabel(RUN_LABEL)));
    else for (const id of docker.stale) containers.push(...(await client.removeByLabel(RUN_LABEL, id)));
  } catch (err) {
    dockerNote = `no Docker engine reachable (${err instanceof Error ? err.message.split("\n")[0] : String(err)}); containers were not checked`;
  }
  return { ...sweep, containers, dockerNote };
}
