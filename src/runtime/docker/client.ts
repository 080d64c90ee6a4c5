import type Docker from "dockerode";
import { InfraError } from "../../errors.js";
import { demuxDockerLog } from "./demux.js";
import type {
  ContainerClient,
  ContainerSpec,
  ContainerState,
  ImageInfo,
  StartedContainer,
} from "./types.js";

export const DEFAULT_SOCKET_PATH = "/var/run/docker.sock";
export const DOCKERD_FLAGS = "--storage-driver=vfs --bridge=none --iptables=false --ip-masq=false";

/** Bounds every engine request so a hung engine cannot hang a run. */
const REQUEST_TIMEOUT_MS = 30_000;
const PING_TIMEOUT_MS = 10_000;
/** Grace period `stop()` gives a proxy before the engine kills it. */
const STOP_GRACE_SECONDS = 2;
/** Log lines kept from a container at removal, so logs() still answers afterwards. */
const KEPT_LOG_LINES = 2_000;
const WAIT_POLL_MS = 100;

interface EngineError {
  statusCode?: number;
  json?: unknown;
  code?: string;
  message?: string;
}

function asEngineError(err: unknown): EngineError {
  return typeof err === "object" && err !== null ? (err as EngineError) : { message: String(err) };
}

function statusOf(err: unknown): number | undefined {
  return asEngineError(err).statusCode;
}

/** The engine's own words: its JSON `message` when it sent one, else the transport error. */
export function engineMessage(err: unknown): string {
  const e = asEngineError(err);
  const json = e.json;
  if (typeof json === "object" && json !== null && "message" in json) {
    const m = (json as { message: unknown }).message;
    if (typeof m === "string" && m.trim() !== "") return m.trim();
  }
  if (typeof json === "string" && json.trim() !== "") return json.trim();
  if (Buffer.isBuffer(json) && json.length > 0) return json.toString("utf8").trim();
  return (e.message ?? String(err)).trim();
}

function missingImageError(name: string): InfraError {
  return new InfraError(
    `image ${name} is not present locally and nothing can be pulled here; ` +
      `build it with bash .ci/docker-setup.sh or pass --image`,
  );
}

/** dockerode is missing: spillway was installed without its optional dependencies. */
class DockerodeMissing extends InfraError {
  constructor() {
    super(
      "the Docker runtime needs the package dockerode, which is not installed (it is an optional dependency of spillway)",
      "Install it where spillway is installed: npm install dockerode. Or run the proxies as local processes: --runtime process.",
    );
  }
}

export function isDockerodeMissing(err: unknown): boolean {
  return err instanceof DockerodeMissing;
}

let dockerode: Promise<typeof Docker> | undefined;

/**
 * dockerode and what it pulls in (ssh2, native cpu-features) are loaded when
 * the Docker runtime first talks to an engine, and only then: an install
 * without optional dependencies runs everything else.
 */
function loadDockerode(): Promise<typeof Docker> {
  dockerode ??= import("dockerode").then(
    (m) => m.default,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ERR_MODULE_NOT_FOUND" && err.message.includes("'dockerode'")) throw new DockerodeMissing();
      throw new InfraError(`the Docker runtime cannot load dockerode: ${err.message}`, "Reinstall it (npm install dockerode), or use --runtime process.");
    },
  );
  return dockerode;
}

interface Endpoint {
  options: Docker.DockerOptions | undefined;
  description: string;
}

/**
 * An explicit socket wins, then DOCKER_HOST, then the default socket. A unix
 * socket is passed with `host` and `protocol` set explicitly because
 * docker-modem merges DOCKER_HOST's defaults under whatever it is given, and a
 * tcp DOCKER_HOST would otherwise override the socket.
 */
function resolveEndpoint(socketPath: string | undefined, env: NodeJS.ProcessEnv): Endpoint {
  const unix = (path: string): Endpoint => ({
    options: { socketPath: path, host: undefined, protocol: "http", timeout: REQUEST_TIMEOUT_MS },
    description: `unix://${path}`,
  });
  if (socketPath !== undefined) return unix(socketPath);
  const dockerHost = env["DOCKER_HOST"];
  if (dockerHost === undefined || dockerHost === "") return unix(DEFAULT_SOCKET_PATH);
  if (dockerHost.startsWith("unix://")) return unix(dockerHost.slice("unix://".length) || DEFAULT_SOCKET_PATH);
  // tcp://, ssh://, TLS: docker-modem reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself.
  return { options: { timeout: REQUEST_TIMEOUT_MS }, description: dockerHost };
}

function unreachableError(endpoint: string, err: unknown): InfraError {
  const e = asEngineError(err);
  const why = e.code ?? engineMessage(err);
  const permission = e.code === "EACCES" ? " You lack permission on the socket: run as root or join the docker group." : "";
  return new InfraError(
    `cannot reach the Docker engine at ${endpoint} (${why}).${permission} ` +
      `Start one as root with \`dockerd ${DOCKERD_FLAGS}\` (bash .ci/docker-setup.sh does this and builds the image), ` +
      `or set DOCKER_HOST to a running engine, or use --runtime process.`,
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function lastLines(text: string, n: number): string {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-n).join("\n");
}

class DockerStartedContainer implements StartedContainer {
  readonly id: string;
  readonly name: string;
  private readonly container: Docker.Container;
  private stopping: Promise<void> | undefined;
  private keptLogs: string | undefined;

  constructor(container: Docker.Container, name: string) {
    this.container = container;
    this.id = container.id;
    this.name = name;
  }

  async logs(tailLines?: number): Promise<string> {
    if (this.keptLogs !== undefined) {
      return tailLines === undefined ? this.keptLogs : lastLines(this.keptLogs, tailLines);
    }
    return this.fetchLogs(tailLines);
  }

  private async fetchLogs(tailLines?: number): Promise<string> {
    try {
      const buf = await this.container.logs({
        stdout: true,
        stderr: true,
        follow: false,
        ...(tailLines === undefined ? {} : { tail: tailLines }),
      });
      return demuxDockerLog(buf).combined;
    } catch (err) {
      if (statusOf(err) === 404) throw this.goneError();
      throw new InfraError(`could not read the logs of container ${this.name}: ${engineMessage(err)}`);
    }
  }

  async state(): Promise<ContainerState> {
    try {
      const info = await this.container.inspect();
      const running = info.State.Running;
      const started = info.State.StartedAt !== "" && !info.State.StartedAt.startsWith("0001-");
      return { running, exitCode: running || !started ? null : info.State.ExitCode };
    } catch (err) {
      if (statusOf(err) === 404) throw this.goneError();
      throw new InfraError(`could not inspect container ${this.name}: ${engineMessage(err)}`);
    }
  }

  async wait(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.state();
      if (!s.running && s.exitCode !== null) return s.exitCode;
      if (Date.now() >= deadline) {
        const tail = await this.fetchLogs(20).catch(() => "(logs unavailable)");
        throw new InfraError(
          `container ${this.name} was still running after ${timeoutMs} ms; its last log lines:\n${tail}`,
        );
      }
      await sleep(WAIT_POLL_MS);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopAndRemove();
    return this.stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private async stopAndRemove(): Promise<void> {
    try {
      await this.container.stop({ t: STOP_GRACE_SECONDS });
    } catch (err) {
      // 304: already stopped; 404: already removed. Anything else, remove() below forces it.
      const status = statusOf(err);
      if (status === 404) {
        this.keptLogs ??= "";
        return;
      }
    }
    this.keptLogs = await this.fetchLogs(KEPT_LOG_LINES).catch(() => "");
    try {
      await this.container.remove({ force: true, v: true });
    } catch (err) {
      const status = statusOf(err);
      // 404: gone; 409: the engine is already removing it.
      if (status !== 404 && status !== 409) {
        this.stopping = undefined;
        throw new InfraError(`could not remove container ${this.name}: ${engineMessage(err)}`);
      }
    }
  }

  private goneError(): InfraError {
    return new InfraError(`container ${this.name} (${this.id.slice(0, 12)}) no longer exists`);
  }
}

class DockerContainerClient implements ContainerClient {
  readonly endpoint: string;
  private readonly options: Docker.DockerOptions | undefined;
  private docker: Promise<Docker> | undefined;

  constructor(endpoint: Endpoint) {
    this.endpoint = endpoint.description;
    this.options = endpoint.options;
  }

  /** The engine client, made on first use; its own errors (dockerode missing, a bad DOCKER_HOST) are not the engine's. */
  private engine(): Promise<Docker> {
    this.docker ??= loadDockerode().then((Dockerode) => {
      try {
        return new Dockerode(this.options);
      } catch (err) {
        throw new InfraError(`DOCKER_HOST=${this.endpoint} is not usable: ${engineMessage(err)}`);
      }
    });
    return this.docker;
  }

  async ping(): Promise<void> {
    const docker = await this.engine();
    try {
      await withTimeout(
        docker.ping(),
        PING_TIMEOUT_MS,
        () => Object.assign(new Error(`no answer within ${PING_TIMEOUT_MS} ms`), { code: "ETIMEDOUT" }),
      );
    } catch (err) {
      throw unreachableError(this.endpoint, err);
    }
  }

  async version(): Promise<string> {
    const docker = await this.engine();
    try {
      return (await docker.version()).Version;
    } catch (err) {
      throw unreachableError(this.endpoint, err);
    }
  }

  async image(name: string): Promise<ImageInfo> {
    const docker = await this.engine();
    try {
      const info = await docker.getImage(name).inspect();
      return {
        id: info.Id,
        digest: info.RepoDigests?.[0] ?? null,
        created: info.Created,
        labels: { ...(info.Config?.Labels ?? {}) },
      };
    } catch (err) {
      if (statusOf(err) === 404) throw missingImageError(name);
      if (statusOf(err) === undefined) throw unreachableError(this.endpoint, err);
      throw new InfraError(`could not inspect image ${name}: ${engineMessage(err)}`);
    }
  }

  async start(spec: ContainerSpec): Promise<StartedContainer> {
    for (const b of spec.binds) {
      if (!b.hostPath.startsWith("/") || !b.containerPath.startsWith("/")) {
        throw new InfraError(
          `container ${spec.name}: bind mount paths must be absolute (got ${b.hostPath} -> ${b.containerPath})`,
        );
      }
    }
    const docker = await this.engine();
    let container: Docker.Container;
    try {
      container = await docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Cmd: spec.cmd,
        Labels: spec.labels,
        ...(spec.env === undefined ? {} : { Env: spec.env }),
        HostConfig: {
          NetworkMode: "host",
          AutoRemove: false,
          // Mounts rather than Binds: with Binds the engine silently creates a
          // missing host path as an empty directory; Mounts refuses it.
          Mounts: spec.binds.map((b) => ({
            Type: "bind" as const,
            Source: b.hostPath,
            Target: b.containerPath,
            ReadOnly: b.readOnly,
          })),
          ...(spec.ulimitNofile === undefined
            ? {}
            : { Ulimits: [{ Name: "nofile", Soft: spec.ulimitNofile, Hard: spec.ulimitNofile }] }),
        },
      });
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) throw missingImageError(spec.image);
      if (status === 409) {
        throw new InfraError(
          `container name ${spec.name} is already in use: ${engineMessage(err)}. ` +
            `A previous run may have left it behind; spillway down removes leftovers.`,
        );
      }
      if (status === undefined) throw unreachableError(this.endpoint, err);
      throw new InfraError(`could not create container ${spec.name} from ${spec.image}: ${engineMessage(err)}`);
    }
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw new InfraError(`could not start container ${spec.name} from ${spec.image}: ${engineMessage(err)}`);
    }
    return new DockerStartedContainer(container, spec.name);
  }

  async removeByLabel(key: string, value?: string): Promise<string[]> {
    const docker = await this.engine();
    let list: Docker.ContainerInfo[];
    try {
      list = await docker.listContainers({
        all: true,
        filters: { label: [value === undefined ? key : `${key}=${value}`] },
      });
    } catch (err) {
      if (statusOf(err) === undefined) throw unreachableError(this.endpoint, err);
      throw new InfraError(`could not list containers: ${engineMessage(err)}`);
    }
    const removed: string[] = [];
    const failures: string[] = [];
    for (const info of list) {
      const name = (info.Names[0] ?? info.Id.slice(0, 12)).replace(/^\//, "");
      try {
        await docker.getContainer(info.Id).remove({ force: true, v: true });
        removed.push(name);
      } catch (err) {
        const status = statusOf(err);
        if (status === 404 || status === 409) removed.push(name);
        else failures.push(`${name}: ${engineMessage(err)}`);
      }
    }
    if (failures.length > 0) {
      throw new InfraError(
        `could not remove ${failures.length} container(s) labelled ${key}${value === undefined ? "" : `=${value}`}:\n` +
          failures.join("\n") +
          (removed.length > 0 ? `\nremoved: ${removed.join(", ")}` : ""),
      );
    }
    return removed;
  }
}

/**
 * A client for the Docker engine at `opts.socketPath`, else DOCKER_HOST, else
 * /var/run/docker.sock. Nothing is loaded or contacted until the first call.
 */
export function createDockerClient(opts: { socketPath?: string; env?: NodeJS.ProcessEnv } = {}): ContainerClient {
  return new DockerContainerClient(resolveEndpoint(opts.socketPath, opts.env ?? process.env));
}

/** The image the Docker runtime uses unless told otherwise. */
export function defaultProxyImage(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env["SPILLWAY_DOCKER_IMAGE"];
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : "spillway/proxies:bookworm";
}
