import { describe, expect, it } from "vitest";
import { parseLoadProfile, startLoad } from "../src/load/index.js";
import { createRun, createRuntime, planPorts, runContext, startProxy, startStubs } from "../src/runtime/index.js";
import { pidAlive } from "../src/runtime/registry.js";
import { loadSpecFile } from "../src/spec/load.js";
import type { Target } from "../src/spec/model.js";
import { proxyFailures } from "../src/verify/routes.js";

/**
 * What each proxy makes of a stub fleet SIGKILLed under load, in this setup
 * (fixtures/test/small.yaml: no health checks, haproxy's default `retries 3`;
 * load over h2c with timeoutMs 2000):
 *
 * - nginx: the upstream connect is refused (or an in-flight request's upstream
 *   connection dies, and proxy_next_upstream's retry is refused), and nginx
 *   answers 502 at once, without the stubs' backend header:
 *   `status-502-no-header`.
 * - haproxy: it answers nothing within 2 s. Requests in flight at the kill get
 *   RST_STREAM REFUSED_STREAM; the driver resends them at once on the same
 *   connection (they are safe to resend; it used to keep them until haproxy
 *   closed the idle connection after `timeout http-keep-alive` 10 s, outside
 *   any request timeout, and this test took about 13 s). HAProxy then holds each
 *   resent request while it retries the refused server connection 3 times,
 *   1 s apart, and would answer 503 only after about 3 s (measured: 503 after
 *   3.0 s with curl), so the driver's 2 s timeout always ends it first:
 *   `timeout`. The margin is haproxy's own 1 s turn-around timer, not a race.
 */
const EXPECTED_CAUSE: Record<Target, string> = { haproxy: "timeout", nginx: "status-502-no-header" };

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
      const load = startLoad(parseLoadProfile({ connections: 10, streams: 4, duration: "3s", timeout: "2s" }, { url: proxy.frontends[0]!.url, maxRunMs: 20_000 }));
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
      // Each proxy turns the dead stubs into exactly one cause (the same in every run; not a race):
      expect(Object.keys(result.unattributed.byCause), JSON.stringify(result.unattributed.byCause)).toEqual([EXPECTED_CAUSE[target]]);
      if (target === "nginx") {
        // nginx's own 502s carry its route stamp: each is counted against the backend it was routed to, with its cause.
        const failures = proxyFailures(target, model, result);
        expect(failures.map((f) => [f.status, f.count]), JSON.stringify(result.routed)).toEqual([[502, result.unattributed.total]]);
        expect(failures[0]!.cause).toMatch(/^refused by nginx: no server reachable/);
      }
    } finally {
      const report = await run.teardown.run();
      expect(report.failed).toEqual([]);
    }
    for (const pid of pids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
  });
});
