import { writeFileSync } from "node:fs";
import { InfraError } from "../errors.js";
import { parseVersion } from "../render/index.js";
import type { Target } from "../spec/model.js";
import type { ContainerClient } from "./docker/index.js";
import { openFileLimit } from "./limits.js";
import { proxyArgs } from "./process.js";
import type { Teardown } from "./teardown.js";
import type { ProxyInfo, ProxyLaunch, ProxyRuntime, StartedProxy } from "./types.js";

export const RUN_LABEL = "spillway.run";

/**
 * Runs the proxies in containers with host networking, so every address
 * stays on 127.0.0.1. The run directory is mounted at the same path inside
 * the container (read-write, for the pid file, temp paths and the stats
 * socket) and the rendered config over it read-only, so the config is the
 * same text the process runtime runs.
 */
export class DockerRuntime implements ProxyRuntime {
  readonly kind = "docker" as const;
  private readonly infos = new Map<Target, Promise<ProxyInfo>>();

  constructor(
    private readonly client: ContainerClient,
    readonly image: string,
  ) {}

  inspect(target: Target): Promise<ProxyInfo> {
    let info = this.infos.get(target);
    if (!info) {
      info = this.inspectUncached(target);
      this.infos.set(target, info);
    }
    return info;
  }

  private async inspectUncached(target: Target): Promise<ProxyInfo> {
    await this.client.ping();
    const image = await this.client.image(this.image);
    const label = image.labels[`spillway.${target}.version`];
    const version = label ? parseVersion(label) : null;
    if (!version) {
      throw new InfraError(
        `image ${this.image} does not say which ${target} it holds (label spillway.${target}.version)`,
        "Build the image with bash .ci/docker-setup.sh, or label yours: docker import --change 'LABEL spillway.haproxy.version=2.6.12 spillway.nginx.version=1.22.1' ...",
      );
    }
    return {
      version,
      details: `image ${this.image} id ${image.id}${image.digest ? ` digest ${image.digest}` : ""} created ${image.created}; ${target} ${label}; engine ${await this.client.version()} at ${this.client.endpoint}`,
    };
  }

  async start(launch: ProxyLaunch, teardown: Teardown): Promise<StartedProxy> {
    const name = `spillway-${launch.runId}-${launch.target}`;
    const starting = this.client.start({
      name,
      image: this.image,
      cmd: [launch.target, ...proxyArgs(launch.target, launch)],
      binds: [
        { hostPath: launch.dir, containerPath: launch.dir, readOnly: false },
        { hostPath: launch.config, containerPath: launch.config, readOnly: true },
      ],
      labels: { [RUN_LABEL]: launch.runId, "spillway.target": launch.target },
      ulimitNofile: openFileLimit().soft,
    });
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        const container = await starting.catch(() => null);
        if (!container) return;
        await container.stop();
        // Keep the proxy's words with the run's other files.
        writeFileSync(launch.log, await container.logs());
      })();
      return stopping;
    };
    // Registered before the engine answers, so a signal arriving now still removes the container.
    teardown.add(`${launch.target} (container ${name})`, stop);
    const container = await starting;
    return {
      target: launch.target,
      id: container.name,
      where: `container ${container.name}`,
      logs: (n) => container.logs(n),
      running: async () => {
        try {
          return (await container.state()).running;
        } catch {
          return false;
        }
      },
      stop,
    };
  }
}
