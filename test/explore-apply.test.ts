/**
 * A grid point applied to the classic spec's YAML: values land with the
 * type the schema wants, comments and lines stay, the normal loader judges
 * the result and its diagnostics point into the file the user wrote, and a
 * scenario written as an h2load line is rewritten as keys only when the
 * keys give the same load.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { UsageError } from "../src/errors.js";
import { applyGrid, applyPoint, prepareGrid, typedValue, VaryValueError, type GridSpec } from "../src/explore/apply.js";
import { varyScope } from "../src/explore/paths.js";
import { gridPoints, parseVary } from "../src/explore/vary.js";
import { SpecError } from "../src/spec/diagnostics.js";
import { loadSpecText } from "../src/spec/load.js";

const FILE = "fixtures/classic.yaml";
const CLASSIC = readFileSync(new URL("../fixtures/classic.yaml", import.meta.url), "utf8");
const classic = loadSpecText(CLASSIC, FILE).model;

function grid(scenario: string, vary: string[], text = CLASSIC): GridSpec {
  const model = loadSpecText(text, FILE).model;
  const axes = parseVary(vary, varyScope(model, model.scenarios.find((s) => s.name === scenario)!));
  return prepareGrid(text, FILE, scenario, axes);
}

function caught<T extends Error>(fn: () => unknown, type: new (...a: never[]) => T): T {
  try {
    fn();
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error(`expected a ${type.name}`);
}

/** 1-based line and column of the first `needle` on the line holding `marker`. */
function position(text: string, marker: string, needle: string): { line: number; col: number } {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.includes(marker));
  return { line: i + 1, col: lines[i]!.indexOf(needle, lines[i]!.indexOf(marker)) + 1 };
}

describe("applyPoint", () => {
  it("sets each path with the schema's type, keeping comments and every line where it was", () => {
    const g = grid("under-threshold", ["frontends.webserver.timeouts.http_keep_alive=1s", "backends.ade.servers=1", "load.think_time=0", "load.keep_alive.close_after_requests=5"]);
    const p = applyPoint(g, gridPoints(g.axes)[0]!);
    expect(p.text).toContain("timeouts: { client: 2m, http_keep_alive: 1s, http_request: 10s, connect: 5s, server: 2m }");
    expect(p.text).toContain("ade: { servers: 1, maxconn: 200, balance: roundrobin }");
    expect(p.text).toContain("load: { connections: 300, streams: 40, connect_rate: 300, requests: 40000, think_time: 0ms, keep_alive: { close_after_requests: 5 } }");
    const before = CLASSIC.split("\n");
    const after = p.text.split("\n");
    expect(after).toHaveLength(before.length);
    for (const [i, line] of before.entries()) if (line.trimStart().startsWith("#")) expect(after[i], `line ${i + 1}`).toBe(line);
    expect(p.model.frontends[0]!.timeouts.httpKeepAliveMs).toBe(1000);
    expect(p.model.backends.find((b) => b.name === "ade")!.servers).toHaveLength(1);
    expect(p.scenario.load).toMatchObject({ thinkTimeMs: 0, closeAfterRequests: 5, closeAfterIdleMs: null });
    expect(p.values).toEqual({
      "frontends.webserver.timeouts.http_keep_alive": "1s",
      "backends.ade.servers": "1",
      "load.think_time": "0",
      "load.keep_alive.close_after_requests": "5",
    });
  });

  it("changes nothing else: the spec with each path set to its own value loads to the same model", () => {
    const g = grid("under-threshold", ["frontends.webserver.timeouts.http_keep_alive=10s", "backends.ade.servers=2", "load.connections=300"]);
    expect(applyPoint(g, gridPoints(g.axes)[0]!).model).toEqual(classic);
  });

  it("refuses a value the spec does not accept with the spec's own diagnostic, in the user's file, naming the --vary value", () => {
    const g = grid("under-threshold", ["backends.ade.servers=0,2", "load.think_time=0,2s"]);
    const err = caught(() => applyPoint(g, gridPoints(g.axes)[0]!), VaryValueError);
    const at = position(CLASSIC, "ade: { servers: 2", "2");
    expect(err.message).toBe(
      "--vary backends.ade.servers=0 makes the spec invalid (at the grid point backends.ade.servers=0, load.think_time=0):\n" +
        `${FILE}:${at.line}:${at.col}: error: must be at least 1, found number 0 (backends.ade.servers)`,
    );
    expect(err.exitCode).toBe(1);
    expect(err.values).toEqual({ "backends.ade.servers": "0", "load.think_time": "0" });
    expect(err.diagnostics[0]).toMatchObject({ path: "backends.ade.servers", line: at.line, col: at.col });
  });

  it("points into the user's file even when a key it lacked was added above the problem", () => {
    // keep_alive is a new key of the frontend's block map: one line more in the varied text.
    const g = grid("under-threshold", ["frontends.webserver.keep_alive.requests=5", "load.requests=100"]);
    const point = gridPoints(g.axes)[0]!;
    const err = caught(() => applyPoint(g, point), VaryValueError);
    const at = position(CLASSIC, "load: { connections: 300", "40000");
    expect(err.diagnostics.find((d) => d.path === "scenarios.under-threshold.load.requests")).toMatchObject({ line: at.line, col: at.col });
    expect(err.message).toContain(`${FILE}:${at.line}:${at.col}: error: 100 requests for 300 connections`);
    expect(err.message.split("\n")[0]).toBe("--vary load.requests=100 makes the spec invalid (at the grid point frontends.webserver.keep_alive.requests=5, load.requests=100):");
  });

  it("names the whole grid point when the problem is where two values meet", () => {
    const g = grid("under-threshold", ["load.connections=280,300", "frontends.webserver.maxconn=310"]);
    const err = caught(() => applyPoint(g, gridPoints(g.axes)[0]!), VaryValueError);
    expect(err.message.split("\n")[0]).toBe("the grid point load.connections=280, frontends.webserver.maxconn=310 makes the spec invalid:");
    expect(err.message).toContain("error: connect_rate 300 is more than the 280 connections");
  });

  it("leaves a wrongly typed value as text for the loader to name", () => {
    expect(typedValue("abc", "number")).toBe("abc");
    expect(typedValue("310", "number")).toBe(310);
    expect(typedValue("0.25", "number")).toBe(0.25);
    expect(typedValue("true", "boolean")).toBe(true);
    expect(typedValue("0", "duration")).toBe("0ms");
    expect(typedValue("10", "string")).toBe("10");
    const g = grid("under-threshold", ["load.streams=many"]);
    expect(caught(() => applyPoint(g, { "load.streams": "many" }), VaryValueError).message).toContain('error: expected a number, found the string "many" (scenarios.under-threshold.load.streams)');
  });

  it("varies a rule's condition and a stage's target", () => {
    const g = grid("under-threshold", ["frontends.webserver.rules[0].if=fe_conn > 250"]);
    const p = applyPoint(g, { "frontends.webserver.rules[0].if": "fe_conn > 250" });
    expect(p.text).toContain('if: "fe_conn > 250"');
    expect(p.model.frontends[0]!.rules[0]!.text).toBe("fe_conn > 250");
    const ramp = `${CLASSIC}  ramp:\n    load: { connections: 100, stages: [{ duration: 5s, target: 50 }, { duration: 5s, target: 100 }] }\n`;
    const r = grid("ramp", ["load.stages[1].target=60,80"], ramp);
    expect(applyGrid(r, gridPoints(r.axes)).map((p) => p.scenario.load.stages[1]!.target)).toEqual([60, 80]);
  });
});

describe("a scenario written as an h2load line", () => {
  it("runs as the keys the line stands for when a key it sets is varied: the same load, checked, and said so", () => {
    const g = grid("over-threshold", ["load.think_time=0,2s"]);
    expect(g.note).toBe(
      "scenario 'over-threshold': h2load \"-c310 -m40 -n40000 --rate=310\" runs as the load keys it stands for " +
        "(connections: 310, streams: 40, requests: 40000, budget: per-client, connect_rate: 310; the same load, checked), so load.think_time can vary, since h2load has no option for load.think_time",
    );
    expect(g.base).toContain("load: { connections: 310, streams: 40, requests: 40000, budget: per-client, connect_rate: 310 }");
    const [zero, two] = applyGrid(g, gridPoints(g.axes));
    const original = classic.scenarios.find((s) => s.name === "over-threshold")!.load;
    expect(zero!.scenario.load).toEqual(original);
    expect(two!.scenario.load).toEqual({ ...original, thinkTimeMs: 2000 });
  });

  it("keeps the line when the varied key is one the line does not set", () => {
    const g = grid("over-threshold", ["load.keep_alive.close_after_requests=10"]);
    expect(g.note).toBeNull();
    const p = applyPoint(g, { "load.keep_alive.close_after_requests": "10" });
    expect(p.text).toContain('load: { h2load: "-c310 -m40 -n40000 --rate=310", keep_alive: { close_after_requests: 10 } }');
    expect(p.scenario.load.closeAfterRequests).toBe(10);
  });

  it("says why a value is refused there: h2load's own rule, and how the line was run", () => {
    const g = grid("over-threshold", ["load.connections=280,320"]);
    const err = caught(() => applyGrid(g, gridPoints(g.axes)), VaryValueError);
    expect(err.message).toContain("error: connect_rate 310 is more than the 280 connections");
    expect(err.message).toContain(`\n(${g.note})`);
    expect(err.message).not.toContain("more grid point");
  });

  it("varies whole h2load lines", () => {
    const g = grid("over-threshold", ["load.h2load=-c300 -m40 -n40000 --rate=300,-c310 -m40 -n40000 --rate=310"]);
    expect(g.note).toBeNull();
    expect(applyGrid(g, gridPoints(g.axes)).map((p) => p.scenario.load.connections)).toEqual([300, 310]);
  });
});

describe("applyGrid and prepareGrid", () => {
  it("applies every point before anything runs, and names how many more are refused", () => {
    const g = grid("under-threshold", ["load.connections=260,280,300,320"]);
    const err = caught(() => applyGrid(g, gridPoints(g.axes)), VaryValueError);
    expect(err.message.split("\n")[0]).toBe("--vary load.connections=260 makes the spec invalid:");
    expect(err.message.split("\n").at(-1)).toBe("1 more grid point is invalid: (load.connections=280)");
    const ok = grid("under-threshold", ["load.connections=300,320"]);
    expect(applyGrid(ok, gridPoints(ok.axes)).map((p) => p.scenario.load.connections)).toEqual([300, 320]);
  });

  it("refuses an unknown scenario with a did-you-mean, and an invalid spec with its own error (exit 2)", () => {
    const model = classic;
    const axes = parseVary(["load.connections=300"], varyScope(model, model.scenarios[0]!));
    const err = caught(() => prepareGrid(CLASSIC, FILE, "over-treshold", axes), UsageError);
    expect(err.message).toBe("no scenario 'over-treshold' in fixtures/classic.yaml; did you mean 'over-threshold'?");
    expect(err.exitCode).toBe(1);
    const bad = caught(() => prepareGrid(CLASSIC.replace("maxconn: 310", "maxconn: 0"), FILE, "under-threshold", axes), SpecError);
    expect(bad.exitCode).toBe(2);
  });
});
