/**
 * `--vary` arguments: paths checked against the spec's schema and names,
 * values split and ranges expanded, every refusal worded exactly, and the
 * grid spanned in a stable order with the step each cell needs.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { UsageError } from "../src/errors.js";
import { resolvePath, splitPath, varyScope, type VaryScope } from "../src/explore/paths.js";
import { gridPoints, gridSteps, MAX_GRID_POINTS, parseVary, parseVaryArg, stepKind } from "../src/explore/vary.js";
import { loadSpecText } from "../src/spec/load.js";

const CLASSIC = readFileSync(new URL("../fixtures/classic.yaml", import.meta.url), "utf8");
const classic = loadSpecText(CLASSIC, "fixtures/classic.yaml").model;
const scope = varyScope(classic, classic.scenarios.find((s) => s.name === "under-threshold")!);

const MULTI = readFileSync(new URL("../fixtures/multi-frontend.yaml", import.meta.url), "utf8");
const multi = loadSpecText(
  `${MULTI}\nscenarios:\n  ramp:\n    load: { connections: 100, stages: [{ duration: 5s, target: 50 }, { duration: 5s, target: 100 }], think_time: 10ms }\n`,
  "multi.yaml",
).model;
const multiScope = varyScope(multi, multi.scenarios[0]!);

/** The UsageError a call throws: its message, hint and exit code. */
function refusal(fn: () => unknown): { message: string; hint: string | undefined; exitCode: number } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { message: err.message, hint: err.hint, exitCode: err.exitCode };
  }
  throw new Error("expected a UsageError");
}

describe("--vary values", () => {
  it("splits a list, keeping each value as written", () => {
    expect(parseVaryArg("frontends.webserver.timeouts.http_keep_alive=100ms,1s,10s", scope)).toMatchObject({
      path: "frontends.webserver.timeouts.http_keep_alive",
      values: ["100ms", "1s", "10s"],
      resolved: { docPath: ["frontends", "webserver", "timeouts", "http_keep_alive"], scope: "stack", kind: "duration" },
    });
    expect(parseVaryArg("load.think_time=0,500ms,2s", scope).values).toEqual(["0", "500ms", "2s"]);
  });

  it("expands A..B/STEP ranges of numbers, decimals and durations", () => {
    expect(parseVaryArg("load.connections=280..320/10", scope).values).toEqual(["280", "290", "300", "310", "320"]);
    expect(parseVaryArg("backends.ade.stub.failure_rate=0..0.3/0.1", scope).values).toEqual(["0", "0.1", "0.2", "0.3"]);
    expect(parseVaryArg("load.think_time=100ms..1s/300ms", scope).values).toEqual(["100ms", "400ms", "700ms", "1s"]);
    expect(parseVaryArg("load.think_time=0..2s/1s", scope).values).toEqual(["0s", "1s", "2s"]);
    expect(parseVaryArg("load.connections=5..5/1,8", scope).values).toEqual(["5", "8"]);
  });

  it("refuses a range that does not land on its end, saying what it would give", () => {
    expect(refusal(() => parseVaryArg("load.connections=280..320/15", scope))).toEqual({
      message: "--vary load.connections: 15 steps from 280 do not land on 320: the range would give 280, 295, 310",
      hint: "End the range on a step: 280..310/15 or 280..325/15, or list the values.",
      exitCode: 1,
    });
  });

  it("refuses a zero or negative step, a downward range and a range without a step", () => {
    expect(refusal(() => parseVaryArg("load.connections=280..320/0", scope)).message).toBe("--vary load.connections: the step must be above 0, found 0");
    expect(refusal(() => parseVaryArg("load.connections=280..320/-10", scope)).message).toBe("--vary load.connections: the step must be above 0, found -10");
    expect(refusal(() => parseVaryArg("load.think_time=1s..2s/0ms", scope)).message).toBe("--vary load.think_time: the step must be above 0, found 0ms");
    expect(refusal(() => parseVaryArg("load.think_time=1s..2s/0", scope)).message).toBe("--vary load.think_time: the step must be above 0, found 0");
    expect(refusal(() => parseVaryArg("load.think_time=1..2s/1s", scope)).message).toBe("--vary load.think_time: '1' in 1..2s/1s is not a duration (a whole number and ms, s, m or h)");
    expect(refusal(() => parseVaryArg("load.connections=320..280/10", scope))).toMatchObject({
      message: "--vary load.connections: the range runs downward (320 to 280)",
      hint: "Write the smaller value first: 280..320/10.",
    });
    expect(refusal(() => parseVaryArg("load.connections=280..320", scope)).message).toBe("--vary load.connections: the range 280..320 has no step");
    expect(refusal(() => parseVaryArg("load.connections=a..b/1", scope)).message).toBe("--vary load.connections: 'a' in a..b/1 is not a number >= 0");
  });

  it("refuses an empty value, a value given twice, and a missing '='", () => {
    expect(refusal(() => parseVaryArg("load.connections=1,,3", scope)).message).toBe("--vary load.connections: value 2 of 3 is empty");
    expect(refusal(() => parseVaryArg("load.connections=", scope)).message).toBe("--vary load.connections: value 1 of 1 is empty");
    expect(refusal(() => parseVaryArg("load.connections=1,2,1", scope)).message).toBe("--vary load.connections: the value 1 is given twice");
    expect(refusal(() => parseVaryArg("load.connections=1,1.0", scope)).message).toBe("--vary load.connections: 1 and 1.0 are the same value");
    expect(refusal(() => parseVaryArg("load.think_time=1s,1000ms", scope)).message).toBe("--vary load.think_time: 1s and 1000ms are the same value");
    expect(refusal(() => parseVaryArg("load.connections", scope)).message).toBe("--vary load.connections: expected PATH=V1,V2,... or PATH=A..B/STEP");
  });

  it(`refuses more than ${MAX_GRID_POINTS} grid points, naming the limit, before expanding a range`, () => {
    expect(refusal(() => parseVaryArg("load.connections=1..1000000000/1", scope)).message).toBe(
      "--vary load.connections: the range gives 1000000000 values, more than the 400 grid points an exploration may have",
    );
    expect(refusal(() => parseVary(["load.connections=1..21/1", "load.streams=1..20/1"], scope))).toMatchObject({
      message: "the grid has 21 x 20 = 420 points, more than the 400 grid points an exploration may have",
      exitCode: 1,
    });
    expect(gridPoints(parseVary(["load.connections=1..20/1", "load.streams=1..20/1"], scope))).toHaveLength(400);
  });

  it("refuses a path given twice, and no --vary at all", () => {
    expect(refusal(() => parseVary(["load.connections=1,2", "load.connections=3"], scope))).toEqual({
      message: "--vary load.connections is given twice",
      hint: "Put all its values in one --vary: load.connections=1,2,3.",
      exitCode: 1,
    });
    expect(refusal(() => parseVary([], scope)).message).toBe("explore needs at least one --vary PATH=V1,V2,...");
  });
});

describe("--vary paths", () => {
  it("refuses a key the schema does not have, with the spec's did-you-mean and the keys allowed there", () => {
    expect(refusal(() => resolvePath("frontends.webserver.timeouts.http_keepalive", scope))).toEqual({
      message: "--vary frontends.webserver.timeouts.http_keepalive: unknown key 'http_keepalive' under frontends.webserver.timeouts; did you mean 'http_keep_alive'?",
      hint: "Allowed here: client, http_keep_alive, http_request, connect, server, tunnel.",
      exitCode: 1,
    });
    expect(refusal(() => resolvePath("load.conections", scope)).message).toBe("--vary load.conections: unknown key 'conections' under load; did you mean 'connections'?");
    expect(refusal(() => resolvePath("lod.connections", scope)).message).toBe("--vary lod.connections: unknown key 'lod'; did you mean 'load'?");
  });

  it("refuses a frontend or backend the spec does not define, and a frontend the scenario's load does not reach", () => {
    expect(refusal(() => resolvePath("backends.adee.servers", scope))).toEqual({
      message: "--vary backends.adee.servers: the spec has no backend 'adee'; did you mean 'ade'?",
      hint: "backends: ade, pbcoffee.",
      exitCode: 1,
    });
    expect(refusal(() => resolvePath("frontends.legacy.maxconn", multiScope))).toEqual({
      message: "--vary frontends.legacy.maxconn: scenario 'ramp' sends its load to frontend 'api', so keys of frontend 'legacy' change nothing it measures",
      hint: "Vary frontends.api.<key>, or choose a scenario whose frontend is 'legacy'.",
      exitCode: 1,
    });
  });

  it("refuses spec keys outside the frontend, backends and load, and maps and lists as a whole", () => {
    expect(refusal(() => resolvePath("stubs.base_port", scope)).message).toBe("--vary stubs.base_port: 'stubs' cannot be varied");
    expect(refusal(() => resolvePath("scenarios.over-threshold.load.connections", scope)).message).toBe(
      "--vary scenarios.over-threshold.load.connections: scenario keys are varied as load.<key>, on the scenario chosen with --scenario ('under-threshold')",
    );
    expect(refusal(() => resolvePath("backends.ade", scope))).toMatchObject({ message: "--vary backends.ade: backends.ade is a map; vary one of its keys", hint: "Keys: servers, maxconn, balance, keepalive, stub." });
    expect(refusal(() => resolvePath("frontends.webserver.rules", scope)).message).toBe("--vary frontends.webserver.rules: frontends.webserver.rules is a list; vary one value, or one entry's key with [N]");
    expect(refusal(() => resolvePath("load.connections.max", scope)).message).toBe("--vary load.connections.max: load.connections is a single value, with no key 'max'");
    expect(refusal(() => resolvePath("load..connections", scope)).message).toBe("--vary load..connections: not a path; a path is names joined by '.', with [N] for a list entry");
  });

  it("reaches list entries the spec has, and refuses those it has not", () => {
    expect(resolvePath("frontends.webserver.rules[0].if", scope)).toMatchObject({ docPath: ["frontends", "webserver", "rules", 0, "if"], kind: "string", scope: "stack" });
    expect(resolvePath("load.stages[1].target", multiScope)).toMatchObject({ docPath: ["scenarios", "ramp", "load", "stages", 1, "target"], kind: "number", scope: "load" });
    expect(resolvePath("backends.shed.servers[0].maxconn", multiScope).kind).toBe("number");
    expect(refusal(() => resolvePath("frontends.webserver.rules[1].if", scope)).message).toBe(
      "--vary frontends.webserver.rules[1].if: frontends.webserver.rules has 1 entry, so [1] names none (the first is [0])",
    );
    expect(refusal(() => resolvePath("backends.main.servers[0].maxconn", multiScope)).message).toBe(
      "--vary backends.main.servers[0].maxconn: backends.main.servers is not a list in this spec, so [0] names nothing",
    );
    expect(refusal(() => resolvePath("load.stages[0].target", scope)).message).toBe("--vary load.stages[0].target: load.stages is not a list in this spec, so [0] names nothing");
  });

  it("types each leaf as the schema wants it", () => {
    const kind = (p: string, s: VaryScope = scope) => resolvePath(p, s).kind;
    expect(kind("backends.ade.servers")).toBe("number");
    expect(kind("load.keep_alive.close_after_requests")).toBe("number");
    expect(kind("load.reconnect")).toBe("boolean");
    expect(kind("load.protocol")).toBe("string");
    expect(kind("load.h2load")).toBe("string");
    expect(kind("frontends.webserver.keep_alive.requests")).toBe("number");
    expect(kind("backends.ade.stub.latency")).toBe("duration");
  });

  it("splits paths with list indexes", () => {
    expect(splitPath("frontends.a.rules[2].if")).toEqual(["frontends", "a", "rules", 2, "if"]);
    expect(splitPath("a.[1]")).toBeNull();
    expect(splitPath("")).toBeNull();
  });
});

describe("the grid", () => {
  it("is the cartesian product, first axis slowest", () => {
    const axes = parseVary(["backends.ade.servers=1,2", "load.think_time=0,500ms,2s"], scope);
    expect(gridPoints(axes)).toEqual([
      { "backends.ade.servers": "1", "load.think_time": "0" },
      { "backends.ade.servers": "1", "load.think_time": "500ms" },
      { "backends.ade.servers": "1", "load.think_time": "2s" },
      { "backends.ade.servers": "2", "load.think_time": "0" },
      { "backends.ade.servers": "2", "load.think_time": "500ms" },
      { "backends.ade.servers": "2", "load.think_time": "2s" },
    ]);
  });

  it("needs a new stack when a non-load path changes, and reuses it when only load paths do", () => {
    const axes = parseVary(["frontends.webserver.timeouts.http_keep_alive=100ms,10s", "load.think_time=0,2s", "load.keep_alive.close_after_requests=5,50"], scope);
    const points = gridPoints(axes);
    expect(gridSteps(axes, points)).toEqual(["stack", "load-only", "load-only", "load-only", "stack", "load-only", "load-only", "load-only"]);
    expect(stepKind(axes, null, points[0]!)).toBe("stack");
    expect(stepKind(axes, points[3]!, points[0]!)).toBe("load-only");
    expect(stepKind(axes, points[0]!, points[7]!)).toBe("stack");
  });
});

describe("a scenario with WebSocket sessions", () => {
  it("plans a grid over load.websockets keys, each a load-only step; a ramp, which moves HTTP connections only, is refused (exit 1)", async () => {
    const { planExplore } = await import("../src/explore/run.js");
    const text = readFileSync("fixtures/chat.yaml", "utf8");
    const plan = planExplore(text, "fixtures/chat.yaml", { scenario: "room-of-100", vary: ["load.websockets.connections=50,100,200", "load.websockets.message_interval=1s,500ms"], targets: undefined, ramp: undefined });
    expect(plan.points.map((p) => [p.scenario.load.websockets!.connections, p.scenario.load.websockets!.messageIntervalMs])).toEqual([
      [50, 1000], [50, 500], [100, 1000], [100, 500], [200, 1000], [200, 500],
    ]);
    expect(plan.axes.map((a) => a.resolved.scope)).toEqual(["load", "load"]);
    // A value the spec refuses is refused as the spec refuses it: more rooms than sessions.
    expect(() => planExplore(text, "fixtures/chat.yaml", { scenario: "room-of-100", vary: ["load.websockets.rooms=200"], targets: undefined, ramp: undefined })).toThrow(/rooms/);
    const ramp = () => planExplore(text, "fixtures/chat.yaml", { scenario: "room-of-100", vary: ["load.websockets.connections=50,100"], targets: undefined, ramp: [{ duration: "0s", target: 10 }, { duration: "2s", target: 40 }] });
    expect(ramp).toThrow(UsageError);
    expect(ramp).toThrow(/--ramp: scenario 'room-of-100' holds WebSocket sessions, and a ramp changes only the HTTP load's connections/);
  });
});
