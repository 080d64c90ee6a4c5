import { UsageError } from "../errors.js";
import { isLoopbackIp } from "../wire.js";

/** What a spec's backend can tune on each of its stubs. */
export interface StubBehaviour {
  /** Added before every counted response; a timer, never a busy wait. */
  latencyMs?: number;
  /** Response body size in bytes; default: the short text `<backend>/<server>\n`. */
  bodyBytes?: number;
  /** Share of counted requests answered with `failureStatus`, 0..1, spread evenly (see `failsAt`). */
  failureRate?: number;
  /** Status of a failed response; default 503. */
  failureStatus?: number;
}

export interface StubOptions extends StubBehaviour {
  backend: string;
  server: string;
  /** Default "127.0.0.1". Only 127.0.0.0/8 and ::1 are accepted. */
  host?: string;
  /** 0 (default) picks an ephemeral port. */
  port?: number;
}

/** @internal Options with defaults applied and every value checked. */
export interface ResolvedStubOptions {
  readonly backend: string;
  readonly server: string;
  readonly host: string;
  readonly port: number;
  readonly latencyMs: number;
  readonly bodyBytes: number | undefined;
  readonly failureRate: number;
  readonly failureStatus: number;
}

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_FAILURE_STATUS = 503;

/**
 * Request number `seq` (1-based, counted requests only) fails when the running
 * total of `rate` crosses an integer there, so the first N requests hold exactly
 * floor(N * rate) failures, evenly spread and the same on every run.
 */
export function failsAt(seq: number, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  // The epsilon keeps products such as 0.29 * 100 = 28.999999999999996 on the right integer.
  return Math.floor(seq * rate + 1e-9) > Math.floor((seq - 1) * rate + 1e-9);
}

/** The response body, built once per stub. */
export function buildBody(backend: string, server: string, bodyBytes: number | undefined): Buffer {
  const text = Buffer.from(`${backend}/${server}\n`);
  if (bodyBytes === undefined) return text;
  const body = Buffer.allocUnsafe(bodyBytes);
  if (bodyBytes > 0) body.fill(text);
  return body;
}

// Names travel in response headers and in the `backend/server` key: printable ASCII, no space, no "/".
const NAME = /^[\x21-\x2e\x30-\x7e]{1,128}$/;
const NAME_RULE = "1 to 128 printable ASCII characters without spaces or \"/\"";
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Checks every option and applies defaults; throws UsageError naming the stub and the bad value. */
export function resolveStubOptions(opts: StubOptions): ResolvedStubOptions {
  const problems: string[] = [];
  const { backend, server } = opts;
  if (typeof backend !== "string" || !NAME.test(backend)) {
    problems.push(`backend name ${JSON.stringify(backend)} must be ${NAME_RULE}`);
  }
  if (typeof server !== "string" || !NAME.test(server)) {
    problems.push(`server name ${JSON.stringify(server)} must be ${NAME_RULE}`);
  }
  const host = opts.host ?? DEFAULT_HOST;
  if (typeof host !== "string" || host.startsWith("[") || !isLoopbackIp(host)) {
    problems.push(
      `host ${JSON.stringify(host)} is not a loopback address: stubs bind only to 127.0.0.0/8 or ::1 (for example 127.0.0.1)`,
    );
  }
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`port ${String(port)} must be an integer from 0 (any free port) to 65535`);
  }
  const latencyMs = opts.latencyMs ?? 0;
  if (!Number.isFinite(latencyMs) || latencyMs < 0 || latencyMs > 2_147_483_647) {
    problems.push(`latencyMs ${String(latencyMs)} must be a number of milliseconds >= 0`);
  }
  const bodyBytes = opts.bodyBytes;
  if (bodyBytes !== undefined && (!Number.isInteger(bodyBytes) || bodyBytes < 0 || bodyBytes > MAX_BODY_BYTES)) {
    problems.push(`bodyBytes ${String(bodyBytes)} must be an integer from 0 to ${MAX_BODY_BYTES}`);
  }
  const failureRate = opts.failureRate ?? 0;
  if (!Number.isFinite(failureRate) || failureRate < 0 || failureRate > 1) {
    problems.push(`failureRate ${String(failureRate)} must be a number from 0 to 1`);
  }
  const failureStatus = opts.failureStatus ?? DEFAULT_FAILURE_STATUS;
  if (!Number.isInteger(failureStatus) || failureStatus < 200 || failureStatus > 599) {
    problems.push(`failureStatus ${String(failureStatus)} must be an HTTP status from 200 to 599`);
  }
  if (problems.length > 0) {
    const who = typeof backend === "string" && typeof server === "string" ? `${backend}/${server}` : "?";
    throw new UsageError(`invalid options for stub ${who}: ${problems.join("; ")}`);
  }
  return { backend, server, host, port, latencyMs, bodyBytes, failureRate, failureStatus };
}
