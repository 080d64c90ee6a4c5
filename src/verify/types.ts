import type { LoadResult } from "../load/index.js";
import type { WsResult } from "../load/ws/index.js";
import type { Target } from "../spec/model.js";
import type { ExpectationResult } from "./evaluate.js";
import type { CountsReport } from "./counts.js";
import type { Reconciliation } from "./reconcile.js";
import type { Flip, ProxyFailure } from "./routes.js";

/** One target x scenario: what ran, what it measured and what held. */
export interface ScenarioRun {
  target: Target;
  scenario: string;
  description: string | null;
  runtime: "process" | "docker";
  proxy: { version: string; details: string } | null;
  /** passed: every expectation held and the counts reconcile; failed: one did not; error: the run itself broke. */
  status: "passed" | "failed" | "error";
  error: string | null;
  /** The HTTP load's result; null when it did not run (a broken run, or a load of WebSocket sessions alone). */
  load: LoadResult | null;
  /** The WebSocket sessions' result; null when the scenario holds none, or the run broke. */
  websockets: WsResult | null;
  expectations: ExpectationResult[];
  reconciliation: Reconciliation | null;
  /** The driver's, the proxy's and the kernel's counts of open connections, sampled every second while the load ran. */
  counts: CountsReport | null;
  /** Requests the proxy routed to a backend and answered itself, with the likely cause. */
  proxyFailures: ProxyFailure[];
  /** Where routing flipped, for each connection-count rule of the scenario's frontend. */
  flips: Flip[];
  durationMs: number;
}

export interface VerifyReport {
  spec: string;
  startedAt: string;
  runs: ScenarioRun[];
  passed: boolean;
}
