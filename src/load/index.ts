/**
 * The load driver: HTTP/2 (h2c, h2 over TLS) and HTTP/1.1 load at loopback
 * targets, counting which backend served each request.
 */
export { runLoad, startLoad, splitTasks, type LoadRun, type LoadRunEvents, type LoadStartInfo } from "./run.js";
export type { TickInfo } from "./engine.js";
export {
  normalizeProfile,
  profileFromBlock,
  parseDurationMs,
  resolveLoopback,
  LOAD_BLOCK_KEYS,
  type LoadProfile,
  type LoadProtocol,
  type LoadStage,
  type LoadBudget,
  type NormalizedProfile,
  type BlockProblem,
} from "./profile.js";
export {
  mergeRunData,
  toLoadResult,
  mergeAndSummarize,
  type LoadResult,
  type ConnectionCounts,
  type StoppedEarly,
  type LatencySummary,
  type BackendResult,
  type TimelineWindow,
  type RunData,
  type BackendData,
} from "./result.js";
export { parseH2loadCommand, type H2loadCommand, type H2loadProblem } from "./h2load-args.js";
export { diagnoseRun, type RunFailure } from "./diagnose.js";
