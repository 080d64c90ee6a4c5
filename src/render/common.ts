import { DEFAULTS, type DefaultId, type DefaultUse } from "../spec/defaults.js";
import type { Backend, Frontend, HostPort, Model, Target } from "../spec/model.js";
import type { FidelityNote } from "./fidelity.js";
import { safeAddress } from "./safe.js";
import { formatHostPort } from "../wire.js";

/** What the runtimes add to a config; plain `render` leaves it out. */
export interface RuntimeRenderOptions {
  /** Stamp each response with the connection count the proxy routed it on. */
  stamp: boolean;
  /** HAProxy's stats socket on a loopback TCP port: same in every runtime, no path-length limit. */
  haproxyStats: HostPort | null;
  haproxyGlobalMaxconn: number | null;
  nginxStatusListen: HostPort | null;
  nginxWorkerConnections: number | null;
  nginxRlimitNofile: number | null;
}

/** What one target's view builder reports besides the view: how faithfully it rendered each construct, and the defaults it wrote. */
export interface ViewReport {
  notes: FidelityNote[];
  defaults: DefaultUse[];
  note(construct: string, what: string, level: FidelityNote["level"], detail: string): void;
  /** A default from the table that went into this target's config; `written` when the entry is a rule rather than one value. */
  used(id: DefaultId, owner?: string, written?: string): void;
}

export function viewReport(target: Target): ViewReport {
  const notes: FidelityNote[] = [];
  const defaults: DefaultUse[] = [];
  return {
    notes,
    defaults,
    note: (construct, what, level, detail) => notes.push({ target, construct, what, level, detail }),
    used: (id, owner = "", written) => defaults.push({ id, owner, ...(written !== undefined ? { written } : {}) }),
  };
}

/**
 * The connections a frontend is counted for when a global limit is sized
 * from the frontends (HAProxy's global maxconn, nginx's worker_connections):
 * its maxconn, or the table's stand-in, recorded as used.
 */
export function frontendConnections(model: Model, report: ViewReport): number {
  let sum = 0;
  for (const f of model.frontends) {
    if (f.maxconn === null) report.used("frontendConnections", f.name);
    sum += f.maxconn ?? DEFAULTS.frontendConnections.value;
  }
  return sum;
}

/**
 * Whether a frontend is meant to carry WebSockets: a scenario holds sessions
 * on it, or the spec gives its tunnel timeout. Both configs take upgrades on
 * every frontend; the fidelity report speaks of them only where they matter.
 */
export function carriesWebSockets(model: Model, f: Frontend): boolean {
  return model.scenarios.some((s) => s.frontend === f.name && s.load.websockets !== null) || !model.defaults.some((d) => d.id === "timeoutTunnel" && d.owner === f.name);
}

/** host:port with IPv6 in brackets, as both proxies write it. */
export function hostPort(hp: HostPort): string {
  return safeAddress(formatHostPort(hp));
}

/** Timeouts of the server side come from the frontends that route to a backend: the longest wins. */
export function backendTimeouts(model: Model, backend: Backend): { connectMs: number; serverMs: number; tunnelMs: number; sources: Frontend[] } {
  const sources = model.frontends.filter((f) => f.defaultBackend === backend.name || f.rules.some((r) => r.useBackend === backend.name));
  const from = sources.length > 0 ? sources : model.frontends;
  return {
    connectMs: Math.max(...from.map((f) => f.timeouts.connectMs)),
    serverMs: Math.max(...from.map((f) => f.timeouts.serverMs)),
    tunnelMs: Math.max(...from.map((f) => f.timeouts.tunnelMs)),
    sources,
  };
}

/** FNV-1a, 32 bits, as 8 hex digits: a short, stable suffix that tells derived names apart. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** A name cut to `max` characters, keeping it unique by a hash of the whole: `prefix_1a2b3c4d`. */
export function fitName(name: string, max: number): string {
  if (name.length <= max) return name;
  return `${name.slice(0, max - 9).replace(/[-_]+$/, "")}_${shortHash(name)}`;
}
