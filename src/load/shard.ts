/**
 * Shards: one load run as N parts, on N machines or processes, and the pure
 * merge of their results. Shard i of N runs what worker i of a run with N
 * worker threads runs (splitTasks, localCount), so the parts together send
 * what one run sends, client by client.
 */
import { localCount } from "./processes.js";
import { h2loadSplit, splitTasks } from "./run.js";
import { mergeRunData, toLoadResult, type LoadResult, type RunData } from "./result.js";
import type { LoadProfile } from "./profile.js";

/** Which part: `index` counts from 1, as k6's and CI matrices' shard numbers do. */
export interface Shard {
  index: number;
  count: number;
}

/** Marks a result as a shard's part, so merge can tell one from a plain result. */
export const SHARD_FORMAT = "spillway-shard-part/1";

/** The load a part belongs to: the whole profile, less what may differ between machines (threads, the log sink). */
export type WholeLoad = Omit<LoadProfile, "ndjson" | "workers">;

/** What `--json` of a shard's run writes beside the result: enough to check and merge the parts. */
export interface ShardPart {
  format: typeof SHARD_FORMAT;
  index: number;
  count: number;
  load: WholeLoad;
  /** The run's raw data: percentiles do not add, histograms do. */
  data: RunData;
}

/** Why a shard argument or a shard of a load cannot run: a message and what to do. */
export class ShardProblem extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/**
 * Shard `s`'s part of a whole load, as a profile of its own: its
 * connections, request budget, connect rate and arrival rate are worker
 * (i-1)'s of a run with N workers, and each stage's target is split the
 * same way. `workers` are this shard's own threads.
 */
export function shardProfile(whole: LoadProfile, s: Shard, workers: number): LoadProfile {
  const N = s.count;
  const w = s.index - 1;
  const C = whole.connections;
  if (N > C) {
    throw new ShardProblem(
      `--shard ${s.index}/${N}: ${N} shards are more than the load's ${C} connection${C === 1 ? "" : "s"}, so some would open none`,
      `Use at most ${C} shards, or raise the connections (-c or the stages' targets).`,
    );
  }
  const task = splitTasks({ ...whole, workers: N, ndjson: false }, whole.host)[w]!;
  const connections = localCount(C, w, N);
  if (whole.connectRate !== null && whole.connectRate < N) {
    throw new ShardProblem(
      `--shard ${s.index}/${N}: --rate ${whole.connectRate} is less than the ${N} shards, so shard ${whole.connectRate + 1} would never open a connection (each shard opens its share of every burst, as h2load's threads do)`,
      `Give --rate at least ${N}, or use at most ${whole.connectRate} shards.`,
    );
  }
  if (workers > connections) {
    throw new ShardProblem(
      `--shard ${s.index}/${N}: -t ${workers} is more than this shard's ${connections} connection${connections === 1 ? "" : "s"}`,
      `Use at most -t ${connections} in this shard.`,
    );
  }
  const connectRate = whole.connectRate !== null ? h2loadSplit(whole.connectRate, w, N) : null;
  if (connectRate !== null && connectRate < workers) {
    throw new ShardProblem(`--shard ${s.index}/${N}: this shard's share of --rate is ${connectRate}, less than its -t ${workers}`, `Use at most -t ${connectRate} in this shard.`);
  }
  return {
    ...whole,
    connections,
    requests: task.requests,
    connectRate,
    arrivalRate: task.arrivalRate,
    stages: whole.stages?.map((st) => ({ ...st, target: localCount(st.target, w, N) })) ?? null,
    workers,
  };
}

/** The whole load, as a part records it and merge compares it. */
export function wholeLoad(whole: LoadProfile): WholeLoad {
  const { ndjson: _n, workers: _w, ...rest } = whole;
  return rest;
}

export function shardPart(s: Shard, whole: LoadProfile, data: RunData): ShardPart {
  return { format: SHARD_FORMAT, index: s.index, count: s.count, load: wholeLoad(whole), data };
}

/** JSON with keys sorted at every level: two loads are the same load when their canonical texts are equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** A part as read from a file: where it came from, and its parsed JSON. */
export interface PartFile {
  file: string;
  json: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The shard part inside a `spillway load --shard --json` result, or a problem naming the file. */
function partOf(p: PartFile): ShardPart {
  const s = isRecord(p.json) ? p.json.shard : undefined;
  if (!isRecord(s) || s.format !== SHARD_FORMAT) {
    throw new ShardProblem(`${p.file} is not a shard's result: it has no "shard" of format ${SHARD_FORMAT}`, "Give merge the --json files of `spillway load ... --shard i/N --json part-i.json`.");
  }
  const ok = Number.isInteger(s.index) && Number.isInteger(s.count) && isRecord(s.load) && isRecord(s.data) && isRecord(s.data.requests) && isRecord(s.data.latency);
  if (!ok) throw new ShardProblem(`${p.file}: its "shard" lacks the index, count, load or run data a part carries`, "Write the part again with spillway load --shard i/N --json.");
  return s as unknown as ShardPart;
}

/** The merged result of one load's parts: every shard once, all of the same load. */
export interface MergedShards {
  load: WholeLoad;
  count: number;
  result: LoadResult;
  /** What was checked to add up, in a sentence. */
  reconciled: string;
}

const total = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** The figures a result's identities and merge's sums are checked on. */
function tally(d: RunData) {
  const attributed = Object.values(d.backends).reduce((a, b) => a + b.count, 0);
  const unattributed = total(d.unattributed);
  const byStatus = total(d.statuses);
  const ok = Object.entries(d.statuses).reduce((a, [k, v]) => a + (k.startsWith("2") && k.length === 3 ? v : 0), 0);
  return { sent: d.requests.sent, completed: d.requests.completed, succeeded: d.requests.succeeded, attributed, unattributed, byStatus, ok, opened: d.connections.opened, connFailed: d.connections.failed, connFailedByCause: total(d.connections.failedByCause) };
}

/**
 * A part's own identities, as the driver keeps them for every run: every
 * request sent ended as one outcome, attributed to a backend or
 * unattributed with a cause; every completed request has a status, and the
 * succeeded ones a 2xx; every failed connection a cause. A part that breaks
 * one was edited or damaged, and its counts cannot be merged truthfully.
 */
function partProblem(d: RunData): string | null {
  const t = tally(d);
  if (t.sent !== t.attributed + t.unattributed) return `it sent ${t.sent} requests but counts ${t.attributed + t.unattributed} outcomes (${t.attributed} attributed to backends + ${t.unattributed} unattributed)`;
  if (t.completed !== t.byStatus) return `it completed ${t.completed} requests but counts ${t.byStatus} responses by status`;
  if (t.succeeded !== t.ok) return `it counts ${t.succeeded} succeeded requests but ${t.ok} 2xx responses`;
  if (t.connFailed !== t.connFailedByCause) return `it counts ${t.connFailed} failed connections but ${t.connFailedByCause} by cause`;
  return null;
}

/** Pure: checks the parts belong together and merges their raw data (counts add, histograms merge, windows align by start time). */
export function mergeShardParts(files: readonly PartFile[]): MergedShards {
  if (files.length === 0) throw new ShardProblem("no parts to merge", "Give the part files: spillway merge part-*.json.");
  const parts = files.map(partOf);
  const first = parts[0]!;
  const firstLoad = canonical(first.load);
  const byIndex = new Map<number, string>();
  parts.forEach((p, i) => {
    const file = files[i]!.file;
    if (p.count !== first.count) {
      throw new ShardProblem(`${file} is shard ${p.index} of ${p.count}, but ${files[0]!.file} is shard ${first.index} of ${first.count}: they are parts of different loads`, "Merge only the parts of one sharded load.");
    }
    if (canonical(p.load) !== firstLoad) {
      const keys = Object.keys({ ...first.load, ...p.load }) as (keyof WholeLoad)[];
      const differ = keys.filter((k) => canonical(first.load[k]) !== canonical(p.load[k]));
      throw new ShardProblem(`${file} and ${files[0]!.file} are parts of different loads (they differ in ${differ.join(", ")})`, "Merge only the parts of one sharded load, run with the same flags.");
    }
    const seen = byIndex.get(p.index);
    if (seen !== undefined) throw new ShardProblem(`shard ${p.index}/${p.count} is given twice: ${seen} and ${file}`, "Give each shard's part once.");
    byIndex.set(p.index, file);
  });
  const missing = Array.from({ length: first.count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    throw new ShardProblem(
      `shard${missing.length === 1 ? "" : "s"} ${missing.join(", ")} of ${first.count} ${missing.length === 1 ? "is" : "are"} missing: the merged counts would not be the whole load's`,
      "Give every shard's part; run the missing shards again if their files are lost.",
    );
  }
  parts.forEach((p, i) => {
    const problem = partProblem(p.data);
    if (problem !== null) throw new ShardProblem(`${files[i]!.file} (shard ${p.index}/${p.count}) does not add up: ${problem}`, "Run that shard again; a part must be merged as spillway load wrote it.");
  });
  const ordered = [...parts].sort((a, b) => a.index - b.index);
  const merged = mergeRunData(ordered.map((p) => p.data));
  const sums = ordered.map((p) => tally(p.data));
  const whole = tally(merged);
  for (const k of Object.keys(whole) as (keyof typeof whole)[]) {
    const parted = sums.reduce((a, t) => a + t[k], 0);
    // mergeRunData adds every count; a difference would be a defect in the merge, never in the parts.
    if (whole[k] !== parted) throw new Error(`merge defect: merged ${k} ${whole[k]} is not the parts' sum ${parted}`);
  }
  const reconciled =
    `reconciled: in each of the ${ordered.length} parts, sent = attributed + unattributed and completed = responses by status; ` +
    `merged sent ${whole.sent} = ${sums.map((t) => t.sent).join(" + ")}, completed ${whole.completed} = ${sums.map((t) => t.completed).join(" + ")}, connections opened ${whole.opened} = ${sums.map((t) => t.opened).join(" + ")}`;
  return { load: first.load, count: first.count, result: toLoadResult(merged), reconciled };
}
