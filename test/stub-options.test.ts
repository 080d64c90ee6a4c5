import { describe, expect, test } from "vitest";
import { UsageError } from "../src/errors.js";
import { sumStubCounts, stubKey, emptyStubCounts } from "../src/stub/counts.js";
import { buildBody, failsAt, resolveStubOptions } from "../src/stub/options.js";
import { H2_PREFACE, sniffProtocol } from "../src/stub/sniff.js";

describe("failsAt", () => {
  // Rates as exact fractions, so the expected count is integer arithmetic, not floating point.
  const rates: Array<[number, number]> = [[1, 100], [1, 10], [1, 4], [29, 100], [1, 3], [1, 2], [7, 10], [99, 100]];
  test.each(rates)("the first N requests hold exactly floor(N * %i/%i) failures", (p, q) => {
    let failures = 0;
    for (let n = 1; n <= 2000; n++) {
      if (failsAt(n, p / q)) failures++;
      expect(failures, `n=${n}`).toBe(Math.floor((n * p) / q));
    }
  });

  test("0 never fails, 1 always fails", () => {
    for (let n = 1; n <= 100; n++) {
      expect(failsAt(n, 0)).toBe(false);
      expect(failsAt(n, 1)).toBe(true);
    }
  });
});

describe("sniffProtocol", () => {
  const preface = H2_PREFACE.toString("latin1");
  test.each([
    ["GET / HTTP/1.1\r\n", "h1"],
    ["POST /x HTTP/1.1\r\n", "h1"],
    ["PUT", "h1"],
    ["PRI * HTTP/1.1\r\n", "h1"],
    ["G", "h1"],
    ["", "more"],
    ["P", "more"],
    ["PRI * HTTP/2.0\r\n", "more"],
    [preface.slice(0, -1), "more"],
    [preface, "h2"],
    [preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00", "h2"],
  ])("%j is %s", (head, expected) => {
    expect(sniffProtocol(Buffer.from(head, "latin1"))).toBe(expected);
  });
});

describe("options", () => {

  test("defaults", () => {
    expect(resolveStubOptions({ backend: "ade", server: "s1" })).toEqual({
      backend: "ade",
      server: "s1",
      host: "127.0.0.1",
      port: 0,
      latencyMs: 0,
      bodyBytes: undefined,
      failureRate: 0,
      failureStatus: 503,
    });
  });

  test("names that would break a header or the backend/server key are refused", () => {
    for (const server of ["", "a b", "a/b", "a\r\nx: y", "é"]) {
      expect(() => resolveStubOptions({ backend: "ade", server }), JSON.stringify(server)).toThrow(UsageError);
    }
  });

  test("the body is the stub's name by default, or exactly bodyBytes long", () => {
    expect(buildBody("ade", "s1", undefined).toString()).toBe("ade/s1\n");
    expect(buildBody("ade", "s1", 10).toString()).toBe("ade/s1\nade");
    expect(buildBody("ade", "s1", 0).length).toBe(0);
    expect(buildBody("ade", "s1", 4096).length).toBe(4096);
  });

});

describe("counts", () => {
  test("sumStubCounts adds every field and leaves its inputs alone", () => {
    const a = { served: 3, byStatus: { "200": 2, "503": 1 }, byProtocol: { h1: 3, h2: 0 }, connections: 1 };
    const b = { served: 5, byStatus: { "200": 5 }, byProtocol: { h1: 1, h2: 4 }, connections: 2 };
    const before = JSON.stringify([a, b]);
    expect(sumStubCounts([a, b])).toEqual({ served: 8, byStatus: { "200": 7, "503": 1 }, byProtocol: { h1: 4, h2: 4 }, connections: 3 });
    expect(JSON.stringify([a, b])).toBe(before);
    expect(sumStubCounts([])).toEqual(emptyStubCounts());
    expect(stubKey({ backend: "ade", server: "s1" })).toBe("ade/s1");
  });
});
