/**
 * The library's verify() with an AbortSignal: aborted mid-load, it stops the
 * load and tears down the stubs, the proxy (process or container), the run
 * directory and the run record, all before its promise rejects.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadSpec, verify, type LoadRun } from "../src/index.js";
import { RUN_LABEL } from "../src/runtime/index.js";
import { pidAlive, type RunRecord } from "../src/runtime/registry.js";
import { dockerUsability, itRequiresDocker } from "./helpers/docker.js";
import { containersWithLabel, removeContainersWithLabel } from "./helpers/processes.js";

const docker = await dockerUsability("Docker abort test");

const scratch = mkdtempSync(join(tmpdir(), "spillway-abort-"));
// Runs record what they start here, so this file sees its own runs only.
process.env["SPILLWAY_RUNS_DIR"] = join(scratch, "runs");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Long enough that only the abort can end it in time. */
const SPEC = loadSpec({
  name: "abort.yaml",
  text: `
version: 1
frontends:
  web: { bind: "127.0.0.1:18080", default_backend: main }
backends:
  main: { servers: 2 }
scenarios:
  long:
    load: { connections: 4, streams: 2, duration: 60s }
    expect: { errors: "0" }
`,
});

function records(): RunRecord[] {
  const dir = process.env["SPILLWAY_RUNS_DIR"]!;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as RunRecord);
}

describe("verify() aborted by its signal while the load runs", () => {
  itRequiresDocker(docker);

  async function abortMidLoad(runtime: "process" | "docker") {
    const controller = new AbortController();
    let seen: RunRecord[] = [];
    let requestsDone = 0;
    const started = Date.now();
    const onLoad = (load: LoadRun) =>
      load.on("tick", (t) => {
        requestsDone = t.completed;
        // Once requests are answered, the whole stack is up: note what it is, then pull the plug.
        if (t.completed > 0 && !controller.signal.aborted) {
          seen = records();
          controller.abort(new Error("enough of that"));
        }
      });
    const warnings: string[] = [];
    try {
      await expect(verify(SPEC, { runtime, signal: controller.signal, onLoad, warn: (text) => warnings.push(text) })).rejects.toThrow("enough of that");
      expect(warnings, "nothing failed to clean up").toEqual([]);
      expect(Date.now() - started, "the 60 s load ended with the abort").toBeLessThan(30_000);
      expect(requestsDone).toBeGreaterThan(0);
      expect(seen, "one run record while the load ran").toHaveLength(1);
      const record = seen[0]!;
      const pids = record.processes.map((p) => p.pid);
      expect(record.processes.map((p) => p.name).sort()).toEqual(runtime === "process" ? ["haproxy", "stubs"] : ["stubs"]);
      // Checked at once: the promise settled after teardown, not before it.
      for (const pid of pids) expect(pidAlive(pid), `pid ${pid} of the run`).toBe(false);
      for (const dir of record.dirs) expect(existsSync(dir), dir).toBe(false);
      expect(records(), "run records left").toEqual([]);
      if (runtime === "docker") expect(await containersWithLabel(RUN_LABEL, record.runId)).toEqual([]);
    } finally {
      for (const r of seen) if (runtime === "docker") await removeContainersWithLabel(RUN_LABEL, r.runId);
    }
  }

  it("process runtime: rejects with the signal's reason only once everything the run started is gone", () => abortMidLoad("process"), 120_000);
  it.skipIf(docker.skip)("docker runtime: rejects with the signal's reason only once everything the run started, its container too, is gone", () => abortMidLoad("docker"), 120_000);
});
