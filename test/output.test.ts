import { spawnSync } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, ROOT, runCli, type CliResult } from "./helpers/cli.js";

// Every output is all or nothing: a bad place exits 1, an I/O failure 3,
// with the path and what to do, no stack trace, no temp file, and what was
// there before left byte for byte. Tests run as root, so "unwritable" is made
// with chattr +i (which stops root too), /proc and /sys.

const tmp = () => mkdtempSync(join(tmpdir(), "spillway-output-"));
const TEMP = /\.spillway-\d+.*\.tmp$/;

const immutable: string[] = [];
function makeImmutable(path: string) {
  const r = spawnSync("chattr", ["+i", path], { encoding: "utf8" });
  expect(r.status, `chattr +i ${path}: ${r.stderr}`).toBe(0);
  immutable.push(path);
}
afterEach(() => {
  for (const p of immutable.splice(0)) spawnSync("chattr", ["-i", p]);
});

/** Every file under dir, recursively, with its contents: a snapshot to compare byte for byte. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    out[p] = e.isFile() ? readFileSync(p, "latin1") : "<dir>";
  }
  return out;
}

function tempsUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((p) => TEMP.test(p));
}

function expectCleanFailure(r: CliResult, code: 1 | 3, message: string | RegExp) {
  expect(r.code, r.stderr).toBe(code);
  if (typeof message === "string") expect(r.stderr).toContain(message);
  else expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toContain("internal error");
  // A hint line: what to do.
  expect(r.stderr.trim().split("\n").length).toBeGreaterThanOrEqual(2);
}

/**
 * A device like /dev/full (writes fail with ENOSPC) made in a temporary
 * directory: were a regression to replace the destination instead of writing
 * to it, it would replace this node, not the machine's /dev/full.
 */
function fullDevice(): string {
  const path = join(tmp(), "full");
  const r = spawnSync("mknod", ["-m", "666", path, "c", "1", "7"], { encoding: "utf8" });
  expect(r.status, `mknod ${path}: ${r.stderr}`).toBe(0);
  return path;
}

/** A directory holding an earlier render, to check a failed render leaves it as it was. */
function previousRender(): { dir: string; before: Record<string, string> } {
  const dir = tmp();
  writeFileSync(join(dir, "haproxy.cfg"), "# the old haproxy.cfg\n");
  writeFileSync(join(dir, "nginx.conf"), "# the old nginx.conf\n");
  return { dir, before: snapshot(dir) };
}

/** Runs the CLI with stdout going to an open file descriptor (e.g. /dev/full). */
function runWithStdout(path: string, args: string[]): CliResult {
  const fd = openSync(path, "w");
  try {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ["ignore", fd, "pipe"], encoding: "utf8", timeout: 60_000 });
    return { code: r.status, stdout: "", stderr: r.stderr };
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs the CLI with stdout a pipe whose reader has already gone: cat fills the
 * pipe until its write fails with EPIPE (SIGPIPE ignored), and only then is
 * spillway started on the same pipe. No race: the reader is gone for good.
 */
function runWithClosedPipe(args: string[]): CliResult {
  const quoted = args.map((a) => `'${a}'`).join(" ");
  const script = `trap '' PIPE; { cat /dev/zero 2>/dev/null; exec '${process.execPath}' '${BIN}' ${quoted}; } | true; exit \${PIPESTATUS[0]}`;
  const r = spawnSync("bash", ["-c", script], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("render --out DIR, all or nothing", () => {
  it("exits 1 when --out is an existing file, and leaves the file alone", () => {
    const dir = tmp();
    const file = join(dir, "out");
    writeFileSync(file, "mine\n");
    const r = runCli(["render", "fixtures/classic.yaml", "--out", file, "-q"]);
    expectCleanFailure(r, 1, `--out ${file} is a file, not a directory; nothing was written`);
    expect(readFileSync(file, "utf8")).toBe("mine\n");
    expect(readdirSync(dir)).toEqual(["out"]);
  });

  it("exits 1 when a parent of --out is a file, naming it, and creates nothing", () => {
    const dir = tmp();
    writeFileSync(join(dir, "f"), "");
    const out = join(dir, "f", "a", "b");
    const r = runCli(["render", "fixtures/classic.yaml", "--out", out, "-q"]);
    expectCleanFailure(r, 1, `--out ${out}: cannot create the directory: ${join(dir, "f")} is a file, not a directory`);
    expect(readdirSync(dir)).toEqual(["f"]);
  });

  it("removes the directories it created when a deeper one cannot be", () => {
    const dir = tmp();
    const out = join(dir, "a", "x".repeat(300));
    const r = runCli(["render", "fixtures/classic.yaml", "--out", out, "-q"]);
    expectCleanFailure(r, 1, /cannot create the directory: the name is too long \(ENAMETOOLONG\); nothing was written/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each([["nginx.conf"], ["haproxy.cfg"], ["docker-compose.yml"]])("exits 1 when %s is a directory, and changes no other file", (name) => {
    const { dir } = previousRender();
    rmSync(join(dir, name), { force: true });
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "keep"), "someone's\n");
    const before = snapshot(dir);
    const r = runCli(["render", "fixtures/classic.yaml", "--out", dir, "--compose", "-q"]);
    expectCleanFailure(r, 1, `--out ${join(dir, name)} is a directory, where spillway would write a file; nothing was written`);
    expect(snapshot(dir)).toEqual(before);
  });

  it("exits 1 on a directory even root cannot write to, and leaves the old configs", () => {
    const { dir, before } = previousRender();
    makeImmutable(dir);
    const r = runCli(["render", "fixtures/classic.yaml", "--out", dir, "-q"]);
    expectCleanFailure(r, 1, `--out ${join(dir, "haproxy.cfg")}: cannot write it: operation not permitted (EPERM); nothing was written`);
    expect(snapshot(dir)).toEqual(before);
    expect(tempsUnder(dir)).toEqual([]);
  });

  it.each([["/proc/spillway-nope/out"], ["/sys/spillway-nope"]])("exits 1 on %s, a place that takes no directory", (out) => {
    const r = runCli(["render", "fixtures/classic.yaml", "--out", out, "-q"]);
    expectCleanFailure(r, 1, `--out ${out}: cannot create the directory:`);
    expect(existsSync(out)).toBe(false);
  });

  it("puts the first config back when replacing the second fails midway", () => {
    const { dir, before } = previousRender();
    // Root can create files here but cannot replace this one: the rename of
    // nginx.conf fails after haproxy.cfg has already been renamed into place.
    makeImmutable(join(dir, "nginx.conf"));
    const r = runCli(["render", "fixtures/classic.yaml", "--out", dir, "--compose", "-q"]);
    expectCleanFailure(r, 1, `--out ${join(dir, "nginx.conf")}: cannot replace it: operation not permitted (EPERM); nothing was changed`);
    expect(r.stderr).not.toContain("wrote");
    expect(snapshot(dir)).toEqual(before);
    expect(tempsUnder(dir)).toEqual([]);
  });

  it("still replaces the old configs when nothing is wrong", () => {
    const { dir } = previousRender();
    const r = runCli(["render", "fixtures/classic.yaml", "--out", dir, "-q"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "haproxy.cfg"), "utf8")).toMatch(/^# Generated by spillway/);
    expect(readFileSync(join(dir, "nginx.conf"), "utf8")).toMatch(/^# Generated by spillway/);
    expect(readdirSync(dir).sort()).toEqual(["haproxy.cfg", "nginx.conf"]);
  });
});

describe("render --out - and schema to a stdout that fails", () => {
  it("exits 3 on a full stdout (ENOSPC), before the fidelity report", () => {
    const r = runWithStdout(fullDevice(), ["render", "fixtures/classic.yaml", "--out", "-"]);
    expectCleanFailure(r, 3, "spillway: cannot write to stdout: no space left on device (ENOSPC); the output is incomplete");
    expect(r.stderr).not.toContain("Fidelity");
  });

  it("exits 3 when the reader closed the pipe (EPIPE)", () => {
    const r = runWithClosedPipe(["render", "fixtures/classic.yaml", "--out", "-"]);
    expectCleanFailure(r, 3, "spillway: cannot write to stdout: the reading end of the pipe was closed (EPIPE); the output is incomplete");
    expect(r.stderr).not.toContain("Fidelity");
  });

  it("schema: exits 3 on a full stdout and on a closed pipe", () => {
    expectCleanFailure(runWithStdout(fullDevice(), ["schema"]), 3, "spillway: cannot write to stdout: no space left on device (ENOSPC)");
    expectCleanFailure(runWithClosedPipe(["schema"]), 3, "spillway: cannot write to stdout: the reading end of the pipe was closed (EPIPE)");
  });
});

describe("schema --out FILE, all or nothing", () => {
  it("exits 1 when FILE is a directory", () => {
    const dir = tmp();
    const r = runCli(["schema", "--out", dir]);
    expectCleanFailure(r, 1, `--out ${dir} is a directory, where spillway would write a file; nothing was written`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("exits 1 when a parent of FILE is a file", () => {
    const dir = tmp();
    writeFileSync(join(dir, "f"), "");
    const out = join(dir, "f", "schema.json");
    const r = runCli(["schema", "--out", out]);
    expectCleanFailure(r, 1, `--out ${out}: ${join(dir, "f")} is a file, not a directory; nothing was written`);
  });

  it("exits 1 in a directory even root cannot write to, and leaves the old file", () => {
    const dir = tmp();
    const out = join(dir, "schema.json");
    writeFileSync(out, "{}\n");
    makeImmutable(dir);
    const r = runCli(["schema", "--out", out]);
    expectCleanFailure(r, 1, `--out ${out}: cannot write it: operation not permitted (EPERM); nothing was written`);
    expect(readFileSync(out, "utf8")).toBe("{}\n");
    expect(tempsUnder(dir)).toEqual([]);
  });

  it("exits 3 on a full device (ENOSPC), which it writes to instead of replacing", () => {
    const full = fullDevice();
    const r = runCli(["schema", "--out", full]);
    expectCleanFailure(r, 3, `--out ${full}: cannot write to it: no space left on device (ENOSPC)`);
    expect(statSync(full).isCharacterDevice()).toBe(true);
    expect(readdirSync(dirname(full))).toEqual(["full"]);
  });

  it("replaces the file a symbolic link points to, not the link", () => {
    const dir = tmp();
    writeFileSync(join(dir, "real.json"), "{}\n");
    symlinkSync("real.json", join(dir, "link.json"));
    const r = runCli(["schema", "--out", join(dir, "link.json")]);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(dir, "link.json")).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, "real.json"), "utf8")).title).toBe("spillway spec");
    expect(readdirSync(dir).sort()).toEqual(["link.json", "real.json"]);
  });

  it("writes and creates missing directories when it can", () => {
    const dir = tmp();
    const out = join(dir, "a", "b", "schema.json");
    const r = runCli(["schema", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, "utf8")).title).toBe("spillway spec");
  });
});

describe("verify and load check their report paths before the run", () => {
  const started = /starting|Fidelity|requests/;

  it.each([
    ["--json", (d: string) => join(d, "missing", "r.json"), (d: string) => `--json ${join(d, "missing", "r.json")}: the directory ${join(d, "missing")} does not exist; the run did not start`],
    ["--junit", (d: string) => d, (d: string) => `--junit ${d} is a directory, where spillway would write a file; the run did not start`],
    ["--html", (d: string) => join(d, "f", "r.html"), (d: string) => `--html ${join(d, "f", "r.html")}: ${join(d, "f")} is not a directory; the run did not start`],
    ["--ndjson", (d: string) => join(d, "missing", "r.ndjson"), (d: string) => `--ndjson ${join(d, "missing", "r.ndjson")}: the directory ${join(d, "missing")} does not exist; the run did not start`],
  ])("verify %s to a bad place exits 1 without starting", (flag, path, message) => {
    const dir = tmp();
    writeFileSync(join(dir, "f"), "");
    const r = runCli(["verify", "fixtures/test/small.yaml", flag, path(dir)]);
    expectCleanFailure(r, 1, message(dir));
    expect(r.stderr).not.toMatch(started);
    expect(r.stdout).toBe("");
  });

  it("verify --json in a directory even root cannot write to exits 1 without starting", () => {
    const dir = tmp();
    makeImmutable(dir);
    const out = join(dir, "r.json");
    const r = runCli(["verify", "fixtures/test/small.yaml", "--json", out]);
    expectCleanFailure(r, 1, `--json ${out}: cannot create a file next to it: operation not permitted (EPERM); the run did not start`);
    expect(r.stderr).not.toMatch(started);
  });

  it("verify with two reports on one file exits 1 without starting", () => {
    const out = join(tmp(), "r");
    const r = runCli(["verify", "fixtures/test/small.yaml", "--json", out, "--html", out]);
    expectCleanFailure(r, 1, `--json and --html both name ${out}; the run did not start`);
  });

  it.each([
    ["--json", (d: string) => join(d, "missing", "r.json"), (d: string) => `--json ${join(d, "missing", "r.json")}: the directory ${join(d, "missing")} does not exist; the run did not start`],
    ["--ndjson", (d: string) => d, (d: string) => `--ndjson ${d} is a directory, where spillway would write a file; the run did not start`],
  ])("load %s to a bad place exits 1 without starting", (flag, path, message) => {
    const dir = tmp();
    // Nothing listens there: had the run started, it would say so differently.
    const r = runCli(["load", "http://127.0.0.1:9/", "-n", "1", flag, path(dir)]);
    expectCleanFailure(r, 1, message(dir));
    expect(r.stdout).toBe("");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("verify: a report that fails after the run puts back the reports already replaced, and removes the NDJSON it staged", () => {
    const dir = tmp();
    const junit = join(dir, "r.xml");
    writeFileSync(junit, "<old/>\n");
    const before = snapshot(dir);
    const full = fullDevice();
    const r = runCli(
      ["verify", "fixtures/test/small.yaml", "--target", "haproxy", "--scenario", "below", "--junit", junit, "--ndjson", join(dir, "r.ndjson"), "--html", full],
      { timeoutMs: 120_000 },
    );
    expectCleanFailure(r, 3, `--html ${full}: cannot write to it: no space left on device (ENOSPC)`);
    expect(statSync(full).isCharacterDevice()).toBe(true);
    expect(r.stderr).toContain("haproxy / below: starting");
    expect(snapshot(dir)).toEqual(before);
    expect(tempsUnder(dir)).toEqual([]);
  });
});
