import { describe, expect, it } from "vitest";
import { startLoad } from "../src/load/index.js";
import { createRun, createRuntime, planPorts, runContext, startProxy, startStubs } from "../src/runtime/index.js";
import { pidAlive } from "../src/runtime/registry.js";
import { loadSpecFile } from "../src/spec/load.js";
import type { Target } from "../src/spec/model.js";

describe.each(["haproxy", "nginx"] as Target[])("a stub killed mid-run behind %s", (target) => {
  it("ends the run by itself, counts what failed as unattributed with its cause, and leaves nothing running", async () => {
    const { model } = loadSpecFile("fixtures/test/small.yaml");
    const run = createRun("process");
    const ctx = runContext(run, createRuntime("process", run.registry), { readyTimeoutMs: 15_000 });
    const pids: number[] = [];
    try {
      const plan = (await planPorts(model, [target], false))[target];
      const stubs = await startStubs(model, plan.stubs, ctx);
      const proxy = await startProxy(model, target, plan, ctx);
      pids.push(stubs.fleet.pid, Number(proxy.proxy.id));
      const load = startLoad({ url: proxy.frontends[0]!.url, connections: 10, streams: 4, durationMs: 3000, timeoutMs: 2000, maxRunMs: 20_000 });
      let killed = false;
      load.on("tick", (t) => {
        if (!killed && t.completed > 200) {
          killed = true;
          stubs.fleet.kill("SIGKILL");
        }
      });
      const result = await load.done;
      expect(killed).toBe(true);
      const attributed = Object.values(result.backends).reduce((sum, b) => sum + b.count, 0);
      expect(attributed + result.unattributed.total).toBe(result.requests.sent);
      expect(attributed).toBeGreaterThan(200);
      expect(result.unattributed.total).toBeGreaterThan(0);
      const causes = Object.keys(result.unattributed.byCause);
      expect(causes.every((c) => /^status-50[234]-no-header$|^(reset|timeout|closed|refused|connect-timeout|connect-error)$/.test(c)), causes.join(",")).toBe(true);
    } finally {
      const report = await run.teardown.run();
      expect(report.failed).toEqual([]);
    }
    for (const pid of pids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
  });
});
