/**
 * spillway as a user meets it: the packed tarball installed into an empty
 * project without optional dependencies (so without dockerode), imported
 * from TypeScript as "spillway", typechecked with NodeNext resolution against
 * the declarations in the package, compiled, and run against the real
 * haproxy and nginx.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers/cli.js";

const SPEC = join(ROOT, "fixtures", "test", "small.yaml");
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

const scratch = mkdtempSync(join(tmpdir(), "spillway-package-"));
const project = join(scratch, "consumer");
const runsDir = join(scratch, "runs");

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** npm as a user runs it: none of the npm_* settings of a `npm test` around this run leak into it. */
function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")));
  return spawnSync("npm", args, { cwd, env, encoding: "utf8", timeout: 180_000 });
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8", timeout: 180_000 });
}

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    noUncheckedIndexedAccess: true,
    // The package's own declarations are checked too, with everything they import.
    skipLibCheck: false,
    types: ["node"],
    outDir: "out",
  },
  files: ["main.ts"],
};

/** What a user writes: every entry point, with the types they promise. */
const MAIN = `
import { readFileSync } from "node:fs";
import {
  check,
  ExitCode,
  loadSpec,
  render,
  SpecError,
  SpillwayError,
  verify,
  verifyExitCode,
  type ConfigCheck,
  type JsonReport,
  type LoadedSpec,
  type Rendered,
} from "spillway";

const specPath = process.argv[2]!;
const spec: LoadedSpec = loadSpec(specPath);
const fromText: LoadedSpec = loadSpec({ text: readFileSync(specPath, "utf8"), name: "from-text.yaml" });

let invalid: { name: string; exitCode: number; message: string } | null = null;
try {
  loadSpec({ text: "version: 1\\nfrontends: {}\\nbackends: {}\\nbogus: 1\\n", name: "bad.yaml" });
} catch (err) {
  if (err instanceof SpecError) invalid = { name: err.name, exitCode: err.exitCode, message: err.message };
}

const rendered: Rendered = render(spec);
const checks: ConfigCheck[] = await check(spec);

// @ts-expect-error: a target is "haproxy" or "nginx"; this line type-checks only if the types are wrong (say, any)
void verify(spec, { targets: ["apache"], signal: AbortSignal.abort() }).catch(() => undefined);

const report: JsonReport = await verify(specPath, { targets: ["haproxy"], scenarios: ["below"], runtime: "process" });
const exit: ExitCode = verifyExitCode(report.results);

const docker: JsonReport = await verify(spec, { targets: ["haproxy"], scenarios: ["below"], runtime: "docker" });

let aborted: string | null = null;
try {
  await verify(spec, { signal: AbortSignal.abort(new Error("stopped before it began")) });
} catch (err) {
  aborted = (err as Error).message;
}

let unknownScenario: { name: string; exitCode: number } | null = null;
try {
  await verify(spec, { scenarios: ["abvoe"] });
} catch (err) {
  if (err instanceof SpillwayError) unknownScenario = { name: err.name, exitCode: err.exitCode };
}

let deepImport: string | null = null;
const internal = "spillway/dist/spec/load.js";
try {
  await import(internal);
} catch (err) {
  deepImport = (err as NodeJS.ErrnoException).code ?? String(err);
}

process.stdout.write(JSON.stringify({
  file: spec.model.file,
  textFile: fromText.model.file,
  sameModel: JSON.stringify({ ...fromText.model, file: "" }) === JSON.stringify({ ...spec.model, file: "" }),
  invalid,
  rendered: { haproxy: rendered.haproxy, nginx: rendered.nginx, fidelity: rendered.fidelity.length },
  checks: checks.map((c) => ({ target: c.target, ok: c.ok, version: c.version, output: c.output })),
  report,
  roundTrip: JSON.stringify(JSON.parse(JSON.stringify(report))) === JSON.stringify(report),
  exit,
  docker,
  aborted,
  unknownScenario,
  deepImport,
}));
`;

interface Outcome {
  file: string;
  textFile: string;
  sameModel: boolean;
  invalid: { name: string; exitCode: number; message: string } | null;
  rendered: { haproxy: string; nginx: string; fidelity: number };
  checks: { target: string; ok: boolean; version: { major: number; minor: number }; output: string }[];
  report: {
    spec: string;
    passed: boolean;
    results: { target: string; scenario: string; runtime: string; status: string; error: string | null; requests: { sent: number }; backends: Record<string, number>; reconciliation: { ok: boolean } | null }[];
  };
  roundTrip: boolean;
  exit: number;
  docker: { passed: boolean; results: { runtime: string; status: string; error: string | null }[] };
  aborted: string | null;
  unknownScenario: { name: string; exitCode: number } | null;
  deepImport: string | null;
}

let tarball = "";
let packed: string[] = [];

beforeAll(() => {
  mkdirSync(project);
  mkdirSync(runsDir);
  // `npm pack` runs the `prepare` script (tsc), as a publish would.
  const pack = npm(["pack", "--json", "--pack-destination", scratch], ROOT);
  expect(pack.status, pack.stderr).toBe(0);
  const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
  tarball = join(scratch, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);
  writeFileSync(join(project, "package.json"), `${JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2)}\n`);
  // The local cache first: this machine reaches no registry but npm's.
  const install = npm(["install", "--prefer-offline", "--omit=optional", "--no-audit", "--no-fund", tarball, "@types/node@20"], project);
  expect(install.status, install.stderr).toBe(0);
}, 300_000);

describe("the packed package", () => {
  it("holds the library, the CLI and its templates, and nothing of the sources or tests", () => {
    for (const f of ["package.json", "bin/spillway.js", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js", "templates/haproxy.cfg.hbs", "templates/nginx.conf.hbs"]) {
      expect(packed, f).toContain(f);
    }
    expect(packed.filter((f) => f.startsWith("src/") || f.startsWith("test/") || f.startsWith("fixtures/"))).toEqual([]);
  });

  it("installs without its optional dependencies: no dockerode, nor what it pulls in", () => {
    expect(existsSync(join(project, "node_modules", "spillway", "dist", "index.js"))).toBe(true);
    for (const p of ["dockerode", "ssh2", "cpu-features", "docker-modem"]) expect(existsSync(join(project, "node_modules", p)), p).toBe(false);
  });
});

describe('import ... from "spillway" in TypeScript', () => {
  let outcome: Outcome;

  beforeAll(() => {
    writeFileSync(join(project, "tsconfig.json"), `${JSON.stringify(TSCONFIG, null, 2)}\n`);
    writeFileSync(join(project, "main.ts"), MAIN);
    const typecheck = run(process.execPath, [TSC, "-p", "tsconfig.json", "--noEmit"], project);
    expect(typecheck.status, `tsc --noEmit:\n${typecheck.stdout}${typecheck.stderr}`).toBe(0);
    // Checked just above: emitting needs no second check.
    const compile = run(process.execPath, [TSC, "-p", "tsconfig.json", "--noCheck"], project);
    expect(compile.status, compile.stdout).toBe(0);
    const r = run(process.execPath, [join(project, "out", "main.js"), SPEC], project, { SPILLWAY_RUNS_DIR: runsDir });
    expect(r.status, r.stderr).toBe(0);
    outcome = JSON.parse(r.stdout) as Outcome;
  }, 240_000);

  it("the declarations resolve through the exports map, and only the public face's: internal modules are out of reach for types and at run time", () => {
    writeFileSync(join(project, "wrong.ts"), 'import { render } from "spillway";\nconst n: number = render;\nexport { n };\n');
    writeFileSync(join(project, "deep.ts"), 'import { loadSpecFile } from "spillway/dist/spec/load.js";\nexport { loadSpecFile };\n');
    const r = run(process.execPath, [TSC, "--noEmit", "--skipLibCheck", "--module", "NodeNext", "--moduleResolution", "NodeNext", "--strict", "--types", "node", "wrong.ts", "deep.ts"], project);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/wrong\.ts\(2,7\): error TS2322/);
    expect(r.stdout).toMatch(/deep\.ts\(1,\d+\): error TS2307: Cannot find module 'spillway\/dist\/spec\/load\.js'/);
    expect(outcome.deepImport).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED");
  });

  it("loadSpec reads a path or YAML text, and an invalid spec is a SpecError with exit code 2", () => {
    expect(outcome.file).toBe(SPEC);
    expect(outcome.textFile).toBe("from-text.yaml");
    expect(outcome.sameModel).toBe(true);
    expect(outcome.invalid).toMatchObject({ name: "SpecError", exitCode: 2 });
    expect(outcome.invalid!.message).toContain("bad.yaml");
  });

  it("render gives the same bytes as the installed CLI", () => {
    const bin = join(project, "node_modules", ".bin", "spillway");
    for (const target of ["haproxy", "nginx"] as const) {
      const cli = run(bin, ["render", SPEC, "-o", "-", "--target", target, "-q", "--haproxy-version", "2.6", "--nginx-version", "1.22"], project);
      expect(cli.status, cli.stderr).toBe(0);
      expect(outcome.rendered[target]).toBe(cli.stdout);
    }
    expect(outcome.rendered.haproxy).toContain("acl");
    expect(outcome.rendered.haproxy).toMatch(/fe_conn gt 20/);
  });

  it("check runs the real haproxy -c and nginx -t and both accept the configs", () => {
    expect(outcome.checks.map((c) => [c.target, c.ok])).toEqual([
      ["haproxy", true],
      ["nginx", true],
    ]);
    for (const c of outcome.checks) expect(c.version.major).toBeGreaterThan(0);
  });

  it("verify runs the scenario through the real haproxy and returns the --json report as a plain object", () => {
    expect(outcome.report.spec).toBe(SPEC);
    expect(outcome.report.passed).toBe(true);
    expect(outcome.report.results).toHaveLength(1);
    const [res] = outcome.report.results;
    expect(res).toMatchObject({ target: "haproxy", scenario: "below", runtime: "process", status: "passed", error: null, requests: { sent: 2000 }, backends: { main: 2000 } });
    expect(res!.reconciliation!.ok).toBe(true);
    expect(outcome.roundTrip).toBe(true);
    expect(outcome.exit).toBe(0);
    // The same run through the installed CLI writes the same shape.
    const json = join(scratch, "cli.json");
    const cli = run(join(project, "node_modules", ".bin", "spillway"), ["verify", SPEC, "--target", "haproxy", "-s", "below", "--json", json], project, { SPILLWAY_RUNS_DIR: runsDir });
    expect(cli.status, cli.stdout + cli.stderr).toBe(0);
    const written = JSON.parse(readFileSync(json, "utf8")) as Record<string, unknown>;
    expect(Object.keys(written)).toEqual(Object.keys(outcome.report));
    const first = (written.results as Record<string, unknown>[])[0]!;
    expect(Object.keys(first)).toEqual(Object.keys(res!));
  });

  it("without dockerode, the Docker runtime is an error run naming the package and how to install it; the CLI exits 3", () => {
    expect(outcome.docker.passed).toBe(false);
    expect(outcome.docker.results).toHaveLength(1);
    expect(outcome.docker.results[0]).toMatchObject({ runtime: "docker", status: "error" });
    expect(outcome.docker.results[0]!.error).toContain("the Docker runtime needs the package dockerode, which is not installed");
    expect(outcome.docker.results[0]!.error).toContain("npm install dockerode");
    const cli = run(join(project, "node_modules", ".bin", "spillway"), ["verify", SPEC, "--target", "haproxy", "-s", "below", "--runtime", "docker"], project, { SPILLWAY_RUNS_DIR: runsDir });
    expect(cli.status, cli.stdout + cli.stderr).toBe(3);
    expect(cli.stdout).toContain("dockerode, which is not installed");
    expect(cli.stdout).toContain("npm install dockerode");
    expect(cli.stderr).not.toMatch(/^\s+at /m);
  });

  it("an aborted signal rejects with its reason; an unknown scenario is a UsageError (exit 1)", () => {
    expect(outcome.aborted).toBe("stopped before it began");
    expect(outcome.unknownScenario).toEqual({ name: "UsageError", exitCode: 1 });
  });
});
