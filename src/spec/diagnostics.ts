import { ExitCode } from "../exit-codes.js";
import { SpillwayError } from "../errors.js";

export type Severity = "error" | "warning";

/** One problem found in a spec, pointing into the file it came from. */
export interface Diagnostic {
  severity: Severity;
  message: string;
  /** Dotted path such as `frontends.webserver.rules[0].if`; empty for the document. */
  path: string;
  file: string;
  line: number;
  col: number;
  hint?: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}`;
  const at = d.path ? ` (${d.path})` : "";
  const hint = d.hint ? `\n  ${d.hint}` : "";
  return `${where}: ${d.severity}: ${d.message}${at}${hint}`;
}

export function formatDiagnostics(list: readonly Diagnostic[]): string {
  return list.map(formatDiagnostic).join("\n");
}

/** A spec that cannot be used; carries every error found, not just the first. */
export class SpecError extends SpillwayError {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === "error");
    super(
      `${formatDiagnostics(diagnostics)}\n${errors.length} error${errors.length === 1 ? "" : "s"} in the spec; nothing was written.`,
      ExitCode.InvalidSpec,
    );
    this.name = "SpecError";
    this.diagnostics = diagnostics;
  }
}

export function pathText(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

export function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = Math.max(2, Math.floor(word.length / 3));
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}
