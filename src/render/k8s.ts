/**
 * `spillway render --k8s-load N`: one scenario's load as a Kubernetes
 * Indexed Job, one pod per shard, each pod running `spillway load --shard
 * i/N` as a local run would.
 *
 * spillway drives load only at loopback addresses (load/profile.ts,
 * resolveLoopback), and a cluster's proxy sits behind a Service, which is
 * not loopback. Rather than a copy of spillway that lifts that refusal, each
 * pod carries a forwarder: HAProxy in TCP mode, a native sidecar listening on
 * 127.0.0.1 at the frontend's port and passing every connection on, one to
 * one, to the Service. The driver's connections stay on loopback, and the
 * proxy under test still sees one connection per driver connection, so
 * connection-count rules hold as in a local run.
 *
 * Pure: the caller writes the text. Every value from the spec or the flags
 * reaches the YAML through the `yaml` package's stringify, never through a
 * template, and reaches the pod's shell only as a positional argument.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { Document } from "yaml";
import { profileFor } from "../spec/load-profile.js";
import { formatDuration } from "../spec/duration.js";
import { MAX_TIMER_MS } from "../spec/limits.js";
import type { Frontend, Model, Scenario } from "../spec/model.js";

/** The most shards one Job is rendered with: a pod each, all scheduled at once. */
export const MAX_K8S_SHARDS = 1000;

/** Linux's default ip_local_port_range, 32768-60999: what a pod has unless it sets the sysctl. */
const DEFAULT_EPHEMERAL_PORTS = 60999 - 32768 + 1;
/** The widest range the pod asks for: below 1024 are the privileged ports. */
const WIDE_PORT_RANGE = { low: 1024, high: 65535 };
const WIDE_EPHEMERAL_PORTS = WIDE_PORT_RANGE.high - WIDE_PORT_RANGE.low + 1;

/** Descriptors the forwarder holds besides two per forwarded connection: listeners, the health frontend, its own pipes and logs. */
const FORWARDER_FIXED_FDS = 32;
/** HAProxy's `monitor-uri` port, probed by the kubelet at the pod's address; the load itself is forwarded on 127.0.0.1 only. */
const HEALTH_PORT = 8404;
const HEALTH_PATH = "/ready";
/** A day to read the parts from the pods' logs before the Job and its pods are removed. */
const TTL_SECONDS_AFTER_FINISHED = 86_400;

/** What a user asked for that cannot be rendered: the CLI gives it exit 1. */
export class K8sProblem extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface K8sLoadOptions {
  /** The scenario whose load the Job runs. */
  scenario: Scenario;
  shards: number;
  /** Where the proxy under test answers inside the cluster: http(s)://SERVICE[.NAMESPACE.svc]:PORT/. */
  target: string;
  /** An image with `sh` and `spillway` on its PATH. */
  image: string;
  /** An image with `haproxy` on its PATH, for the forwarder. */
  forwarderImage: string;
  /** spillway's version, written into the header. */
  generator: string;
  /** Where each pod writes its part; a volume is mounted there. */
  resultsDir?: string;
}

/**
 * What the driver's own modules say of the split, worked out by the caller
 * (cli/k8s.ts) so that rendering imports no engine: each shard's connections
 * as `spillway load --shard i/N` opens them, and the descriptors the driver
 * holds besides its connections (doctor's measured figure).
 */
export interface K8sShardPlan {
  shardConnections: number[];
  driverFixedFds: number;
  /** doctor's measured growth per connection, in KiB (a `spillway doctor --json` report's `memory`); null: none given, and no memory is requested. */
  memory?: { driver: number; haproxy: number | null; kernel: number; connections: number } | null;
}

/** Memory in KiB as Kubernetes writes a quantity, rounded up. */
function kibQuantity(kib: number): string {
  return `${Math.ceil(kib)}Ki`;
}

/** One shard as its pod runs it, for callers (and tests) that check the command without a cluster. */
export interface K8sShard {
  index: number;
  /** `spillway load` and its arguments, before `--shard`, `--json` and `-q`, which the pod's script appends. */
  argv: string[];
  connections: number;
}

export interface K8sLoadJob {
  /** The ConfigMap holding the forwarder's config, then the Job. */
  objects: [Record<string, unknown>, Record<string, unknown>];
  text: string;
  name: string;
  shards: K8sShard[];
}

/**
 * The script each pod runs, with `spillway load ...` as its positional
 * arguments: shard numbers count from 1 (load/shard.ts), the Job's index
 * from 0. The part is written to the results volume and printed on stdout,
 * where `kubectl logs` can read it after the pod has finished; `kubectl cp`
 * cannot, as it needs a running container.
 */
export function shardScript(shards: number, resultsDir: string): string {
  return [
    "set -e",
    "i=$((JOB_COMPLETION_INDEX + 1))",
    `part="${resultsDir}/part-$i.json"`,
    `"$@" --shard "$i/${shards}" --json "$part" -q`,
    'cat "$part"',
  ].join("\n");
}

/**
 * The kubelet expands `$(NAME)` in a container's command and arguments and
 * reads `$$` as `$`; doubling every `$` hands the text to the process as it is.
 */
export function escapeKubeletExpansion(s: string): string {
  return s.split("$").join("$$");
}

/** The load's keys as `spillway load` flags (cli/load.ts LOAD_FLAGS), each value in the form its flag parses back to the same key. */
export function loadFlags(l: Scenario["load"]): string[] {
  const out: string[] = [];
  const flag = (name: string, value: string | number) => out.push(name, String(value));
  flag("--protocol", l.protocol);
  flag("--clients", l.connections);
  flag("--max-concurrent-streams", l.streams);
  if (l.connectRate !== null) {
    flag("--rate", l.connectRate);
    flag("--rate-period", formatDuration(l.connectPeriodMs));
  }
  flag("--budget", l.budget);
  if (l.requests !== null) flag("--requests", l.requests);
  if (l.durationMs !== null) flag("--duration", formatDuration(l.durationMs));
  if (l.warmupMs > 0) flag("--warmup", formatDuration(l.warmupMs));
  if (l.stages !== null) flag("--stages", l.stages.map((s) => `${formatDuration(s.durationMs)}:${s.target}`).join(","));
  if (l.arrivalRate !== null) flag("--arrival-rate", l.arrivalRate);
  if (l.thinkTimeMs > 0) flag("--think-time", formatDuration(l.thinkTimeMs));
  // h1-close is one request per connection by itself; the flag beside it would say so twice.
  if (l.closeAfterRequests !== null && l.protocol !== "h1-close") flag("--close-after", l.closeAfterRequests);
  if (l.closeAfterIdleMs !== null) flag("--close-idle", formatDuration(l.closeAfterIdleMs));
  if (!l.reconnect) out.push("--no-reconnect");
  for (const a of l.sourceAddresses) flag("--source-address", a);
  flag("--workers", l.workers);
  flag("--timeout", formatDuration(l.timeoutMs));
  return out;
}

/** The target URL checked for a cluster: a DNS name or IP, a port, http or https. */
interface ClusterTarget {
  scheme: "http" | "https";
  host: string;
  port: number;
  path: string;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

export function parseClusterTarget(text: string): ClusterTarget {
  const hint = "Give --k8s-target the URL the proxy answers at inside the cluster, e.g. http://haproxy.loadtest.svc.cluster.local:8080/.";
  // The URL parser drops tabs and newlines silently; a target that holds one was not typed as meant.
  if (/[\s\x00-\x1f\x7f]/.test(text)) throw new K8sProblem(`--k8s-target ${JSON.stringify(text)} holds a space or a control character`, hint);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new K8sProblem(`--k8s-target ${JSON.stringify(text)} is not a URL`, hint);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new K8sProblem(`--k8s-target ${JSON.stringify(text)}: scheme ${url.protocol} is not http: or https:`, hint);
  if (url.username || url.password) throw new K8sProblem(`--k8s-target ${JSON.stringify(text)}: credentials in the URL are not supported`, hint);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) === 0 && !DNS_NAME.test(host)) throw new K8sProblem(`--k8s-target ${JSON.stringify(text)}: ${JSON.stringify(host)} is neither an IP address nor a DNS name`, hint);
  const scheme = url.protocol === "https:" ? "https" : "http";
  return { scheme, host, port: url.port ? Number(url.port) : scheme === "https" ? 443 : 80, path: (url.pathname || "/") + url.search };
}

/** An image reference as a container runtime reads it: no spaces or control characters, no scheme. */
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$/;

function checkImage(flag: string, image: string): void {
  if (!IMAGE.test(image)) {
    throw new K8sProblem(`${flag} ${JSON.stringify(image)} is not an image reference such as registry.example.com/spillway:1.0`, `Give ${flag} an image name, without spaces or a scheme.`);
  }
}

/** A DNS-1123 name for the Job from the scenario's name: lower case, and a hash of the exact name so that `A_b` and `a-b` stay apart. */
export function jobName(scenario: string): string {
  const slug = scenario
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  const hash = createHash("sha256").update(scenario).digest("hex").slice(0, 6);
  // Pods of an Indexed Job are named NAME-INDEX and their hostname must fit 63 characters: 999 takes 4 with the dash.
  const base = `spillway-load-${slug}`.slice(0, 63 - 4 - 7).replace(/-$/, "");
  return `${base}-${hash}`;
}

/** HAProxy's address syntax for a server: a bare IPv6 address needs its family prefix. */
function haproxyAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `ipv6@${host}:${port}` : `${host}:${port}`;
}

/** The forwarder's config: every timeout longer than the run, so the forwarder never ends a connection the driver or the proxy under test would keep. */
export function forwarderConfig(o: { listenPort: number; target: ClusterTarget; maxconn: number; connectMs: number; idleMs: number }): string {
  return [
    "# Generated by spillway: forwards each connection of the driver, on loopback, to the proxy under test.",
    "global",
    `    maxconn ${o.maxconn}`,
    // The forwarder must hold its port alone: a listener sharing it through SO_REUSEPORT would take a share of the driver's connections.
    "    noreuseport",
    "defaults",
    "    mode tcp",
    `    timeout connect ${o.connectMs}ms`,
    `    timeout client ${o.idleMs}ms`,
    `    timeout server ${o.idleMs}ms`,
    "frontend load",
    `    bind 127.0.0.1:${o.listenPort}`,
    "    default_backend target",
    "frontend health",
    "    mode http",
    `    bind :${o.listenPort === HEALTH_PORT ? HEALTH_PORT + 1 : HEALTH_PORT}`,
    `    monitor-uri ${HEALTH_PATH}`,
    "backend target",
    `    server target ${haproxyAddress(o.target.host, o.target.port)}`,
    "",
  ].join("\n");
}

function frontendOf(model: Model, scenario: Scenario): Frontend {
  const f = model.frontends.find((x) => x.name === scenario.frontend);
  if (!f) throw new Error(`scenario ${scenario.name} names frontend ${scenario.frontend}, which the validated spec does not hold`);
  return f;
}

/** A load `spillway load` can run from flags: WebSocket sessions only a spec gives, so a pod's command would drop them. */
export function checkShardableLoad(scenario: Scenario): void {
  if (scenario.load.websockets !== null) {
    throw new K8sProblem(
      `scenario '${scenario.name}' holds WebSocket sessions, which spillway load takes from a spec only, not as flags: each pod would run its HTTP requests without them`,
      "Give --scenario a scenario whose load has no websockets: key.",
    );
  }
}

/** The URL each pod's driver sends to: loopback at the frontend's own port, where the forwarder listens. */
export function shardUrl(model: Model, scenario: Scenario, target: string): string {
  const t = parseClusterTarget(target);
  // The driver asks for 127.0.0.1 at the frontend's own port, so its :authority is the one a local run sends.
  return `${t.scheme}://127.0.0.1:${frontendOf(model, scenario).bind.port}${scenario.load.path ?? t.path}`;
}

export function renderK8sLoadJob(model: Model, o: K8sLoadOptions, plan: K8sShardPlan): K8sLoadJob {
  checkShardableLoad(o.scenario);
  const n = o.shards;
  if (!Number.isInteger(n) || n < 1 || n > MAX_K8S_SHARDS) throw new K8sProblem(`--k8s-load ${String(n)} is not a whole number from 1 to ${MAX_K8S_SHARDS}`, "Give --k8s-load the number of shards (pods).");
  const split = plan.shardConnections;
  if (split.length !== n || split.reduce((a, b) => a + b, 0) !== o.scenario.load.connections || split.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error(`a plan of ${split.length} shards (${split.join(", ")}) is not ${n} shards of ${o.scenario.load.connections} connections`);
  }
  checkImage("--image", o.image);
  checkImage("--k8s-forwarder-image", o.forwarderImage);
  const target = parseClusterTarget(o.target);
  const resultsDir = o.resultsDir ?? "/results";
  const scenario = o.scenario;
  const frontend = frontendOf(model, scenario);
  const listenPort = frontend.bind.port;
  const url = shardUrl(model, scenario, o.target);
  const whole = profileFor(scenario.load, { url });
  const most = Math.max(...split);
  if (most > WIDE_EPHEMERAL_PORTS) {
    throw new K8sProblem(
      `--k8s-load ${n}: a shard holds up to ${most} connections, and its forwarder reaches the target from the pod's one address, with at most ${WIDE_EPHEMERAL_PORTS} ephemeral ports`,
      `Give --k8s-load at least ${Math.ceil(whole.connections / WIDE_EPHEMERAL_PORTS)}.`,
    );
  }
  const name = jobName(scenario.name);
  const argv = ["spillway", "load", url, ...loadFlags(scenario.load)];
  const idleMs = Math.min(MAX_TIMER_MS, whole.maxRunMs);
  const config = forwarderConfig({ listenPort, target, maxconn: most + 16, connectMs: Math.min(MAX_TIMER_MS, whole.timeoutMs), idleMs });
  const loadFds = most + plan.driverFixedFds;
  const forwarderFds = 2 * most + FORWARDER_FIXED_FDS;
  const widePorts = most > DEFAULT_EPHEMERAL_PORTS;
  const healthPort = listenPort === HEALTH_PORT ? HEALTH_PORT + 1 : HEALTH_PORT;
  const memory = plan.memory ?? null;
  // Socket memory is charged to the cgroup of the process holding the socket. doctor's kernel figure is both ends of a connection; the driver holds one end of each, the forwarder two, so each container is given the whole figure, a little over for the driver.
  const loadMemory = memory === null ? null : kibQuantity((memory.driver + memory.kernel) * most);
  const forwarderMemory = memory === null || memory.haproxy === null ? null : kibQuantity((memory.haproxy + memory.kernel) * most);
  const requests = (q: string | null) => (q === null ? {} : { resources: { requests: { memory: q } } });
  const labels = () => ({ "app.kubernetes.io/name": "spillway", "app.kubernetes.io/component": "load", "app.kubernetes.io/instance": name });
  const annotations = () => ({
    "spillway.dev/scenario": scenario.name,
    "spillway.dev/shards": String(n),
    "spillway.dev/open-files": `load container ${loadFds}, forwarder ${forwarderFds}`,
  });
  const configMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: `${name}-forwarder`, labels: labels(), annotations: annotations() },
    data: { "haproxy.cfg": config },
  };
  const sysctls: { name: string; value: string }[] = [];
  if (widePorts) sysctls.push({ name: "net.ipv4.ip_local_port_range", value: `${WIDE_PORT_RANGE.low} ${WIDE_PORT_RANGE.high}` });
  // Below 1024 a port is privileged; the forwarder image runs HAProxy as a user.
  if (listenPort < 1024) sysctls.push({ name: "net.ipv4.ip_unprivileged_port_start", value: String(listenPort) });
  const job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, labels: labels(), annotations: annotations() },
    spec: {
      completionMode: "Indexed",
      completions: n,
      parallelism: n,
      // A shard run again would run after the others, not beside them: the merged counts would no longer be one load's.
      backoffLimit: 0,
      ttlSecondsAfterFinished: TTL_SECONDS_AFTER_FINISHED,
      template: {
        metadata: { labels: labels(), annotations: annotations() },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          ...(sysctls.length > 0 ? { securityContext: { sysctls } } : {}),
          initContainers: [
            {
              name: "forwarder",
              image: o.forwarderImage,
              // A native sidecar (Kubernetes 1.29 and later, 1.28 with the SidecarContainers gate): it starts before the load and stops after it, so the pod completes.
              restartPolicy: "Always",
              command: ["haproxy", "-db", "-f", "/etc/spillway-forwarder/haproxy.cfg"],
              ports: [{ name: "health", containerPort: healthPort }],
              startupProbe: { httpGet: { path: HEALTH_PATH, port: healthPort }, periodSeconds: 1, failureThreshold: 60 },
              ...requests(forwarderMemory),
              volumeMounts: [{ name: "forwarder", mountPath: "/etc/spillway-forwarder", readOnly: true }],
            },
          ],
          containers: [
            {
              name: "load",
              image: o.image,
              command: ["sh", "-c", shardScript(n, resultsDir), "spillway-shard"].map(escapeKubeletExpansion),
              args: argv.map(escapeKubeletExpansion),
              ...requests(loadMemory),
              volumeMounts: [{ name: "results", mountPath: resultsDir }],
            },
          ],
          volumes: [
            { name: "forwarder", configMap: { name: `${name}-forwarder` } },
            { name: "results", emptyDir: {} },
          ],
        },
      },
    },
  };
  const header = [
    `Generated by spillway ${o.generator}: scenario load as ${n} shard${n === 1 ? "" : "s"}, one pod each, all at once.`,
    // The run's own bound, and ten minutes for scheduling and pulling images.
    `kubectl apply -f spillway-load-job.yaml; kubectl wait --for=condition=complete --timeout=${Math.ceil(whole.maxRunMs / 1000) + 600}s job/${name}`,
    "Each pod prints its part on stdout (kubectl cp cannot read a finished pod); collect and merge them:",
    `  for i in $(seq 0 ${n - 1}); do kubectl logs -c load -l batch.kubernetes.io/job-name=${name},batch.kubernetes.io/job-completion-index=$i > part-$((i + 1)).json; done`,
    "  spillway merge part-*.json",
    `The pods start within seconds of each other, not at one instant; merge aligns the parts' windows by start time.`,
    `Open files: Kubernetes sets no ulimit per pod. The load container needs ${loadFds} (its connections and ${plan.driverFixedFds} of the driver's own),`,
    `the forwarder ${forwarderFds} (two per connection): the container runtime's default limit must allow them.`,
    `Ephemeral ports: up to ${most} connections per pod, ${widePorts ? `more than Linux's default range holds, so the pod sets the safe sysctl net.ipv4.ip_local_port_range to ${WIDE_PORT_RANGE.low}-${WIDE_PORT_RANGE.high}` : "within Linux's default range"}.`,
    memory === null
      ? "Memory: no request is set: no doctor report with a measured figure per connection was given (--k8s-doctor)."
      : `Memory: requests are doctor's measured growth per connection over ${memory.connections} connections (driver ${memory.driver} KiB, HAProxy ${memory.haproxy === null ? "not measured" : `${memory.haproxy} KiB`}, kernel ${memory.kernel} KiB) x ${most} connections: a floor, without each process's own base. No limit is set: past one the kernel would end the run midway.`,
  ]
    .map((line) => ` ${line}`)
    .join("\n");
  const cmDoc = new Document(configMap);
  cmDoc.commentBefore = header;
  const text = `${cmDoc.toString({ lineWidth: 0 })}---\n${new Document(job).toString({ lineWidth: 0 })}`;
  return {
    objects: [configMap, job],
    text,
    name,
    shards: split.map((connections, i) => ({ index: i + 1, argv, connections })),
  };
}
