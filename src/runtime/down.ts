import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDockerClient, isDockerodeMissing, type ContainerClient } from "./docker/index.js";
import { RUN_LABEL } from "./docker-runtime.js";
import { pidAlive, runsDir, sweepProcessRuns, type RunRecord } from "./registry.js";

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
    dockerNote = isDockerodeMissing(err)
      ? "containers were not checked: the optional package dockerode, which the Docker runtime uses, is not installed"
      : `no Docker engine reachable (${err instanceof Error ? err.message.split("\n")[0] : String(err)}); containers were not checked`;
  }
  return { ...sweep, containers, dockerNote };
}
