import { DEFAULTS } from "../spec/defaults.js";

/** A proxy version such as 2.6.12, compared numerically. */
export interface Version {
  major: number;
  minor: number;
  patch: number;
}

export function parseVersion(text: string): Version | null {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

export function versionText(v: Version): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

export function atLeast(v: Version, major: number, minor: number, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

/** What spillway renders for when nothing is installed and no version is given (the defaults table's `proxyVersions`). */
export const DEFAULT_VERSIONS: { readonly haproxy: Version; readonly nginx: Version } = DEFAULTS.proxyVersions.value;
