/**
 * `spillway doctor`: the machine's limits, and with a spec which one each
 * scenario meets first. The report module draws the text.
 */
import { diagnose, type DoctorReport } from "../doctor/index.js";
import { readFacts } from "../doctor/facts.js";
import { formatDoctorReport } from "../report/doctor.js";
import type { LoadedSpec } from "../spec/load.js";
import type { Target } from "../spec/model.js";

export interface DoctorCliOptions {
  scenario?: string[];
  target?: Target[];
  /** Measure memory per connection with the real proxies (--no-measure: false). */
  measure?: boolean;
}

/** The report `--json` writes and the text for the terminal. */
export async function runDoctor(spec: LoadedSpec | null, file: string | null, opts: DoctorCliOptions): Promise<{ report: DoctorReport; text: string }> {
  const facts = await readFacts();
  const memory = opts.measure === false ? null : await (await import("../doctor/measure.js")).measureMemory();
  const report = diagnose(spec?.model ?? null, facts, { ...(opts.scenario ? { scenarios: opts.scenario } : {}), ...(opts.target ? { targets: opts.target } : {}), memory }, file);
  return { report, text: formatDoctorReport(report) };
}
