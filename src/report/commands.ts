import type { FidelityEntry, FidelityLevel } from "../render/fidelity.js";
import type { Target } from "../spec/model.js";

/*
 * The results of the commands other than verify and load, as plain objects:
 * what `--json` writes, and what the terminal text is made from. Their keys
 * are documented in the README (Commands); change them only with it.
 */

/** `spillway render --json`. */
export interface RenderReport {
  spec: string;
  targets: Target[];
  /** The version each target was rendered for: the flag's, the installed one's, or Debian 12's. */
  versions: Partial<Record<Target, string>>;
  /** Paths written; empty with `--out -`, where the configs went to stdout. */
  files: string[];
  /** One entry per construct, with a cell for each rendered target only. */
  fidelity: FidelityEntry[];
  /** Cells that are not exact, over the rendered targets. */
  counts: { approximate: number; unsupported: number };
}

/** Keeps only the rendered targets' cells; entries left with none are dropped. */
export function renderReport(input: { spec: string; targets: Target[]; versions: Partial<Record<Target, string>>; files: string[]; fidelity: readonly FidelityEntry[] }): RenderReport {
  const fidelity: FidelityEntry[] = [];
  const counts = { approximate: 0, unsupported: 0 };
  for (const entry of input.fidelity) {
    const kept: FidelityEntry = { ...entry, haproxy: null, nginx: null };
    for (const t of input.targets) kept[t] = entry[t];
    if (input.targets.every((t) => kept[t] === null)) continue;
    for (const t of input.targets) {
      const level: FidelityLevel | undefined = kept[t]?.level;
      if (level === "approximate" || level === "unsupported") counts[level]++;
    }
    fidelity.push(kept);
  }
  return { spec: input.spec, targets: input.targets, versions: input.versions, files: input.files, fidelity, counts };
}

/** `spillway check --json`: each target's verdict, in the proxy's own words when it rejects. */
export interface CheckReport {
  spec: string;
  /** Every target accepted its config. */
  passed: boolean;
  results: {
    target: Target;
    version: string;
    file: string;
    valid: boolean;
    /** What `haproxy -c` or `nginx -t` printed. */
    output: string;
    /** Lines of the config the proxy named, with the spec construct that produced each (null: spillway's fixed part). */
    places: { configLine: number; text: string; origin: string | null }[];
  }[];
}

/** `spillway up`: where everything listens, once it is all up. `--json` writes it as one line. */
export interface UpReport {
  runId: string;
  runtime: "process" | "docker";
  frontends: { target: Target; frontend: string; url: string; speaks: string; proxy: string }[];
  /** Stub name (`backend/server`) to its URL. */
  stubs: Record<string, string>;
  /** Each proxy's log file; with Docker it is written when the container stops. */
  logs: Partial<Record<Target, string>>;
  /** Each proxy's own counters, as `spillway load` takes them: nginx's stub_status URL (`--nginx-status`), HAProxy's stats socket HOST:PORT (`--haproxy-stats`). */
  counters: Partial<Record<Target, string>>;
  /** When the stack stops by itself (`--for`), in ms; null: on Ctrl-C. */
  stopsAfterMs: number | null;
}

/** `spillway down --json`: what was cleaned, as `runtime.down` reports it. */
export interface DownReport {
  /** Run ids swept. */
  runs: string[];
  /** Processes stopped: `haproxy (pid 1234)`. */
  killed: string[];
  containers: string[];
  removedDirs: string[];
  /** Runs left alone because they are still in progress (without --all). */
  skipped: string[];
  /** Why containers were not checked, when no Docker engine answered. */
  dockerNote: string | null;
}
