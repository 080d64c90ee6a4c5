/** @internal Messages between startStubFleet (parent) and fleet-child.ts over the IPC channel. */
import type { StubCounts } from "./counts.js";
import type { StubOptions } from "./options.js";
import type { StubAddress } from "./server.js";

export type ParentMessage =
  | { type: "start"; stubs: StubOptions[] }
  | { type: "counts"; id: number }
  | { type: "stop" };

export type ChildMessage =
  | { type: "ready"; stubs: StubAddress[] }
  | { type: "error"; message: string; hint?: string | undefined }
  | { type: "counts"; id: number; counts: Record<string, StubCounts> };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

export function isParentMessage(v: unknown): v is ParentMessage {
  if (!isObject(v)) return false;
  switch (v["type"]) {
    case "start":
      return Array.isArray(v["stubs"]);
    case "counts":
      return typeof v["id"] === "number";
    case "stop":
      return true;
    default:
      return false;
  }
}

export function isChildMessage(v: unknown): v is ChildMessage {
  if (!isObject(v)) return false;
  switch (v["type"]) {
    case "ready":
      return Array.isArray(v["stubs"]);
    case "error":
      return typeof v["message"] === "string";
    case "counts":
      return typeof v["id"] === "number" && isObject(v["counts"]);
    default:
      return false;
  }
}
