/**
 * HAProxy beside nginx for one grid point, in one plain sentence: the
 * largest difference in where requests went (the proxies' route stamps) or
 * in what was served (the stubs' stamps), and the construct that causes it,
 * linked to its row of the fidelity report. Pure.
 */
import type { FidelityEntry } from "../render/fidelity.js";
import { feConnSet } from "../spec/intervals.js";
import type { Frontend, Model, Rule, Scenario } from "../spec/model.js";
import type { ExploreReport, MeasuredCell, TargetDifference } from "./types.js";

/** Below this many percentage points on every backend, the two targets agree: run-to-run noise on one target is about this large. */
export const AGREE_POINTS = 5;

/**
 * A fidelity row's id: its construct and the first word of what it is
 * (`backends.ade#maxconn`, `frontends.web.rules[0]#if`). The word and not
 * the whole text, so the id stays the same across grid points that change
 * the number in it (`maxconn 200`, `maxconn 400`).
 */
export function fidelityRowId(construct: string, what: string): string {
  return `${construct}#${what.split(" ")[0]}`;
}

/** The report's fidelity rows: every construct, with how nginx renders it (and how far from HAProxy). */
export function fidelityRows(entries: readonly FidelityEntry[]): ExploreReport["fidelity"] {
  return entries.map((e) => {
    const n = e.nginx ?? e.haproxy;
    const level = n === null ? "" : n.level === "exact" ? "" : `${n.level}: `;
    return { id: fidelityRowId(e.construct, e.what), construct: `${e.construct} (${e.what})`, note: n === null ? "" : `${level}${n.detail}` };
  });
}

export interface DifferenceInput {
  values: Record<string, string>;
  /** null when that target's run broke. */
  haproxy: MeasuredCell | null;
  nginx: MeasuredCell | null;
  /** The spec as this grid point set it, and the scenario that ran. */
  model: Model;
  scenario: Scenario;
  /** The fidelity report of this grid point's rendering. */
  fidelity: readonly FidelityEntry[];
}

type Name = "HAProxy" | "nginx";

/** 88%, 0.5%, 99.8%: one decimal, none when it is zero. */
export function pct(share: number): string {
  const v = Math.round(share * 1000) / 10;
  return `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)}%`;
}

function row(fidelity: readonly FidelityEntry[], construct: string, word: string): string | null {
  const e = fidelity.find((x) => x.construct === construct && x.what.split(" ")[0] === word);
  return e ? fidelityRowId(e.construct, e.what) : null;
}

interface Cause {
  text: string;
  row: string | null;
}

/** Why nginx routed differently to `backend`: the first construct, in this order, whose effect points the way the gap does. */
function routingCause(h: MeasuredCell, n: MeasuredCell, fidelity: readonly FidelityEntry[], f: Frontend, backend: string, nginxMore: boolean): Cause | null {
  const rule: Rule | undefined = f.rules.find((r) => r.useBackend === backend) ?? (backend === f.defaultBackend ? f.rules[0] : undefined);
  if (rule === undefined) return null;
  // Toward the rule's backend is toward overflow; a gap on the default backend points the other way.
  const overflowMore = rule.useBackend === backend ? nginxMore : !nginxMore;
  const ruleRow = row(fidelity, rule.origin.path, "if");
  if (feConnSet(rule.condition) === null) {
    return { text: `nginx leaves out the rule \`${rule.text}\`: it has no per-backend connection count or server health (be_conn, nbsrv) to read`, row: ruleRow };
  }
  const nMax = n.max_proxy_conns_seen;
  const hMax = h.max_proxy_conns_seen;
  if (overflowMore && f.maxconn !== null && nMax !== null && nMax > f.maxconn) {
    return {
      text: `\`maxconn ${f.maxconn}\` has no nginx equivalent, so nginx held up to ${nMax} connections where HAProxy held at most ${hMax ?? f.maxconn}`,
      row: row(fidelity, f.origin.path, "maxconn"),
    };
  }
  const keepAlive = fidelity.find((e) => e.construct === `${f.origin.path}.keep_alive`);
  if (!overflowMore && f.keepAliveRequests !== null && keepAlive?.haproxy?.level === "unsupported") {
    return {
      text: `nginx closes each connection after ${f.keepAliveRequests} requests (\`keepalive_requests\`) and this HAProxy cannot, so nginx's count falls while HAProxy's stays up`,
      row: fidelityRowId(keepAlive.construct, keepAlive.what),
    };
  }
  const seen = nMax !== null && hMax !== null ? ` (at most ${nMax} on nginx, ${hMax} on HAProxy)` : "";
  return {
    text: `\`$connections_active\` counts every client connection of the whole nginx instance, idle keep-alive ones included, where \`fe_conn\` counts this frontend's${seen}`,
    row: ruleRow,
  };
}

/** Requests the proxy answered itself, per backend it routed them to: routed minus served. */
function unserved(cell: MeasuredCell, backend: string): number {
  return Math.max(0, (cell.routed[backend] ?? 0) - (cell.backends[backend]?.count ?? 0));
}

function failedShare(cell: MeasuredCell): number {
  return cell.sent > 0 ? Object.values(cell.failed).reduce((a, n) => a + n, 0) / cell.sent : 0;
}

/** The target that failed more requests, by AGREE_POINTS or more, and the backend and cause behind most of them. */
function refusal(h: MeasuredCell, n: MeasuredCell, input: DifferenceInput, f: Frontend, backends: readonly string[]): Cause | null {
  const gap = failedShare(n) - failedShare(h);
  if (Math.abs(gap) * 100 < AGREE_POINTS) return null;
  const [name, cell, other]: [Name, MeasuredCell, MeasuredCell] = gap > 0 ? ["nginx", n, h] : ["HAProxy", h, n];
  const [cause, causeCount] = Object.entries(cell.failed).sort((a, b) => b[1] - a[1])[0]!;
  const status = /^status-([0-9]{3})-no-header$/.exec(cause)?.[1];
  const hasRoutes = Object.keys(cell.routed).length > 0;
  // The backend whose requests the proxy answered itself most (by its route stamp), or else the one it served least of, beside the other target.
  const score = (b: string): number => (hasRoutes ? unserved(cell, b) : (other.backends[b]?.count ?? 0) - (cell.backends[b]?.count ?? 0));
  const backend = [...backends].sort((a, b) => score(b) - score(a))[0]!;
  const count = status !== undefined && hasRoutes && unserved(cell, backend) > 0 ? unserved(cell, backend) : causeCount;
  const share = `${pct(count / cell.sent)} of ${name}'s requests`;
  const spec = input.model.backends.find((b) => b.name === backend);
  const limited = spec !== undefined && spec.servers.some((s) => s.maxconn !== null);
  const maxconnRow = row(input.fidelity, `backends.${backend}`, "maxconn");
  if (status === "502" && name === "nginx" && limited) return { text: `${share} were refused by ${backend}'s \`max_conns\` with no queue (502)`, row: maxconnRow };
  if (status === "503" && name === "HAProxy" && limited) return { text: `${share} waited in ${backend}'s queue past \`timeout queue\` (503)`, row: maxconnRow };
  if (status === "504") return { text: `${share} timed out waiting for ${backend} (504)`, row: row(input.fidelity, `${f.origin.path}.timeouts`, "timeouts") };
  if (status !== undefined) return { text: `${share} were answered ${status} by ${name} itself${hasRoutes ? `, routed to ${backend}` : ""}`, row: null };
  return { text: `${share} failed (${cause})`, row: null };
}

/** A delivery ratio that never rounds a loss up to 100%. */
function delivered(ratio: number | null): string {
  if (ratio === null) return "nothing (no message was sent)";
  return ratio >= 1 ? "100%" : `${(Math.floor(ratio * 10_000) / 100).toFixed(2)}%`;
}

/**
 * The WebSocket sessions of both targets in one sentence: sessions opened,
 * delivery, where the upgrades went, and fan-out p99 (a timing figure of a
 * shared machine, given, not judged). null when neither held sessions.
 */
export function wsDifference(h: MeasuredCell, n: MeasuredCell, fidelity: readonly FidelityEntry[], frontendPath: string): Cause | null {
  const hw = h.websockets ?? null;
  const nw = n.websockets ?? null;
  if (hw === null || nw === null) return null;
  const parts: string[] = [];
  if (hw.sessions.opened !== nw.sessions.opened) parts.push(`HAProxy opened ${hw.sessions.opened} of ${hw.sessions.asked} WebSocket sessions and nginx ${nw.sessions.opened}`);
  const [hd, nd] = [delivered(hw.delivery_ratio), delivered(nw.delivery_ratio)];
  parts.push(hd === nd ? `both delivered ${hd} of the WebSocket messages owed` : `HAProxy delivered ${hd} of the WebSocket messages owed and nginx ${nd}`);
  const upgraded = (w: NonNullable<MeasuredCell["websockets"]>, b: string): number => {
    const all = Object.values(w.upgrades).reduce((a, x) => a + x, 0);
    return all > 0 ? (w.upgrades[b] ?? 0) / all : 0;
  };
  const names = [...new Set([...Object.keys(hw.upgrades), ...Object.keys(nw.upgrades)])].sort();
  const gap = names.map((b) => ({ b, d: Math.abs(upgraded(nw, b) - upgraded(hw, b)) })).filter((g) => g.d * 100 >= AGREE_POINTS).sort((x, y) => y.d - x.d)[0];
  let fidelityRow: string | null = null;
  if (gap !== undefined) {
    parts.push(`nginx upgraded ${pct(upgraded(nw, gap.b))} on ${gap.b} where HAProxy upgraded ${pct(upgraded(hw, gap.b))}`);
    fidelityRow = row(fidelity, frontendPath, "WebSocket");
  }
  const p99 = (w: NonNullable<MeasuredCell["websockets"]>): string => (w.fanout_ms.p99 === null ? "-" : `${w.fanout_ms.p99.toFixed(1)} ms`);
  if (hw.fanout_ms.p99 !== null || nw.fanout_ms.p99 !== null) parts.push(`fan-out p99 ${p99(hw)} on HAProxy, ${p99(nw)} on nginx`);
  return { text: parts.join("; "), row: fidelityRow };
}

/** The sentence for one grid point. */
export function describeDifference(input: DifferenceInput): TargetDifference {
  const { haproxy: h, nginx: n, model, scenario } = input;
  const http = describeHttp(input);
  if (h === null || n === null) return http;
  const f = model.frontends.find((x) => x.name === scenario.frontend);
  const ws = wsDifference(h, n, input.fidelity, f?.origin.path ?? `frontends.${scenario.frontend}`);
  if (ws === null) return http;
  const text = `${ws.text.charAt(0).toUpperCase()}${ws.text.slice(1)}.`;
  // A load of sessions alone has no HTTP sentence to add to.
  if (h.sent === 0 && n.sent === 0) return { values: input.values, text, fidelity_row: ws.row };
  return { values: input.values, text: `${http.text} ${text}`, fidelity_row: http.fidelity_row ?? ws.row };
}

/** The HTTP requests' sentence for one grid point. */
function describeHttp(input: DifferenceInput): TargetDifference {
  const { values, haproxy: h, nginx: n, model, scenario } = input;
  const say = (text: string, fidelity_row: string | null = null): TargetDifference => ({ values, text, fidelity_row });
  if (h === null || n === null) {
    const broke = [h === null ? "HAProxy" : null, n === null ? "nginx" : null].filter((x) => x !== null).join(" and ");
    return say(`No comparison: the ${broke} run did not finish.`);
  }
  if (h.sent === 0 || n.sent === 0) return say(`No comparison: ${h.sent === 0 ? "HAProxy" : "nginx"} sent no requests.`);
  const f = model.frontends.find((x) => x.name === scenario.frontend);
  if (f === undefined) throw new Error(`scenario ${scenario.name}: frontend ${scenario.frontend} is not in the spec`);
  const order = model.backends.map((b) => b.name);
  const backends = [...new Set([...order, ...Object.keys(h.backends), ...Object.keys(n.backends), ...Object.keys(h.routed), ...Object.keys(n.routed)])].filter(
    (b) => (h.backends[b]?.count ?? 0) + (n.backends[b]?.count ?? 0) + (h.routed[b] ?? 0) + (n.routed[b] ?? 0) > 0,
  );
  // Of the requests the proxy answered at all: those that got no answer carry no route stamp, and are failures, told apart below.
  const routedShare = (c: MeasuredCell, b: string): number => {
    const answered = Object.values(c.routed).reduce((a, x) => a + x, 0);
    return answered > 0 ? (c.routed[b] ?? 0) / answered : 0;
  };
  const servedShare = (c: MeasuredCell, b: string): number => (c.backends[b]?.count ?? 0) / c.sent;
  const overflow = new Set(f.rules.map((r) => r.useBackend));
  /** The backend with the largest gap of AGREE_POINTS or more, a rule's backend first: the overflow is what a reader asks about. */
  const widest = (share: (c: MeasuredCell, b: string) => number): string | null => {
    const gaps = backends.map((b) => ({ b, gap: Math.abs(share(n, b) - share(h, b)) })).filter((g) => g.gap * 100 >= AGREE_POINTS);
    gaps.sort((x, y) => Number(overflow.has(y.b)) - Number(overflow.has(x.b)) || y.gap - x.gap);
    return gaps[0]?.b ?? null;
  };
  const refused = refusal(h, n, input, f, backends);
  const routes = Object.keys(h.routed).length > 0 && Object.keys(n.routed).length > 0;
  const routedGap = routes ? widest(routedShare) : null;
  if (routedGap !== null) {
    const head = `nginx routed ${pct(routedShare(n, routedGap))} to ${routedGap} where HAProxy routed ${pct(routedShare(h, routedGap))}`;
    const cause = routingCause(h, n, input.fidelity, f, routedGap, routedShare(n, routedGap) > routedShare(h, routedGap));
    const and = refused ? `, and ${refused.text}` : "";
    if (cause === null) return say(`${head}; no rule of the frontend routes there${and}.`, refused?.row ?? null);
    return say(`${head}: ${cause.text}${and}.`, cause.row);
  }
  const servedGap = widest(servedShare);
  if (servedGap !== null) {
    const served = `nginx served ${pct(servedShare(n, servedGap))} ${routes ? "of all requests " : ""}from ${servedGap} where HAProxy served ${pct(servedShare(h, servedGap))}`;
    const head = routes ? `Both routed about ${pct((routedShare(h, servedGap) + routedShare(n, servedGap)) / 2)} to ${servedGap}, but ${served}` : served;
    if (refused) return say(`${head}: ${refused.text}.`, refused.row);
    return say(`${head}${routes ? "" : " (no route stamps, so where each proxy routed is not known)"}.`);
  }
  if (refused) return say(`Both served the same shares within ${AGREE_POINTS} points, but ${refused.text}.`, refused.row);
  const shares = backends.map((b) => `${b} ${pct(servedShare(h, b))} and ${pct(servedShare(n, b))}`);
  return say(`HAProxy and nginx agree within ${AGREE_POINTS} points${shares.length > 0 ? ` (HAProxy, nginx): ${shares.join(", ")}` : ""}.`);
}
