/**
 * Guards at the last step before text enters a config. The spec schema
 * already restricts every value; these helpers refuse anything else, so a
 * bug upstream fails loudly instead of rendering a config with an injected
 * directive.
 */

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;
const PATH = /^\/[A-Za-z0-9._\/-]{1,1000}$/;
const REGEX = /^[0-9\[\]\-|()^$+]+$/;

export function safeName(value: string): string {
  if (!NAME.test(value)) throw new Error(`refusing to render name ${JSON.stringify(value)}`);
  return value;
}

export function safeAddress(value: string): string {
  if (!ADDRESS.test(value)) throw new Error(`refusing to render address ${JSON.stringify(value)}`);
  return value;
}

export function safePath(value: string): string {
  if (!PATH.test(value)) throw new Error(`refusing to render path ${JSON.stringify(value)}`);
  return value;
}

export function safeInt(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`refusing to render number ${value}`);
  return String(value);
}

/** A generated integer-matching regular expression, for an nginx `map`. */
export function safeRegex(value: string): string {
  if (!REGEX.test(value)) throw new Error(`refusing to render regex ${JSON.stringify(value)}`);
  return value;
}
