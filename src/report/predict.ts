/**
 * `spillway predict` for people: a block per scenario and target (shares,
 * flip points in words), then the assumptions once per scenario. Pure: the
 * caller prints the string.
 */
import type { PredictedFlipJson, PredictionJson, PredictReport } from "../predict/json.js";
import { formatPercent } from "../verify/evaluate.js";
import { formatTable } from "./table.js";
import { formatElapsed } from "../spec/duration.js";
import type { TerminalOptions } from "./terminal.js";

const YELLOW = 33;
const RED = 31;

function paint(text: string, colour: number, on: boolean): string {
  return on ? `\u001b[${colour}m${text}\u001b[39m` : text;
}

const pct = (share: number): string => formatPercent(share * 100);

/** A band this wide means the count sat at a rule's edge: measured runs scatter across it. */
const WIDE_BAND = 0.05;

/** "last at 300 connections on ade, first at 301 on pbcoffee, at 1.2s" */
export function predictedFlipText(f: PredictedFlipJson): string {
  const last = f.last_default_conns !== null ? `last at ${f.last_default_conns} connections on ${f.default_backend}` : null;
  const first =
    f.first_rule_conns !== null
      ? `first at ${f.first_rule_conns}${last === null ? " connections" : ""} on ${f.backend}${f.at_ms !== null ? `, at ${formatElapsed(f.at_ms)}` : ""}`
      : null;
  const words =
    last !== null && first !== null
      ? `${last}, ${first}`
      : last !== null
        ? `${last}; none on ${f.backend}`
        : first !== null
          ? `none on ${f.default_backend}; ${first}`
          : "no request was routed on a connection count";
  const rule = f.rule === f.condition ? f.rule : `${f.rule} (${f.condition})`;
  return `flip ${rule}: ${words}`;
}

function bandText(share: number, band: [number, number] | undefined): string {
  if (band === undefined || (band[0] === share && band[1] === share)) return pct(share);
  return `${pct(band[0])}-${pct(band[1])}`;
}

/** One scenario on one target: shares per backend, the flips, and the counts behind them. */
export function formatPrediction(r: PredictionJson, opts: TerminalOptions & { description?: string | null } = {}): string {
  const color = opts.color ?? false;
  const lines = [`${r.target} / ${r.scenario}`];
  if (opts.description) lines.push(`  ${opts.description}`);
  const names = Object.keys(r.backends);
  const rows = names.map((name) => [name, pct(r.backends[name]!), bandText(r.backends[name]!, r.bands[name]), String(r.routed[name] ?? 0), String(r.refused[name] ?? 0)]);
  const table = formatTable(["backend", "share", "band", "routed", "refused"], rows).split("\n");
  if (color) {
    // Painted after the layout: escape codes would count towards the column widths.
    const at = table[0]!.indexOf("band");
    names.forEach((name, i) => {
      const band = r.bands[name];
      if (band === undefined || band[1] - band[0] < WIDE_BAND) return;
      const line = table[i + 2]!;
      const cell = rows[i]![2]!;
      const start = line.indexOf(cell, at - cell.length);
      if (start >= 0) table[i + 2] = `${line.slice(0, start)}${paint(cell, YELLOW, true)}${line.slice(start + cell.length)}`;
    });
  }
  lines.push(...table.map((l) => `  ${l}`));
  for (const f of r.flips) lines.push(`  ${predictedFlipText(f)}`);
  const total = Object.values(r.routed).reduce((a, n) => a + n, 0);
  const refused = Object.values(r.refused).reduce((a, n) => a + n, 0);
  lines.push(
    `  ${total} requests in ${formatElapsed(r.duration_ms)}` +
      (refused > 0 ? `, ${refused} (${pct(total > 0 ? refused / total : 0)}) refused by a full backend` : "") +
      `; the proxy held up to ${r.max_conns} connections, ${r.max_proxy_conns_seen} while routing a request`,
  );
  if (r.truncated) lines.push(`  ${paint("TRUNCATED", RED, color)}: the simulation hit its event bound; the shares cover the part it simulated`);
  return lines.join("\n");
}

/**
 * Assumptions once for a scenario: first those every target shares, then
 * each target's own, each in the order the model states them.
 */
export function formatAssumptions(results: readonly PredictionJson[]): string {
  const targets = [...new Set(results.map((r) => r.target))];
  const order: string[] = [];
  const holders = new Map<string, Set<string>>();
  for (const r of results) {
    for (const a of r.assumptions) {
      if (!holders.has(a)) {
        holders.set(a, new Set());
        order.push(a);
      }
      holders.get(a)!.add(r.target);
    }
  }
  const lines = [`assumptions${results[0] !== undefined ? ` (${results[0].scenario})` : ""}:`];
  let n = 0;
  for (const a of order) if (holders.get(a)!.size === targets.length) lines.push(`  ${++n}. ${a}`);
  if (targets.length > 1) {
    for (const t of targets) {
      const own = order.filter((a) => holders.get(a)!.size < targets.length && holders.get(a)!.has(t));
      if (own.length === 0) continue;
      lines.push(`  ${t} only:`);
      for (const a of own) lines.push(`  ${++n}. ${a}`);
    }
  }
  return lines.join("\n");
}

/** The whole report: scenario by scenario, each target's block, then the scenario's assumptions. */
export function formatPredictReport(report: PredictReport, opts: TerminalOptions & { descriptions?: Readonly<Record<string, string | null>> } = {}): string {
  const scenarios = [...new Set(report.results.map((r) => r.scenario))];
  return scenarios
    .map((s) => {
      const results = report.results.filter((r) => r.scenario === s);
      return [...results.map((r) => formatPrediction(r, { ...opts, description: opts.descriptions?.[s] ?? null })), formatAssumptions(results)].join("\n\n");
    })
    .join("\n\n")
    .concat("\n");
}
