/**
 * `spillway up` refused before it starts anything leaves nothing on disk: no
 * run directory, no run record, not even the runs directory. Each CLI gets a
 * TMPDIR of its own (and no SPILLWAY_RUNS_DIR, so the record would go to
 * $TMPDIR/spillway-runs): whatever it leaves shows up there.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { MARK_VAR, STACK_LINE, findProcesses, freePortRun, killLeftovers, newMarker, writeClassicCopy } from "./helpers/processes.js";

const scratch = mkdtempSync(join(tmpdir(), "spillway-test-up-refused-"));
const markers: string[] = [];
afterAll(() => {
  for (const marker of markers) killLeftovers({ marker });
  rmSync(scratch, { recursive: true, force: true });
});

/** `spillway up` with a private, empty TMPDIR; returns what it printed and what it left there. */
function upIn(name: string, args: string[]): { code: number | null; stderr: string; left: string[]; running: number } {
  const tmp = mkdtempSync(join(scratch, `${name}-`));
  const marker = newMarker(name);
  markers.push(marker);
  const env: NodeJS.ProcessEnv = { TMPDIR: tmp, [MARK_VAR]: marker };
  const saved = process.env.SPILLWAY_RUNS_DIR;
  delete process.env.SPILLWAY_RUNS_DIR;
  try {
    const r = runCli(["up", ...args], { env });
    return { code: r.code, stderr: r.stderr, left: readdirSync(tmp), running: findProcesses({ marker, paths: [tmp] }).length };
  } finally {
    if (saved !== undefined) process.env.SPILLWAY_RUNS_DIR = saved;
  }
}

describe("spillway up refused before anything starts", () => {
  it("a frontend not on loopback: exit 1, and no run directory or record anywhere", () => {
    const spec = join(scratch, "not-loopback.yaml");
    const text = readFileSync(writeClassicCopy(scratch, { frontendPort: 8080, stubBasePort: 9001 }, "classic-base.yaml"), "utf8");
    expect(text).toContain('bind: "127.0.0.1:8080"');
    writeFileSync(spec, text.replace('bind: "127.0.0.1:8080"', 'bind: "0.0.0.0:8080"'));
    const r = upIn("not-loopback", [spec, "--for", "1s"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("binds 0.0.0.0:8080: spillway runs proxies on loopback only");
    expect(r.stderr).not.toContain("kept in");
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.left, "what the refused run left in its TMPDIR").toEqual([]);
    expect(r.running).toBe(0);
  });

  it("--keep-ports with a stub's port in use: exit 3 naming it, and no run directory or record anywhere", async () => {
    const base = await freePortRun(4);
    const spec = writeClassicCopy(scratch, { frontendPort: base, stubBasePort: base + 1 }, "stub-port-taken.yaml");
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once("error", reject);
      blocker.listen({ host: "127.0.0.1", port: base + 1, exclusive: true }, resolve);
    });
    try {
      const r = upIn("stub-port", [spec, "--target", "haproxy", "--keep-ports", "--for", "1s"]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`127.0.0.1:${base + 1}`);
      expect(r.stderr).toContain("already in use");
      expect(r.stderr).not.toContain("kept in");
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(r.left, "what the refused run left in its TMPDIR").toEqual([]);
      expect(r.running).toBe(0);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
