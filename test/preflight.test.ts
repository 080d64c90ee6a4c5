/**
 * verify, explore and load run doctor's check first: a run this machine
 * cannot hold is refused with exit 3 and doctor's words before any proxy,
 * stub or socket starts; one that fits runs. Against this machine's limits
 * (hard open-file limit 20,000: HAProxy's one process holds 9,936).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readFacts } from "../src/doctor/facts.js";
import { runCli, runCliAsync } from "./helpers/cli.js";

const facts = await readFacts({ versions: false });
const isThisMachine = facts.openFiles.hard === 20_000 && facts.portRange?.count === 28_232;

function spec(dir: string, load: string, targets = "[haproxy]"): string {
  const file = join(dir, "spec.yaml");
  writeFileSync(
    file,
    [
      "version: 1",
      `targets: ${targets}`,
      "stubs: { host: 127.0.0.1, base_port: 19411 }",
      "frontends:",
      "  web:",
      '    bind: "127.0.0.1:18411"',
      "    default_backend: app",
      "backends:",
      "  app: { servers: 1 }",
      "scenarios:",
      "  hold:",
      `    load: ${load}`,
      "    expect: { errors: \"0\" }",
      "",
    ].join("\n"),
  );
  return file;
}

/** Pids of haproxy and nginx processes whose command line names `dir`: a stack started from it. */
function proxiesUnder(dir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ");
      if (/\b(haproxy|nginx)\b/.test(cmd) && cmd.includes(dir)) found.push(Number(name));
    } catch {
      // gone between the listing and the read
    }
  }
  return found;
}

/** A fresh TMPDIR and runs registry for one CLI run: a stack writes its configs there before it starts a proxy. */
function sandbox(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), "spillway-preflight-"));
  return { dir, env: { TMPDIR: dir, SPILLWAY_RUNS_DIR: join(dir, "runs") } };
}

describe.runIf(isThisMachine)("preflight", () => {
  it("verify refuses 10,000 connections through HAProxy's one process: exit 3, the limit and the fix, and nothing started", () => {
    const { dir, env } = sandbox();
    const before = readdirSync(dir).sort();
    const file = spec(dir, "{ connections: 10000, connect_rate: 1000, duration: 5s }");
    const r = runCli(["verify", file], { env });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("preflight: refused before anything started");
    expect(r.stderr).toContain("hold on haproxy: 10,000 connections do not fit on this machine");
    expect(r.stderr).toContain("global maxconn 9,936");
    expect(r.stderr).toContain("fix: HAProxy is one process: at most 9,936 connections here");
    expect(r.stderr).toContain("--no-preflight");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // No run directory, no registry entry, no proxy: the stack never began.
    expect(readdirSync(dir).sort()).toEqual([...before, "spec.yaml"].sort());
    expect(proxiesUnder(dir)).toEqual([]);
  });

  it("explore refuses a cell that cannot fit, naming the cell, before any stack", () => {
    const { dir, env } = sandbox();
    const file = spec(dir, "{ connections: 100, connect_rate: 100, duration: 2s }");
    const r = runCli(["explore", file, "--scenario", "hold", "--vary", "load.connections=100,10000"], { env });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("cell load.connections=10000 on haproxy: 10,000 connections do not fit");
    expect(r.stderr).not.toContain("load.connections=100 on");
    expect(proxiesUnder(dir)).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.startsWith("spillway-run-"))).toEqual([]);
  });

  it("load refuses 30,000 connections to ::1 (one source address's 28,232 ports), and opens no socket", async () => {
    const server = createServer();
    let accepted = 0;
    server.on("connection", (s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "::1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await runCliAsync(["load", "-c", "30000", "-D", "2s", `http://[::1]:${port}/`]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain("spillway load: 30,000 connections do not fit on this machine");
      expect(r.stderr).toContain("ephemeral ports 32768-60999 per source address, at most 28,232");
      expect(r.stderr).toContain("connect over IPv4 loopback (127.0.0.1)");
      expect(accepted).toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("--no-preflight lets the same load past the check", async () => {
    const r = await runCliAsync(["load", "-c", "30000", "-D", "1s", "--timeout", "1s", "--no-preflight", "http://[::1]:9/"]);
    expect(r.stderr).not.toContain("preflight");
    expect(r.code).not.toBe(0);
  });

  it("a spec that fits runs: verify passes a small scenario on HAProxy", () => {
    const { dir, env } = sandbox();
    const file = spec(dir, "{ connections: 5, requests: 100 }");
    const r = runCli(["verify", file], { env, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).not.toContain("preflight");
    expect(r.stdout).toMatch(/^1 passed, 0 failed$/m);
    // What the refusals above lack: a started stack registers itself here.
    expect(readdirSync(dir)).toContain("runs");
  });
});
