/**
 * The load driver: HTTP/2 (h2c, h2 over TLS) and HTTP/1.1 load at loopback
 * targets, counting which backend served each request.
 */
export { runLoad, startLoad, splitTasks, type LoadOptions, type LoadRun, type LoadRunEvents, type LoadStartInfo } from "./run.js";
export type { TickInfo } from "./engine.js";
export { parseLoadProfile, validateLoad, checkLoad } from "../spec/load-profile.js";
export {
  profileFor,
  normalizeLoad,
  normalizeProfile,
  runProblems,
  fileDescriptorProblem,
  resolveLoopback,
  SPEC_NAMES,
  type LoadInput,
  type LoadProfile,
  type LoadProtocol,
  type LoadStage,
  type LoadBudget,
  type LoadProblem,
  type KeyNames,
  type KeyPath,
  type CheckedLoad,
  type NormalizedLoad,
  type NormalizedProfile,
  type RunOptions,
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
export { parseH2loadCommand, H2LOAD_KEYS, type H2loadCommand, type H2loadProblem } from "../spec/h2load-args.js";
export { diagnoseRun, type RunFailure } from "./diagnose.js";
