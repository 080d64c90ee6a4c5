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

/** Debian 12's packages: what spillway renders for when nothing is installed and no version is given. */
export const DEFAULT_VERSIONS = {
  haproxy: { major: 2, minor: 6, patch: 0 },
  nginx: { major: 1, minor: 22, patch: 0 },
} as const satisfies Record<string, Version>;
