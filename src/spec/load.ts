import { readFileSync } from "node:fs";
import { isNode, isScalar, visit } from "yaml";
import { UsageError } from "../errors.js";
import { comparisons, ConditionSyntaxError, conditionText, parseCondition, type Condition } from "./condition.js";
import { MAX_TERMS_PER_ALTERNATIVE } from "./limits.js";
import { isProblem, isWildcardIp, parseHostPort } from "./address.js";
import { didYouMean, listSome, pathText, SpecError, type Diagnostic } from "./diagnostics.js";
import { parseDuration } from "./duration.js";
import { comparisonInterval, feConnSet, intersect, intervalsText, simplifiedAlternatives } from "./intervals.js";
import { DEFAULTS, type DefaultId, type DefaultUse } from "./defaults.js";
import {
  type Backend,
  type Expectations,
  type Frontend,
  type HostPort,
  type LoadSpec,
  type Model,
  type Rule,
  type Scenario,
  type Server,
  type Target,
  type Threshold,
  type ThresholdOp,
} from "./model.js";
import { EXPECTATION_PATTERN, TARGETS, type BackendInput, type ExpectInput, type FrontendInput, type LoadInput, type ScenarioInput, type SpecInput } from "./schema.js";
import { locate, locateInScalar, offsetPosition, parseSource, type SpecSource } from "./source.js";
import { validateShape } from "./validate.js";
import { checkLoad } from "./load-profile.js";
import { formatHostPort } from "../wire.js";

export interface LoadedSpec {
  model: Model;
  warnings: Diagnostic[];
}

/** Reads and validates a spec file. Throws SpecError (exit 2) listing every problem. */
export function loadSpecFile(file: string): LoadedSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "ENOENT" ? `spec file not found: ${file}` : `cannot read spec file ${file}: ${(err as Error).message}`,
      "Pass the path of a spillway YAML spec, e.g. fixtures/classic.yaml.",
    );
  }
  return loadSpecText(text, file);
}

export function loadSpecText(text: string, file: string): LoadedSpec {
  const source = parseSource(text, file);
  const yamlDiagnostics: Diagnostic[] = [...source.doc.errors, ...source.doc.warnings].map((e) => {
    const pos = offsetPosition(source, e.pos[0]);
    const multiple = e.code === "MULTIPLE_DOCS";
    return {
      severity: e.name === "YAMLWarning" ? "warning" : "error",
      message: multiple ? "YAML: the file holds more than one document ('---'); a spec is one document" : `YAML: ${truncate(e.message.split("\n")[0] ?? "", 200)}`,
      path: "",
      file,
      line: pos.line,
      col: pos.col,
      ...(multiple ? { hint: "Keep one spec per file, or remove the '---' separator." } : {}),
    } satisfies Diagnostic;
  });
  if (yamlDiagnostics.some((d) => d.severity === "error")) throw new SpecError(sortDiagnostics(yamlDiagnostics));
  const keyDiagnostics = checkKeys(source);
  if (keyDiagnostics.length > 0) throw new SpecError(sortDiagnostics([...yamlDiagnostics, ...keyDiagnostics]));
  let data: unknown;
  try {
    data = source.doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // yaml throws a ReferenceError when aliases expand past maxAliasCount (a "billion laughs" document).
    const at = firstAlias(source);
    const pos = offsetPosition(source, at);
    throw new SpecError([
      {
        severity: "error",
        message: `YAML: ${truncate((err as Error).message, 200)}: aliases (*name) expand to too many nodes`,
        path: "",
        file,
        line: pos.line,
        col: pos.col,
        hint: "A spec needs no aliases that nest; write the values out.",
      },
    ]);
  }
  if (data === null || data === undefined) {
    throw new SpecError([{ severity: "error", message: "the spec is empty", path: "", file, line: 1, col: 1, hint: "Start with `version: 1`, then frontends and backends (see fixtures/classic.yaml)." }]);
  }
  const shape = validateShape(source, data);
  if (!shape.ok) throw new SpecError(sortDiagnostics([...yamlDiagnostics, ...shape.diagnostics]));
  const builder = new ModelBuilder(source, shape.data);
  const model = builder.build();
  const diagnostics = sortDiagnostics([...yamlDiagnostics, ...builder.diagnostics]);
  if (diagnostics.some((d) => d.severity === "error")) throw new SpecError(diagnostics);
  return { model, warnings: diagnostics };
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Keys as the spec's JavaScript object will see them. YAML tells `true` from
 * "true" and `1` from "1", a JavaScript object does not: two such keys in one
 * map would silently become one. A key that is a list or a map has no name at all.
 */
function checkKeys(source: SpecSource): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report = (offset: number, message: string, hint?: string) => {
    const pos = offsetPosition(source, offset);
    out.push({ severity: "error", message, path: "", file: source.file, line: pos.line, col: pos.col, ...(hint ? { hint } : {}) });
  };
  visit(source.doc, {
    Map(_, map) {
      const seen = new Map<string, number>();
      for (const pair of map.items) {
        const key = pair.key;
        const offset = (isNode(key) ? key.range?.[0] : undefined) ?? map.range?.[0] ?? 0;
        if (!isScalar(key)) {
          report(offset, "a key must be a name, not a list or a map");
          continue;
        }
        const value = key.value;
        if (value !== null && typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
          report(offset, "a key must be a name");
          continue;
        }
        const name = value === null ? "" : String(value);
        if (name === "__proto__") {
          report(offset, "'__proto__' cannot be a key or a name: JavaScript objects reserve it (it would be dropped, or change the object's prototype)", "Choose another name.");
          continue;
        }
        const prior = seen.get(name);
        if (prior !== undefined) {
          const priorLine = offsetPosition(source, prior).line;
          report(offset, `key '${truncate(name, 60)}' appears twice in this map (also on line ${priorLine}): YAML types them differently, but they are one key in the spec`, "Remove one of them.");
        } else seen.set(name, offset);
      }
    },
  });
  return out;
}

function firstAlias(source: SpecSource): number {
  let offset = 0;
  visit(source.doc, {
    Alias(_, node) {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}

/** In file order, each problem once (expectations are built per target and may repeat one). */
function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return list
    .filter((d) => {
      const key = `${d.line}:${d.col}:${d.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.col - b.col);
}

/** Addresses are parsed once by the schema; here they are only taken apart. */
function hostPortOf(text: string): HostPort {
  const parsed = parseHostPort(text);
  if (isProblem(parsed)) throw new Error(`unvalidated address ${JSON.stringify(text)}: ${parsed.reason}`);
  return parsed;
}

export function parseThreshold(text: string, defaultUnit: Threshold["unit"]): Threshold {
  const m = EXPECTATION_PATTERN.exec(text);
  if (!m) throw new Error(`not a threshold: ${text}`);
  const op = (m[1] === "=" || m[1] === undefined ? "==" : m[1]) as ThresholdOp;
  const unitText = m[3];
  let value = Number(m[2]);
  let unit: Threshold["unit"] = defaultUnit;
  if (unitText === "%") unit = "percent";
  else if (unitText === "ms" || unitText === "s" || unitText === "m") {
    unit = "ms";
    value *= unitText === "s" ? 1000 : unitText === "m" ? 60_000 : 1;
  }
  return { op, value, unit, text: text.trim() };
}

class ModelBuilder {
  readonly diagnostics: Diagnostic[] = [];
  private readonly defaults: DefaultUse[] = [];
  constructor(
    private readonly source: SpecSource,
    private readonly spec: SpecInput,
  ) {}

  private report(severity: Diagnostic["severity"], path: PropertyKey[], message: string, opts: { key?: boolean; hint?: string; offset?: number } = {}) {
    const pos = opts.offset !== undefined ? locateInScalar(this.source, path, opts.offset) : locate(this.source, path, opts);
    this.diagnostics.push({ severity, message, path: pathText(path), file: this.source.file, line: pos.line, col: pos.col, ...(opts.hint ? { hint: opts.hint } : {}) });
  }

  /** The table's value for a key the spec left out, recorded for the fidelity report unless it cannot act (stub behaviour of a backend without stubs). */
  private fill<K extends DefaultId>(id: K, owner = "", acts = true): (typeof DEFAULTS)[K]["value"] {
    if (acts) this.defaults.push({ id, owner });
    return DEFAULTS[id].value;
  }

  private origin(path: PropertyKey[]) {
    return { path: pathText(path), line: locate(this.source, path, { key: true }).line };
  }

  build(): Model {
    const spec = this.spec;
    const targets: Target[] = spec.targets ? [...new Set(spec.targets)] : [...this.fill("targets")];
    const stubs = { host: spec.stubs?.host ?? this.fill("stubsHost"), basePort: spec.stubs?.base_port ?? this.fill("stubsBasePort") };
    const backends = this.buildBackends(spec.backends, stubs);
    const backendNames = new Set(backends.map((b) => b.name));
    const frontends = Object.entries(spec.frontends).map(([name, f]) => this.buildFrontend(name, f, backendNames, backends));
    if (frontends.length === 0) this.report("error", ["frontends"], "at least one frontend is needed");
    if (backends.length === 0) this.report("error", ["backends"], "at least one backend is needed");
    this.checkAddresses(frontends, backends);
    this.checkNginxNames(frontends, backends);
    this.checkUnusedBackends(frontends, backends);
    const scenarios = Object.entries(spec.scenarios ?? {}).map(([name, s]) => this.buildScenario(name, s, targets, backendNames, frontends));
    return { file: this.source.file, targets, stubs, frontends, backends, scenarios, defaults: this.defaults };
  }

  private buildBackends(input: Record<string, BackendInput>, stubs: { host: string; basePort: number }): Backend[] {
    let nextPort = stubs.basePort;
    return Object.entries(input).map(([name, b]) => {
      const path = ["backends", name];
      let servers: Server[];
      if (typeof b.servers === "number") {
        servers = [];
        for (let i = 1; i <= b.servers; i++) {
          if (nextPort > 65535) {
            this.report("error", [...path, "servers"], `stub ports run past 65535 (base_port ${stubs.basePort}) (limit: stub-ports)`, { hint: "Lower stubs.base_port." });
            break;
          }
          servers.push({ name: `s${i}`, address: { host: stubs.host, port: nextPort++ }, maxconn: b.maxconn ?? null, stub: true });
        }
      } else {
        const seen = new Set<string>();
        servers = b.servers.map((s, i) => {
          if (seen.has(s.name)) this.report("error", [...path, "servers", i, "name"], `server name '${s.name}' is used twice in backend '${name}'`);
          seen.add(s.name);
          return { name: s.name, address: hostPortOf(s.address), maxconn: s.maxconn ?? b.maxconn ?? null, stub: false };
        });
      }
      const stub = b.stub ?? {};
      const hasStubs = servers.some((s) => s.stub);
      return {
        name,
        balance: b.balance ?? this.fill("balance", name),
        maxconn: b.maxconn ?? null,
        keepalive: b.keepalive ?? this.fill("upstreamKeepalive", name),
        servers,
        stub: {
          latencyMs: stub.latency ? parseDuration(stub.latency) : this.fill("stubLatency", name, hasStubs),
          bodyBytes: stub.body_bytes ?? this.fill("stubBodyBytes", name, hasStubs),
          failureRate: stub.failure_rate ?? this.fill("stubFailureRate", name, hasStubs),
          failureStatus: stub.failure_status ?? this.fill("stubFailureStatus", name, hasStubs),
        },
        origin: this.origin(path),
      };
    });
  }

  private checkBackendRef(name: string, path: PropertyKey[], known: Set<string>, offset?: number) {
    if (known.has(name)) return;
    const guess = this.guess(name, known);
    this.report("error", path, `backend '${name}' is not defined${guess ? `; did you mean '${guess}'?` : ""}`, {
      hint: `defined backends: ${listSome([...known], 10) || "none"}`,
      ...(offset !== undefined ? { offset } : {}),
    });
  }

  private buildFrontend(name: string, f: FrontendInput, backendNames: Set<string>, backends: Backend[]): Frontend {
    const path = ["frontends", name];
    const t = f.timeouts ?? {};
    const timeouts = {
      clientMs: t.client ? parseDuration(t.client) : this.fill("timeoutClient", name),
      httpKeepAliveMs: t.http_keep_alive ? parseDuration(t.http_keep_alive) : this.fill("timeoutHttpKeepAlive", name),
      httpRequestMs: t.http_request ? parseDuration(t.http_request) : this.fill("timeoutHttpRequest", name),
      connectMs: t.connect ? parseDuration(t.connect) : this.fill("timeoutConnect", name),
      serverMs: t.server ? parseDuration(t.server) : this.fill("timeoutServer", name),
      tunnelMs: t.tunnel ? parseDuration(t.tunnel) : this.fill("timeoutTunnel", name),
    };
    for (const [key, value] of Object.entries({ client: timeouts.clientMs, connect: timeouts.connectMs, server: timeouts.serverMs, tunnel: timeouts.tunnelMs })) {
      if (value === 0) this.report("error", [...path, "timeouts", key], `timeout ${key} of 0 would mean "wait forever" (limit: zero-timeout)`, { hint: "Give a positive duration such as 30s." });
    }
    this.checkBackendRef(f.default_backend, [...path, "default_backend"], backendNames);
    const rules: Rule[] = (f.rules ?? []).map((r, index) => {
      const rpath = [...path, "rules", index];
      let condition: Condition;
      try {
        condition = parseCondition(r.if);
        const longest = Math.max(0, ...simplifiedAlternatives(condition).map((alt) => alt.length));
        if (longest > MAX_TERMS_PER_ALTERNATIVE) {
          this.report("error", [...rpath, "if"], `condition has an alternative of ${longest} comparisons that must all hold; HAProxy takes at most ${MAX_TERMS_PER_ALTERNATIVE} on one use_backend line (limit: line-words)`, {
            hint: "Merge comparisons, or split the rule into several rules.",
          });
        }
      } catch (err) {
        if (err instanceof ConditionSyntaxError) {
          this.report("error", [...rpath, "if"], `in condition: ${err.message}`, { offset: err.offset });
        } else {
          this.report("error", [...rpath, "if"], `condition is too complex: ${(err as Error).message} (limit: condition-alternatives)`, { hint: "Split it into several rules." });
        }
        condition = { kind: "and", operands: [] };
      }
      for (const cmp of comparisons(condition)) {
        if (cmp.metric.kind !== "fe_conn") {
          const idx = r.if.search(new RegExp(`\\(\\s*${cmp.metric.backend}\\b`));
          this.checkBackendRef(cmp.metric.backend, [...rpath, "if"], backendNames, idx >= 0 ? r.if.indexOf(cmp.metric.backend, idx) : undefined);
        }
      }
      this.checkBackendRef(r.use_backend, [...rpath, "use_backend"], backendNames);
      return { index, name: r.name ?? null, text: r.if, condition, useBackend: r.use_backend, origin: this.origin(rpath) };
    });
    const http2Enabled = f.http2?.enabled ?? this.fill("http2Enabled", name);
    const frontend: Frontend = {
      name,
      bind: hostPortOf(f.bind),
      maxconn: f.maxconn ?? null,
      timeouts,
      http2: { enabled: http2Enabled, maxConcurrentStreams: f.http2?.max_concurrent_streams ?? this.fill("maxConcurrentStreams", name, http2Enabled) },
      keepAliveRequests: f.keep_alive?.requests ?? null,
      rules,
      defaultBackend: f.default_backend,
      origin: this.origin(path),
    };
    this.checkRuleReachability(frontend, backends);
    return frontend;
  }

  /** A rule that can never fire, or one that always fires and hides what follows. */
  private checkRuleReachability(f: Frontend, backends: Backend[]) {
    const possible = [{ lo: 1, hi: f.maxconn ?? Infinity }];
    const serverCount = new Map(backends.map((b) => [b.name, b.servers.length]));
    f.rules.forEach((rule, i) => {
      const rpath = ["frontends", f.name, "rules", i, "if"];
      if (rule.condition.kind === "and" && rule.condition.operands.length === 0) return;
      const alternatives = simplifiedAlternatives(rule.condition);
      const satisfiable = alternatives.some((alt) => {
        let fe = possible;
        for (const cmp of alt) {
          const set = comparisonInterval(cmp.op, cmp.value);
          if (cmp.metric.kind === "fe_conn") fe = intersect(fe, set);
          else if (cmp.metric.kind === "nbsrv") {
            const n = serverCount.get(cmp.metric.backend);
            if (n !== undefined && intersect([{ lo: 0, hi: n }], set).length === 0) return false;
          }
        }
        return fe.length > 0;
      });
      if (!satisfiable) {
        const limit = f.maxconn !== null ? ` with maxconn ${f.maxconn} (fe_conn is at most ${f.maxconn})` : "";
        this.report("error", rpath, `rule can never fire: '${conditionText(rule.condition)}' is never true${limit}`, {
          hint: f.maxconn !== null ? "Raise the frontend's maxconn above the threshold, or lower the threshold." : "Check the comparison values.",
        });
        return;
      }
      const set = feConnSet(rule.condition);
      if (set && intervalsText(intersect(set, possible)) === intervalsText(possible)) {
        this.report("warning", rpath, `rule always fires ('${conditionText(rule.condition)}' holds for every connection count): later rules and default_backend are never used`);
      }
    });
  }

  /** Addresses are normalised (IPv6 canonical form), and a wildcard address overlaps every address on its port. */
  private checkAddresses(frontends: Frontend[], backends: Backend[]) {
    const byPort = new Map<number, { host: string; owner: string }[]>();
    const claim = (hp: HostPort, owner: string, path: PropertyKey[]) => {
      const onPort = byPort.get(hp.port) ?? [];
      const prior = onPort.find((o) => o.host === hp.host || isWildcardIp(o.host) || isWildcardIp(hp.host));
      if (prior) {
        this.report("error", path, `${formatHostPort(hp)} is used by both ${prior.owner} and ${owner}${prior.host !== hp.host ? ` (${prior.host} and ${hp.host} overlap on port ${hp.port})` : ""}`, {
          hint: "Give each frontend and stub its own port (see stubs.base_port).",
        });
      } else {
        onPort.push({ host: hp.host, owner });
        byPort.set(hp.port, onPort);
      }
    };
    for (const f of frontends) claim(f.bind, `frontend '${f.name}'`, ["frontends", f.name, "bind"]);
    for (const b of backends) for (const s of b.servers) if (s.stub) claim(s.address, `stub ${b.name}/${s.name}`, ["backends", b.name, "servers"]);
  }

  /**
   * nginx folds the case of upstream and variable names, and its variable
   * names are built from frontend names with '-' as '_': two spec names that
   * meet there would share one upstream or one map variable and misroute.
   */
  private checkNginxNames(frontends: Frontend[], backends: Backend[]) {
    const check = (kind: "frontend" | "backend", names: string[], fold: (n: string) => string, why: string) => {
      const seen = new Map<string, string>();
      for (const n of names) {
        const key = fold(n);
        const prior = seen.get(key);
        if (prior === undefined) {
          seen.set(key, n);
          continue;
        }
        const priorLine = locate(this.source, [`${kind}s`, prior], { key: true }).line;
        const how =
          prior.toLowerCase() === n.toLowerCase()
            ? "differ only in letter case"
            : prior.replace(/-/g, "_") === n.replace(/-/g, "_")
              ? "differ only in '-' and '_'"
              : "differ only in letter case and in '-' and '_'";
        this.report("error", [`${kind}s`, n], `${kind} names '${prior}' (line ${priorLine}) and '${n}' ${how}, ${why} (limit: nginx-names)`, { key: true, hint: "Rename one of them." });
      }
    };
    check("frontend", frontends.map((f) => f.name), (n) => n.toLowerCase().replace(/-/g, "_"), "which nginx variable names cannot tell apart");
    check("backend", backends.map((b) => b.name), (n) => n.toLowerCase(), "which nginx upstream names cannot tell apart");
  }

  private checkUnusedBackends(frontends: Frontend[], backends: Backend[]) {
    const used = new Set<string>();
    for (const f of frontends) {
      used.add(f.defaultBackend);
      for (const r of f.rules) used.add(r.useBackend);
    }
    for (const b of backends) if (!used.has(b.name)) this.report("warning", ["backends", b.name], `backend '${b.name}' is not used by any frontend`, { key: true });
  }

  private buildScenario(name: string, s: ScenarioInput, specTargets: Target[], backendNames: Set<string>, frontends: Frontend[]): Scenario {
    const path = ["scenarios", name];
    const frontendNames = frontends.map((f) => f.name);
    let frontend = s.frontend ?? "";
    if (s.frontend === undefined && frontendNames[0] !== undefined) {
      this.fill("scenarioFrontend", name);
      frontend = frontendNames[0];
    }
    if (s.frontend !== undefined && !frontendNames.includes(s.frontend)) {
      const guess = this.guess(s.frontend, frontendNames);
      this.report("error", [...path, "frontend"], `frontend '${s.frontend}' is not defined${guess ? `; did you mean '${guess}'?` : ""}`);
    }
    if (s.targets === undefined) this.fill("scenarioTargets", name);
    const targets = s.targets ? [...new Set(s.targets)] : specTargets;
    s.targets?.forEach((t, i) => {
      if (!specTargets.includes(t)) this.report("error", [...path, "targets", i], `target '${t}' is not among the spec's targets (${specTargets.join(", ")})`);
    });
    const load = this.buildLoad(s.load, [...path, "load"]);
    const target = frontends.find((f) => f.name === frontend);
    if (target && load.http) this.checkProtocol(load, s.load.protocol !== undefined, target, [...path, "load"]);
    if (target && load.websockets && target.http2.enabled && targets.includes("nginx")) {
      this.report("warning", [...path, "load", "websockets"], `WebSocket upgrades are HTTP/1.1, and nginx before 1.25.1 speaks only h2c on a port with HTTP/2 (frontend '${target.name}'): there the upgrades fail`, {
        key: true,
        hint: `Run nginx 1.25.1 or later (\`http2 on\` serves both on one port), or set http2.enabled: false on frontend '${target.name}' (and load.protocol: h1 for its HTTP load).`,
      });
    }
    const expect = {} as Record<Target, Expectations>;
    for (const t of TARGETS) {
      const merged: ExpectInput = { ...(s.expect ?? {}), ...(s.expect_by_target?.[t] ?? {}) };
      const epath = s.expect_by_target?.[t] ? [...path, "expect_by_target", t] : [...path, "expect"];
      expect[t] = this.buildExpect(merged, epath, backendNames, s.expect_by_target?.[t] ?? {}, [...path, "expect"]);
      this.checkExpectFitsLoad(merged, epath, s.expect_by_target?.[t] ?? {}, [...path, "expect"], load);
    }
    return { name, description: s.description ?? null, targets, frontend, load, expect, origin: this.origin(path) };
  }

  /**
   * An expectation on what the load does not do could never be measured: a
   * threshold on HTTP requests of a load of WebSocket sessions alone, or on
   * sessions of a load without any, is refused where it is written.
   */
  private checkExpectFitsLoad(e: ExpectInput, path: PropertyKey[], override: ExpectInput, basePath: PropertyKey[], load: LoadSpec) {
    const where = (key: string) => (override[key as keyof ExpectInput] !== undefined ? [...path, key] : [...basePath, key]);
    if (e.websockets !== undefined && load.websockets === null) {
      this.report("error", where("websockets"), "expectations on WebSocket sessions, but the load holds none", {
        key: true,
        hint: "Add load.websockets (connections and session at least), or remove expect.websockets.",
      });
    }
    if (!load.http) {
      for (const key of ["backends", "errors", "unattributed", "latency", "max_connections_seen"] as const) {
        if (e[key] === undefined) continue;
        this.report("error", where(key), `${key} is an expectation on HTTP requests, and this load has only websockets, so it sends none`, {
          key: true,
          hint: "Put thresholds on the sessions under expect.websockets (sessions, delivered, fanout_p50, fanout_p99, upgrades), or give the load connections to send HTTP requests too.",
        });
      }
    }
  }

  /** A load the frontend cannot speak would open no connection and run its whole duration for nothing. */
  private checkProtocol(load: LoadSpec, given: boolean, f: Frontend, path: PropertyKey[]) {
    const where = given ? [...path, "protocol"] : path;
    const opts = given ? {} : { key: true };
    if (load.protocol === "h2") {
      this.report("error", where, `protocol h2 is HTTP/2 over TLS, but frontend '${f.name}' listens without TLS`, { ...opts, hint: "Use protocol: h2c (HTTP/2 without TLS) or h1." });
    } else if (load.protocol === "h2c" && !f.http2.enabled) {
      this.report("error", where, `the load speaks h2c${given ? "" : " (the default protocol)"}, but frontend '${f.name}' has HTTP/2 disabled (http2.enabled: false) and would answer nothing`, {
        ...opts,
        hint: "Set load.protocol: h1 (or h1-close), or enable HTTP/2 on the frontend.",
      });
    }
  }

  /** "Did you mean" for the first problems only: the printed ones; a spec with thousands of wrong names stays fast. */
  private guessBudget = 100;
  private guess(word: string, candidates: Iterable<string>): string | undefined {
    if (this.guessBudget <= 0) return undefined;
    this.guessBudget--;
    return didYouMean(word, candidates);
  }

  private buildLoad(l: LoadInput, path: PropertyKey[]): LoadSpec {
    // A load of websockets alone needs no connections; stages still do, as they always have.
    if (l.h2load === undefined && l.connections === undefined && (l.websockets === undefined || l.stages !== undefined)) {
      this.report("error", path, "connections is missing: give connections (or an h2load command line), or give only websockets", { key: true, hint: "For example `connections: 300`." });
    }
    const checked = checkLoad(l);
    for (const p of checked.problems) {
      const inH2load = p.offset !== undefined;
      this.report("error", [...path, ...p.path], p.message, {
        ...(p.key ? { key: true } : {}),
        ...(inH2load ? { offset: p.offset } : {}),
        ...(p.hint ? { hint: p.hint } : inH2load ? { hint: "See the README's h2load table for what each option maps to." } : {}),
      });
    }
    for (const u of checked.urls) {
      this.report("error", [...path, "h2load"], `a URL (${u.url.length > 60 ? `${u.url.slice(0, 60)}…` : u.url}) in load.h2load: the scenario's frontend is where the load goes`, {
        offset: u.offset,
        hint: "Remove the URL; put a path in load.path.",
      });
    }
    const load = checked.load;
    return load;
  }

  private buildExpect(e: ExpectInput, path: PropertyKey[], backendNames: Set<string>, override: ExpectInput, basePath: PropertyKey[]): Expectations {
    const where = (key: PropertyKey[], own: boolean) => (own ? [...path, ...key] : [...basePath, ...key]);
    const threshold = (text: string, key: PropertyKey[], own: boolean, allowed: Threshold["unit"][], defaultUnit: Threshold["unit"]): Threshold => {
      const t = parseThreshold(text, defaultUnit);
      if (!allowed.includes(t.unit)) {
        this.report("error", where(key, own), `'${text}' is ${t.unit === "ms" ? "a duration" : t.unit === "percent" ? "a percentage" : "a count"}; expected ${allowed.map((u) => (u === "ms" ? "a duration such as < 200ms" : u === "percent" ? "a percentage" : "a count")).join(" or ")}`);
      }
      if (t.unit === "percent" && t.value > 100) this.report("error", where(key, own), `a share cannot exceed 100% (found '${text}')`);
      return t;
    };
    const backends: Record<string, Threshold> = {};
    for (const [name, text] of Object.entries(e.backends ?? {})) {
      const own = override.backends !== undefined;
      this.checkBackendRef(name, where(["backends", name], own), backendNames);
      backends[name] = threshold(text, ["backends", name], own, ["count", "percent"], "count");
    }
    const latency: Expectations["latency"] = {};
    for (const key of ["p50", "p90", "p99", "max"] as const) {
      const text = e.latency?.[key];
      if (text !== undefined) latency[key] = threshold(text, ["latency", key], override.latency !== undefined, ["ms"], "ms");
    }
    let websockets: Expectations["websockets"] = null;
    if (e.websockets !== undefined) {
      const w = e.websockets;
      const own = override.websockets !== undefined;
      const upgrades: Record<string, Threshold> = {};
      for (const [name, text] of Object.entries(w.upgrades ?? {})) {
        this.checkBackendRef(name, where(["websockets", "upgrades", name], own), backendNames);
        upgrades[name] = threshold(text, ["websockets", "upgrades", name], own, ["count", "percent"], "count");
      }
      const fanout: NonNullable<Expectations["websockets"]>["fanout"] = {};
      for (const key of ["p50", "p99"] as const) {
        const text = w[`fanout_${key}`];
        if (text !== undefined) fanout[key] = threshold(text, ["websockets", `fanout_${key}`], own, ["ms"], "ms");
      }
      websockets = {
        sessions: w.sessions !== undefined ? threshold(w.sessions, ["websockets", "sessions"], own, ["count", "percent"], "count") : null,
        delivered: w.delivered !== undefined ? threshold(w.delivered, ["websockets", "delivered"], own, ["percent"], "count") : null,
        fanout,
        upgrades,
      };
    }
    return {
      websockets,
      backends,
      errors: e.errors !== undefined ? threshold(e.errors, ["errors"], override.errors !== undefined, ["count", "percent"], "count") : null,
      unattributed: e.unattributed !== undefined ? threshold(e.unattributed, ["unattributed"], override.unattributed !== undefined, ["count", "percent"], "count") : null,
      latency,
      maxConnectionsSeen:
        e.max_connections_seen !== undefined ? threshold(e.max_connections_seen, ["max_connections_seen"], override.max_connections_seen !== undefined, ["count"], "count") : null,
    };
  }
}
