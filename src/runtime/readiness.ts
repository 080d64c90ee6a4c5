import { request as httpRequest } from "node:http";
import { connect as h2connect, constants } from "node:http2";
import { InfraError } from "../errors.js";
import { BACKEND_HEADER, formatHostPort, HEALTH_PATH } from "../wire.js";
import { formatElapsed } from "../spec/duration.js";

/**
 * Calls `attempt` until it returns a value, or until `timeoutMs` has passed.
 * `check` runs before each attempt and may throw to give up at once (say, the
 * process exited). On timeout throws what `onTimeout` builds from the last error.
 */
export async function retryUntil<T>(
  attempt: () => Promise<T>,
  opts: { timeoutMs: number; intervalMs?: number; check?: () => Promise<void>; onTimeout: (lastError: string) => Promise<Error> | Error },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = "no attempt made";
  for (;;) {
    if (opts.check) await opts.check();
    try {
      return await attempt();
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) throw await opts.onTimeout(last);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

export interface ProbeResult {
  status: number;
  backend: string | null;
}

/** One request to the health path through a frontend, over h2c or HTTP/1.1. */
export function probe(host: string, port: number, protocol: "h2c" | "h1", timeoutMs = 2000): Promise<ProbeResult> {
  return protocol === "h2c" ? probeH2c(host, port, timeoutMs) : probeH1(host, port, timeoutMs);
}

function probeH1(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path: HEALTH_PATH, agent: false, timeout: timeoutMs, headers: { connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, backend: headerValue(res.headers[BACKEND_HEADER]) }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${formatElapsed(timeoutMs)}`)));
    req.on("error", reject);
    req.end();
  });
}

function probeH2c(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://${formatHostPort({ host, port })}`);
    const timer = setTimeout(() => finish(new Error(`no answer within ${formatElapsed(timeoutMs)}`)), timeoutMs);
    let done = false;
    const finish = (err: Error | null, result?: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve(result!);
    };
    session.on("error", (err) => finish(err));
    const stream = session.request({ [constants.HTTP2_HEADER_PATH]: HEALTH_PATH });
    stream.on("response", (headers) => {
      stream.resume();
      stream.on("end", () => finish(null, { status: Number(headers[":status"]), backend: headerValue(headers[BACKEND_HEADER]) }));
    });
    stream.on("error", (err) => finish(err));
    stream.end();
  });
}

function headerValue(v: string | string[] | undefined): string | null {
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}

/** Waits until a frontend answers through to a stub: 200 with the stub's header. */
export async function waitUntilServing(opts: {
  what: string;
  host: string;
  port: number;
  protocol: "h2c" | "h1";
  timeoutMs: number;
  alive: () => Promise<boolean>;
  logs: () => Promise<string>;
  /** Once aborted, waiting ends at the next attempt. */
  signal?: AbortSignal;
}): Promise<void> {
  await retryUntil(
    async () => {
      const r = await probe(opts.host, opts.port, opts.protocol);
      if (r.status !== 200 || !r.backend) throw new Error(`answered ${r.status}${r.backend ? "" : ` without ${BACKEND_HEADER} (no stub behind it yet?)`}`);
    },
    {
      timeoutMs: opts.timeoutMs,
      check: async () => {
        if (opts.signal?.aborted) throw new InfraError(`interrupted while waiting for ${opts.what}`);
        if (!(await opts.alive())) {
          throw new InfraError(`${opts.what} exited while starting.\n${indentLog(await opts.logs())}`, "Read its log above; `spillway check` shows whether the config is valid.");
        }
      },
      onTimeout: async (last) =>
        new InfraError(
          `${opts.what} did not answer through to a stub at ${opts.host}:${opts.port} within ${formatElapsed(opts.timeoutMs)} (last: ${last}).\n${indentLog(await opts.logs())}`,
          "Check the log above; raise --ready-timeout if the machine is slow.",
        ),
    },
  );
}

export function indentLog(text: string): string {
  const lines = text.trimEnd().split("\n").filter(Boolean);
  return lines.length === 0 ? "  (its log is empty)" : `  last log lines:\n${lines.map((l) => `    | ${l}`).join("\n")}`;
}
