import { createWriteStream } from "node:fs";
import { Command, Option } from "commander";
import { ExitCode } from "../exit-codes.js";
import { InfraError, UsageError } from "../errors.js";
import type { KeyNames, KeyPath, LoadInput, LoadProblem, LoadProfile } from "../load/index.js";
import { parseH2loadDuration } from "../spec/h2load-args.js";
import { formatDuration, UNIT_MS } from "../spec/duration.js";
import { MAX_TIMER_MS } from "../spec/limits.js";
import { durationArg as duration, intArg as int } from "./args.js";
import type { Io } from "./io.js";
import { checkOutputFiles, writeAll } from "./output.js";
import { basename, dirname } from "node:path";
import { BACKEND_HEADER } from "../wire.js";
import type { Shard } from "../load/shard.js";
import { isProblem, parseHostPort, type HostPort } from "../spec/address.js";

/** --nginx-status: an http:// URL of a stub_status page; its host is checked for loopback with the load's target. */
function nginxStatusArg(v: string): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new UsageError(`--nginx-status ${JSON.stringify(v)} is not a URL`, "Give the URL of nginx's stub_status page, e.g. --nginx-status http://127.0.0.1:8081/status");
  }
  if (url.protocol !== "http:") throw new UsageError(`--nginx-status ${v}: stub_status is read over http://, not ${url.protocol}`, "Give an http:// URL, e.g. http://127.0.0.1:8081/status");
  return url.href;
}

/** --haproxy-stats: HAProxy's stats socket as HOST:PORT (a `stats socket ipv4@127.0.0.1:PORT` line). */
function haproxyStatsArg(v: string): HostPort {
  const hp = parseHostPort(v);
  if (isProblem(hp)) throw new UsageError(`--haproxy-stats ${JSON.stringify(v)} ${hp.reason}`, "Give the address of HAProxy's stats socket, e.g. --haproxy-stats 127.0.0.1:9999 for `stats socket ipv4@127.0.0.1:9999`");
  return hp;
}

/**
 * --shard i/N, checked alone; its fit to the load is checked once the load is
 * known. Shards count from 1, as k6 and CI matrices (GitLab's CI_NODE_INDEX)
 * number them and as "1/3" reads aloud; 0 is refused, not guessed at, so a
 * 0-based index (a Kubernetes JOB_COMPLETION_INDEX) never runs as the wrong part.
 */
export function shardArg(v: string): Shard {
  const m = /^\s*([0-9]{1,6})\s*\/\s*([0-9]{1,6})\s*$/.exec(v);
  if (!m) throw new UsageError(`--shard ${JSON.stringify(v)} is not i/N, such as 1/3 for the first of 3 parts`, "Give --shard i/N with 1 <= i <= N.");
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new UsageError(`--shard ${v}: there must be at least 1 shard`, "Give --shard i/N with N >= 1.");
  if (index === 0) {
    throw new UsageError(
      `--shard ${v}: shards are numbered from 1 to ${count}, not from 0`,
      `Give --shard 1/${count} for the first part; from a 0-based index such as a Kubernetes JOB_COMPLETION_INDEX, give $((JOB_COMPLETION_INDEX + 1))/${count}.`,
    );
  }
  if (index > count) throw new UsageError(`--shard ${v}: there is no shard ${index} of ${count}`, `Give --shard i/${count} with 1 <= i <= ${count}.`);
  return { index, count };
}

interface LoadCliOptions {
  h2load?: string;
  connectRate?: string;
  countBy: string;
  drain: number;
  maxRun: number;
  window: number;
  json?: string;
  ndjson?: string;
  quiet?: boolean;
  shard?: Shard;
  nginxStatus?: string;
  haproxyStats?: HostPort;
  counts?: boolean;
  preflight: boolean;
  processes?: number;
}

/** --processes N: 1..64 driver processes. */
function processesArg(v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > 64) {
    throw new UsageError(`--processes ${JSON.stringify(v)} must be a whole number from 1 to 64`, "Give --processes N with 1 <= N <= 64, or leave it out: the default is the fewest processes whose open-file limits hold -c.");
  }
  return Number(v);
}

/** --rate-period as h2load reads it (a bare number is seconds), as a load's duration. */
function ratePeriodArg(v: string): string {
  const ms = parseH2loadDuration(v);
  if (ms === null || ms > MAX_TIMER_MS) throw new UsageError(`--rate-period ${JSON.stringify(v)} is not a duration such as 500ms, 2s or 2 (seconds, as h2load reads it)`);
  return formatDuration(ms);
}

/** k6's --stage grammar, comma-separated: DURATION:TARGET, e.g. 10s:100,1m30s:300,10s:0; as a load's stages. `flag` names the option in errors. */
export function stagesArg(v: string, flag = "--stages"): { duration: string; target: number }[] {
  return v.split(",").map((part, i) => {
    const m = /^\s*((?:[0-9]{1,9}(?:ms|s|m|h))+)\s*:\s*([0-9]{1,6})\s*$/.exec(part);
    if (!m) throw new UsageError(`${flag}: stage ${i + 1} ${JSON.stringify(part)} is not DURATION:TARGET such as 30s:100 (durations in ms, s, m or h, e.g. 1m30s)`);
    // k6 writes a duration in several units (1m30s); each part is one of the spec's units.
    let ms = 0;
    for (const u of m[1]!.matchAll(/([0-9]+)(ms|s|m|h)/g)) ms += Number(u[1]) * UNIT_MS[u[2] as keyof typeof UNIT_MS];
    if (ms > MAX_TIMER_MS) throw new UsageError(`${flag}: stage ${i + 1} lasts longer than ${MAX_TIMER_MS}ms, the longest timer Node accepts`);
    return { duration: formatDuration(ms), target: Number(m[2]) };
  });
}

/**
 * The long flag of `spillway load` that sets each of the load's keys: the
 * flags are built into the same input a spec's `load:` block is, and a
 * problem with a key is named by its flag.
 */
export const LOAD_FLAGS: Readonly<Record<string, string>> = {
  h2load: "--h2load",
  protocol: "--protocol",
  connections: "--clients",
  streams: "--max-concurrent-streams",
  connect_rate: "--rate",
  connect_period: "--rate-period",
  budget: "--budget",
  requests: "--requests",
  duration: "--duration",
  warmup: "--warmup",
  stages: "--stages",
  arrival_rate: "--arrival-rate",
  think_time: "--think-time",
  "keep_alive.close_after_requests": "--close-after",
  "keep_alive.close_after_idle": "--close-idle",
  reconnect: "--no-reconnect",
  source_addresses: "--source-address",
  workers: "--workers",
  timeout: "--timeout",
};

/** Flags of the run itself, beside the load's keys. */
const RUN_FLAGS: Record<string, string> = { countBy: "--count-by", drainMs: "--drain", maxRunMs: "--max-run", timelineWindowMs: "--window" };

function optionFor(cmd: Command, long: string): Option {
  const opt = cmd.options.find((o) => o.long === long);
  if (!opt) throw new Error(`spillway load has no option ${long}`);
  return opt;
}

/** Problems named by the flag that sets the key, as the user typed it. */
function flagNames(cmd: Command): KeyNames {
  const shown = (long: string) => optionFor(cmd, long).short ?? long;
  const flagOf = (path: KeyPath): string | null => {
    const keys = path.filter((k): k is string => typeof k === "string");
    for (let i = keys.length; i > 0; i--) {
      const key = keys.slice(0, i).join(".");
      const long = LOAD_FLAGS[key] ?? RUN_FLAGS[key];
      if (long) return shown(long);
    }
    return null;
  };
  return {
    name: (path) => {
      if (path[0] === "url") return "the URL";
      const flag = flagOf(path) ?? path.join(".");
      return path[0] === "stages" && typeof path[1] === "number" ? `${flag} (stage ${path[1] + 1})` : flag;
    },
    example: (key, value) => `\`${flagOf(key.split(".")) ?? key} ${value}\``,
  };
}

/**
 * The load's input from the flags: each flag's value under its key. A key
 * that --h2load or --stages may set takes its default from the load, not
 * from the flag's, so only a flag given on the command line stands for it.
 */
function inputFromFlags(cmd: Command, decidedByLoad: readonly string[]): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [key, long] of Object.entries(LOAD_FLAGS)) {
    const attr = optionFor(cmd, long).attributeName();
    const value: unknown = cmd.getOptionValue(attr);
    if (value === undefined) continue;
    if (cmd.getOptionValueSource(attr) !== "cli" && decidedByLoad.includes(key)) continue;
    const [outer, inner] = key.split(".") as [string, string | undefined];
    if (inner === undefined) input[outer] = value;
    else input[outer] = { ...(input[outer] as Record<string, unknown> | undefined), [inner]: value };
  }
  return input;
}

/** `spillway load URL`: the driver on its own, h2load-style flags. */
export function addLoadCommand(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command("load")
    .description("drive HTTP/2 or HTTP/1.1 load at a loopback URL and count which backend answered each request")
    .argument("[url]", "http://127.0.0.1:PORT/path (h2c or HTTP/1.1) or https:// (h2 with ALPN); may instead be inside --h2load")
    .option("-c, --clients <n>", "connections", int("-c"), 1)
    .option("-m, --max-concurrent-streams <n>", "concurrent streams per connection", int("-m"), 1)
    .option("-n, --requests <n>", "requests in all", int("-n"))
    .option("-D, --duration <duration>", "run this long")
    .option("-r, --rate <n>", "h2load --rate: open n connections at once at the start, then n more every --rate-period, up to -c", int("--rate"))
    .option("--rate-period <duration>", "h2load --rate-period: the period of --rate's bursts (default 1s; a bare number is seconds, as in h2load)", ratePeriodArg)
    .addOption(new Option("--budget <how>", "per-client: -n split over connections as h2load does, each closing when its share is done (default with -n); pooled: one pool, connections stay open").choices(["per-client", "pooled"]))
    .option("--stages <list>", "k6-style stages, e.g. 10s:100,30s:300,10s:0 (connections ramped from 0 as k6 ramping-vus ramps VUs)", (v: string) => stagesArg(v))
    .option("--h2load <args>", "an h2load command line (e.g. \"-c310 -m40 -n40000 --rate=310\"), run on spillway's driver")
    .addOption(new Option("--connect-rate <n>").hideHelp())
    .option("--arrival-rate <n>", "open model: requests per second, latency corrected for coordinated omission", int("--arrival-rate"))
    .option("--warmup <duration>", "requests in this first period are not counted")
    .option("--think-time <duration>", "pause between a connection's requests")
    .option("--close-after <n>", "close a connection after n requests and open another", int("--close-after"))
    .option("--close-idle <duration>", "close a connection idle this long")
    .option("--no-reconnect", "do not reconnect after the server closes a connection or sends GOAWAY")
    .addOption(new Option("-p, --protocol <p>", "h2c, h1 (keep-alive), h1-close, h2 (TLS)").choices(["h2c", "h1", "h1-close", "h2"]))
    .option("-t, --workers <n>", "worker threads", int("-t"), 1)
    .option("--processes <n>", "driver processes, each with its own open-file limit, -t split over them (default: the fewest that hold -c, 1 for most runs)", processesArg)
    .option("--source-address <ip...>", "local 127.0.0.x addresses to spread connections over")
    .option("--count-by <header>", "response header that names the backend", BACKEND_HEADER)
    .addOption(new Option("--timeout <duration>", "per-request timeout, also the connect timeout").default("10s", "10s"))
    .option("--drain <duration>", "after -D ends, let requests in flight finish for this long; then they count as cut-by-duration", duration("--drain"), 0)
    .option("--max-run <duration>", "hard bound on the whole run", duration("--max-run"), 300_000)
    .option("--window <duration>", "timeline window in the JSON result (1s, or 100ms)", duration("--window"), 1000)
    .option("--json <file>", "write the result as JSON, or - for stdout")
    .option("--ndjson <file>", "write one JSON line per request")
    .option("-q, --quiet", "print only errors: no summary or progress")
    .option("--nginx-status <url>", "also sample nginx's own count of connections every second from its stub_status page, beside the driver's and the kernel's", nginxStatusArg)
    .option("--haproxy-stats <host:port>", "also sample HAProxy's own count of connections every second from its stats socket (show stat), beside the driver's and the kernel's", haproxyStatsArg)
    .option("--counts", "sample the driver's and the kernel's counts of open connections every second without a proxy's (--nginx-status and --haproxy-stats sample them too)")
    .option("--no-preflight", "skip doctor's check that the driver's connections fit this machine (ports per source address, conntrack, fs.file-max) before any socket opens")
    .option("--shard <i/N>", "run only part i of N (from 1) of this load: its share of -c, -n, --rate, --arrival-rate and each stage's target, as worker i of -t N would; merge the parts' --json with spillway merge", shardArg)
    .addHelpText(
      "after",
      [
        "",
        "With -D the run ends when the duration does: requests still in flight then count as",
        "cut-by-duration (or timeout, if older than --timeout), so every request sent has one outcome.",
        "A run that cannot work stops early: when no connection has opened, or nothing has",
        "answered, within the connect timeout (--timeout).",
        "",
        "Exit status:",
        "  0  at least one request got a 2xx response",
        "  1  usage error: bad flags, or a host that is not a loopback address or localhost",
        "  3  the run could not be carried out: no connection opened, or no request got a 2xx",
        "     response (the summary is still printed; the error says why and what to try);",
        "     or the preflight refused a load this machine cannot hold, before any socket opened",
      ].join("\n"),
    )
    .action(async (urlArg: string | undefined, o: LoadCliOptions, cmd: Command) => {
      if (o.connectRate !== undefined) {
        throw new UsageError(
          "--connect-rate is gone: it spread connections evenly over a second, which h2load never does",
          "use --rate N (h2load's bursts of N connections every --rate-period), or --stages 1s:N for an even ramp",
        );
      }
      // Loaded when the command runs, not when the CLI starts (see main.ts), and each from its own module: load/index.js would bring the zod schema.
      const { fileDescriptorProblem, profileFor, runProblems } = await import("../load/profile.js");
      const { H2LOAD_KEYS, parseH2loadCommand } = await import("../spec/h2load-args.js");
      const { formatCounts, formatLoadSummary } = await import("../report/load.js");
      // Only a run that asks for them loads the shard arithmetic and the progress line.
      const sharding = o.shard === undefined ? null : { part: o.shard, ...(await import("../load/shard.js")) };
      const names = flagNames(cmd);
      let url = urlArg;
      if (o.h2load !== undefined) {
        const inside = parseH2loadCommand(o.h2load).urls[0]?.url;
        if (inside !== undefined && url !== undefined && inside !== url) throw new UsageError(`two URLs: ${url} and ${inside} inside --h2load; give one`);
        url = url ?? inside;
      }
      if (url === undefined) throw new UsageError("give the URL to send load to, e.g. spillway load -c 10 -n 1000 http://127.0.0.1:8080/");
      const input = inputFromFlags(cmd, H2LOAD_KEYS);
      const tls = /^https:/i.test(url);
      const { acceptedByJsonSchema } = await import("./load-flags.js");
      const checked = acceptedByJsonSchema(input)
        ? (await import("../spec/load-check.js")).checkLoadWith(input as LoadInput, { names, tls }, null)
        : (await import("../spec/load-profile.js")).validateLoad(input, { names, tls });
      // --drain belongs to -D: a run bounded otherwise keeps the default drain, its timeout.
      const timed = checked.load !== null && checked.load.durationMs !== null;
      const run = { url, countBy: o.countBy, ...(timed ? { drainMs: o.drain } : {}), maxRunMs: o.maxRun, timelineWindowMs: o.window };
      const problems = [...checked.problems, ...runProblems(checked.load, run, names)];
      // This process's limit matters only to a load that could otherwise run.
      // A shard holds only its own connections, so its own share is what this process's limit must hold.
      const shardOf = (whole: LoadProfile): LoadProfile => {
        if (sharding === null) return whole;
        try {
          return sharding.shardProfile(whole, sharding.part, whole.workers);
        } catch (err) {
          if (err instanceof sharding.ShardProblem) throw new UsageError(err.message, err.hint);
          throw err;
        }
      };
      const fdCount = checked.load !== null && problems.length === 0 ? shardOf(profileFor(checked.load, run)).connections : 0;
      const fd = checked.load !== null && problems.length === 0 ? fileDescriptorProblem(fdCount, names, { processes: o.processes ?? null, workers: checked.load.workers }) : null;
      if (fd) problems.push(fd);
      if (problems.length > 0 || checked.load === null) throw usageError(problems);
      // Flags that contradict each other (a forced --processes too few for -c among them) are exit 1 before the machine is asked.
      if (o.preflight) {
        const mine = shardOf(profileFor(checked.load, run));
        // doctor's whole verdict costs a tenth of a short run; a run well inside every limit does without it.
        const { fitsAtAGlance, glanceFacts } = await import("../doctor/glance.js");
        if (!fitsAtAGlance(mine, o.processes ?? null, glanceFacts())) {
          const { preflightLoad } = await import("../doctor/preflight.js");
          const { readFacts } = await import("../doctor/facts.js");
          preflightLoad(mine, new URL(url).hostname, o.processes ?? null, await readFacts({ versions: false }));
        }
      }
      await checkOutputFiles([["--json", o.json], ["--ndjson", o.ndjson]]);
      const ndjson = o.ndjson ? createWriteStream(o.ndjson) : null;
      const whole = profileFor(checked.load, { ...run, ...(ndjson ? { ndjson: (line: string) => ndjson.write(`${line}\n`) } : {}) });
      const profile = shardOf(whole);
      const counting = o.counts || o.nginxStatus !== undefined || o.haproxyStats !== undefined ? await startCounting(o, url, profile.durationMs) : null;
      const attachProgress = io.isTTY && !o.quiet ? (await import("../report/progress.js")).attachProgress : null;
      const { startLoad } = await import("../load/run.js");
      const load = startLoad(profile, o.processes !== undefined ? { processes: o.processes } : {});
      let layoutNote = "";
      load.on("start", (s) => {
        const spread = s.processes > 1 ? `${s.processes} driver processes` : "";
        const sources = s.sourcesChosen ? `source addresses ${s.sourceAddresses[0]} to ${s.sourceAddresses.at(-1)} (one address's ephemeral ports cannot hold ${s.connections} connections)` : "";
        layoutNote = spread || sources ? `${[spread, sources].filter(Boolean).join(", ")}\n` : "";
      });
      if (counting !== null) load.on("tick", (t) => counting.driver(t.openConnections));
      attachProgress?.(load, "load", profile.requests, io.err);
      const result = await load.done;
      const counts = counting === null ? null : await counting.sampler.stop();
      if (ndjson) await new Promise<void>((r) => ndjson.end(r));
      const shardNote = sharding === null ? "" : `shard ${sharding.part.index}/${sharding.part.count}: ${profile.connections} of the load's ${whole.connections} connections${profile.requests !== null ? `, ${profile.requests} of its ${whole.requests} requests` : ""}\n`;
      const summary = shardNote + layoutNote + formatLoadSummary(result, profile) + (counts === null ? "" : formatCounts(counts));
      const sampled = counts === null ? {} : { counts };
      const written = sharding === null ? { ...result, ...sampled } : { ...result, shard: sharding.shardPart(sharding.part, whole, await load.data), ...sampled };
      if (o.json === "-") {
        if (!o.quiet) io.err(`${summary}\n`);
        io.out(`${JSON.stringify(written, null, 2)}\n`);
      } else {
        if (!o.quiet) io.out(`${summary}\n`);
        if (o.json) await writeAll(dirname(o.json), { [basename(o.json)]: `${JSON.stringify(written, null, 2)}\n` });
      }
      const { diagnoseRun } = await import("../load/diagnose.js");
      const failure = diagnoseRun(result, { url, protocol: profile.protocol, timeoutMs: profile.timeoutMs });
      if (failure !== null) throw new InfraError(failure.message, failure.hint);
      setExit(ExitCode.Ok);
    });
}

/**
 * The sampler of --nginx-status / --haproxy-stats, the kernel and the driver's
 * own count, only when one of them or --counts asks: every sample reads
 * /proc/net/tcp, whose read costs the kernel a walk of its socket table, and
 * those reads brought a 200,000-request run 30 full garbage collections
 * instead of 1. The stats endpoint is read once before the load starts, so
 * a wrong address is said at once (exit 3) instead of as a column of blanks.
 */
async function startCounting(o: LoadCliOptions, url: string, durationMs: number | null) {
  const { resolveLoopback } = await import("../load/profile.js");
  const { readProxyCurrent, startSampler } = await import("../verify/sampler.js");
  if (o.nginxStatus !== undefined && o.haproxyStats !== undefined) throw new UsageError("--nginx-status and --haproxy-stats both given: the load goes through one proxy", "Give the one for the proxy the URL points at.");
  // The load's own refusal, named by the flag: stats are read only from loopback, as load is sent only there.
  const loopback = (flag: string, host: string) =>
    resolveLoopback(host).catch((err: unknown) => {
      throw err instanceof UsageError ? new UsageError(`${flag}: ${err.message}`, err.hint) : err;
    });
  let proxy: import("../verify/sampler.js").ProxyStatsEndpoint | null = null;
  if (o.nginxStatus !== undefined) {
    await loopback("--nginx-status", new URL(o.nginxStatus).hostname);
    proxy = { kind: "nginx", url: o.nginxStatus };
  } else if (o.haproxyStats !== undefined) {
    await loopback("--haproxy-stats", o.haproxyStats.host);
    proxy = { kind: "haproxy", address: o.haproxyStats };
  }
  if (proxy !== null && (await readProxyCurrent(proxy)) === null) {
    const where = proxy.kind === "nginx" ? `--nginx-status ${proxy.url}` : `--haproxy-stats ${proxy.address.host}:${proxy.address.port}`;
    throw new InfraError(
      `${where}: no ${proxy.kind === "nginx" ? "stub_status page" : "`show stat` answer"} there`,
      proxy.kind === "nginx" ? "Point it at a location with `stub_status;` in nginx's config." : "Point it at HAProxy's `stats socket ipv4@HOST:PORT` address.",
    );
  }
  const target = new URL(url);
  const port = target.port !== "" ? Number(target.port) : target.protocol === "https:" ? 443 : 80;
  let open = 0;
  return {
    driver: (n: number) => (open = n),
    sampler: startSampler({ proxy, port, driverOpen: () => open, compareUntilMs: durationMs }),
  };
}

/** Every problem in one error: a flag's own problem as it is, several as a list. */
function usageError(problems: readonly LoadProblem[]): UsageError {
  const line = (p: LoadProblem) => (p.offset !== undefined ? `at column ${p.offset + 1} of --h2load: ${p.message}` : p.message);
  const [only] = problems;
  if (problems.length === 1 && only) return new UsageError(line(only), only.hint ?? (only.offset !== undefined ? H2LOAD_HINT : undefined));
  const lines = problems.map((p) => `  ${line(p)}${p.hint ? `\n    ${p.hint}` : ""}`);
  return new UsageError(`the load cannot be run as given:\n${lines.join("\n")}`, problems.some((p) => p.offset !== undefined) ? H2LOAD_HINT : "change those flags and run again");
}

const H2LOAD_HINT = "remove or change those options; see 'spillway load --help' and the README's h2load table";
