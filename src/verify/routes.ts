/**
 * What the proxy's route stamp tells: per backend, the requests it answered
 * itself (with the likely cause of each status), and for each connection-count
 * rule of the frontend, the point at which routing flipped to the rule's backend.
 */
import type { LoadResult } from "../load/index.js";
import { feConnSet, type Interval } from "../spec/intervals.js";
import type { Backend, Frontend, Model, Target } from "../spec/model.js";
import { formatElapsed } from "../spec/duration.js";

export interface ProxyFailure {
  /** The backend the proxy routed the request to. */
  backend: string;
  status: number;
  count: number;
  /** The likely cause, from what this proxy answers with this status. */
  cause: string;
}

export interface Flip {
  /** The rule's name, or its condition when it has none. */
  rule: string;
  condition: string;
  /** The rule's backend, and the frontend's default. */
  backend: string;
  defaultBackend: string;
  /** fe_conn values at which the rule routes to its backend. */
  ruleConns: Interval[];
  /** The highest proxy connection count at which a request still went to the default backend; null: none did. */
  lastDefaultConns: number | null;
  /** The lowest at which one went to the rule's backend; null: none did. */
  firstRuleConns: number | null;
  /** When the first request routed to the rule's backend was sent, from the start of the run; null: none was. */
  atMs: number | null;
}

function hasMaxconn(b: Backend | undefined): boolean {
  return b !== undefined && (b.maxconn !== null || b.servers.some((s) => s.maxconn !== null));
}

/**
 * Why a proxy answers a request itself with `status`: a small table of what
 * HAProxy and nginx, as spillway renders them, answer and when.
 */
export function proxyFailureCause(target: Target, status: number, backend: Backend | undefined): string {
  const limited = hasMaxconn(backend);
  if (target === "nginx") {
    if (status === 502) {
      return limited
        ? "refused by nginx: every server at max_conns, and nginx has no queue (or none reachable)"
        : "refused by nginx: no server reachable, or the connection to it failed";
    }
    if (status === 504) return "nginx: the server did not answer within proxy_read_timeout (timeout server)";
    if (status === 503) return "nginx: limit reached (limit_conn / limit_req)";
    if (status === 500) return "nginx: internal error (see its error log)";
  } else {
    if (status === 503) {
      return limited
        ? "refused by HAProxy: waited in the backend queue past timeout queue, or no server up"
        : "refused by HAProxy: no server available";
    }
    if (status === 504) return "HAProxy: the server did not answer within timeout server";
    if (status === 502) return "HAProxy: invalid or aborted response from the server";
    if (status === 500) return "HAProxy: internal error";
  }
  if (status === 408) return `${target}: the request did not arrive in time (timeout http-request)`;
  return `answered ${status} by ${target} itself`;
}

/** Requests the proxy routed to a backend but answered itself, by backend and status. */
export function proxyFailures(target: Target, model: Model, result: LoadResult): ProxyFailure[] {
  const out: ProxyFailure[] = [];
  for (const [backend, r] of Object.entries(result.routed)) {
    const spec = model.backends.find((b) => b.name === backend);
    for (const [status, count] of Object.entries(r.proxyStatuses)) {
      out.push({ backend, status: Number(status), count, cause: proxyFailureCause(target, Number(status), spec) });
    }
  }
  return out.sort((a, b) => a.backend.localeCompare(b.backend) || a.status - b.status);
}

/**
 * For each rule of the frontend that depends on the connection count alone
 * and routes away from the default: where the routing flipped, from the route
 * and connection stamps of the responses. Empty when the proxy did not stamp
 * its routes.
 */
export function flipPoints(frontend: Frontend, result: LoadResult): Flip[] {
  if (Object.keys(result.routed).length === 0) return [];
  const out: Flip[] = [];
  const def = result.routed[frontend.defaultBackend];
  for (const rule of frontend.rules) {
    const set = feConnSet(rule.condition);
    if (set === null || set.length === 0 || rule.useBackend === frontend.defaultBackend) continue;
    const r = result.routed[rule.useBackend];
    out.push({
      rule: rule.name ?? rule.text,
      condition: rule.text,
      backend: rule.useBackend,
      defaultBackend: frontend.defaultBackend,
      ruleConns: set,
      lastDefaultConns: def?.maxConns ?? null,
      firstRuleConns: r?.minConns ?? null,
      atMs: r !== undefined && r.count > 0 ? r.firstMs : null,
    });
  }
  return out;
}

/** The connection counts where a rule's set begins or ends: where its threshold lines go. */
export function thresholds(set: readonly Interval[]): number[] {
  const out: number[] = [];
  for (const i of set) {
    if (i.lo > 0) out.push(i.lo - 0.5);
    if (i.hi !== Infinity) out.push(i.hi + 0.5);
  }
  return out;
}

/** "flip: pbcoffee from 301 connections at 1.2s; last to ade at 300". */
export function flipText(f: Flip): string {
  const first =
    f.firstRuleConns !== null && f.atMs !== null
      ? `${f.backend} from ${f.firstRuleConns} connections at ${formatElapsed(f.atMs)}`
      : f.atMs !== null
        ? `${f.backend} at ${formatElapsed(f.atMs)} (connections not stamped)`
        : `nothing routed to ${f.backend}`;
  const last = f.lastDefaultConns !== null ? `last to ${f.defaultBackend} at ${f.lastDefaultConns}` : `nothing routed to ${f.defaultBackend} (with a connection count)`;
  return `flip (${f.rule}: ${f.condition}): ${first}; ${last}`;
}
