/**
 * The WebSocket session driver: chat rooms and echo over `ws` clients, with
 * k6's metric names, the delivery ratio, fan-out latency and upgrades per
 * backend, as plain data that merges over processes and shards.
 */
export { startWsSessions, type WsRun, type WsRunEvents, type WsStartInfo, type WsTickInfo } from "./run.js";
export { mergeWsTicks } from "./processes.js";
export { fewestWsProcesses, inWsShare, resolveWsOptions, wsRoomName, wsShareSessions, wsShareSizes, WS_DEFAULTS, type ResolvedWsOptions, type WsSessionOptions, type WsShare } from "./options.js";
export {
  emptyWsRunData,
  mergeWsRunData,
  toWsResult,
  type WsMessageCounts,
  type WsResult,
  type WsRoomData,
  type WsRunData,
  type WsSessionCounts,
  type WsTimelineWindow,
  type WsUpgradeCounts,
} from "./data.js";
