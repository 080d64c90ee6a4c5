import { createDockerClient, defaultProxyImage, type ContainerClient } from "./docker/index.js";
import { DockerRuntime } from "./docker-runtime.js";
import { ProcessRuntime } from "./process.js";
import type { RunRegistry } from "./registry.js";
import type { ProxyRuntime } from "./types.js";

export type RuntimeKind = "process" | "docker";

export function createRuntime(kind: RuntimeKind, registry: RunRegistry | null, opts: { image?: string; client?: ContainerClient } = {}): ProxyRuntime {
  if (kind === "process") return new ProcessRuntime(registry);
  return new DockerRuntime(opts.client ?? createDockerClient(), opts.image ?? defaultProxyImage());
}
