/**
 * The container surface the Docker runtime needs, kept free of dockerode so
 * callers and tests depend on this shape only.
 */

export interface BindMount {
  /** Absolute path on the host; it must exist (it is never created). */
  hostPath: string;
  /** Absolute path inside the container. */
  containerPath: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  /** Docker container name. */
  name: string;
  image: string;
  /** Command and arguments, e.g. ["haproxy", "-db", "-f", "/etc/spillway/haproxy.cfg"]. */
  cmd: string[];
  binds: BindMount[];
  /** e.g. { "spillway.run": runId }, so a sweep can find leftovers of a crashed run. */
  labels: Record<string, string>;
  env?: string[];
  /** Soft and hard RLIMIT_NOFILE inside the container. */
  ulimitNofile?: number;
}

export interface ContainerState {
  running: boolean;
  /** null while the container runs or before it ever started. */
  exitCode: number | null;
}

export interface StartedContainer extends AsyncDisposable {
  readonly id: string;
  readonly name: string;
  /**
   * stdout and stderr, demultiplexed, in the order the engine stored them.
   * After stop() this returns the logs captured just before removal.
   */
  logs(tailLines?: number): Promise<string>;
  /** InfraError if the container no longer exists (removed by someone else). */
  state(): Promise<ContainerState>;
  /**
   * Waits until the container is not running and returns its exit code.
   * InfraError naming the container, with its last log lines, after timeoutMs.
   */
  wait(timeoutMs: number): Promise<number>;
  /** Stops (short grace period) and removes. Safe to call twice or concurrently. */
  stop(): Promise<void>;
}

export interface ImageInfo {
  id: string;
  /** First repo digest; null for images built locally (docker import). */
  digest: string | null;
  /** ISO 8601. */
  created: string;
  labels: Record<string, string>;
}

export interface ContainerClient {
  /** InfraError if the engine cannot be reached, saying how to start one. */
  ping(): Promise<void>;
  /** InfraError if the image is not present locally (nothing is ever pulled). */
  image(name: string): Promise<ImageInfo>;
  /**
   * Creates and starts a container with host networking; never pulls. On any
   * failure removes what it created and throws InfraError with the engine's words.
   */
  start(spec: ContainerSpec): Promise<StartedContainer>;
  /** Force-removes every container (running or not) carrying the label; returns their names. */
  removeByLabel(key: string, value?: string): Promise<string[]>;
  /** The engine's version, e.g. "20.10.24+dfsg1". */
  version(): Promise<string>;
  /** Where this client talks to, e.g. "unix:///var/run/docker.sock". */
  readonly endpoint: string;
}
