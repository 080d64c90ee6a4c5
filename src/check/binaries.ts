import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { InfraError } from "../errors.js";
import { parseVersion, type Version } from "../render/version.js";
import type { Target } from "../spec/model.js";

const ENV_VAR: Record<Target, string> = { haproxy: "SPILLWAY_HAPROXY", nginx: "SPILLWAY_NGINX" };
const PACKAGE: Record<Target, string> = { haproxy: "haproxy", nginx: "nginx-light (or nginx)" };
const SBIN = ["/usr/sbin", "/usr/local/sbin", "/sbin"];

/** The proxy binary: $SPILLWAY_HAPROXY / $SPILLWAY_NGINX, else PATH, else the sbin folders a non-root PATH lacks. */
function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findBinary(target: Target): string | null {
  const override = process.env[ENV_VAR[target]];
  if (override) return executable(override) ? override : null;
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const candidate = join(dir, target);
    if (executable(candidate)) return candidate;
  }
  return null;
}

export function requireBinary(target: Target): string {
  const found = findBinary(target);
  const override = process.env[ENV_VAR[target]];
  if (!found && override) {
    throw new InfraError(
      `${ENV_VAR[target]}=${override} is not an executable file.`,
      `Point it at ${target} or unset it; to install ${target} as root on Debian: apt-get install -y ${PACKAGE[target]}.`,
    );
  }
  if (!found) {
    throw new InfraError(
      `${target} was not found on PATH or in /usr/sbin.`,
      `Install it (as root on Debian: apt-get install -y ${PACKAGE[target]}), or set ${ENV_VAR[target]} to its path.`,
    );
  }
  return found;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(file: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new InfraError(`cannot run ${file}: not found`, `Install it or set ${file.includes("nginx") ? ENV_VAR.nginx : ENV_VAR.haproxy}.`));
        return;
      }
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The installed version (`haproxy -v`, `nginx -v`), or null when the binary is missing. */
export async function detectVersion(target: Target): Promise<{ version: Version; binary: string } | null> {
  const binary = findBinary(target);
  if (!binary) return null;
  const result = await run(binary, ["-v"]);
  const text = `${result.stdout}\n${result.stderr}`;
  const m = target === "haproxy" ? /HA-?Proxy version (\S+)/.exec(text) : /nginx\/(\S+)/.exec(text);
  const version = m?.[1] ? parseVersion(m[1]) : null;
  return version ? { version, binary } : null;
}
