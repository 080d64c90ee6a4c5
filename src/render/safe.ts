/**
 * Guards at the last step before text enters a config. The spec schema
 * already restricts every value; these helpers refuse anything else, so a
 * bug upstream fails loudly instead of rendering a config with an injected
 * directive.
 */

import { isProblem, parseHostPort } from "../spec/address.js";

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const PATH = /^\/[A-Za-z0-9._\/-]{1,1000}$/;
const REGEX = /^[0-9\[\]\-|()^$+]+$/;

export function safeName(value: string): string {
  if (!NAME.test(value)) throw new Error(`refusing to render name ${JSON.stringify(value)}`);
  return value;
}

/** An IP literal and a port: anything else a proxy would resolve as a host name. */
export function safeAddress(value: string): string {
  if (isProblem(parseHostPort(value))) throw new Error(`refusing to render address ${JSON.stringify(value)}`);
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

/** An HTTP version nginx's proxy_http_version takes. */
export function safeHttpVersion(value: string): string {
  if (value !== "1.0" && value !== "1.1") throw new Error(`refusing to render HTTP version ${JSON.stringify(value)}`);
  return value;
}

/** A generated integer-matching regular expression, for an nginx `map`. */
export function safeRegex(value: string): string {
  if (!REGEX.test(value)) throw new Error(`refusing to render regex ${JSON.stringify(value)}`);
  return value;
}
