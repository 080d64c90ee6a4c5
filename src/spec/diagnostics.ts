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

/** At most this many problems are printed; the rest are counted. */
export const MAX_PRINTED_DIAGNOSTICS = 50;
const MAX_MESSAGE_CHARS = 500;

function clip(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}`;
  const at = d.path ? ` (${clip(d.path)})` : "";
  const hint = d.hint ? `\n  ${clip(d.hint)}` : "";
  return `${where}: ${d.severity}: ${clip(d.message)}${at}${hint}`;
}

/** Errors first would hide their order in the file; so: file order, cut after MAX_PRINTED_DIAGNOSTICS with a count of the rest. */
export function formatDiagnostics(list: readonly Diagnostic[]): string {
  const shown = list.slice(0, MAX_PRINTED_DIAGNOSTICS).map(formatDiagnostic);
  const rest = list.slice(MAX_PRINTED_DIAGNOSTICS);
  if (rest.length > 0) {
    const errors = rest.filter((d) => d.severity === "error").length;
    shown.push(`... and ${rest.length} more (${errors} error${errors === 1 ? "" : "s"}, ${rest.length - errors} warning${rest.length - errors === 1 ? "" : "s"}) not shown`);
  }
  return shown.join("\n");
}

/** Up to `max` names, then how many more. */
export function listSome(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
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

/** Edit distance, or `max + 1` as soon as it is known to exceed `max`. */
export function levenshtein(a: string, b: string, max = Infinity): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    let rowMin = prev[0];
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
      if (prev[j]! < rowMin) rowMin = prev[j]!;
    }
    if (rowMin > max) return max + 1;
  }
  return prev[b.length]!;
}

/** Candidates compared at most, and the longest word compared: "did you mean" stays cheap on any spec. */
const MAX_CANDIDATES = 500;
const MAX_WORD = 80;

/** The closest candidate, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length > MAX_WORD) return undefined;
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  let compared = 0;
  for (const c of candidates) {
    if (++compared > MAX_CANDIDATES) break;
    if (c.length > MAX_WORD) continue;
    const d = levenshtein(w, c.toLowerCase(), bestDistance - 1);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
      if (d === 0) break;
    }
  }
  return best;
}
