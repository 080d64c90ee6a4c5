import { createWriteStream } from "node:fs";
import { Command, Option } from "commander";
import { ExitCode } from "../exit-codes.js";
import { InfraError, UsageError } from "../errors.js";
import type { LoadProfile } from "../load/index.js";
import { durationArg as duration, intArg as int } from "./args.js";
import type { Io } from "./io.js";
import { checkOutputFiles, writeAll } from "./output.js";
import { basename, dirname } from "node:path";

interface LoadCliOptions {
  clients: number;
  maxConcurrentStreams: number;
  requests?: number;
  duration?: number;
  connectRate?: number;
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

/** `spillway load URL`: the driver on its own, h2load-style flags. */
export function addLoadCommand(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command("load")
    .description("drive HTTP/2 or HTTP/1.1 load at a loopback URL and count which backend answered each request")
    .argument("<url>", "http://127.0.0.1:PORT/path (h2c or HTTP/1.1) or https:// (h2 with ALPN)")
    .option("-c, --clients <n>", "connections", int("-c"), 1)
    .option("-m, --max-concurrent-streams <n>", "concurrent streams per connection", int("-m"), 1)
    .option("-n, --requests <n>", "requests in all", int("-n"))
    .option("-d, --duration <duration>", "run this long", duration("-d"))
    .option("--connect-rate <n>", "new connections per second (h2load --rate)", int("--connect-rate"))
    .option("--arrival-rate <n>", "open model: requests per second, latency corrected for coordinated omission", int("--arrival-rate"))
    .option("--warmup <duration>", "requests in this first period are not counted", duration("--warmup"))
    .option("--think-time <duration>", "pause between a connection's requests", duration("--think-time"))
    .option("--close-after <n>", "close a connection after n requests and open another", int("--close-after"))
    .option("--close-idle <duration>", "close a connection idle this long", duration("--close-idle"))
    .option("--no-reconnect", "do not reconnect after the server closes a connection or sends GOAWAY")
    .addOption(new Option("-p, --protocol <p>", "h2c, h1 (keep-alive), h1-close, h2 (TLS)").choices(["h2c", "h1", "h1-close", "h2"]))
    .option("-t, --workers <n>", "worker threads", int("-t"), 1)
    .option("--source-address <ip...>", "local 127.0.0.x addresses to spread connections over")
    .option("--count-by <header>", "response header that names the backend", "x-spillway-backend")
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
    .action(async (url: string, o: LoadCliOptions) => {
      if (o.requests === undefined && o.duration === undefined) throw new UsageError("give -n requests or -d duration: every run is bounded");
      if (!/^[A-Za-z0-9_-]{1,100}$/.test(o.countBy)) throw new UsageError(`--count-by ${JSON.stringify(o.countBy)} is not a header name`);
      await checkOutputFiles([["--json", o.json], ["--ndjson", o.ndjson]]);
      const ndjson = o.ndjson ? createWriteStream(o.ndjson) : null;
      const profile: LoadProfile = {
        url,
        ...(o.protocol ? { protocol: o.protocol } : {}),
        connections: o.clients,
        streams: o.maxConcurrentStreams,
        ...(o.requests !== undefined ? { requests: o.requests } : {}),
        ...(o.duration !== undefined ? { durationMs: o.duration } : {}),
        ...(o.connectRate !== undefined ? { connectRate: o.connectRate } : {}),
        ...(o.arrivalRate !== undefined ? { arrivalRate: o.arrivalRate } : {}),
        ...(o.warmup !== undefined ? { warmupMs: o.warmup } : {}),
        ...(o.thinkTime !== undefined ? { thinkTimeMs: o.thinkTime } : {}),
        keepAlive: { ...(o.closeAfter !== undefined ? { closeAfterRequests: o.closeAfter } : {}), ...(o.closeIdle !== undefined ? { closeAfterIdleMs: o.closeIdle } : {}) },
        reconnect: o.reconnect,
        workers: o.workers,
        ...(o.sourceAddress ? { sourceAddresses: o.sourceAddress } : {}),
        countBy: o.countBy.toLowerCase(),
        timeoutMs: o.timeout,
        ...(o.duration !== undefined ? { drainMs: o.drain } : {}),
        maxRunMs: o.maxRun,
        timelineWindowMs: o.window,
        ...(ndjson ? { ndjson: (line: string) => ndjson.write(`${line}\n`) } : {}),
      };
      // Loaded when the command runs, not when the CLI starts: see main.ts.
      const { diagnoseRun, formatLoadSummary, startLoad } = await import("../load/index.js");
      const { attachProgress } = await import("../report/progress.js");
      const run = startLoad(profile);
      if (io.isTTY) attachProgress(run, "load", o.requests ?? null, io.err);
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
      const failure = diagnoseRun(result, { url, protocol: o.protocol, timeoutMs: o.timeout });
      if (failure !== null) throw new InfraError(failure.message, failure.hint);
      setExit(ExitCode.Ok);
    });
}
