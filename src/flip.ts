/**
 * A connection-count rule's flip point, as `verify` measures it and
 * `predict` works it out, and the one snake_case shape both write to JSON.
 */
export interface FlipPoint {
  rule: string;
  condition: string;
  backend: string;
  defaultBackend: string;
  /** The highest count at which a request still went to the default backend; null: none did. */
  lastDefaultConns: number | null;
  /** The lowest count at which one went to the rule's backend; null: none did. */
  firstRuleConns: number | null;
  /** When the first request routed to the rule's backend was sent, from the start of measuring; null: none was. */
  atMs: number | null;
}

export interface JsonFlip {
  rule: string;
  condition: string;
  backend: string;
  default_backend: string;
  last_default_conns: number | null;
  first_rule_conns: number | null;
  at_ms: number | null;
}

export function flipJson(f: FlipPoint): JsonFlip {
  return {
    rule: f.rule,
    condition: f.condition,
    backend: f.backend,
    default_backend: f.defaultBackend,
    last_default_conns: f.lastDefaultConns,
    first_rule_conns: f.firstRuleConns,
    at_ms: f.atMs,
  };
}
