import { createRun, createRuntime, planPorts, runContext, startProxy, startStubs, type Run, type RunningProxy } from "../../src/runtime/index.js";
import { loadSpecFile } from "../../src/spec/load.js";

/** One HAProxy in front of a spec's stubs, as processes on free loopback ports; the caller runs `run.teardown.run()`. */
export async function startHaproxyStack(spec: string): Promise<{ run: Run; proxy: RunningProxy }> {
  const { model } = loadSpecFile(spec);
  const run = createRun("process");
  const ctx = runContext(run, createRuntime("process", run.registry), { readyTimeoutMs: 15_000 });
  const plan = (await planPorts(model, ["haproxy"], false)).haproxy;
  await startStubs(model, plan.stubs, ctx);
  return { run, proxy: await startProxy(model, "haproxy", plan, ctx) };
}
