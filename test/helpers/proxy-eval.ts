/**
 * Small evaluators of rendered configs, for the routing property: which
 * backend does each proxy choose for a given connection count? They read the
 * config text as the proxy would, independently of the renderer's own model,
 * and throw on any line they do not understand rather than guess.
 */
import type { CheckResult, ConfigChecker } from "../../src/check/index.js";
import { render, type Rendered, type Version } from "../../src/render/index.js";
import { SpecError, type Diagnostic } from "../../src/spec/diagnostics.js";
import { loadSpecText } from "../../src/spec/load.js";
import type { Model } from "../../src/spec/model.js";
import type { GenCondition, GenOp } from "./spec-gen.js";

export interface Metrics {
  feConn: number;
  /** be_conn(<backend>) and nbsrv(<backend>) by backend name; a missing name reads 0. */
  beConn: Record<string, number>;
  nbsrv: Record<string, number>;
}

/** The reference semantics: a condition evaluated on its AST. */
export function evalCondition(c: GenCondition, m: Metrics): boolean {
  switch (c.kind) {
    case "cmp":
      return compare(c.op, c.metric.kind === "fe_conn" ? m.feConn : c.metric.kind === "be_conn" ? (m.beConn[c.metric.backend] ?? 0) : (m.nbsrv[c.metric.backend] ?? 0), c.value);
    case "not":
      return !evalCondition(c.operand, m);
    case "and":
      return c.operands.every((o) => evalCondition(o, m));
    case "or":
      return c.operands.some((o) => evalCondition(o, m));
  }
}

function compare(op: GenOp, v: number, value: number): boolean {
  switch (op) {
    case ">":
      return v > value;
    case ">=":
      return v >= value;
    case "<":
      return v < value;
    case "<=":
      return v <= value;
    case "==":
      return v === value;
  }
}

/** True when the condition reads only fe_conn. */
export function onlyFeConn(c: GenCondition): boolean {
  switch (c.kind) {
    case "cmp":
      return c.metric.kind === "fe_conn";
    case "not":
      return onlyFeConn(c.operand);
    default:
      return c.operands.every(onlyFeConn);
  }
}

export function* comparisonsOf(c: GenCondition): Generator<Extract<GenCondition, { kind: "cmp" }>> {
  if (c.kind === "cmp") yield c;
  else if (c.kind === "not") yield* comparisonsOf(c.operand);
  else for (const o of c.operands) yield* comparisonsOf(o);
}

// ---------------------------------------------------------------- HAProxy

interface HaproxyAcl {
  fetch: string;
  op: string;
  value: number;
}

export interface HaproxyFrontend {
  name: string;
  /** ACL name -> its lines; several lines of one name OR together. */
  acls: Map<string, HaproxyAcl[]>;
  /** In order: `use_backend B if|unless <cond>`; cond is a list of OR-ed terms, each a list of [negated, aclName]. */
  useBackends: { backend: string; unless: boolean; terms: [boolean, string][][] }[];
  defaultBackend: string | null;
}

/** Parses the frontend sections of a rendered haproxy.cfg. */
export function parseHaproxy(cfg: string): Map<string, HaproxyFrontend> {
  const frontends = new Map<string, HaproxyFrontend>();
  let current: HaproxyFrontend | null = null;
  cfg.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const words = line.split(/\s+/);
    const where = `haproxy.cfg:${i + 1}: ${line}`;
    if (/^(global|defaults|frontend|backend|listen|userlist|peers|resolvers|program|http-errors|ring|cache)$/.test(words[0]!)) {
      current = null;
      if (words[0] === "frontend") {
        if (frontends.has(words[1]!)) throw new Error(`${where}: frontend declared twice`);
        current = { name: words[1]!, acls: new Map(), useBackends: [], defaultBackend: null };
        frontends.set(current.name, current);
      }
      return;
    }
    if (!current) return;
    const fe: HaproxyFrontend = current;
    if (words[0] === "acl") {
      if (words.length !== 5) throw new Error(`${where}: expected 'acl NAME FETCH OP VALUE'`);
      const [, name, fetch, op, value] = words as [string, string, string, string, string];
      if (!/^(gt|ge|lt|le|eq)$/.test(op) || !/^[0-9]+$/.test(value)) throw new Error(`${where}: unknown ACL form`);
      const list = fe.acls.get(name) ?? [];
      list.push({ fetch, op, value: Number(value) });
      fe.acls.set(name, list);
    } else if (words[0] === "use_backend") {
      const [, backend, kw, ...cond] = words;
      if (!backend || (kw !== "if" && kw !== "unless") || cond.length === 0) throw new Error(`${where}: expected 'use_backend B if|unless COND'`);
      const terms: [boolean, string][][] = [[]];
      for (const w of cond) {
        // HAProxy's condition grammar: `||` and `or` separate alternatives, `!` negates one ACL.
        if (w === "||" || w === "or") terms.push([]);
        else terms[terms.length - 1]!.push(w.startsWith("!") ? [true, w.slice(1)] : [false, w]);
      }
      if (terms.some((t) => t.length === 0)) throw new Error(`${where}: empty term in condition`);
      fe.useBackends.push({ backend, unless: kw === "unless", terms });
    } else if (words[0] === "default_backend") {
      fe.defaultBackend = words[1] ?? null;
    }
  });
  return frontends;
}

function haproxyFetch(fetch: string, m: Metrics): number {
  if (fetch === "fe_conn") return m.feConn;
  const call = /^(be_conn|nbsrv)\(([^)]+)\)$/.exec(fetch);
  if (!call) throw new Error(`unknown fetch ${fetch}`);
  return call[1] === "be_conn" ? (m.beConn[call[2]!] ?? 0) : (m.nbsrv[call[2]!] ?? 0);
}

function haproxyCompare(op: string, v: number, value: number): boolean {
  return op === "gt" ? v > value : op === "ge" ? v >= value : op === "lt" ? v < value : op === "le" ? v <= value : v === value;
}

/** The backend HAProxy's frontend chooses: the first use_backend whose condition holds, else default_backend. */
export function haproxyChoice(fe: HaproxyFrontend, m: Metrics): string | null {
  const acl = (name: string): boolean => {
    const lines = fe.acls.get(name);
    if (!lines) throw new Error(`frontend ${fe.name}: ACL '${name}' is used but not declared`);
    return lines.some((l) => haproxyCompare(l.op, haproxyFetch(l.fetch, m), l.value));
  };
  for (const ub of fe.useBackends) {
    const holds = ub.terms.some((term) => term.every(([neg, name]) => acl(name) !== neg));
    if (holds !== ub.unless) return ub.backend;
  }
  return fe.defaultBackend;
}

// ---------------------------------------------------------------- nginx

export interface NginxMap {
  source: string;
  target: string;
  defaultValue: string | null;
  /** In file order; nginx tries regex entries in order and the first match wins. */
  regexes: { regex: RegExp; text: string; value: string }[];
}

export interface NginxServer {
  /** The spec frontend named by the `# from frontends.NAME (line N)` comment above `server {`. */
  frontend: string | null;
  /** Variables the server sets from $connections_active. */
  connsVars: string[];
  /** `proxy_pass http://<this>`: an upstream name or `$variable`. */
  proxyPass: string | null;
}

export interface NginxConfig {
  maps: NginxMap[];
  servers: NginxServer[];
}

/** Parses the maps and server blocks of a rendered nginx.conf. */
export function parseNginx(conf: string): NginxConfig {
  const maps: NginxMap[] = [];
  const servers: NginxServer[] = [];
  let map: NginxMap | null = null;
  let server: NginxServer | null = null;
  let depth = 0;
  let serverDepth = -1;
  let lastFrom: string | null = null;
  conf.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    const where = `nginx.conf:${i + 1}: ${line}`;
    if (line === "") return;
    const from = /^# from frontends\.([^ .]+) \(line \d+\)$/.exec(line);
    if (line.startsWith("#")) {
      if (from) lastFrom = from[1]!;
      else if (line.startsWith("# from ")) lastFrom = null;
      return;
    }
    if (map) {
      if (line === "}") {
        maps.push(map);
        map = null;
        return;
      }
      const def = /^default\s+(\S+);$/.exec(line);
      const re = /^"~([^"]*)"\s+(\S+);$/.exec(line);
      if (def) map.defaultValue = def[1]!;
      else if (re) map.regexes.push({ regex: new RegExp(re[1]!), text: re[1]!, value: re[2]! });
      else throw new Error(`${where}: unexpected line in map`);
      return;
    }
    const mapStart = /^map\s+\$(\S+)\s+\$(\S+)\s*\{$/.exec(line);
    if (mapStart) {
      map = { source: mapStart[1]!, target: mapStart[2]!, defaultValue: null, regexes: [] };
      return;
    }
    if (line === "server {") {
      server = { frontend: lastFrom, connsVars: [], proxyPass: null };
      serverDepth = depth;
    }
    if (server) {
      const set = /^set\s+\$(\S+)\s+\$connections_active;$/.exec(line);
      if (set) server.connsVars.push(set[1]!);
      const pass = /^proxy_pass\s+http:\/\/(\S+);$/.exec(line);
      // Upgrades have a location of their own: it must pass where the requests' location does.
      if (pass && server.proxyPass !== null && server.proxyPass !== pass[1]) throw new Error(`${where}: proxy_pass ${pass[1]} differs from this server's earlier ${server.proxyPass}`);
      if (pass) server.proxyPass = pass[1]!;
    }
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
    if (server && depth === serverDepth) {
      servers.push(server);
      server = null;
    }
  });
  return { maps, servers };
}

/**
 * The upstream name nginx's server for `frontend` passes to at a connection
 * count, following nginx's rules: variable names are case-insensitive, and a
 * variable defined by two maps takes the later map (the second `map` block
 * replaces the first one's handler).
 */
export function nginxChoice(conf: NginxConfig, frontend: string, connections: number): string {
  const servers = conf.servers.filter((s) => s.frontend === frontend);
  if (servers.length !== 1) throw new Error(`nginx.conf has ${servers.length} server blocks for frontend '${frontend}'`);
  const server = servers[0]!;
  if (!server.proxyPass) throw new Error(`nginx server for '${frontend}' has no proxy_pass`);
  if (!server.proxyPass.startsWith("$")) return server.proxyPass;
  const variable = server.proxyPass.slice(1).toLowerCase();
  const map = conf.maps.filter((m) => m.target.toLowerCase() === variable).at(-1);
  if (!map) throw new Error(`nginx server for '${frontend}' passes to $${variable}, which no map defines`);
  const fromConnections = conf.servers.some((s) => s.connsVars.some((v) => v.toLowerCase() === map.source.toLowerCase()));
  if (!fromConnections) throw new Error(`map $${map.source} -> $${map.target}: $${map.source} is never set from $connections_active`);
  const text = String(connections);
  for (const r of map.regexes) if (r.regex.test(text)) return r.value;
  if (map.defaultValue === null) throw new Error(`map $${map.source} has no default and nothing matched ${text}`);
  return map.defaultValue;
}

// ---------------------------------------------------------------- a whole spec, end to end

export const SPEC_FILE = "spec.yaml";

export type Outcome =
  | { kind: "spec-error"; errors: Diagnostic[]; unlocated: Diagnostic[] }
  | { kind: "crash"; stage: "load" | "render"; error: unknown }
  | { kind: "rejected"; model: Model; rendered: Rendered; failed: CheckResult[] }
  | { kind: "accepted"; model: Model; rendered: Rendered; results: CheckResult[] };

/** Loads, renders and (with a checker) runs both proxies' own config checks on one spec. */
export async function specOutcome(yaml: string, versions: { haproxy?: Version; nginx?: Version }, checker: ConfigChecker | null): Promise<Outcome> {
  let model: Model;
  try {
    model = loadSpecText(yaml, SPEC_FILE).model;
  } catch (error) {
    if (!(error instanceof SpecError)) return { kind: "crash", stage: "load", error };
    const errors = error.diagnostics.filter((d) => d.severity === "error");
    const unlocated = errors.filter((d) => d.file !== SPEC_FILE || !(d.line >= 1) || !(d.col >= 1));
    return { kind: "spec-error", errors, unlocated };
  }
  let rendered: Rendered;
  try {
    rendered = render(model, { versions });
  } catch (error) {
    return { kind: "crash", stage: "render", error };
  }
  if (!checker) return { kind: "accepted", model, rendered, results: [] };
  const results = await Promise.all([checker.check("haproxy", rendered.haproxy), checker.check("nginx", rendered.nginx)]);
  const failed = results.filter((r) => !r.ok);
  return failed.length > 0 ? { kind: "rejected", model, rendered, failed } : { kind: "accepted", model, rendered, results };
}

/** A message with names and numbers taken out, so that one kind of problem counts once. */
export function messageClass(message: string): string {
  return message
    .replace(/'[^']*'/g, "'…'")
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\[[0-9a-fA-F:.]*\]/g, "[…]")
    .replace(/\b\d+(\.\d+)*\b/g, "N")
    .replace(/\(\d+\)/g, "(N)");
}
