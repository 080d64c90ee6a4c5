/**
 * The load's fixed values, free of zod: the schema (schema.ts) is built
 * from them, and the load's checks and defaults (load-check.ts) read them
 * without loading the schema, so `spillway load` given flags alone starts
 * without zod.
 */

export const PROTOCOLS = ["h2c", "h1", "h1-close", "h2"] as const;
export const BUDGETS = ["per-client", "pooled"] as const;

/**
 * What a load that leaves these keys out runs with; the normaliser
 * (load-check.ts) fills them in, and the reference shows them. The
 * load's other defaults depend on other keys, and their descriptions say how.
 */
export const LOAD_DEFAULTS = {
  protocol: "h2c",
  streams: 1,
  connect_period: "1s",
  warmup: "0s",
  think_time: "0s",
  reconnect: true,
  workers: 1,
  timeout: "30s",
} as const;

/** The smallest message the driver sends: its header, sender id (u32), sequence (u32) and send time (f64). */
export const WS_HEADER_BYTES = 16;
/** 1 MiB: a chat message is small; ws's own default maxPayload is 100 MiB, and a room multiplies every byte by its members. */
export const WS_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** What a WebSocket load that leaves these keys out runs with; the normaliser fills them in, the defaults table says why. */
export const WEBSOCKET_DEFAULTS = {
  rooms: 1,
  message_interval: "1s",
  payload_bytes: WS_HEADER_BYTES,
} as const;
