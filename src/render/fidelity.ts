import { DEFAULTS, type DefaultEntry, type DefaultId, type DefaultUse } from "../spec/defaults.js";
import type { Target } from "../spec/model.js";

export type FidelityLevel = "exact" | "approximate" | "unsupported";

/** How faithfully one target renders one construct of the spec. */
export interface FidelityNote {
  target: Target;
  /** Spec path of the construct, e.g. `frontends.webserver.rules[0]`. */
  construct: string;
  /** The construct in a few words, e.g. `maxconn 310`. */
  what: string;
  level: FidelityLevel;
  /** How the target renders it and, when not exact, how it differs. */
  detail: string;
}

export interface FidelityEntry {
  construct: string;
  what: string;
  haproxy: { level: FidelityLevel; detail: string } | null;
  nginx: { level: FidelityLevel; detail: string } | null;
}

/** Groups notes by construct, in the order constructs first appear. */
export function fidelityReport(notes: readonly FidelityNote[]): FidelityEntry[] {
  const byKey = new Map<string, FidelityEntry>();
  for (const n of notes) {
    const key = `${n.construct}\u0000${n.what}`;
    let entry = byKey.get(key);
    if (!entry) {
      entry = { construct: n.construct, what: n.what, haproxy: null, nginx: null };
      byKey.set(key, entry);
    }
    entry[n.target] = { level: n.level, detail: n.detail };
  }
  const rank = (construct: string) => (construct.startsWith("frontends.") ? 0 : 1);
  // Stable sort: within a construct, the order the notes were made in.
  return [...byKey.values()].sort((a, b) => rank(a.construct) - rank(b.construct) || compareConstruct(a.construct, b.construct));
}

/** Orders `frontends.api` before `frontends.api.bind`, and siblings by name. */
function compareConstruct(a: string, b: string): number {
  const top = (s: string) => s.split(".").slice(0, 2).join(".");
  return top(a) === top(b) ? 0 : top(a) < top(b) ? -1 : 1;
}

const MARK: Record<FidelityLevel, string> = { exact: "exact", approximate: "APPROX", unsupported: "UNSUPPORTED" };

/**
 * The fidelity report as text for a terminal: one block per construct, the
 * differences spelled out; then the defaults that stood in for this spec and
 * reach one of `targets` or act at run time.
 */
export function formatFidelity(entries: readonly FidelityEntry[], targets: readonly Target[], defaults: readonly DefaultUse[] = []): string {
  const lines: string[] = ["Fidelity (how each proxy renders each construct):"];
  for (const e of entries) {
    const cells = targets.map((t) => {
      const c = e[t];
      return c ? `${t}: ${MARK[c.level]}` : `${t}: -`;
    });
    lines.push(`  ${e.construct}  ${e.what}`);
    lines.push(`      ${cells.join("   ")}`);
    for (const t of targets) {
      const c = e[t];
      if (c && c.level !== "exact") lines.push(`      ${t}: ${c.detail}`);
    }
  }
  const counts = { approximate: 0, unsupported: 0 };
  for (const e of entries) for (const t of targets) {
    const c = e[t];
    if (c && c.level !== "exact") counts[c.level]++;
  }
  lines.push(`  ${counts.approximate} approximate, ${counts.unsupported} unsupported.`);
  const used = formatDefaults(defaults, targets);
  if (used.length > 0) lines.push("Defaults (values the spec did not give; the README's Defaults table says why each):", ...used);
  return lines.join("\n");
}

/** One line per table entry used, in the table's order: `name = value`, and whom it stood in for. */
function formatDefaults(defaults: readonly DefaultUse[], targets: readonly Target[]): string[] {
  const byId = new Map<DefaultId, { entry: DefaultEntry; parts: string[]; owners: string[] }>();
  for (const use of defaults) {
    const entry: DefaultEntry = DEFAULTS[use.id];
    if (entry.targets.length > 0 && !entry.targets.some((t) => (targets as readonly string[]).includes(t))) continue;
    let group = byId.get(use.id);
    if (!group) {
      group = { entry, parts: [], owners: [] };
      byId.set(use.id, group);
    }
    const part = use.written !== undefined ? (use.owner ? `${use.owner} ${use.written}` : use.written) : null;
    if (part !== null && !group.parts.includes(part)) group.parts.push(part);
    if (part === null && use.owner && !group.owners.includes(use.owner)) group.owners.push(use.owner);
  }
  const order = Object.keys(DEFAULTS);
  return [...byId.entries()].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)).map(([, { entry, parts, owners }]) =>
    `  ${entry.name} = ${parts.length > 0 ? parts.join(", ") : entry.text}${owners.length > 0 ? ` (${owners.join(", ")})` : ""}`);
}
