export { createRuntime, type RuntimeKind } from "./create.js";
export { down, type DownResult } from "./down.js";
export { createRun, runContext, type Run } from "./run.js";
export { withSession, type SessionOptions } from "./session.js";
export {
  assertLoopbackStack,
  planPorts,
  startProxy,
  startSpecStubs,
  startStack,
  startStubs,
  type FrontendEndpoint,
  type RunContext,
  type RunningProxy,
  type RunningStack,
  type RunningStubs,
} from "./stack.js";
export { Teardown, formatTeardownReport, type TeardownReport } from "./teardown.js";
export type { ProxyInfo, ProxyRuntime, StartedProxy } from "./types.js";
export { DockerRuntime, RUN_LABEL } from "./docker-runtime.js";
export { ProcessRuntime } from "./process.js";
