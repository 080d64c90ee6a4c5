/**
 * How each reporting command talks: -q prints nothing but errors, --json -
 * puts one JSON document alone on stdout, and PASS/FAIL are coloured only on a
 * terminal that has not asked for no colour. Real CLI processes, real proxies.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colorFor } from "../src/cli/color.js";
import { BIN, ROOT, runCli, runCliAsync } from "./helpers/cli.js";
import { h1Get } from "./helpers/http.js";
import { spawnCli } from "./helpers/processes.js";

const tmp = () => mkdtempSync(join(tmpdir(), "spillway-report-"));
/** `spillway down` that looks only at an empty runs directory and no Docker engine: quick, and touches nobody's runs. */
const downEnv = () => ({ SPILLWAY_RUNS_DIR: tmp(), DOCKER_HOST: "unix:///nonexistent.sock" });
const VERIFY_ONE = ["verify", "fixtures/test/small.yaml", "--target", "haproxy", "--scenario", "below"];
const SGR_COLOUR = /\u001b\[(3[0-9]|39)m/;

/** One HTTP/1.1 server in this process, answering as a stub does, for `spillway load`. */
let server: http.Server;
let url = "";
beforeAll(async () => {
  server = http.createServer({ keepAlive: true }, (_req, res) => {
    res.writeHead(200, { "x-spillway-backend": "here", "content-length": "2" });
    res.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe("-q: nothing on stdout or stderr when all is well", () => {
  it("render, check and down", () => {
    const out = tmp();
    for (const args of [
      ["render", "fixtures/classic.yaml", "--out", out, "-q"],
      ["check", "fixtures/classic.yaml", "-q"],
      ["down", "-q"],
    ]) {
      const r = runCli(args, { env: downEnv() });
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, code: 0, stdout: "", stderr: "" });
    }
    // What was asked for is still written.
    expect(readFileSync(join(out, "haproxy.cfg"), "utf8")).toContain("frontend webserver");
  });

  it("render without -q says what it wrote: the line -q leaves out", () => {
    const out = tmp();
    expect(runCli(["render", "fixtures/classic.yaml", "--out", out]).stderr).toContain(`wrote ${join(out, "haproxy.cfg")}`);
  });

  it("load", async () => {
    const r = await runCliAsync(["load", url, "-p", "h1", "-c", "2", "-n", "50", "-q"]);
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("up, for a second", () => {
    const r = runCli(["up", "fixtures/test/small.yaml", "--for", "1s", "-q"]);
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("verify", () => {
    const r = runCli([...VERIFY_ONE, "-q"], { timeoutMs: 120_000 });
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("still prints the error and its exit code", () => {
    // HAProxy 2.6 does not know tune.h2.fe.max-concurrent-streams (2.7+).
    const r = runCli(["check", "fixtures/classic.yaml", "--target", "haproxy", "--haproxy-version", "2.9", "-q"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("unknown keyword 'tune.h2.fe.max-concurrent-streams'");
    const load = runCli(["load", "http://127.0.0.1:9/", "-n", "1", "-q"]);
    expect(load.code).toBe(3);
    expect(load.stderr).toContain("nothing listens there");
    // A run that broke is named, with its cause; the tables are not printed.
    const broken = runCli([...VERIFY_ONE, "--ready-timeout", "1ms", "-q"], { timeoutMs: 120_000 });
    expect(broken.code).toBe(3);
    expect(broken.stdout).toBe("");
    expect(broken.stderr).toMatch(/^spillway: haproxy \/ below: haproxy \(pid \d+\) frontend 'web' did not answer through to a stub/);
    expect(broken.stderr).not.toContain("ERROR  haproxy");
  });
});

describe("--json -: one JSON document alone on stdout, the text on stderr", () => {
  it("render: files, versions and the fidelity report of the rendered targets", () => {
    const out = tmp();
    const r = runCli(["render", "fixtures/classic.yaml", "--out", out, "--target", "nginx", "--nginx-version", "1.22.1", "--json", "-"]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json).toMatchObject({ spec: "fixtures/classic.yaml", targets: ["nginx"], versions: { nginx: "1.22.1" }, files: [join(out, "nginx.conf")] });
    expect(json.fidelity.length).toBeGreaterThan(0);
    for (const e of json.fidelity) {
      expect(e.haproxy).toBeNull();
      expect(["exact", "approximate", "unsupported"]).toContain(e.nginx.level);
    }
    expect(json.counts.unsupported).toBe(json.fidelity.filter((e: { nginx: { level: string } }) => e.nginx.level === "unsupported").length);
    expect(json.counts.unsupported).toBeGreaterThan(0);
    // The text report goes where it always went.
    expect(r.stderr).toContain("nginx: UNSUPPORTED");
  });

  it("render refuses --out - with --json -: both would be on stdout", () => {
    const r = runCli(["render", "fixtures/classic.yaml", "--out", "-", "--json", "-"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--out - and --json - would both write to stdout");
    expect(r.stdout).toBe("");
  });

  it("check: each proxy's verdict, in its own words when it rejects", () => {
    const ok = runCli(["check", "fixtures/classic.yaml", "--json", "-"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ passed: true, results: [{ target: "haproxy", valid: true, file: "haproxy.cfg" }, { target: "nginx", valid: true }] });
    expect(ok.stderr).toMatch(/^haproxy 2\.\d+\.\d+: haproxy.cfg is valid$/m);
    const bad = runCli(["check", "fixtures/classic.yaml", "--target", "haproxy", "--haproxy-version", "2.9", "--json", "-"]);
    expect(bad.code).toBe(2);
    const json = JSON.parse(bad.stdout);
    expect(json).toMatchObject({ passed: false, results: [{ target: "haproxy", version: "2.9.0", valid: false }] });
    expect(json.results[0].output).toContain("unknown keyword 'tune.h2.fe.max-concurrent-streams'");
    expect(json.results[0].places[0]).toMatchObject({ text: "tune.h2.fe.max-concurrent-streams 100" });
  });

  it("down: what it stopped and removed", () => {
    const r = runCli(["down", "--json", "-"], { env: downEnv() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ runs: [], killed: [], containers: [], removedDirs: [], skipped: [], dockerNote: expect.stringContaining("no Docker engine reachable") });
    expect(r.stderr).toContain("no Docker engine reachable");
  });

  it("load: the result", async () => {
    const r = await runCliAsync(["load", url, "-p", "h1", "-c", "2", "-n", "50", "--json", "-"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).backends.here.count).toBe(50);
    expect(r.stderr).toContain("requests: 50 total");
  });

  it("up: one line as soon as everything is up, with addresses that answer while it stays up", async () => {
    const cli = spawnCli(["up", "fixtures/test/small.yaml", "--for", "3s", "--json", "-"], {});
    try {
      await cli.waitForStdout("\n", 60_000);
      const line = cli.stdout();
      const json = JSON.parse(line);
      expect(json).toMatchObject({ runtime: "process", stopsAfterMs: 3000, stubs: { "main/s1": expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) } });
      expect(json.frontends.map((f: { target: string }) => f.target)).toEqual(["haproxy", "nginx"]);
      const haproxy = json.frontends[0];
      const reply = await h1Get(haproxy.url, "/");
      expect(reply.status).toBe(200);
      expect(reply.headers["x-spillway-backend"]).toBe("main");
      // Each proxy's own counters, in the form spillway load's --nginx-status and --haproxy-stats take.
      expect(json.counters.haproxy).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(json.counters.nginx).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/__spillway\/status$/);
      const status = await h1Get(json.counters.nginx);
      expect(status.body).toMatch(/^Active connections: \d+/);
      expect(await cli.waitExit(30_000)).toEqual({ code: 0, signal: null });
      expect(cli.stderr()).toContain(`--nginx-status ${json.counters.nginx}`);
      expect(cli.stderr()).toContain(`--haproxy-stats ${json.counters.haproxy}`);
      expect(cli.stdout()).toBe(line);
      expect(cli.stderr()).toContain("Stopping by itself in 3s (or on Ctrl-C).");
      expect(cli.stderr()).toContain(`spillway up: run ${json.runId}, process runtime`);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill("SIGTERM");
    }
  });

  it("verify: the report, its expectations carrying numbers beside the text", () => {
    const r = runCli([...VERIFY_ONE, "--json", "-"], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const [result] = JSON.parse(r.stdout).results;
    const byName = Object.fromEntries(result.expectations.map((e: { name: string }) => [e.name, e]));
    expect(byName["backends.main"]).toMatchObject({ expected: "100%", actual: "100% (2000 of 2000)", op: "==", threshold: 100, value: 100, unit: "%", passed: true });
    expect(byName["backends.overflow"]).toMatchObject({ expected: "0", op: "==", threshold: 0, value: 0, unit: "count" });
    expect(byName["max_connections_seen"]).toMatchObject({ op: "<=", threshold: 20, unit: "count", value: expect.any(Number) });
    expect(byName["max_connections_seen"].value).toBeLessThanOrEqual(20);
    expect(r.stderr).toMatch(/^PASS {2}haproxy \/ below/m);
  });
});

describe("colour", () => {
  /** The CLI with stdout and stderr on a pseudo-terminal (util-linux `script`), as a person at a terminal runs it. */
  function onTerminal(args: string[], env: NodeJS.ProcessEnv = {}) {
    const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    const r = spawnSync("script", ["-qec", command, "/dev/null"], { cwd: ROOT, env: { ...process.env, TERM: "xterm", ...env }, encoding: "utf8", timeout: 120_000 });
    expect(r.error).toBeUndefined();
    return { code: r.status, text: r.stdout };
  }

  it("PASS in green on a terminal; the report files plain all the same", () => {
    const dir = tmp();
    const r = onTerminal([...VERIFY_ONE, "--json", join(dir, "r.json"), "--junit", join(dir, "r.xml"), "--html", join(dir, "r.html")]);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain("\u001b[32mPASS\u001b[39m  haproxy / below");
    expect(r.text).toContain("\u001b[32mok\u001b[39m    backends.main 100%");
    for (const f of ["r.json", "r.xml", "r.html"]) expect(readFileSync(join(dir, f), "utf8"), f).not.toMatch(/\u001b/);
  });

  it("none with NO_COLOR set, and none into a pipe", () => {
    const r = onTerminal(VERIFY_ONE, { NO_COLOR: "1" });
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain("PASS  haproxy / below");
    expect(r.text).not.toMatch(SGR_COLOUR);
    const piped = runCli(VERIFY_ONE, { timeoutMs: 120_000 });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toContain("PASS  haproxy / below");
    expect(piped.stdout + piped.stderr).not.toMatch(/\u001b/);
  });

  it("is decided by the stream and the environment", () => {
    expect(colorFor(true, {})).toBe(true);
    expect(colorFor(false, {})).toBe(false);
    // https://no-color.org: any non-empty value, "0" included, turns colour off; an empty one does not.
    expect(colorFor(true, { NO_COLOR: "0" })).toBe(false);
    expect(colorFor(true, { NO_COLOR: "" })).toBe(true);
    expect(colorFor(true, { TERM: "dumb" })).toBe(false);
  });
});
