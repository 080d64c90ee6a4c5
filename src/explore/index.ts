/**
 * `spillway explore` as a library: a grid of spec and load values measured on
 * every target, set beside the model's prediction. The report's shape is in
 * types.ts; the grid, its paths and values in vary.ts, paths.ts and apply.ts.
 */
export { explore, planExplore, runExplore, checkResume, cellCommand, EXPLORE_DEFAULTS, type CellStart, type ExploreOptions, type ExplorePlan } from "./run.js";
export { rampText, type RampStage } from "./ramp.js";
export type * from "./types.js";
