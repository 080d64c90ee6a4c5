/**
 * The rule condition language:
 *   expr   := or
 *   or     := and ("or" and)*
 *   and    := unary ("and" unary)*
 *   unary  := "not" unary | "(" expr ")" | cmp
 *   cmp    := metric op integer
 *   metric := "fe_conn" | "be_conn" "(" name ")" | "nbsrv" "(" name ")"
 *   op     := ">" | ">=" | "<" | "<=" | "=="
 * Parsed to an AST; renderers build each proxy's syntax from the AST, never from the text.
 */

export type Metric =
  | { kind: "fe_conn" }
  | { kind: "be_conn"; backend: string }
  | { kind: "nbsrv"; backend: string };

export type Op = ">" | ">=" | "<" | "<=" | "==";

export type Condition =
  | { kind: "cmp"; metric: Metric; op: Op; value: number }
  | { kind: "and"; operands: Condition[] }
  | { kind: "or"; operands: Condition[] }
  | { kind: "not"; operand: Condition };

export class ConditionSyntaxError extends Error {
  /** Zero-based offset into the condition text. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

type Token = { type: "ident" | "int" | "op" | "(" | ")" | "end"; text: string; offset: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(ch)) {
      while (i < text.length && /[A-Za-z0-9_-]/.test(text[i]!)) i++;
      tokens.push({ type: "ident", text: text.slice(start, i), offset: start });
    } else if (/[0-9]/.test(ch)) {
      while (i < text.length && /[0-9]/.test(text[i]!)) i++;
      tokens.push({ type: "int", text: text.slice(start, i), offset: start });
    } else if (ch === "(" || ch === ")") {
      i++;
      tokens.push({ type: ch, text: ch, offset: start });
    } else if (ch === ">" || ch === "<" || ch === "=" || ch === "!") {
      i++;
      if (text[i] === "=") i++;
      const op = text.slice(start, i);
      if (op === "=" || op === "!" || op === "!=") {
        throw new ConditionSyntaxError(
          op === "=" ? "'=' is not an operator: use '=='" : `'${op}' is not supported: use 'not' and '=='`,
          start,
        );
      }
      tokens.push({ type: "op", text: op, offset: start });
    } else {
      throw new ConditionSyntaxError(`unexpected character '${ch}'`, start);
    }
  }
  tokens.push({ type: "end", text: "", offset: text.length });
  return tokens;
}

const OPS: readonly string[] = [">", ">=", "<", "<=", "=="];
const MAX_VALUE = 100_000_000;

export function parseCondition(text: string): Condition {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token => tokens[pos]!;
  const next = (): Token => tokens[pos++]!;
  const describe = (t: Token) => (t.type === "end" ? "the end of the condition" : `'${t.text}'`);
  const expect = (type: Token["type"], what: string): Token => {
    const t = next();
    if (t.type !== type) throw new ConditionSyntaxError(`expected ${what}, found ${describe(t)}`, t.offset);
    return t;
  };
  const isKeyword = (t: Token, word: string) => t.type === "ident" && t.text === word;

  function parseOr(): Condition {
    const operands = [parseAnd()];
    while (isKeyword(peek(), "or")) {
      next();
      operands.push(parseAnd());
    }
    return operands.length === 1 ? operands[0]! : { kind: "or", operands };
  }
  function parseAnd(): Condition {
    const operands = [parseUnary()];
    while (isKeyword(peek(), "and")) {
      next();
      operands.push(parseUnary());
    }
    return operands.length === 1 ? operands[0]! : { kind: "and", operands };
  }
  function parseUnary(): Condition {
    const t = peek();
    if (isKeyword(t, "not")) {
      next();
      return { kind: "not", operand: parseUnary() };
    }
    if (t.type === "(") {
      next();
      const inner = parseOr();
      expect(")", "')'");
      return inner;
    }
    return parseComparison();
  }
  function parseMetric(): Metric {
    const t = next();
    if (t.type !== "ident") {
      throw new ConditionSyntaxError(`expected fe_conn, be_conn(<backend>) or nbsrv(<backend>), found ${describe(t)}`, t.offset);
    }
    if (t.text === "fe_conn") return { kind: "fe_conn" };
    if (t.text === "be_conn" || t.text === "nbsrv") {
      expect("(", `'(' after ${t.text}`);
      const arg = expect("ident", "a backend name");
      expect(")", "')'");
      return { kind: t.text, backend: arg.text };
    }
    throw new ConditionSyntaxError(
      `unknown metric '${t.text}': use fe_conn, be_conn(<backend>) or nbsrv(<backend>)`,
      t.offset,
    );
  }
  function parseComparison(): Condition {
    const metric = parseMetric();
    const opToken = next();
    if (opToken.type !== "op" || !OPS.includes(opToken.text)) {
      throw new ConditionSyntaxError(`expected one of > >= < <= ==, found ${describe(opToken)}`, opToken.offset);
    }
    const valueToken = next();
    if (valueToken.type !== "int") {
      throw new ConditionSyntaxError(`expected a whole number, found ${describe(valueToken)}`, valueToken.offset);
    }
    const value = Number(valueToken.text);
    if (value > MAX_VALUE) throw new ConditionSyntaxError(`${valueToken.text} is too large (at most ${MAX_VALUE})`, valueToken.offset);
    return { kind: "cmp", metric, op: opToken.text as Op, value };
  }

  const result = parseOr();
  const rest = peek();
  if (rest.type !== "end") {
    throw new ConditionSyntaxError(`unexpected ${describe(rest)}: join comparisons with 'and' or 'or'`, rest.offset);
  }
  return result;
}

export function metricText(metric: Metric): string {
  return metric.kind === "fe_conn" ? "fe_conn" : `${metric.kind}(${metric.backend})`;
}

export function conditionText(c: Condition): string {
  switch (c.kind) {
    case "cmp":
      return `${metricText(c.metric)} ${c.op} ${c.value}`;
    case "not":
      return `not ${wrap(c.operand)}`;
    case "and":
      return c.operands.map(wrap).join(" and ");
    case "or":
      return c.operands.map(wrap).join(" or ");
  }
}

function wrap(c: Condition): string {
  return c.kind === "cmp" || c.kind === "not" ? conditionText(c) : `(${conditionText(c)})`;
}

export function* comparisons(c: Condition): Generator<Extract<Condition, { kind: "cmp" }>> {
  if (c.kind === "cmp") yield c;
  else if (c.kind === "not") yield* comparisons(c.operand);
  else for (const o of c.operands) yield* comparisons(o);
}

/** Negation of one comparison, so `not` can be pushed down to the leaves. */
export function negateComparison(
  c: Extract<Condition, { kind: "cmp" }>,
): Condition {
  switch (c.op) {
    case ">":
      return { ...c, op: "<=" };
    case ">=":
      return { ...c, op: "<" };
    case "<":
      return { ...c, op: ">=" };
    case "<=":
      return { ...c, op: ">" };
    case "==":
      return { kind: "or", operands: [{ ...c, op: "<" }, { ...c, op: ">" }] };
  }
}

export type Comparison = Extract<Condition, { kind: "cmp" }>;

/**
 * Disjunctive normal form: a list of alternatives, each a list of comparisons
 * that must all hold. HAProxy conditions have no parentheses, so this is the
 * shape they are rendered in. Throws past `limit` alternatives.
 */
export function toDnf(c: Condition, limit = 64): Comparison[][] {
  const result = dnf(c, false, limit);
  return result;
}

function dnf(c: Condition, negated: boolean, limit: number): Comparison[][] {
  switch (c.kind) {
    case "cmp":
      return negated ? dnf(negateComparison(c), false, limit) : [[c]];
    case "not":
      return dnf(c.operand, !negated, limit);
    case "and":
    case "or": {
      const isAnd = (c.kind === "and") !== negated;
      const parts = c.operands.map((o) => dnf(o, negated, limit));
      if (!isAnd) {
        const flat = parts.flat();
        if (flat.length > limit) throw new Error(`condition expands to more than ${limit} alternatives`);
        return flat;
      }
      let acc: Comparison[][] = [[]];
      for (const part of parts) {
        const nextAcc: Comparison[][] = [];
        for (const left of acc) for (const right of part) nextAcc.push([...left, ...right]);
        if (nextAcc.length > limit) throw new Error(`condition expands to more than ${limit} alternatives`);
        acc = nextAcc;
      }
      return acc;
    }
  }
}
