import { UsageError } from "../errors.js";
import { DURATION_PATTERN, parseDuration } from "../spec/duration.js";

/** Option parsers that turn a bad value into a usage error (exit 1) naming the flag. */
export function durationArg(flag: string): (v: string) => number {
  return (v) => {
    if (!DURATION_PATTERN.test(v)) throw new UsageError(`${flag} ${JSON.stringify(v)} is not a duration such as 500ms, 30s or 2m`);
    return parseDuration(v);
  };
}

export function intArg(flag: string, min = 1): (v: string) => number {
  return (v) => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min) throw new UsageError(`${flag} ${JSON.stringify(v)} must be a whole number of at least ${min}`);
    return Number(v);
  };
}
