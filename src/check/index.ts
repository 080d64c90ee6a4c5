import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Target } from "../spec/model.js";
import { requireBinary, run } from "./binaries.js";

export { detectVersion, findBinary, requireBinary } from "./binaries.js";

/** What the real proxy said about a config, with the spec places behind its complaints. */
export interface CheckResult {
  target: Target;
  ok: boolean;
  /** The proxy's own words, verbatim. */
  output: string;
  /** Config lines the proxy named, each with the spec construct that produced it when known. */
  places: { configLine: number; text: string; origin: string | null }[];
}

/** Runs a config through the real proxy's own checker; nothing else. */
export interface ConfigChecker {
  check(target: Target, config: string): Promise<CheckResult>;
}

/** Lines the proxy named: HAProxy `[file:LINE]`, nginx `in file:LINE`. */
export function namedLines(target: Target, output: string, fileName: string): number[] {
  const re = target === "haproxy" ? new RegExp(`${escape(fileName)}:(\\d+)\\]`, "g") : new RegExp(`${escape(fileName)}:(\\d+)`, "g");
  const lines = new Set<number>();
  for (const m of output.matchAll(re)) lines.add(Number(m[1]));
  return [...lines].sort((a, b) => a - b);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The `# from <path> (line N)` comment nearest above a config line: which spec construct produced it. */
export function originOf(config: string, line: number): string | null {
  const lines = config.split("\n");
  for (let i = Math.min(line, lines.length) - 1; i >= 0; i--) {
    const m = /^\s*# from (\S+) \(line (\d+)\)/.exec(lines[i]!);
    if (m) return `${m[1]} (spec line ${m[2]})`;
  }
  return null;
}

export function explainPlaces(target: Target, config: string, output: string, fileName: string): CheckResult["places"] {
  const lines = config.split("\n");
  return namedLines(target, output, fileName).map((n) => ({ configLine: n, text: (lines[n - 1] ?? "").trim(), origin: originOf(config, n) }));
}

/**
 * `nginx -t` binds every listen address: a config for another machine's
 * address, or for a port something here holds, would fail the check for a
 * reason that is not the config's. As root, nginx -t runs in a network
 * namespace of its own (no traffic can leave it), where any address may be
 * bound (ip_nonlocal_bind) and no port is taken.
 */
const ISOLATE = 'echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind && { echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind || true; } && exec "$0" "$@"';
let isolation: Promise<string | null> | undefined;
function isolatedBindPrefix(): Promise<string | null> {
  isolation ??= (async () => {
    if (process.getuid?.() !== 0) return null;
    for (const unshare of ["/usr/bin/unshare", "/bin/unshare"]) {
      const probe = await run(unshare, ["--net", "--", "sh", "-c", ISOLATE, "true"]).catch(() => null);
      if (probe?.code === 0) return unshare;
    }
    return null;
  })();
  return isolation;
}

/** Checks with the installed binaries, in a temporary directory that is removed afterwards. */
export class LocalConfigChecker implements ConfigChecker {
  async check(target: Target, config: string): Promise<CheckResult> {
    const binary = requireBinary(target);
    const dir = await mkdtemp(join(tmpdir(), `spillway-check-${target}-`));
    try {
      const fileName = target === "haproxy" ? "haproxy.cfg" : "nginx.conf";
      const file = join(dir, fileName);
      await writeFile(file, config);
      const result =
        target === "haproxy"
          ? await run(binary, ["-c", "-f", file], { cwd: dir })
          : await this.nginxTest(binary, ["-t", "-q", "-p", `${dir}/`, "-c", file, "-e", "stderr"], dir);
      const output = `${result.stdout}${result.stderr}`.trim();
      return { target, ok: result.code === 0, output, places: result.code === 0 ? [] : explainPlaces(target, config, output, fileName) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async nginxTest(binary: string, args: string[], dir: string) {
    const unshare = await isolatedBindPrefix();
    return unshare ? run(unshare, ["--net", "--", "sh", "-c", ISOLATE, binary, ...args], { cwd: dir }) : run(binary, args, { cwd: dir });
  }
}
