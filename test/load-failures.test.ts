/**
 * Runs that cannot work: servers that never answer, answer in the wrong
 * protocol or do not listen at all, and host names that must not be looked
 * up. Real servers on 127.0.0.1 (port 0); the CLI in a child process where the
 * exit code matters. Assertions are on counts and causes, never on timing.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runLoad, type LoadResult } from "../src/load/index.js";
import { BIN } from "./helpers/cli.js";
import { STACK_LINE } from "./helpers/processes.js";

const closers: Array<() => Promise<void> | void> = [];
const scratch = mkdtempSync(join(tmpdir(), "spillway-load-failures-"));
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(scratch, { recursive: true, force: true });
});

/** The CLI in a child process (asynchronous: the servers under test live in this one), bounded by a kill after 60 s. */
function cli(args: string[], nodeArgs: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("host names", () => {
  /** A preload that reports every dns.lookup (callback and promise forms, ESM named imports included) on stderr. */
  const probe = join(scratch, "dns-probe.mjs");
  writeFileSync(
    probe,
    `import { createRequire, syncBuiltinESMExports } from "node:module";
const require = createRequire(import.meta.url);
const dns = require("node:dns");
const wrap = (o, k) => { const f = o[k]; o[k] = function (host, ...rest) { process.stderr.write("DNS-LOOKUP " + host + "\\n"); return f.call(this, host, ...rest); }; };
wrap(dns, "lookup");
wrap(dns.promises, "lookup");
syncBuiltinESMExports();
`,
  );

  it("a name other than localhost is refused with exit 1 before any DNS lookup", async () => {
    // The probe sees a lookup made through an ESM named import, as the driver's code would make one.
    const control = await new Promise<string>((resolve) => {
      const c = spawn(process.execPath, ["--import", probe, "--input-type=module", "-e", 'import { lookup } from "node:dns/promises"; await lookup("localhost").catch(() => 0);'], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      c.stderr.on("data", (d) => (err += d));
      c.on("exit", () => resolve(err));
    });
    expect(control).toContain("DNS-LOOKUP localhost");

    const r = await cli(["load", "http://127.example.com:8080/", "-n", "1"], ["--import", probe]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('refusing host "127.example.com"');
    expect(r.stderr).toContain("http://127.0.0.1:PORT/");
    expect(r.stderr).not.toContain("DNS-LOOKUP");
    expect(r.stderr).not.toMatch(STACK_LINE);
  });
});
