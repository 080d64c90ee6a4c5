/**
 * Why a run could not be carried out, from its result alone: no connection
 * opened, or no request got a 2xx response. Pure: returns what to tell the
 * user (the cause, with counts) and what to do; the caller decides the exit.
 */
import type { LoadProtocol } from "./profile.js";
import type { LoadResult } from "./result.js";
import { CAUSES } from "../wire.js";

export interface RunFailure {
  message: string;
  hint: string;
}

const NAMES: Record<LoadProtocol, string> = {
  h2c: "HTTP/2 without TLS (h2c)",
  h2: "HTTP/2 over TLS (h2)",
  h1: "HTTP/1.1",
  "h1-close": "HTTP/1.1",
};

/** The other protocol to try, as a flag. */
function otherProtocol(p: LoadProtocol): string {
  return p === "h2c" ? "-p h1" : p === "h2" ? "-p h1 (HTTP/1.1 over TLS)" : "-p h2c";
}

function listCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
}

function top(counts: Record<string, number>): string | null {
  let best: string | null = null;
  for (const [k, n] of Object.entries(counts)) if (n > 0 && (best === null || n > counts[best]!)) best = k;
  return best;
}

/** Attempts the end of the run stopped, as listed with the failed ones (see ConnectionCounts.unfinished). */
const UNFINISHED_TCP = "unfinished-connecting";
const UNFINISHED_HANDSHAKE = "unfinished-handshake";

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Null when the run did its job (at least one request succeeded); otherwise
 * the cause, with a hint that names what to change.
 */
export function diagnoseRun(result: LoadResult, target: { url: string; protocol?: LoadProtocol | undefined; timeoutMs: number }): RunFailure | null {
  if (result.requests.succeeded > 0) return null;
  const protocol: LoadProtocol = target.protocol ?? (target.url.startsWith("https:") ? "h2" : "h2c");
  const name = NAMES[protocol];
  const other = otherProtocol(protocol);
  const c = result.connections;
  const early = result.stoppedEarly;
  const when = early !== null ? `within the timeout (--timeout ${seconds(target.timeoutMs)}), so the run stopped early` : `in the ${seconds(result.durationMs)} run`;

  if (c.opened === 0) {
    const attempts: Record<string, number> = { ...c.failedByCause };
    if (c.unfinished.connecting > 0) attempts[UNFINISHED_TCP] = c.unfinished.connecting;
    if (c.unfinished.handshaking > 0) attempts[UNFINISHED_HANDSHAKE] = c.unfinished.handshaking;
    const lead = `no connection to ${target.url} opened ${when}`;
    const tried = ` (attempts: ${listCounts(attempts) || "none"})`;
    const main = top(attempts);
    const tls = protocol === "h2" || target.url.startsWith("https:");
    if (main === CAUSES.refused) {
      return { message: `${lead}: nothing listens there${tried}`, hint: "start the server, or fix the port in the URL" };
    }
    if (main === CAUSES.notHttp2) {
      return {
        message: tls
          ? `${lead}: the server did not agree to HTTP/2 in the TLS handshake (ALPN)${tried}`
          : `${lead}: the server answered the HTTP/2 connection preface in HTTP/1.x, so it does not speak h2c on this port${tried}`,
        hint: `the server may not speak ${name} here: use ${other}, or enable HTTP/2 on that listener`,
      };
    }
    if (main === CAUSES.handshakeTimeout || main === UNFINISHED_HANDSHAKE) {
      return {
        message: `${lead}: the server accepted TCP connections but never completed the ${tls ? "TLS handshake" : "HTTP/2 connection preface"}${tried}`,
        hint: `the server may not speak ${name} here: try ${other}${tls ? " or an http:// URL" : ""}; or give it longer with --timeout`,
      };
    }
    if (main === CAUSES.connectTimeout || main === UNFINISHED_TCP) {
      return { message: `${lead}: TCP connections did not complete${tried}`, hint: "check that the server accepts connections (is its listen queue full?), or give it longer with --timeout" };
    }
    return {
      message: `${lead}: the server closed or reset every attempt before it opened${tried}`,
      hint: `the server may not speak ${name} here: try ${other}`,
    };
  }

  const r = result.requests;
  if (r.sent === 0) {
    return {
      message: `${c.opened} connection(s) to ${target.url} opened but no request was counted ${when}`,
      hint: "make the run longer than the warm-up (-D, -n, --warmup)",
    };
  }
  const noAnswer: Record<string, number> = {};
  for (const [k, n] of Object.entries(result.unattributed.byCause)) if (!k.startsWith("status-")) noAnswer[k] = n;
  if (r.completed > 0 && top(noAnswer) === null) {
    return {
      message: `none of the ${r.sent} requests to ${target.url} succeeded: every response had a non-2xx status (${listCounts(result.statuses)})`,
      hint: "the server answered with errors: check its backends, and the path and host in the URL",
    };
  }
  const causes = listCounts({ ...noAnswer, ...(r.completed > 0 ? { "non-2xx response": r.completed } : {}) });
  const lead = `none of the ${r.sent} requests to ${target.url} succeeded ${when} (${causes})`;
  const main = top(noAnswer);
  if (main === CAUSES.notHttp1) {
    return {
      message: `${lead}: the server answered HTTP/1.1 requests with something that is not HTTP/1.x`,
      hint: `the server may speak only HTTP/2 here: use ${other}`,
    };
  }
  if (r.completed === 0 && (main === CAUSES.timeout || main === CAUSES.cutByDuration || main === CAUSES.aborted)) {
    return {
      message: `${lead}: the server accepts connections but never answered a request`,
      hint: `the server may not speak ${name} here: try ${other}; or give it longer with --timeout and -D`,
    };
  }
  return {
    message: `${lead}`,
    hint: `check the server's log; if it does not speak ${name} on this port, try ${other}`,
  };
}
