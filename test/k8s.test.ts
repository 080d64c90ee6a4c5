import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Job } from "kubernetes-models/batch/v1/Job";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { LOAD_FLAGS } from "../src/cli/load.js";
import { buildProgram } from "../src/cli/main.js";
import { parseLoadProfile } from "../src/index.js";
import { shardProfile } from "../src/load/shard.js";
import { loadSpecFile, loadSpecText } from "../src/spec/load.js";
import type { Model, Scenario } from "../src/spec/model.js";

import { k8sLoadJob as renderK8sLoadJob } from "../src/cli/k8s.js";
import { jobName, K8sProblem, type K8sLoadOptions } from "../src/render/k8s.js";
import { BIN, runCli } from "./helpers/cli.js";

const FIXTURES = ["fixtures/classic.yaml", "fixtures/edges.yaml", "fixtures/explore-keepalive.yaml", "fixtures/explore-ramp.yaml", "fixtures/test/small.yaml", "fixtures/test/slow.yaml", "fixtures/test/wrong-threshold.yaml"];
const TARGET = "http://haproxy.loadtest.svc.cluster.local:8080/";
const BASE = { target: TARGET, image: "registry.example.com/spillway:1.0", forwarderImage: "haproxy:2.6", generator: "test" } satisfies Partial<K8sLoadOptions>;

/** The kubelet's reading of `$(NAME)` and `$$` in a container's command and arguments (k8s.io/kubernetes third_party/forked/golang/expansion). */
function kubeletExpand(s: string, env: Record<string, string>): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== "$" || i + 1 >= s.length) {
      out += s[i];
      continue;
    }
    const next = s[i + 1];
    if (next === "$") {
      out += "$";
      i++;
    } else if (next === "(") {
      const end = s.indexOf(")", i + 2);
      if (end === -1) {
        out += s.slice(i);
        break;
      }
      const name = s.slice(i + 2, end);
      out += env[name] ?? `$(${name})`;
      i = end;
    } else {
      out += `$${next}`;
      i++;
    }
  }
  return out;
}

function documents(text: string): [Record<string, unknown>, Record<string, unknown>] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error("no documents");
  for (const d of docs) expect(d.errors).toEqual([]);
  expect(docs).toHaveLength(2);
  return [docs[0]!.toJS() as Record<string, unknown>, docs[1]!.toJS() as Record<string, unknown>];
}

/**
 * The Kubernetes schemas leave objects open, so a misspelt key would pass
 * validate(): every key the renderer writes is also looked up among the
 * properties kubernetes-models declares for the type at that place.
 */
const MODELS = join(import.meta.dirname, "..", "node_modules", "kubernetes-models");
const TYPE_FILES: Record<string, string> = {
  Job: "batch/v1/Job.d.ts",
  JobSpec: "batch/v1/JobSpec.d.ts",
  ConfigMap: "v1/ConfigMap.d.ts",
  ObjectMeta: "../@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta.d.ts",
  PodTemplateSpec: "v1/PodTemplateSpec.d.ts",
  PodSpec: "v1/PodSpec.d.ts",
  PodSecurityContext: "v1/PodSecurityContext.d.ts",
  Sysctl: "v1/Sysctl.d.ts",
  Container: "v1/Container.d.ts",
  ContainerPort: "v1/ContainerPort.d.ts",
  Probe: "v1/Probe.d.ts",
  HTTPGetAction: "v1/HTTPGetAction.d.ts",
  VolumeMount: "v1/VolumeMount.d.ts",
  Volume: "v1/Volume.d.ts",
  ConfigMapVolumeSource: "v1/ConfigMapVolumeSource.d.ts",
  EmptyDirVolumeSource: "v1/EmptyDirVolumeSource.d.ts",
};
/** Where a key's value has a type of its own; a key not listed holds a scalar, a string list, or a free map (labels, data). */
const CHILD_TYPES: Record<string, Record<string, string>> = {
  Job: { metadata: "ObjectMeta", spec: "JobSpec" },
  ConfigMap: { metadata: "ObjectMeta" },
  JobSpec: { template: "PodTemplateSpec" },
  PodTemplateSpec: { metadata: "ObjectMeta", spec: "PodSpec" },
  PodSpec: { securityContext: "PodSecurityContext", initContainers: "Container", containers: "Container", volumes: "Volume" },
  PodSecurityContext: { sysctls: "Sysctl" },
  Container: { ports: "ContainerPort", startupProbe: "Probe", volumeMounts: "VolumeMount" },
  Probe: { httpGet: "HTTPGetAction" },
  Volume: { configMap: "ConfigMapVolumeSource", emptyDir: "EmptyDirVolumeSource" },
};

function declaredKeys(type: string): Set<string> {
  const text = readFileSync(join(MODELS, TYPE_FILES[type]!), "utf8");
  const start = text.indexOf("export interface");
  const body = text.slice(start, text.indexOf("\n}", start));
  return new Set([...body.matchAll(/^\s+"([A-Za-z0-9]+)"\??:/gm)].map((m) => m[1]!));
}

/** Keys at `path` that the type there does not declare. */
function unknownKeys(value: unknown, type: string, path = type): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => unknownKeys(v, type, `${path}[${i}]`));
  const known = declaredKeys(type);
  expect(known.size).toBeGreaterThan(0);
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    if (!known.has(k)) return [`${path}.${k}`];
    const child = CHILD_TYPES[type]?.[k];
    return child ? unknownKeys(v, child, `${path}.${k}`) : [];
  });
}

type JobShape = {
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    completionMode: string;
    completions: number;
    parallelism: number;
    backoffLimit: number;
    ttlSecondsAfterFinished: number;
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        restartPolicy: string;
        securityContext?: { sysctls: { name: string; value: string }[] };
        initContainers: { name: string; restartPolicy: string }[];
        containers: { name: string; command: string[]; args: string[]; volumeMounts: { mountPath: string }[] }[];
        volumes: { name: string; emptyDir?: object }[];
      };
    };
  };
};

/** The spec's load keys from a `spillway load` command line, read by the CLI's own option parsers, as cli/load.ts reads them. */
function readLoadArgs(argv: string[]): { url: string; input: Record<string, unknown>; shard: { index: number; count: number } | undefined } {
  let captured: { url: string; input: Record<string, unknown>; shard: { index: number; count: number } | undefined } | null = null;
  const program = buildProgram(
    { out: () => undefined, err: (t: string) => process.stderr.write(t) } as never,
    () => undefined,
  );
  const load = program.commands.find((c) => c.name() === "load")!;
  load.action((url: string, opts: { shard?: { index: number; count: number } }, cmd: Command) => {
    const input: Record<string, unknown> = {};
    for (const [key, long] of Object.entries(LOAD_FLAGS)) {
      const opt = cmd.options.find((o) => o.long === long)!;
      const attr = opt.attributeName();
      if (cmd.getOptionValueSource(attr) !== "cli") continue;
      const [outer, inner] = key.split(".") as [string, string | undefined];
      const value: unknown = cmd.getOptionValue(attr);
      if (inner === undefined) input[outer] = value;
      else input[outer] = { ...(input[outer] as Record<string, unknown> | undefined), [inner]: value };
    }
    captured = { url, input, shard: opts.shard };
  });
  program.parse(argv, { from: "user" });
  if (captured === null) throw new Error(`spillway load did not run for ${argv.join(" ")}`);
  return captured;
}

describe("render --k8s-load: the Indexed Job against the Kubernetes API's schema", () => {
  const cases = FIXTURES.flatMap((file) => loadSpecFile(file).model.scenarios.map((s) => ({ file, scenario: s.name })));

  it.each(cases)("$file $scenario: renders for N = 1, 3, 16, each object valid, each shard's command a valid load that adds up to the scenario's", ({ file, scenario: name }) => {
    const model = loadSpecFile(file).model;
    expect(renderedFor(model, model.scenarios.find((s) => s.name === name)!)).toBeGreaterThan(0);
  });

  // Every load key the fixtures leave out, so each flag is read back at least once.
  const everyKey = loadSpecText(
    `version: 1
frontends: { web: { bind: "127.0.0.1:18080", default_backend: b } }
backends: { b: { servers: 1 } }
scenarios:
  stages-h1: { load: { protocol: h1, connections: 40, stages: [{ duration: 0s, target: 4 }, { duration: 90s, target: 40 }, { duration: 500ms, target: 0 }], think_time: 250ms, keep_alive: { close_after_requests: 7, close_after_idle: 2s }, reconnect: false, source_addresses: [127.0.0.2, 127.0.0.3], workers: 2, timeout: 3s, warmup: 1s } }
  open-model: { load: { connections: 50, streams: 8, arrival_rate: 900, duration: 45s, requests: 10000, budget: pooled } }
  bursts: { load: { h2load: "-c64 -m10 -n6400 --rate=16 --rate-period=250ms -t4" } }
  close: { load: { protocol: h1-close, connections: 20, requests: 100, path: /probe/x } }
`,
    "every-key.yaml",
  ).model;
  it.each([
    ["stages-h1", 3],
    ["open-model", 3],
    // 16 shards of --rate=16 give each a burst of 1, below its -t 4.
    ["bursts", 2],
    ["close", 3],
  ] as const)("every load key, scenario %s: each shard's command reads back to the scenario's load (%i of N = 1, 3, 16 render)", (name, count) => {
    expect(renderedFor(everyKey, everyKey.scenarios.find((s) => s.name === name)!)).toBe(count);
  });
});

/** Renders the scenario for N = 1, 3 and 16 and checks each rendering; how many rendered (a shard split may refuse, as `load --shard` does). */
function renderedFor(model: Model, scenario: Scenario): number {
  let rendered = 0;
  for (const n of [1, 3, 16]) {
    let out;
    try {
      out = renderK8sLoadJob(model, { ...BASE, scenario, shards: n });
    } catch (err) {
      // A valid scenario may not split N ways (more shards than connections, or a --rate share below -t), as `spillway load --shard` refuses too.
      expect(err).toBeInstanceOf(K8sProblem);
      expect((err as Error).message).toMatch(new RegExp(`^--k8s-load ${n}: (${n} shards are more than the load's ${scenario.load.connections} connection|this shard's share of --rate is)`));
      continue;
    }
    rendered++;
    const [cm, jobObject] = documents(out.text);
    expect(() => new ConfigMap(cm as never).validate()).not.toThrow();
    expect(() => new Job(jobObject as never).validate()).not.toThrow();
    expect(unknownKeys(cm, "ConfigMap")).toEqual([]);
    expect(unknownKeys(jobObject, "Job")).toEqual([]);
    const job = jobObject as unknown as JobShape;
    expect(job.spec).toMatchObject({ completionMode: "Indexed", completions: n, parallelism: n, backoffLimit: 0 });
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.initContainers.map((c) => [c.name, c.restartPolicy])).toEqual([["forwarder", "Always"]]);
    expect(pod.volumes.find((v) => v.name === "results")?.emptyDir).toEqual({});
    expect(job.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(job.metadata.name.length + 1 + String(n - 1).length).toBeLessThanOrEqual(63);
    expect(job.metadata.annotations["spillway.dev/scenario"]).toBe(scenario.name);
    expect(out.text).toContain("spillway merge part-*.json");

    const [container] = pod.containers;
    const script = kubeletExpand(container!.command[2]!, {});
    expect(script).toContain(`--shard "$i/${n}"`);
    const args = container!.args.map((a) => kubeletExpand(a, {}));
    expect(args.slice(0, 2)).toEqual(["spillway", "load"]);
    const shares: number[] = [];
    for (let i = 1; i <= n; i++) {
      // The script appends these to "$@"; JOB_COMPLETION_INDEX is i - 1.
      const read = readLoadArgs([...args.slice(1), "--shard", `${i}/${n}`, "--json", `/results/part-${i}.json`, "-q"]);
      expect(read.shard).toEqual({ index: i, count: n });
      expect(read.url).toBe(`http://127.0.0.1:${model.frontends.find((f) => f.name === scenario.frontend)!.bind.port}${scenario.load.path ?? "/"}`);
      const whole = parseLoadProfile(read.input as never, { url: read.url });
      const { path: _path, ...load } = scenario.load;
      expect(Object.fromEntries(Object.keys(load).map((k) => [k, whole[k as keyof typeof whole]]))).toEqual(load);
      shares.push(shardProfile(whole, { index: i, count: n }, whole.workers).connections);
    }
    expect(shares).toEqual(out.shards.map((s) => s.connections));
    expect(shares.reduce((a, b) => a + b, 0)).toBe(scenario.load.connections);
  }
  return rendered;
}

describe("render --k8s-load: what the Job may not be", () => {
  it("the validation can fail: a Job whose completions is a string, or whose completion mode is not a string, is refused", () => {
    const model = loadSpecFile("fixtures/classic.yaml").model;
    const [, jobObject] = documents(renderK8sLoadJob(model, { ...BASE, scenario: model.scenarios[0]!, shards: 3 }).text);
    const job = jobObject as unknown as JobShape;
    expect(() => new Job(jobObject as never).validate()).not.toThrow();
    expect(() => new Job({ ...job, spec: { ...job.spec, completions: "3" } } as never).validate()).toThrow(/completions must be integer/);
    // The schema takes a misspelt key; the key check does not.
    expect(() => new Job({ ...job, spec: { ...job.spec, completionMod: "Indexed" } } as never).validate()).not.toThrow();
    expect(unknownKeys({ ...job, spec: { ...job.spec, completionMod: "Indexed" } }, "Job")).toEqual(["Job.spec.completionMod"]);
    expect(() => new Job({ ...job, spec: { ...job.spec, completionMode: 1 } } as never).validate()).toThrow(/completionMode must be string/);
    const containers = job.spec.template.spec.containers.map((c) => ({ ...c, args: 3 }));
    expect(() => new Job({ ...job, spec: { ...job.spec, template: { ...job.spec.template, spec: { ...job.spec.template.spec, containers } } } } as never).validate()).toThrow(/args must be array/);
  });

  it("a shard too large for one pod's ephemeral ports asks for the wide port range, a safe sysctl, and no more", () => {
    const text = `version: 1
frontends: { web: { bind: "127.0.0.1:18080", default_backend: b } }
backends: { b: { servers: 1 } }
scenarios:
  hold: { load: { connections: 100000, duration: 30s, source_addresses: [127.0.0.2, 127.0.0.3, 127.0.0.4, 127.0.0.5] } }
`;
    const model = loadSpecText(text, "hold.yaml").model;
    const scenario = model.scenarios[0]!;
    const wide = documents(renderK8sLoadJob(model, { ...BASE, scenario, shards: 3 }).text)[1] as unknown as JobShape;
    expect(wide.spec.template.spec.securityContext?.sysctls).toEqual([{ name: "net.ipv4.ip_local_port_range", value: "1024 65535" }]);
    const narrow = documents(renderK8sLoadJob(model, { ...BASE, scenario, shards: 4 }).text)[1] as unknown as JobShape;
    expect(narrow.spec.template.spec.securityContext).toBeUndefined();
    expect(() => renderK8sLoadJob(model, { ...BASE, scenario, shards: 1 })).toThrow(/up to 100000 connections.*at most 64512 ephemeral ports/);
  });
});

describe("render --k8s-load: hostile values reach the YAML as values", () => {
  const model = loadSpecText(
    `version: 1
frontends: { web: { bind: "127.0.0.1:18080", default_backend: b } }
backends: { b: { servers: 1 } }
scenarios:
  X_-: { load: { connections: 4, requests: 40 } }
  x--: { load: { connections: 4, requests: 40 } }
`,
    "hostile.yaml",
  ).model;

  it("a target path with $(...), quotes and a YAML key reaches the process as typed, through the kubelet's expansion", () => {
    const target = "http://proxy.ns.svc:8080/$(JOB_COMPLETION_INDEX)/a'b\"c%0Ahost:%20x?$$=1&k=%7B%7D";
    const out = renderK8sLoadJob(model, { ...BASE, target, scenario: model.scenarios[0]!, shards: 2 });
    const [cm, jobObject] = documents(out.text);
    expect(() => new Job(jobObject as never).validate()).not.toThrow();
    const job = jobObject as unknown as JobShape;
    const url = kubeletExpand(job.spec.template.spec.containers[0]!.args[2]!, { JOB_COMPLETION_INDEX: "0" });
    expect(url).toBe(`http://127.0.0.1:18080${new URL(target).pathname}${new URL(target).search}`);
    expect(Object.keys(job.spec.template.spec)).not.toContain("hostNetwork");
    expect((cm as { data: Record<string, string> }).data["haproxy.cfg"]).toContain("server target proxy.ns.svc:8080\n");
  });

  it("a scenario with WebSocket sessions is refused: spillway load takes them from a spec only, so the pods would drop them", () => {
    const ws = loadSpecText(
      `version: 1
frontends: { web: { bind: "127.0.0.1:18080", default_backend: b } }
backends: { b: { servers: 1 } }
scenarios:
  chat: { load: { connections: 4, requests: 40, websockets: { connections: 10, session: 10s } } }
`,
      "ws.yaml",
    ).model;
    expect(ws.scenarios[0]!.load.websockets).not.toBeNull();
    expect(() => renderK8sLoadJob(ws, { ...BASE, scenario: ws.scenarios[0]!, shards: 2 })).toThrow(/scenario 'chat' holds WebSocket sessions, which spillway load takes from a spec only/);
  });

  it("scenario names that differ only where a DNS name cannot show it get distinct valid Job names", () => {
    const names = model.scenarios.map((s) => jobName(s.name));
    expect(new Set(names).size).toBe(2);
    for (const n of names) expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(jobName("a".repeat(63)).length).toBeLessThanOrEqual(59);
  });

  it.each([
    ["a newline in the target", { target: "http://proxy.ns.svc:8080/\nhostNetwork: true" }, /--k8s-target .* holds a space or a control character/],
    ["a target host that is no DNS name", { target: "http://proxy_ns:8080/" }, /is neither an IP address nor a DNS name/],
    ["a target that is not http", { target: "file:///etc/passwd" }, /scheme file: is not http: or https:/],
    ["an image with a newline", { image: "spillway\nhostNetwork: true" }, /--image .* is not an image reference/],
    ["a forwarder image with a space", { forwarderImage: "haproxy 2.6" }, /--k8s-forwarder-image .* is not an image reference/],
  ])("%s is refused", (_what, change, message) => {
    expect(() => renderK8sLoadJob(model, { ...BASE, scenario: model.scenarios[0]!, shards: 2, ...change })).toThrow(message);
  });
});

describe("spillway render --k8s-load: the CLI", () => {
  const dir = mkdtempSync(join(tmpdir(), "spillway-k8s-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const k8s = ["--k8s-target", TARGET, "--image", BASE.image];

  it("writes spillway-load-job.yaml beside the configs, a valid Job", () => {
    const out = join(dir, "ok");
    const r = runCli(["render", "fixtures/classic.yaml", "-o", out, "--k8s-load", "3", "--scenario", "over-threshold", ...k8s, "-q"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [, job] = documents(readFileSync(join(out, "spillway-load-job.yaml"), "utf8"));
    expect(() => new Job(job as never).validate()).not.toThrow();
    expect(readFileSync(join(out, "haproxy.cfg"), "utf8")).toContain("frontend webserver");
  });

  it.each(["0", "1.5", "three", "1001", "-2"])("--k8s-load %s: exit 1, saying what it takes", (n) => {
    const r = runCli(["render", "fixtures/classic.yaml", "-o", join(dir, "bad"), "--k8s-load", n, "--scenario", "over-threshold", ...k8s]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--k8s-load .* is not a whole number of shards from 1 to 1000|option '--k8s-load <n>' argument missing/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    ["no --k8s-target", ["--image", "x:1"], /--k8s-load needs --k8s-target/],
    ["no --image", ["--k8s-target", TARGET], /--k8s-load needs --image/],
    ["two scenarios and no --scenario", [...k8s], /has 2 scenarios: say which one's load the Job runs\nGive --scenario, one of: under-threshold, over-threshold/],
    ["an unknown scenario", [...k8s, "--scenario", "nope"], /no scenario named 'nope'/],
    ["more shards than connections", [...k8s, "--scenario", "over-threshold", "--k8s-load", "311"], /--k8s-load 311: 311 shards are more than the load's 310 connections/],
  ])("%s: exit 1", (_what, flags, message) => {
    const args = ["render", "fixtures/classic.yaml", "-o", join(dir, "bad"), ...flags];
    if (!flags.includes("--k8s-load")) args.push("--k8s-load", "3");
    const r = runCli(args);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(1);
  });

  it("--image without --k8s-load: exit 1", () => {
    const r = runCli(["render", "fixtures/classic.yaml", "-o", join(dir, "bad"), "--image", "x:1"]);
    expect(r.stderr).toMatch(/--image belongs to --k8s-load/);
    expect(r.code).toBe(1);
  });

  it("--k8s-doctor: a real doctor report's measured memory per connection, times the largest shard's connections, is each container's memory request", () => {
    const report = join(dir, "doctor.json");
    const d = runCli(["doctor", "fixtures/classic.yaml", "--scenario", "over-threshold", "--json", report, "-q"]);
    expect(d.stderr).toBe("");
    const memory = (JSON.parse(readFileSync(report, "utf8")) as { memory: { driver: number; haproxy: number | null; kernel: number } | null }).memory;
    expect(memory, "doctor measured no memory here: nginx and HAProxy must be installed").not.toBeNull();
    const out = join(dir, "measured");
    const r = runCli(["render", "fixtures/classic.yaml", "-o", out, "--k8s-load", "3", "--scenario", "over-threshold", ...k8s, "--k8s-doctor", report, "-q"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [, jobObject] = documents(readFileSync(join(out, "spillway-load-job.yaml"), "utf8"));
    expect(() => new Job(jobObject as never).validate()).not.toThrow();
    const pod = (jobObject as { spec: { template: { spec: { containers: { resources?: unknown }[]; initContainers: { resources?: unknown }[] } } } }).spec.template.spec;
    // 310 connections in 3 shards: 104, 103, 103; every pod is sized for the largest.
    expect(pod.containers[0]!.resources).toEqual({ requests: { memory: `${Math.ceil((memory!.driver + memory!.kernel) * 104)}Ki` } });
    expect(pod.initContainers[0]!.resources).toEqual({ requests: { memory: `${Math.ceil((memory!.haproxy! + memory!.kernel) * 104)}Ki` } });

    // Without a report, and with one that measured nothing (--no-measure), no memory is requested.
    const unmeasured = join(dir, "doctor-unmeasured.json");
    expect(runCli(["doctor", "fixtures/classic.yaml", "--no-measure", "--json", unmeasured, "-q"]).stderr).toBe("");
    for (const extra of [[], ["--k8s-doctor", unmeasured]]) {
      const none = join(dir, `unmeasured-${extra.length}`);
      expect(runCli(["render", "fixtures/classic.yaml", "-o", none, "--k8s-load", "3", "--scenario", "over-threshold", ...k8s, ...extra, "-q"]).code).toBe(0);
      const text = readFileSync(join(none, "spillway-load-job.yaml"), "utf8");
      expect(JSON.stringify(documents(text)[1])).not.toContain("resources");
      expect(text).toContain("Memory: no request is set");
    }
  });

  it.each([
    ["a file that is not there", "missing.json", null, 1, /--k8s-doctor .*missing.json: cannot read it \(ENOENT\)/],
    ["a file that is not JSON", "text.json", "memory: 3", 2, /--k8s-doctor .*text.json is not JSON/],
    ["JSON that is no doctor report", "other.json", `{"requests": {}}`, 2, /is not a spillway doctor report/],
    ["a report whose memory is not KiB", "bad.json", `{"facts": {}, "memory": {"driver": "8", "kernel": 1, "haproxy": null, "connections": 1000}}`, 2, /its "memory" is not doctor's KiB per connection/],
  ])("--k8s-doctor with %s: exit %i", (_what, name, content, code, message) => {
    const file = join(dir, name);
    if (content !== null) writeFileSync(file, content);
    const r = runCli(["render", "fixtures/classic.yaml", "-o", join(dir, "bad"), "--k8s-load", "3", "--scenario", "over-threshold", ...k8s, "--k8s-doctor", file]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(code);
  });

  it("a spec without scenarios, or a scenario without a load: exit 2, naming it", () => {
    const none = join(dir, "none.yaml");
    writeFileSync(none, `version: 1\nfrontends: { web: { bind: "127.0.0.1:18080", default_backend: b } }\nbackends: { b: { servers: 1 } }\n`);
    const r1 = runCli(["render", none, "-o", join(dir, "none"), "--k8s-load", "2", ...k8s]);
    expect(r1.stderr).toMatch(/has no scenarios: --k8s-load runs a scenario's load/);
    expect(r1.code).toBe(2);
    const noLoad = join(dir, "noload.yaml");
    writeFileSync(noLoad, `version: 1\nfrontends: { web: { bind: "127.0.0.1:18080", default_backend: b } }\nbackends: { b: { servers: 1 } }\nscenarios:\n  idle: { expect: { errors: "0" } }\n`);
    const r2 = runCli(["render", noLoad, "-o", join(dir, "noload"), "--k8s-load", "2", ...k8s]);
    expect(r2.stderr).toMatch(/noload.yaml:5:3: error: missing required key 'load' \(scenarios.idle\)/);
    expect(r2.code).toBe(2);
  });
});



/**
 * A port free on 127.0.0.1 at the time of asking, below the ephemeral range
 * (32768-60999 here): other runs on this machine open thousands of
 * connections from ephemeral ports, and one of them may take a port between
 * this check and HAProxy's bind.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/*
 * No cluster runs here, so the pod is played on loopback with its real parts:
 * the rendered forwarder config in the real HAProxy, the load container's
 * command through a real sh with JOB_COMPLETION_INDEX set as the Job
 * controller sets it, and the built spillway as `spillway` on the PATH. The
 * only change to the rendered text: the health frontend binds 127.0.0.1 on a
 * free port instead of every address on 8404.
 */
describe("render --k8s-load: each pod's command, run as the pod runs it", () => {
  const dir = mkdtempSync(join(tmpdir(), "spillway-k8s-pod-"));
  const procs: ChildProcess[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  let served = 0;
  const server = http2.createServer();
  server.on("session", (s) => sessions.add(s));
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200, "x-spillway-backend": ["main-1", "main-2"][served++ % 2]! });
    stream.end("ok");
  });
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill("SIGTERM");
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("three shards through the forwarder to a real h2c server: every part printed and written, merged totals those of the scenario", async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const backendPort = (server.address() as AddressInfo).port;
    const frontendPort = await freePort();
    const healthPort = await freePort();
    const model = loadSpecText(
      `version: 1
frontends: { web: { bind: "127.0.0.1:${frontendPort}", default_backend: main } }
backends: { main: { servers: 2 } }
scenarios:
  pod: { load: { connections: 7, streams: 4, requests: 1000 } }
`,
      "pod.yaml",
    ).model;
    const n = 3;
    const resultsDir = join(dir, "results");
    mkdirSync(resultsDir);
    const out = renderK8sLoadJob(model, { ...BASE, target: `http://127.0.0.1:${backendPort}/`, scenario: model.scenarios[0]!, shards: n, resultsDir });
    const [cm, jobObject] = documents(out.text);
    const config = (cm as { data: Record<string, string> }).data["haproxy.cfg"]!;
    expect(config).toContain("    bind :8404\n");
    const cfgFile = join(dir, "haproxy.cfg");
    writeFileSync(cfgFile, config.replace("    bind :8404\n", `    bind 127.0.0.1:${healthPort}\n`));
    const forwarder = spawn("haproxy", ["-db", "-f", cfgFile], { stdio: ["ignore", "ignore", "pipe"] });
    procs.push(forwarder);
    let forwarderSaid = "";
    forwarder.stderr!.on("data", (d) => (forwarderSaid += d));
    // The startup probe's question, asked of the health frontend until it answers.
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${healthPort}/ready`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (i > 100) throw new Error(`the forwarder never answered its startup probe; HAProxy said:\n${forwarderSaid}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(BIN, join(bin, "spillway"));
    const container = (jobObject as unknown as JobShape).spec.template.spec.containers[0]!;
    const parts = await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const env = { PATH: `${bin}:${process.env.PATH ?? ""}`, JOB_COMPLETION_INDEX: String(i) };
        const [cmd, ...rest] = [...container.command, ...container.args].map((a) => kubeletExpand(a, env));
        return run(cmd!, rest, env);
      }),
    );
    for (const [i, p] of parts.entries()) {
      expect(p.stderr).toBe("");
      expect(p.code).toBe(0);
      expect(p.stdout).toBe(readFileSync(join(resultsDir, `part-${i + 1}.json`), "utf8"));
      expect(JSON.parse(p.stdout).shard).toMatchObject({ index: i + 1, count: n });
    }
    const merged = runCli(["merge", ...Array.from({ length: n }, (_, i) => join(resultsDir, `part-${i + 1}.json`)), "--json", "-", "-q"]);
    expect(merged.stderr).toBe("");
    expect(merged.code).toBe(0);
    const result = JSON.parse(merged.stdout) as { requests: { sent: number; succeeded: number }; connections: { opened: number }; statuses: Record<string, number> };
    expect(result.requests, JSON.stringify({ statuses: result.statuses, served, sessions: sessions.size })).toMatchObject({ sent: 1000, succeeded: 1000 });
    expect(result.connections.opened).toBe(7);
    // One to one: the server behind the forwarder saw one connection per driver connection.
    expect(sessions.size).toBe(7);
    expect(served).toBe(1000);
  }, 90_000);
});
