import { describe, expect, it } from "vitest";
import { ConditionSyntaxError, conditionText, parseCondition, toDnf } from "../src/spec/condition.js";
import { feConnSet, intervalsText } from "../src/spec/intervals.js";
import { rangeRegex } from "../src/render/int-regex.js";

describe("condition language", () => {
  it("parses precedence: and binds tighter than or, not tighter than and", () => {
    const c = parseCondition("fe_conn > 1 or fe_conn < 5 and not be_conn(ade) >= 3");
    expect(conditionText(c)).toBe("fe_conn > 1 or (fe_conn < 5 and not be_conn(ade) >= 3)");
  });

  it("parses parentheses and every operator", () => {
    for (const op of [">", ">=", "<", "<=", "=="]) {
      expect(conditionText(parseCondition(`(nbsrv(b) ${op} 2)`))).toBe(`nbsrv(b) ${op} 2`);
    }
  });

  it.each([
    ["fe_conn >", 9, "expected a whole number, found the end of the condition"],
    ["fe_conn = 3", 8, "'=' is not an operator: use '=='"],
    ["fe_conn != 3", 8, "'!=' is not supported"],
    ["be_conn > 3", 8, "expected '(' after be_conn"],
    ["fe_conn > 3 fe_conn < 2", 12, "unexpected 'fe_conn'"],
    ["fe_conn > 3;", 11, "unexpected character ';'"],
    ["(fe_conn > 3", 12, "expected ')'"],
    ["conns > 3", 0, "unknown metric 'conns'"],
  ])("rejects %j at offset %i", (text, offset, message) => {
    try {
      parseCondition(text);
      expect.unreachable("should have thrown");
    } catch (err) {
      expect(err).toBeInstanceOf(ConditionSyntaxError);
      expect((err as ConditionSyntaxError).message).toContain(message);
      expect((err as ConditionSyntaxError).offset).toBe(offset);
    }
  });

  it("pushes not down to the comparisons in DNF", () => {
    const dnf = toDnf(parseCondition("not (fe_conn > 10 or fe_conn == 3)"));
    const text = dnf.map((alt) => alt.map((c) => `${c.op}${c.value}`).join("&"));
    expect(text).toEqual(["<=10&<3", "<=10&>3"]);
  });

  it("refuses conditions that explode in DNF", () => {
    const big = Array.from({ length: 7 }, (_, i) => `(fe_conn > ${i} or fe_conn < ${i})`).join(" and ");
    expect(() => toDnf(parseCondition(big))).toThrow(/more than 64 alternatives/);
  });

  it("computes the fe_conn set a condition holds for", () => {
    expect(intervalsText(feConnSet(parseCondition("fe_conn > 300"))!)).toBe(">= 301");
    expect(intervalsText(feConnSet(parseCondition("fe_conn >= 800 and not (fe_conn > 950)"))!)).toBe("800..950");
    expect(intervalsText(feConnSet(parseCondition("fe_conn < 1 and fe_conn > 1"))!)).toBe("never");
    expect(feConnSet(parseCondition("fe_conn > 1 and nbsrv(a) < 1"))).toBeNull();
  });
});

describe("integer range regex", () => {
  const cases: [number, number][] = [[301, Infinity], [0, Infinity], [1, 300], [0, 0], [99, 101], [123, 4567], [9, Infinity], [800, 950]];
  it.each(cases)("matches exactly %i..%d for every number below 20000", (lo, hi) => {
    const re = new RegExp(`^(${rangeRegex(lo, hi)})$`);
    const wrong: number[] = [];
    for (let n = 0; n < 20_000; n++) if (re.test(String(n)) !== (n >= lo && n <= hi)) wrong.push(n);
    expect(wrong).toEqual([]);
    expect(re.test("0301")).toBe(false);
    expect(rangeRegex(lo, hi)).not.toMatch(/[{}]/);
  });
});
