/**
 * The check `verify`, `explore` and `load` make before they start anything:
 * doctor's verdict without the memory measurement (which would start
 * proxies), and a refusal that carries doctor's explanation.
 */
import { InfraError } from "../errors.js";
import type { Model, Target } from "../spec/model.js";
import type { MachineFacts } from "./facts.js";
import { diagnose, type DoctorResult } from "./index.js";
import { loadNeedsInput, needsFor, type NeedsInput } from "./needs.js";
import { verdictFor, type Verdict } from "./verdict.js";

const fmt = (n: number | null) => (n === null ? "-" : n.toLocaleString("en-US"));

export const NO_PREFLIGHT_HINT = "Apply the fix and run again (spillway doctor shows every limit), or pass --no-preflight to run anyway.";

/** What one run that does not fit meets first, in a few lines: the limit, its count, what a run past it sees, the fix. */
export function refusalText(label: string, v: Verdict): string {
  const l = v.limits.find((x) => x.fatal && x.exceeded)!;
  return [
    `${label}: ${fmt(v.connections)} connections do not fit on this machine`,
    `  first limit: ${l.participant}: ${l.limit}, at most ${fmt(l.holds)} (${l.basis})`,
    `  past it: ${l.past}`,
    `  fix: ${l.fix?.text ?? "-"}`,
  ].join("\n");
}

/** The refusal for the runs that do not fit, or null when all of them do. */
export function refusal(results: readonly (Verdict & { label: string })[]): InfraError | null {
  const refused = results.filter((r) => !r.fits);
  if (refused.length === 0) return null;
  return new InfraError(`preflight: refused before anything started\n${refused.map((r) => refusalText(r.label, r)).join("\n")}`, NO_PREFLIGHT_HINT);
}

/** Every selected scenario of a spec on every selected target: refused with exit 3 when one cannot fit. */
export function preflightModel(model: Model, facts: MachineFacts, opts: { scenarios?: string[]; targets?: Target[] } = {}): void {
  // A scenario the spec lacks is the caller's usage error, in its own words.
  const scenarios = opts.scenarios?.filter((name) => model.scenarios.some((s) => s.name === name));
  const report = diagnose(model, facts, { ...opts, ...(scenarios ? { scenarios } : {}) }, model.file);
  const err = refusal(report.results.map((r: DoctorResult) => ({ ...r, label: `${r.scenario} on ${r.target ?? "-"}` })));
  if (err) throw err;
}

/** `spillway load` at a URL: the driver and the kernel, the target's server is not spillway's. */
export function preflightLoad(load: NeedsInput["load"], host: string, processes: number | null, facts: MachineFacts): void {
  const input = loadNeedsInput(load, host, processes);
  const err = refusal([{ ...verdictFor(input, needsFor(input, facts), facts), label: "spillway load" }]);
  if (err) throw err;
}
