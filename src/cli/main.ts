import { basename, dirname, resolve } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { SpillwayError, UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import type { LoadedSpec } from "../spec/load.js";
import type { Target } from "../spec/model.js";
import { DEFAULT_VERSIONS, parseVersion, versionText, type Version } from "../render/version.js";
import { formatDiagnostics, SpecError } from "../spec/diagnostics.js";
import { formatDuration } from "../spec/duration.js";
import type { CheckReport } from "../report/commands.js";
import { durationArg } from "./args.js";
import { colorFor } from "./color.js";
import { processIo, type Io } from "./io.js";
import { addLoadCommand } from "./load.js";
import { addMergeCommand } from "./merge.js";
import { exploreCommand, rampArg } from "./explore.js";
import { checkOutputFile, writeAll } from "./output.js";
import { PACKAGE_ROOT, PACKAGE_VERSION } from "../package-info.js";
import type { SessionOptions } from "../runtime/session.js";
import type { K8sRequest } from "./k8s.js";

/*
 * Each command loads the modules it needs when it runs, not before: zod,
 * yaml, handlebars, the runtimes and the load engine cost about 0.4 s to
 * load, and `spillway --version` or `--help` needs none of them.
 */
const loadSpecFile = async (file: string) => (await import("../spec/load.js")).loadSpecFile(file);

export type { Io } from "./io.js";

const FILE_NAME: Record<Target, string> = { haproxy: "haproxy.cfg", nginx: "nginx.conf" };

function versionOption(target: Target) {
  return new Option(`--${target}-version <x.y[.z]>`, `render for this ${target} version instead of the installed one`).argParser((v) => {
    const parsed = parseVersion(v);
    if (!parsed) throw new UsageError(`--${target}-version ${JSON.stringify(v)} is not a version such as ${versionText(DEFAULT_VERSIONS[target])}`);
    return parsed;
  });
}

/** --runtime, --image, --keep-ports, --ready-timeout: how a command brings a stack up. */
function addRuntimeOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--runtime <kind>", "run the proxies as local processes or in Docker").choices(["process", "docker"]).default("process"))
    .option("--image <name>", "image holding haproxy and nginx, for --runtime docker (default spillway/proxies:bookworm, built by .ci/docker-setup.sh)")
    .option("--keep-ports", "listen on the spec's own ports instead of free ones")
    .option("--ready-timeout <duration>", "how long a proxy may take to answer through to a stub", durationArg("--ready-timeout"), 15_000);
}

function sessionOptions(opts: { runtime: "process" | "docker"; image?: string; keepPorts?: boolean; readyTimeout: number }): SessionOptions {
  return { runtime: opts.runtime, ...(opts.image ? { image: opts.image } : {}), keepPorts: opts.keepPorts ?? false, readyTimeoutMs: opts.readyTimeout };
}

/** --capacity: a rate in requests/s, or `none` for no limit (not null: commander stores a parsed null as ""). */
function capacityArg(v: string): number | "none" {
  if (v === "none") return v;
  if (!/^[0-9]{1,9}(\.[0-9]+)?$/.test(v) || !(Number(v) > 0)) throw new UsageError(`--capacity ${JSON.stringify(v)} is not a rate in requests/s such as 8000, or none`);
  return Number(v);
}

function targetOption() {
  return new Option("--target <target...>", "only these proxies (default: the spec's targets)").choices(["haproxy", "nginx"]);
}

/** `what`: "write X as JSON to a file"; the rest is the same for every command. */
function jsonOption(what: string) {
  return new Option("--json <file>", `${what}, or - for stdout (the text then goes to stderr)`);
}

/** Writes a command's JSON result to stdout (`-`) or a file, whole or not at all. */
async function writeJson(path: string, value: unknown, io: Io, text = `${JSON.stringify(value, null, 2)}\n`): Promise<void> {
  if (path === "-") {
    io.out(text);
    await io.flushOut?.();
    return;
  }
  await writeAll(dirname(path), { [basename(path)]: text }, { option: "--json", given: path, hint: "Give --json a file in a directory you can write to (created if missing), or - for stdout." });
}

/** Where a command's text goes: stdout, stderr when --json - holds stdout, nowhere with -q. */
function textOut(io: Io, opts: { quiet?: boolean; json?: string }): (text: string) => void {
  if (opts.quiet) return () => undefined;
  return opts.json === "-" ? io.err : io.out;
}

/*
 * Short flags mean what they mean in h2load, in every command: `spillway load`
 * mirrors it. These letters meant something else before; given now, they stop
 * with a message naming the flag to use instead of a bare "unknown option".
 */
const THREADS = "where -t is the number of worker threads (spillway load -t)";
const RATE = "where -r is --rate (spillway load -r)";
const RETIRED_SHORT_FLAGS: Record<string, { flag: string; was: string; why: string; use: string }[]> = {
  render: [{ flag: "-t", was: "--target", why: THREADS, use: "--target" }],
  check: [{ flag: "-t", was: "--target", why: THREADS, use: "--target" }],
  up: [
    { flag: "-t", was: "--target", why: THREADS, use: "--target" },
    { flag: "-r", was: "--runtime", why: RATE, use: "--runtime" },
  ],
  verify: [
    { flag: "-t", was: "--target", why: THREADS, use: "--target" },
    { flag: "-r", was: "--runtime", why: RATE, use: "--runtime" },
  ],
  load: [
    { flag: "-d", was: "--duration", why: "where -d is a file of request data and the duration is -D", use: "-D or --duration" },
    { flag: "-T", was: "--timeout", why: "where -T is a connection-active timeout, which spillway does not have", use: "--timeout" },
  ],
};

function retireShortFlags(program: Command): void {
  for (const cmd of program.commands) {
    for (const r of RETIRED_SHORT_FLAGS[cmd.name()] ?? []) {
      cmd.addOption(
        new Option(r.flag).hideHelp().argParser(() => {
          throw new UsageError(`${r.flag} no longer stands for ${r.was} in spillway ${cmd.name()}: short flags mean what they mean in h2load, ${r.why}`, `Use ${r.use}.`);
        }),
      );
    }
  }
}

/** Help shows a duration's default as the duration a user would type (5m), not milliseconds. */
function showDurationDefaults(cmd: Command): void {
  for (const o of cmd.options) {
    if (o.flags.includes("<duration>") && typeof o.defaultValue === "number" && o.defaultValueDescription === undefined) o.defaultValueDescription = formatDuration(o.defaultValue);
  }
  for (const c of cmd.commands) showDurationDefaults(c);
}

interface RenderCliOptions {
  out: string;
  target?: Target[];
  haproxyVersion?: Version;
  nginxVersion?: Version;
  quiet?: boolean;
  json?: string;
  compose?: boolean;
  k8sLoad?: number;
  scenario?: string;
  k8sTarget?: string;
  image?: string;
  k8sForwarderImage: string;
  k8sDoctor?: string;
}

/** Kept here, not imported from render/k8s.ts, so that `--help` loads none of the renderer. */
const K8S_MAX_SHARDS = 1000;
const K8S_JOB_FILE = "spillway-load-job.yaml";

function k8sShardsArg(v: string): number {
  if (!/^[0-9]{1,7}$/.test(v) || Number(v) < 1 || Number(v) > K8S_MAX_SHARDS) {
    throw new UsageError(`--k8s-load ${JSON.stringify(v)} is not a whole number of shards from 1 to ${K8S_MAX_SHARDS}`, "Give --k8s-load the number of pods to split the scenario's load over, e.g. --k8s-load 3.");
  }
  return Number(v);
}

/** The --k8s-* flags checked against each other before the spec is read; null without --k8s-load. */
function k8sRequest(opts: RenderCliOptions): K8sRequest | null {
  if (opts.k8sLoad === undefined) {
    const stray = ([["--scenario", opts.scenario], ["--k8s-target", opts.k8sTarget], ["--image", opts.image], ["--k8s-doctor", opts.k8sDoctor]] as const).find(([, v]) => v !== undefined);
    if (stray) throw new UsageError(`${stray[0]} belongs to --k8s-load, which is not given`, "Add --k8s-load N to write the Kubernetes Job, or drop the option.");
    return null;
  }
  if (opts.out === "-") throw new UsageError("--k8s-load writes spillway-load-job.yaml beside the configs: give --out a directory");
  if (opts.k8sTarget === undefined) {
    throw new UsageError(
      "--k8s-load needs --k8s-target: the URL the proxy under test answers at inside the cluster",
      "For example --k8s-target http://haproxy.loadtest.svc.cluster.local:8080/ (each pod forwards its loopback load there; see the README's \"Shards on Kubernetes\").",
    );
  }
  if (opts.image === undefined) throw new UsageError("--k8s-load needs --image: an image with sh and spillway on its PATH, which the load pods run", "For example --image registry.example.com/spillway:1.0.");
  return { shards: opts.k8sLoad, scenario: opts.scenario, target: opts.k8sTarget, image: opts.image, forwarderImage: opts.k8sForwarderImage, doctorReport: opts.k8sDoctor };
}

/** Versions from the flags, else the installed binaries, else Debian 12's. */
async function resolveVersions(opts: { haproxyVersion?: Version; nginxVersion?: Version }, io: Io, quiet: boolean) {
  const versions = {} as Record<Target, Version>;
  for (const target of ["haproxy", "nginx"] as const) {
    const given = target === "haproxy" ? opts.haproxyVersion : opts.nginxVersion;
    if (given) {
      versions[target] = given;
      continue;
    }
    const { detectVersion } = await import("../check/index.js");
    const found = await detectVersion(target);
    versions[target] = found?.version ?? DEFAULT_VERSIONS[target];
    if (!found && !quiet) io.err(`note: ${target} is not installed; rendering for ${target} ${versionText(DEFAULT_VERSIONS[target])} (use --${target}-version to choose)\n`);
  }
  return versions;
}

function selectTargets(spec: LoadedSpec, requested: Target[] | undefined): Target[] {
  if (!requested) return spec.model.targets;
  return [...new Set(requested)];
}

function printWarnings(spec: LoadedSpec, io: Io) {
  if (spec.warnings.length > 0) io.err(`${formatDiagnostics(spec.warnings)}\n`);
}

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command("spillway")
    .description("Generate, check and verify HAProxy and nginx connection-limit routing from one YAML spec.")
    .version(PACKAGE_VERSION, "-V, --version")
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 usage error, 2 invalid spec or config, 3 runtime or infrastructure failure, 4 an expectation failed.",
    );

  program
    .command("render")
    .description("render haproxy.cfg and nginx.conf from a spec, and say where nginx only approximates HAProxy")
    .argument("<spec>", "spec file (YAML)")
    .requiredOption("-o, --out <dir>", "directory to write haproxy.cfg and nginx.conf into, or - for stdout")
    .addOption(targetOption())
    .addOption(versionOption("haproxy"))
    .addOption(versionOption("nginx"))
    .option("-q, --quiet", "print only errors: no fidelity report, notes or warnings")
    .addOption(jsonOption("write the files written, the versions and the fidelity report as JSON to a file"))
    .option("--compose", "also write docker-compose.yml running the stubs and the proxies with these configs")
    .option("--k8s-load <n>", `also write spillway-load-job.yaml: a Kubernetes Indexed Job running a scenario's load as n shards (1 to ${K8S_MAX_SHARDS}), one pod each`, k8sShardsArg)
    .option("-s, --scenario <name>", "with --k8s-load: the scenario whose load the Job runs (default: the spec's only scenario)")
    .option("--k8s-target <url>", "with --k8s-load: the URL the proxy under test answers at inside the cluster, e.g. http://haproxy.loadtest.svc.cluster.local:8080/")
    .option("--image <name>", "with --k8s-load: the image the load pods run, with sh and spillway on its PATH")
    .option("--k8s-forwarder-image <name>", "with --k8s-load: the image of each pod's forwarder, with haproxy on its PATH", "haproxy:2.6")
    .option("--k8s-doctor <file>", "with --k8s-load: a spillway doctor --json report; its measured memory per connection sets the pods' memory requests")
    .action(async (file: string, opts: RenderCliOptions) => {
      if (opts.out === "-" && opts.json === "-") throw new UsageError("--out - and --json - would both write to stdout", "Give one of them a file or directory.");
      const k8s = k8sRequest(opts);
      const quiet = opts.quiet ?? false;
      const spec = await loadSpecFile(file);
      if (!quiet) printWarnings(spec, io);
      const targets = selectTargets(spec, opts.target);
      const versions = await resolveVersions(opts, io, quiet);
      const { render, formatFidelity } = await import("../render/index.js");
      const rendered = render(spec.model, { versions, generator: PACKAGE_VERSION });
      const files: Record<string, string> = Object.fromEntries(targets.map((t) => [FILE_NAME[t], rendered[t]]));
      if (opts.compose) {
        if (opts.out === "-") throw new UsageError("--compose writes files: give --out a directory");
        const { renderCompose } = await import("../render/compose.js");
        files["docker-compose.yml"] = renderCompose({
          spec: resolve(file),
          packageRoot: PACKAGE_ROOT,
          haproxyConfig: "./haproxy.cfg",
          nginxConfig: "./nginx.conf",
        });
        if (!targets.includes("haproxy")) files["haproxy.cfg"] = rendered.haproxy;
        if (!targets.includes("nginx")) files["nginx.conf"] = rendered.nginx;
      }
      if (k8s) files[K8S_JOB_FILE] = await (await import("./k8s.js")).renderK8sFile(spec, file, k8s, PACKAGE_VERSION);
      let written: string[] = [];
      if (opts.out === "-") {
        io.out(targets.map((t) => (targets.length > 1 ? `# ==> ${FILE_NAME[t]} <==\n${rendered[t]}` : rendered[t])).join("\n"));
        await io.flushOut?.();
      } else {
        written = await writeAll(opts.out, files, { option: "--out", hint: "Give --out a directory (it is created if missing), or - for stdout." });
        if (!quiet) io.err(`wrote ${written.join(", ")}\n`);
      }
      if (!quiet) io.err(`${formatFidelity(rendered.fidelity, targets, rendered.defaults)}\n`);
      if (opts.json) {
        const { renderReport } = await import("../report/commands.js");
        const shown = Object.fromEntries(targets.map((t) => [t, versionText(versions[t])]));
        await writeJson(opts.json, renderReport({ spec: file, targets, versions: shown, files: written, fidelity: rendered.fidelity }), io);
      }
      setExit(ExitCode.Ok);
    });

  program
    .command("check")
    .description("render the spec and run the real `haproxy -c` and `nginx -t` on the result")
    .argument("<spec>", "spec file (YAML)")
    .addOption(targetOption())
    .addOption(versionOption("haproxy"))
    .addOption(versionOption("nginx"))
    .option("-q, --quiet", "print only errors: a rejected config is shown, a valid one is not")
    .addOption(jsonOption("write each proxy's verdict, with its own words, as JSON to a file"))
    .action(async (file: string, opts: { target?: Target[]; haproxyVersion?: Version; nginxVersion?: Version; quiet?: boolean; json?: string }) => {
      const quiet = opts.quiet ?? false;
      const say = textOut(io, opts);
      const spec = await loadSpecFile(file);
      if (!quiet) printWarnings(spec, io);
      const targets = selectTargets(spec, opts.target);
      const versions = await resolveVersions(opts, io, quiet);
      const { render } = await import("../render/index.js");
      const { LocalConfigChecker } = await import("../check/index.js");
      const rendered = render(spec.model, { versions, generator: PACKAGE_VERSION });
      const checker = new LocalConfigChecker();
      let failed = 0;
      const results: CheckReport["results"] = [];
      for (const target of targets) {
        const result = await checker.check(target, rendered[target]);
        results.push({ target, version: versionText(versions[target]), file: FILE_NAME[target], valid: result.ok, output: result.output, places: result.places });
        if (result.ok) {
          say(`${target} ${versionText(versions[target])}: ${FILE_NAME[target]} is valid\n`);
          continue;
        }
        failed++;
        io.err(`${target} ${versionText(versions[target])} rejected the rendered ${FILE_NAME[target]}:\n${result.output}\n`);
        for (const p of result.places) {
          io.err(`  ${FILE_NAME[target]}:${p.configLine}: ${p.text}\n    produced by ${p.origin ?? "spillway's fixed part of the config"}\n`);
        }
      }
      if (opts.json) await writeJson(opts.json, { spec: file, passed: failed === 0, results } satisfies CheckReport, io);
      setExit(failed > 0 ? ExitCode.InvalidSpec : ExitCode.Ok);
    });

  program
    .command("schema")
    .description("print the JSON Schema of the spec (for editors: # yaml-language-server: $schema=...)")
    .option("-o, --out <file>", "write to this file instead of stdout")
    .action(async (opts: { out?: string }) => {
      const { specJsonSchema } = await import("../spec/schema.js");
      const text = `${JSON.stringify(specJsonSchema(), null, 2)}\n`;
      if (opts.out && opts.out !== "-") {
        await writeAll(dirname(opts.out), { [basename(opts.out)]: text }, { option: "--out", given: opts.out, hint: "Give --out a file in a directory you can write to (created if missing), or leave it out for stdout." });
      } else {
        io.out(text);
        await io.flushOut?.();
      }
      setExit(ExitCode.Ok);
    });

  addRuntimeOptions(
    program
      .command("up")
      .description("bring the proxies up in front of backend stubs and keep them up until Ctrl-C")
      .argument("<spec>", "spec file (YAML)")
      .addOption(targetOption())
      .option("--for <duration>", "stop by itself after this long", durationArg("--for"))
      .option("-q, --quiet", "print only errors: no address table (--json - gives it to a script)")
      .addOption(jsonOption("once everything is up, write its addresses as one line of JSON to a file")),
  ).action(async (file: string, opts: { target?: Target[]; for?: number; runtime: "process" | "docker"; image?: string; keepPorts?: boolean; readyTimeout: number; quiet?: boolean; json?: string }) => {
    await checkOutputFile("--json", opts.json);
    const spec = await loadSpecFile(file);
    if (!opts.quiet) printWarnings(spec, io);
    const targets = selectTargets(spec, opts.target);
    const { up } = await import("./up.js");
    const { formatUp } = await import("../report/terminal.js");
    const say = textOut(io, opts);
    const code = await up(spec.model, targets, { ...sessionOptions(opts), quiet: opts.quiet ?? false }, opts.for ?? null, io, async (report) => {
      // One line, so a script can read it while the stack stays up.
      if (opts.json) await writeJson(opts.json, report, io, `${JSON.stringify(report)}
`);
      say(formatUp(report));
    });
    setExit(code);
  });

  addRuntimeOptions(
    program
      .command("verify")
      .description("for every target and scenario: bring the stack up, drive the load, check the expectations, tear down")
      .argument("<spec>", "spec file (YAML)")
      .addOption(targetOption())
      .option("-s, --scenario <name...>", "only these scenarios")
      .addOption(jsonOption("write the report as JSON to a file"))
      .option("-q, --quiet", "print only errors: no tables or progress; a run that broke is still named, and the exit code and reports tell the rest")
      .option("--junit <file>", "write a JUnit XML report")
      .option("--html <file>", "write an HTML page with a timeline chart per target and scenario")
      .option("--ndjson <file>", "write one JSON line per request")
      .option("--max-run <duration>", "hard bound on each scenario's load", durationArg("--max-run"), 300_000)
      .option("--window <duration>", "timeline window (default: about 50 windows per run, whatever its length)", durationArg("--window"))
      .option("--no-preflight", "skip doctor's check that every run fits this machine's limits (open files, ports, conntrack, HAProxy's one process) before anything starts"),
  ).action(
    async (
      file: string,
      opts: { target?: Target[]; scenario?: string[]; json?: string; junit?: string; html?: string; ndjson?: string; maxRun: number; window?: number; runtime: "process" | "docker"; image?: string; keepPorts?: boolean; readyTimeout: number; quiet?: boolean; preflight: boolean },
    ) => {
      const spec = await loadSpecFile(file);
      if (!opts.quiet) printWarnings(spec, io);
      const { verify } = await import("./verify.js");
      const code = await verify(
        spec.model,
        {
          ...sessionOptions(opts),
          targets: selectTargets(spec, opts.target),
          ...(opts.scenario ? { scenarios: opts.scenario } : {}),
          maxRunMs: opts.maxRun,
          ...(opts.window !== undefined ? { windowMs: opts.window } : {}),
        },
        { ...(opts.json ? { json: opts.json } : {}), ...(opts.junit ? { junit: opts.junit } : {}), ...(opts.html ? { html: opts.html } : {}), ...(opts.ndjson ? { ndjson: opts.ndjson } : {}) },
        { quiet: opts.quiet ?? false, color: colorFor(opts.json === "-" ? io.isTTY : (io.outIsTTY ?? false)) },
        io,
        { preflight: opts.preflight },
      );
      setExit(code);
    },
  );

  addRuntimeOptions(
    program
      .command("explore")
      .description("measure a grid of spec and load values on every target, each cell beside the model's prediction: overflow share, errors, latency, and with --ramp the capacity knee")
      .argument("<spec>", "spec file (YAML)")
      .requiredOption("-s, --scenario <name>", "the scenario whose load every cell runs")
      .option("--vary <path=values>", "a grid axis: PATH=V1,V2,... or PATH=A..B/STEP, e.g. load.think_time=0,500ms,2s (repeat for more axes)", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .addOption(targetOption())
      .option("--ramp <stages>", "each cell's load becomes this k6-style ramp of connections, e.g. 0:10,60s:400, and its knee is reported", (v: string) => rampArg(v))
      .addOption(jsonOption("write the report as JSON to a file (written after every cell too, so --resume can continue it)"))
      .option("--csv <file>", "write one row per cell and target as CSV, or - for stdout")
      .option("--html <file>", "write a one-file page: heatmaps, the selected cell's timeline, predicted vs measured, knees, configs")
      .option("--resume <file>", "continue an interrupted exploration from its JSON report: only the cells it lacks run")
      .option("--max-run <duration>", "hard bound on each cell's load", durationArg("--max-run"), 120_000)
      .option("--window <duration>", "timeline window (default: about 50 windows per cell)", durationArg("--window"))
      .option("-q, --quiet", "print only errors: no tables or progress; a cell that broke is still named")
      .option("--no-preflight", "skip doctor's check that every run fits this machine's limits (open files, ports, conntrack, HAProxy's one process) before anything starts")
      .addHelpText(
        "after",
        [
          "",
          "Cells whose only change from the previous one is load keys run on the same proxies and stubs.",
          "Ctrl-C stops the cell under way, tears everything down and still writes the reports with the",
          "cells measured so far; --resume with the JSON report measures the rest.",
          "",
          "Exit status: 0 every cell measured, 1 usage error, 2 invalid spec, 3 a cell could not be",
          "measured (its error is in the reports), 130 interrupted (the reports hold the cells so far).",
        ].join("\n"),
      ),
  ).action(
    async (
      file: string,
      opts: {
        scenario: string;
        vary?: string[];
        target?: Target[];
        ramp?: { duration: string; target: number }[];
        json?: string;
        csv?: string;
        html?: string;
        resume?: string;
        maxRun: number;
        window?: number;
        runtime: "process" | "docker";
        image?: string;
        keepPorts?: boolean;
        readyTimeout: number;
        quiet?: boolean;
        preflight: boolean;
      },
    ) => {
      const code = await exploreCommand(
        file,
        {
          scenario: opts.scenario,
          vary: opts.vary ?? [],
          ...(opts.target ? { targets: opts.target } : {}),
          ...(opts.ramp ? { ramp: opts.ramp } : {}),
          runtime: opts.runtime,
          ...(opts.image ? { image: opts.image } : {}),
          keepPorts: opts.keepPorts ?? false,
          readyTimeoutMs: opts.readyTimeout,
          maxRunMs: opts.maxRun,
          ...(opts.window !== undefined ? { windowMs: opts.window } : {}),
        },
        { ...(opts.json ? { json: opts.json } : {}), ...(opts.csv ? { csv: opts.csv } : {}), ...(opts.html ? { html: opts.html } : {}), ...(opts.resume ? { resume: opts.resume } : {}) },
        { quiet: opts.quiet ?? false },
        io,
        { preflight: opts.preflight },
      );
      setExit(code);
    },
  );

  program
    .command("predict")
    .description("model the proxy's connection count under each scenario's load and predict the share each rule routes and the flip point, before anything runs")
    .argument("<spec>", "spec file (YAML)")
    .addOption(targetOption())
    .option("-s, --scenario <name...>", "only these scenarios")
    .option("--capacity <req/s>", "requests per second client, proxy and stubs complete together (a measured run's req/s), or none for no limit (default 16000)", capacityArg)
    .option("--latency <duration>", "latency of every backend, in place of the stubs' own (with --capacity none: a measured p50)", durationArg("--latency"))
    .addOption(versionOption("haproxy"))
    .option("-q, --quiet", "print only errors: no tables or assumptions")
    .addOption(jsonOption("write the predictions, with their assumptions, as JSON to a file"))
    .addHelpText("after", "\nThe service time (--capacity, --latency) is the model's weakest input: the default is a capacity measured on one 2-core machine.")
    .action(async (file: string, opts: { target?: Target[]; scenario?: string[]; capacity?: number | "none"; latency?: number; haproxyVersion?: Version; quiet?: boolean; json?: string }) => {
      await checkOutputFile("--json", opts.json);
      const spec = await loadSpecFile(file);
      if (!opts.quiet) printWarnings(spec, io);
      const { runPredict } = await import("./predict.js");
      const { report, text } = await runPredict(spec, { ...opts, color: colorFor(opts.json === "-" ? io.isTTY : (io.outIsTTY ?? false)) });
      textOut(io, opts)(text);
      if (opts.json) await writeJson(opts.json, report, io);
      setExit(ExitCode.Ok);
    });

  program
    .command("doctor")
    .description("read this machine's connection limits (open files, ephemeral ports, accept queue, conntrack) and say which one each scenario meets first, at what count, and the fix")
    .argument("[spec]", "spec file (YAML); without it, only the machine's limits")
    .addOption(targetOption())
    .option("-s, --scenario <name...>", "only these scenarios")
    .option("-q, --quiet", "print only errors: the exit code says whether every scenario fits")
    .option("--no-measure", "do not start nginx and HAProxy to measure memory per connection (a few seconds); memory is then not checked")
    .addOption(jsonOption("write the machine's limits and each scenario's verdict as JSON to a file"))
    .addHelpText("after", "\nExit status: 0 every scenario fits (or no spec), 1 usage error, 2 invalid spec, 3 a scenario does not fit on this machine as it is.")
    .action(async (file: string | undefined, opts: { target?: Target[]; scenario?: string[]; quiet?: boolean; json?: string; measure: boolean }) => {
      await checkOutputFile("--json", opts.json);
      const spec = file === undefined ? null : await loadSpecFile(file);
      if (spec && !opts.quiet) printWarnings(spec, io);
      if (!spec && (opts.scenario || opts.target)) throw new UsageError(`${opts.scenario ? "--scenario" : "--target"} needs a spec`, "Give the spec file: spillway doctor spec.yaml --scenario NAME.");
      const { runDoctor } = await import("./doctor.js");
      const { report, text } = await runDoctor(spec, file ?? null, opts);
      textOut(io, opts)(text);
      if (opts.json) await writeJson(opts.json, report, io);
      setExit(report.fits ? ExitCode.Ok : ExitCode.Infrastructure);
    });

  addLoadCommand(program, io, setExit);
  addMergeCommand(program, io, setExit);

  program
    .command("stubs")
    .description("run only the backend stubs, on the spec's own addresses, until Ctrl-C (docker-compose.yml uses this)")
    .argument("<spec>", "spec file (YAML)")
    .action(async (file: string) => {
      const spec = await loadSpecFile(file);
      const { runStubs } = await import("./up.js");
      setExit(await runStubs(spec.model, io));
    });

  program
    .command("down")
    .description("remove what crashed runs left behind: proxy and stub processes, containers, run directories")
    .option("--all", "also stop runs that are still in progress")
    .option("-q, --quiet", "print only errors, not what was removed")
    .addOption(jsonOption("write what was stopped and removed as JSON to a file"))
    .action(async (opts: { all?: boolean; quiet?: boolean; json?: string }) => {
      const { down } = await import("../runtime/index.js");
      const { formatDown } = await import("../report/terminal.js");
      const result = await down({ all: opts.all ?? false });
      if (opts.json) await writeJson(opts.json, result, io);
      textOut(io, opts)(formatDown(result));
      setExit(ExitCode.Ok);
    });

  retireShortFlags(program);
  showDurationDefaults(program);
  return program;
}

/** Runs the CLI and returns the exit code; user errors never show a stack trace. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = ExitCode.Ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  if (argv.length === 0) {
    io.err(program.helpInformation());
    return ExitCode.Usage;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    // Whatever a command printed must have reached stdout for it to count as done.
    await io.flushOut?.();
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return ExitCode.Ok;
      return ExitCode.Usage;
    }
    if (err instanceof SpillwayError) {
      io.err(`${err instanceof SpecError ? "" : "spillway: "}${err.message}\n${err.hint ? `${err.hint}\n` : ""}`);
      return err.exitCode;
    }
    io.err(`spillway: internal error (please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.Infrastructure;
  }
}
