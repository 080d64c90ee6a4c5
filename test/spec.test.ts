import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SpecError } from "../src/spec/diagnostics.js";
import { loadSpecFile, loadSpecText } from "../src/spec/load.js";
import { z } from "zod";
import { validateLoad } from "../src/spec/load-profile.js";
import { loadSchema, specJsonSchema } from "../src/spec/schema.js";
import { ROOT } from "./helpers/cli.js";

const BAD = join(ROOT, "fixtures", "bad");

function errorsOf(file: string): SpecError {
  try {
    loadSpecFile(file);
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  }
  throw new Error(`${file} was accepted`);
}

describe("the classic spec", () => {
  it("becomes a model with stubs on consecutive loopback ports", () => {
    const { model, warnings } = loadSpecFile(join(ROOT, "fixtures", "classic.yaml"));
    expect(warnings).toEqual([]);
    expect(model.targets).toEqual(["haproxy", "nginx"]);
    const [fe] = model.frontends;
    expect(fe?.maxconn).toBe(310);
    expect(fe?.timeouts).toEqual({ tunnelMs: 3_600_000, clientMs: 120_000, httpKeepAliveMs: 10_000, httpRequestMs: 10_000, connectMs: 5_000, serverMs: 120_000 });
    expect(fe?.rules[0]?.condition).toEqual({ kind: "cmp", metric: { kind: "fe_conn" }, op: ">", value: 300 });
    expect(model.backends.flatMap((b) => b.servers.map((s) => `${b.name}/${s.name}@${s.address.port}`))).toEqual([
      "ade/s1@9001",
      "ade/s2@9002",
      "pbcoffee/s1@9003",
    ]);
    const over = model.scenarios.find((s) => s.name === "over-threshold");
    // The h2load command line of the classic report, as h2load means it.
    expect(over?.load).toMatchObject({ connections: 310, streams: 40, connectRate: 310, connectPeriodMs: 1000, requests: 40_000, budget: "per-client", workers: 1, protocol: "h2c" });
    const under = model.scenarios.find((s) => s.name === "under-threshold");
    expect(under?.load).toMatchObject({ connections: 300, connectRate: 300, budget: "per-client" });
    expect(over?.expect.haproxy.backends.pbcoffee).toEqual({ op: ">=", value: 80, unit: "percent", text: ">= 80%" });
    expect(over?.expect.nginx.backends.pbcoffee?.text).toBe("<= 10%");
    expect(over?.expect.nginx.errors?.text).toBe(">= 50%");
  });
});

describe("bad fixtures", () => {
  const files = readdirSync(BAD).filter((f) => f.endsWith(".yaml"));
  it("exist", () => expect(files.length).toBeGreaterThanOrEqual(9));

  it.each(files)("%s reports every expected error at its line and column", (name) => {
    const file = join(BAD, name);
    const expected = [...readFileSync(file, "utf8").matchAll(/^# expect: (\d+):(\d+) (.+)$/gm)];
    expect(expected.length, "fixture declares its expected errors").toBeGreaterThan(0);
    const err = errorsOf(file);
    const errors = err.diagnostics.filter((d) => d.severity === "error");
    expect(errors.length).toBe(expected.length);
    for (const [, line, col, message] of expected) {
      const found = errors.find((d) => d.line === Number(line) && d.col === Number(col) && d.message.includes(message!));
      expect(found, `expected ${line}:${col} ${message}; got:\n${err.message}`).toBeDefined();
    }
    expect(err.exitCode).toBe(2);
  });
});

describe("validation", () => {
  const base = (extra: string) => `version: 1\nfrontends:\n  web:\n    bind: "127.0.0.1:8080"\n    default_backend: a\n${extra}backends:\n  a: { servers: 1 }\n`;

  it("warns about a rule that always fires", () => {
    const { warnings } = loadSpecText(base("    rules: [ { if: 'fe_conn >= 0', use_backend: a } ]\n"), "s.yaml");
    expect(warnings.map((w) => w.message)).toEqual([expect.stringContaining("rule always fires")]);
  });

  it("rejects nbsrv thresholds a backend can never reach", () => {
    expect(() => loadSpecText(base("    rules: [ { if: 'nbsrv(a) > 1', use_backend: a } ]\n"), "s.yaml")).toThrow(/can never fire/);
  });

  it("rejects a be_conn naming an unknown backend, pointing inside the condition", () => {
    const err = (() => {
      try {
        loadSpecText(base("    rules: [ { if: 'be_conn(b) > 1', use_backend: a } ]\n"), "s.yaml");
      } catch (e) {
        return e as SpecError;
      }
      throw new Error("accepted");
    })();
    expect(err.diagnostics[0]).toMatchObject({ line: 6, col: 29, message: "backend 'b' is not defined; did you mean 'a'?" });
  });

  it("reports an empty file and a non-map document", () => {
    expect(() => loadSpecText("", "e.yaml")).toThrow(/e.yaml:1:1: error: the spec is empty/);
    expect(() => loadSpecText("- 1\n", "l.yaml")).toThrow(/l.yaml:1:1: error: expected a map, found a list/);
  });

  it("rejects frontend names that nginx variables could not tell apart", () => {
    const spec = base("").replace("frontends:\n", 'frontends:\n  a-b: { bind: "127.0.0.1:8081", default_backend: a }\n  a_b: { bind: "127.0.0.1:8082", default_backend: a }\n');
    expect(() => loadSpecText(spec, "n.yaml")).toThrow(/n.yaml:4:3: error: frontend names 'a-b' \(line 3\) and 'a_b' differ only in '-' and '_'/);
  });

  it("rejects a wrong version", () => {
    expect(() => loadSpecText(base("").replace("version: 1", "version: 2"), "v.yaml")).toThrow(/v.yaml:1:10: error: must be 1, found number 2 \(version\)/);
  });

  it("accepts per-target expectations that replace the common ones", () => {
    const { model } = loadSpecText(
      base("") +
        "scenarios:\n  s:\n    load: { connections: 1, requests: 1 }\n    expect: { backends: { a: '100%' }, errors: '0' }\n    expect_by_target:\n      nginx: { backends: { a: '>= 1' } }\n",
      "s.yaml",
    );
    const s = model.scenarios[0]!;
    expect(s.expect.haproxy.backends.a?.text).toBe("100%");
    expect(s.expect.nginx.backends.a?.text).toBe(">= 1");
    expect(s.expect.nginx.errors?.text).toBe("0");
  });
});

describe("a scenario's load", () => {
  const spec = (load: string) =>
    `version: 1\nfrontends:\n  web: { bind: "127.0.0.1:8080", default_backend: a }\nbackends:\n  a: { servers: 1 }\nscenarios:\n  s:\n    load: ${load}\n`;

  it("is the load spillway load and a library caller run: one schema, one set of checks, one normalised shape", () => {
    const text = "{ connections: 4, streams: 8, duration: 30s, warmup: 2s, connect_rate: 2, connect_period: 500ms, keep_alive: { close_after_requests: 100 }, source_addresses: ['127.0.0.2', '::1'], timeout: 5s, path: /api }";
    const fromSpec = loadSpecText(spec(text), "s.yaml").model.scenarios[0]!.load;
    const input = { connections: 4, streams: 8, duration: "30s", warmup: "2s", connect_rate: 2, connect_period: "500ms", keep_alive: { close_after_requests: 100 }, source_addresses: ["127.0.0.2", "::1"], timeout: "5s", path: "/api" };
    expect(validateLoad(input)).toEqual({ load: fromSpec, problems: [], urls: [] });
    expect(fromSpec).toMatchObject({ connectRate: 2, connectPeriodMs: 500, durationMs: 30_000, warmupMs: 2000, closeAfterRequests: 100, timeoutMs: 5000, budget: "pooled", path: "/api" });
    // The same rule refuses the same load wherever it comes from, naming the key as the spec writes it.
    const bad = "{ connections: 3, requests: 2 }";
    const err = (() => {
      try {
        loadSpecText(spec(bad), "b.yaml");
      } catch (e) {
        return e as SpecError;
      }
      throw new Error("accepted");
    })();
    const [library] = validateLoad({ connections: 3, requests: 2 }).problems;
    expect(err.diagnostics.map((d) => d.message)).toEqual([library!.message]);
    expect(err.diagnostics[0]).toMatchObject({ line: 8, col: 39, path: "scenarios.s.load.requests" });
  });

  it("describes every key, stage and keep-alive setting, for the reference generated from the schema", () => {
    const undescribed: string[] = [];
    const visit = (schema: z.ZodType, path: string) => {
      if (!schema.description) undescribed.push(path);
      let inner: z.ZodType = schema;
      while (inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
      if (inner instanceof z.ZodArray) visit(inner.element as z.ZodType, `${path}[]`);
      if (inner instanceof z.ZodObject) for (const [key, value] of Object.entries(inner.shape)) visit(value as z.ZodType, path ? `${path}.${key}` : key);
    };
    visit(loadSchema, "load");
    expect(undescribed).toEqual([]);
    expect(Object.keys(loadSchema.shape).length).toBeGreaterThan(15);
  });
});

describe("a scenario's WebSocket sessions", () => {
  const spec = (load: string, frontend = "") =>
    `version: 1\nfrontends:\n  web: { bind: "127.0.0.1:8080", ${frontend}default_backend: a }\nbackends:\n  a: { servers: 1 }\nscenarios:\n  s:\n    load: ${load}\n`;
  const h1 = "http2: { enabled: false }, ";

  it("may be the whole load: no HTTP connection, every WebSocket default filled in", () => {
    const { model, warnings } = loadSpecText(spec('{ websockets: { connections: 100, session: 10s } }', h1), "ws.yaml");
    expect(warnings).toEqual([]);
    const load = model.scenarios[0]!.load;
    expect(load).toMatchObject({ http: false, connections: 0, requests: null, durationMs: null });
    expect(load.websockets).toEqual({ connections: 100, rooms: 1, messageIntervalMs: 1000, payloadBytes: 16, sessionMs: 10_000, connectRate: null });
  });

  it("may sit beside an HTTP load, which keeps every rule of its own", () => {
    const text = "{ connections: 4, duration: 30s, protocol: h1, websockets: { connections: 10, rooms: 0, message_interval: 250ms, payload_bytes: 1024, session: 5s, connect_rate: 5 } }";
    const load = loadSpecText(spec(text, h1), "ws.yaml").model.scenarios[0]!.load;
    expect(load).toMatchObject({ http: true, connections: 4, durationMs: 30_000 });
    expect(load.websockets).toEqual({ connections: 10, rooms: 0, messageIntervalMs: 250, payloadBytes: 1024, sessionMs: 5000, connectRate: 5 });
    // A library caller's load is checked by the same rules, named the same way.
    const input = { connections: 4, duration: "30s", protocol: "h1", websockets: { connections: 10, rooms: 0, message_interval: "250ms", payload_bytes: 1024, session: "5s", connect_rate: 5 } };
    expect(validateLoad(input)).toEqual({ load, problems: [], urls: [] });
    expect(validateLoad({ websockets: { connections: 2, rooms: 3, session: "1s" } }).problems.map((p) => p.message)).toEqual([
      "websockets.rooms 3 is more than the 2 sessions (websockets.connections): sessions are dealt over the rooms in turn, so 1 room would stay empty",
    ]);
    expect(validateLoad({ connections: 1, requests: 1 }).load).toMatchObject({ http: true, websockets: null });
  });

  it("warns that nginx before 1.25.1 cannot take an upgrade on a port with HTTP/2, and not when nginx is not a target", () => {
    const { warnings } = loadSpecText(spec("{ websockets: { connections: 1, session: 1s } }"), "ws.yaml");
    expect(warnings).toMatchObject([{ line: 8, col: 13, message: expect.stringContaining("nginx before 1.25.1 speaks only h2c on a port with HTTP/2") }]);
    const haproxyOnly = spec("{ websockets: { connections: 1, session: 1s } }").replace("version: 1\n", "version: 1\ntargets: [haproxy]\n");
    expect(loadSpecText(haproxyOnly, "ws.yaml").warnings).toEqual([]);
  });

  it("give no open-file warning for many connections: the driver spreads itself over processes, and the preflight checks the machine", () => {
    const { warnings } = loadSpecText(spec("{ connections: 90000, duration: 1s, protocol: h1, websockets: { connections: 8000, session: 1s } }", h1), "ws.yaml");
    expect(warnings).toEqual([]);
  });
});

describe("JSON Schema", () => {
  it("is derived from the same source and shipped in schema/", () => {
    const shipped = JSON.parse(readFileSync(join(ROOT, "schema", "spillway.schema.json"), "utf8"));
    expect(shipped).toEqual(specJsonSchema());
    const props = (specJsonSchema() as { properties: Record<string, unknown> }).properties;
    expect(Object.keys(props)).toEqual(["version", "targets", "stubs", "frontends", "backends", "scenarios"]);
  });
});
