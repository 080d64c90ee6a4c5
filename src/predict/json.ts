/**
 * What `spillway predict --json` writes and `predictSpec` returns: plain
 * data, snake_case as in `verify --json`, so a script reads one shape from
 * either.
 */
import type { Target } from "../spec/model.js";
import type { JsonFlip } from "../flip.js";

/** A predicted flip, in the shape `verify --json` writes a measured one. */
export type PredictedFlipJson = JsonFlip;

/** One scenario on one target. */
export interface PredictionJson {
  target: string;
  scenario: string;
  /** Share of the requests each backend is routed, 0..1; they sum to 1 when any request was routed. */
  backends: Record<string, number>;
  /** Per backend, the lowest and highest share were the count at each routing a few connections off the model's (0..1). */
  bands: Record<string, [number, number]>;
  /** Requests routed to each backend. */
  routed: Record<string, number>;
  /** Of those, requests refused at once by a backend with no free slot (nginx max_conns, which has no queue). */
  refused: Record<string, number>;
  flips: PredictedFlipJson[];
  /** Highest count the proxy held while routing a measured request. */
  max_proxy_conns_seen: number;
  /** Highest count the proxy held at all. */
  max_conns: number;
  duration_ms: number;
  /** The simulation hit its event bound; the shares cover the part it simulated. */
  truncated: boolean;
  /** What the model ignores or approximates for this input, in plain words. */
  assumptions: string[];
}

export interface PredictReport {
  /** The spec file the predictions are for. */
  spec: string;
  /** One per scenario and target, scenario by scenario in the spec's order. */
  results: (PredictionJson & { target: Target })[];
}
