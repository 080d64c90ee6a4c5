import type { Version } from "../render/index.js";
import type { Target } from "../spec/model.js";
import type { Teardown } from "./teardown.js";

/** What a runtime knows of the proxy it would run. */
export interface ProxyInfo {
  version: Version;
  /** `haproxy -vv` / `nginx -V` output, or the image's id and digest. */
  details: string;
}

export interface ProxyLaunch {
  target: Target;
  runId: string;
  /** A writable directory for this proxy: config, pid file, temp paths, socket. */
  dir: string;
  /** The rendered config file inside `dir`. */
  config: string;
  log: string;
}

export interface StartedProxy {
  readonly target: Target;
  /** A pid or a container name. */
  readonly id: string;
  /** Descriptor of where it runs, for reports: `pid 1234` or `container spillway-...`. */
  readonly where: string;
  logs(tailLines?: number): Promise<string>;
  running(): Promise<boolean>;
  /** Stops it for good. Safe to call twice. */
  stop(): Promise<void>;
}

/** Runs a proxy: as a local process, or in a container. */
export interface ProxyRuntime {
  readonly kind: "process" | "docker";
  inspect(target: Target): Promise<ProxyInfo>;
  /** Starts the proxy and registers its stop with `teardown` before returning. */
  start(launch: ProxyLaunch, teardown: Teardown): Promise<StartedProxy>;
}
