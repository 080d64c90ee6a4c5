import { createWriteStream } from "node:fs";
import { Command, Option } from "commander";
import { ExitCode } from "../exit-codes.js";
import { InfraError, UsageError } from "../errors.js";
import type { LoadProfile, LoadStage } from "../load/index.js";
import { durationArg as duration, intArg as int } from "./args.js";
import type { Io } from "./io.js";
import { checkOutputFiles, writeAll } from "./output.js";
import { basename, dirname } from "node:path";
import { BACKEND_HEADER } from "../wire.js";

interface LoadCliOptions {
  clients: number;
  maxConcurrentStreams: number;
  requests?: number;
  duration?: number;
  rate?: number;
  ratePeriod?: number;
  budget?: "per-client" | "pooled";
  stages?: LoadStage[];
  h2load?: string;
  connectRate?: string;
  arrivalRate?: number;
  warmup?: number;
  thinkTime?: number;
  closeAfter?: number;
  closeIdle?: number;
  reconnect: boolean;
  protocol?: LoadProfile["protocol"];
  workers: number;
  sourceAddress?: string[];
  countBy: string;
  timeout: number;
  drain: number;
  maxRun: number;
  window: number;
  json?: string;
  ndjson?: string;
}

/** h2load's duration grammar: an integer with s, m, ms or h (any case), or seconds without a unit. */
function h2loadDurationArg(flag: string): (v: string) => number {
  return (v) => {
    const m = /^([0-9]{1,9})(ms|s|m|h)?$/i.exec(v);
    if (!m || Number(m[1]) === 0) throw new UsageError(`${flag} ${JSON.stringify(v)} is not a duration above 0 such as 500ms, 2s or 2 (seconds, as h2load reads it)`);
    const unit = (m[2] ?? "s").toLowerCase();
    return Number(m[1]) * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000);
  };
}

/** k6's --stage grammar, comma-separated: DURATION:TARGET, e.g. 10s:100,1m30s:300,10s:0. */
function stagesArg(v: string): LoadStage[] {
  const stages: LoadStage[] = [];
  for (const [i, part] of v.split(",").entries()) {
    const m = /^\s*((?:[0-9]{1,9}(?:ms|s|m|h))+)\s*:\s*([0-9]{1,6})\s*$/.exec(part);
    if (!m) throw new UsageError(`--stages: stage ${i + 1} ${JSON.stringify(part)} is not DURATION:TARGET such as 30s:100 (durations in ms, s, m or h, e.g. 1m30s)`);
    let ms = 0;
    for (const u of m[1]!.matchAll(/([0-9]+)(ms|s|m|h)/g)) ms += Number(u[1]) * (u[2] === "ms" ? 1 : u[2] === "s" ? 1000 : u[2] === "m" ? 60_000 : 3_600_000);
    stages.push({ durationMs: ms, target: Number(m[2]) });
  }
  return stages;
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
    .option("-d, --duration <duration>", "run this long", duration("-d"))
    .option("-r, --rate <n>", "h2load --rate: open n connections at once at the start, then n more every --rate-period, up to -c", int("--rate"))
    .option("--rate-period <duration>", "h2load --rate-period: the period of --rate's bursts (default 1s; a bare number is seconds, as in h2load)", h2loadDurationArg("--rate-period"))
    .addOption(new Option("--budget <how>", "per-client: -n split over connections as h2load does, each closing when its share is done (default with -n); pooled: one pool, connections stay open").choices(["per-client", "pooled"]))
    .option("--stages <list>", "k6-style stages, e.g. 10s:100,30s:300,10s:0 (connections ramped from 0 as k6 ramping-vus ramps VUs)", stagesArg)
    .option("--h2load <args>", "an h2load command line (e.g. \"-c310 -m40 -n40000 --rate=310\"), run on spillway's driver")
    .addOption(new Option("--connect-rate <n>").hideHelp())
    .option("--arrival-rate <n>", "open model: requests per second, latency corrected for coordinated omission", int("--arrival-rate"))
    .option("--warmup <duration>", "requests in this first period are not counted", duration("--warmup"))
    .option("--think-time <duration>", "pause between a connection's requests", duration("--think-time"))
    .option("--close-after <n>", "close a connection after n requests and open another", int("--close-after"))
    .option("--close-idle <duration>", "close a connection idle this long", duration("--close-idle"))
    .option("--no-reconnect", "do not reconnect after the server closes a connection or sends GOAWAY")
    .addOption(new Option("-p, --protocol <p>", "h2c, h1 (keep-alive), h1-close, h2 (TLS)").choices(["h2c", "h1", "h1-close", "h2"]))
    .option("-t, --workers <n>", "worker threads", int("-t"), 1)
    .option("--source-address <ip...>", "local 127.0.0.x addresses to spread connections over")
    .option("--count-by <header>", "response header that names the backend", BACKEND_HEADER)
    .option("-T, --timeout <duration>", "per-request timeout, also the connect timeout", duration("--timeout"), 10_000)
    .option("--drain <duration>", "after -d ends, let requests in flight finish for this long; then they count as cut-by-duration", duration("--drain"), 0)
    .option("--max-run <duration>", "hard bound on the whole run", duration("--max-run"), 300_000)
    .option("--window <duration>", "timeline window in the JSON result (1s, or 100ms)", duration("--window"), 1000)
    .option("--json <file>", "write the result as JSON, or - for stdout")
    .option("--ndjson <file>", "write one JSON line per request")
    .addHelpText(
      "after",
      [
        "",
        "With -d the run ends when the duration does: requests still in flight then count as",
        "cut-by-duration (or timeout, if older than -T), so every request sent has one outcome.",
        "A run that cannot work stops early: when no connection has opened, or nothing has",
        "answered, within the connect timeout (-T).",
        "",
        "Exit status:",
        "  0  at least one request got a 2xx response",
        "  1  usage error: bad flags, or a host that is not a loopback address or localhost",
        "  3  the run could not be carried out: no connection opened, or no request got a 2xx",
        "     response (the summary is still printed; the error says why and what to try)",
      ].join("\n"),
    )
    .action(async (urlArg: string | undefined, o: LoadCliOptions, cmd: Command) => {
      if (o.connectRate !== undefined) {
        throw new UsageError(
          "--connect-rate is gone: it spread connections evenly over a second, which h2load never does",
          "use --rate N (h2load's bursts of N connections every --rate-period), or --stages 1s:N for an even ramp",
        );
      }
      const given = (key: string): boolean => cmd.getOptionValueSource(key) === "cli";
      let url = urlArg;
      let fromH2load: Omit<LoadProfile, "url"> | null = null;
      if (o.h2load !== undefined) {
        const shaping = ["clients", "maxConcurrentStreams", "requests", "duration", "rate", "ratePeriod", "budget", "stages", "arrivalRate", "warmup", "thinkTime", "protocol", "workers"];
        const flags: Record<string, string> = { clients: "-c", maxConcurrentStreams: "-m", requests: "-n", duration: "-d", rate: "-r", ratePeriod: "--rate-period", budget: "--budget", stages: "--stages", arrivalRate: "--arrival-rate", warmup: "--warmup", thinkTime: "--think-time", protocol: "-p", workers: "-t" };
        const clash = shaping.filter(given).map((k) => flags[k]);
        if (clash.length > 0) throw new UsageError(`--h2load sets the load itself; ${clash.join(", ")} cannot be given with it`, "put every h2load option inside --h2load, or drop --h2load and use spillway's flags");
        const { parseH2loadCommand } = await import("../load/h2load-args.js");
        const parsed = parseH2loadCommand(o.h2load);
        if (parsed.problems.length > 0) {
          const lines = parsed.problems.map((p) => `  at column ${p.offset + 1} of --h2load: ${p.message}`);
          throw new UsageError(`--h2load ${JSON.stringify(o.h2load)} cannot be run as given:\n${lines.join("\n")}`, "remove or change those options; see 'spillway load --help' and the README's h2load table");
        }
        const inside = parsed.urls[0]?.url;
        if (inside !== undefined && url !== undefined && inside !== url) throw new UsageError(`two URLs: ${url} and ${inside} inside --h2load; give one`);
        url = url ?? inside;
        fromH2load = parsed.profile;
      } else if (o.ratePeriod !== undefined && o.rate === undefined) {
        throw new UsageError("--rate-period is the period of --rate's bursts; give --rate too");
      }
      if (url === undefined) throw new UsageError("give the URL to send load to, e.g. spillway load -c 10 -n 1000 http://127.0.0.1:8080/");
      if (fromH2load === null && o.requests === undefined && o.duration === undefined && o.stages === undefined) {
        throw new UsageError("give -n requests, -d duration or --stages: every run is bounded");
      }
      if (!/^[A-Za-z0-9_-]{1,100}$/.test(o.countBy)) throw new UsageError(`--count-by ${JSON.stringify(o.countBy)} is not a header name`);
      await checkOutputFiles([["--json", o.json], ["--ndjson", o.ndjson]]);
      const ndjson = o.ndjson ? createWriteStream(o.ndjson) : null;
      const shape: Omit<LoadProfile, "url"> = fromH2load ?? {
        ...(o.protocol ? { protocol: o.protocol } : {}),
        // With --stages, the stages decide how many connections there are (unless -c is given too).
        ...(o.stages === undefined || given("clients") ? { connections: o.clients } : {}),
        streams: o.maxConcurrentStreams,
        ...(o.requests !== undefined ? { requests: o.requests } : {}),
        ...(o.duration !== undefined ? { durationMs: o.duration } : {}),
        ...(o.rate !== undefined ? { connectRate: o.rate } : {}),
        ...(o.ratePeriod !== undefined ? { connectPeriodMs: o.ratePeriod } : {}),
        ...(o.budget !== undefined ? { budget: o.budget } : {}),
        ...(o.stages !== undefined ? { stages: o.stages } : {}),
        ...(o.arrivalRate !== undefined ? { arrivalRate: o.arrivalRate } : {}),
        ...(o.warmup !== undefined ? { warmupMs: o.warmup } : {}),
        ...(o.thinkTime !== undefined ? { thinkTimeMs: o.thinkTime } : {}),
        workers: o.workers,
      };
      const profile: LoadProfile = {
        url,
        ...shape,
        keepAlive: { ...(o.closeAfter !== undefined ? { closeAfterRequests: o.closeAfter } : {}), ...(o.closeIdle !== undefined ? { closeAfterIdleMs: o.closeIdle } : {}) },
        reconnect: o.reconnect,
        ...(o.sourceAddress ? { sourceAddresses: o.sourceAddress } : {}),
        countBy: o.countBy.toLowerCase(),
        timeoutMs: o.timeout,
        ...(shape.durationMs !== undefined ? { drainMs: o.drain } : {}),
        maxRunMs: o.maxRun,
        timelineWindowMs: o.window,
        ...(ndjson ? { ndjson: (line: string) => ndjson.write(`${line}\n`) } : {}),
      };
      // Loaded when the command runs, not when the CLI starts: see main.ts.
      const [{ diagnoseRun, startLoad }, { formatLoadSummary }] = await Promise.all([import("../load/index.js"), import("../report/load.js")]);
      const { attachProgress } = await import("../report/progress.js");
      const run = startLoad(profile);
      if (io.isTTY) attachProgress(run, "load", profile.requests ?? null, io.err);
      const result = await run.done;
      if (ndjson) await new Promise<void>((r) => ndjson.end(r));
      const summary = formatLoadSummary(result, profile);
      if (o.json === "-") {
        io.err(`${summary}\n`);
        io.out(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        io.out(`${summary}\n`);
        if (o.json) await writeAll(dirname(o.json), { [basename(o.json)]: `${JSON.stringify(result, null, 2)}\n` });
      }
      const failure = diagnoseRun(result, { url, protocol: profile.protocol, timeoutMs: o.timeout });
      if (failure !== null) throw new InfraError(failure.message, failure.hint);
      setExit(ExitCode.Ok);
    });
}
