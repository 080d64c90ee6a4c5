/**
 * @internal What a WebSocket run looks like from outside, whether its
 * sessions run in this process (run.ts) or in child processes
 * (processes.ts).
 */
import type { EventEmitter } from "node:events";
import type { WsResult, WsRunData } from "./data.js";
import type { WsShare } from "./options.js";

export interface WsStartInfo {
  url: string;
  /** Sessions this process holds, of `connections` in the whole run. */
  sessions: number;
  connections: number;
  /** The rooms this process holds (every member of each is here). */
  rooms: string[];
  share: WsShare;
}

export interface WsTickInfo {
  elapsedMs: number;
  open: number;
  opened: number;
  failed: number;
  sent: number;
  received: number;
  expected: number;
  delivered: number;
}

export interface WsRunEvents {
  start: [WsStartInfo];
  tick: [WsTickInfo];
  done: [WsResult];
}

/** WebSocket sessions under way: subscribe to `start`, `tick` and `done`. */
export interface WsRun extends EventEmitter<WsRunEvents> {
  /** Resolves with the result; rejects with a UsageError (bad option, non-loopback URL). */
  readonly done: Promise<WsResult>;
  /** The mergeable data behind `done`'s result. */
  readonly data: Promise<WsRunData>;
  /** The driver child processes' pids (empty when the sessions run in this process): they end with the run. */
  readonly pids: readonly number[];
  /** Ends the run: no new session; open sessions leave their rooms, take what they are owed, and close. Safe to call twice. */
  stop(): void;
}

