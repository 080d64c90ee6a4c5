import { ExitCode } from "../exit-codes.js";
import { SpillwayError } from "../errors.js";

export type Severity = "error" | "warning";

/** One problem found in a spec, pointing into the file it came from. */
export interface Diagnostic {
  severity: Severity;
  message: string;
  /** Dotted path such as `frontends.webserver.rules[0].if`; empty for the document. */
  path: string;
  file: string;
  line: number;
  col: number;
  hint?: string;
}

/** At most this many problems are printed; the rest are counted. */
export const MAX_PRINTED_DIAGNOSTICS = 50;
const MAX_MESSAGE_CHARS = 500;

function clip(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}`;
  const at = d.path ? ` (${clip(d.path)})` : "";
  const hint = d.hint ? `\n  ${clip(d.hint)}` : "";
  return `${where}: ${d.severity}: ${clip(d.message)}${at}${hint}`;
}

/** Errors first would hide their order in the file; so: file order, cut after MAX_PRINTED_DIAGNOSTICS with a count of the rest. */
export function formatDiagnostics(list: readonly Diagnostic[]): string {
  const shown = list.slice(0, MAX_PRINTED_DIAGNOSTICS).map(formatDiagnostic);
  const rest = list.slice(MAX_PRINTED_DIAGNOSTICS);
  if (rest.length > 0) {
    const errors = rest.filter((d) => d.severity === "error").length;
    shown.push(`... and ${rest.length} more (${errors} error${errors === 1 ? "" : "s"}, ${rest.length - errors} warning${rest.length - errors === 1 ? "" : "s"}) not shown`);
  }
  return shown.join("\n");
}

/** Up to `max` names, then how many more. */
export function listSome(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/** A spec that cannot be used; carries every error found, not just the first. */
export class SpecError extends SpillwayError {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === "error");
    super(
      `${formatDiagnostics(diagnostics)}\n${errors.length} error${errors.length === 1 ? "" : "s"} in the spec; nothing was written.`,
      ExitCode.InvalidSpec,
    );
    this.name = "SpecError";
    this.diagnostics = diagnostics;
  }
}

export function pathText(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** Edit distance, or `max + 1` as soon as it is known to exceed `max`. */
export function levenshtein(a: string, b: string, max = Infinity): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    let rowMin = prev[0];
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
      if (prev[j]! < rowMin) rowMin = prev[j]!;
    }
    if (rowMin > max) return max + 1;
  }
  return prev[b.length]!;
}

/** Candidates compared at most, and the longest word compared: "did you mean" stays cheap on any spec. */
const MAX_CANDIDATES = 500;
const MAX_WORD = 80;

/** The closest candidate, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length > MAX_WORD) return undefined;
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  let compared = 0;
  for (const c of candidates) {
    if (++compared > MAX_CANDIDATES) break;
    if (c.length > MAX_WORD) continue;
    const d = levenshtein(w, c.toLowerCase(), bestDistance - 1);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
      if (d === 0) break;
    }
  }
  return best;
}

/**
 * Spellings that are not spec keys but that people write for one: the flags of
 * `spillway load` (and h2load's) whose spec key is spelt otherwise, the
 * proxies' own directive names, and flattened paths. Compared after leading
 * dashes are dropped and '-' and spaces become '_'; single letters keep their
 * case, since `-t` and `-T` are different flags.
 */
export interface KeyAlias {
  spellings: readonly string[];
  /** The real key as a path from the map the spelling was found in; the first that exists there is named. Empty: no spec key, `note` says what to do. */
  keys: readonly string[];
  /** Where the spelling comes from. */
  from: string;
  /** How the value is written when it does not just move (`reconnect: false`), or, without keys, what to do instead. */
  note?: string;
}

export const KEY_ALIASES: readonly KeyAlias[] = [
  { spellings: ["c", "clients"], keys: ["connections"], from: "spillway load -c, --clients (h2load -c)" },
  { spellings: ["m", "max_concurrent_streams"], keys: ["streams"], from: "spillway load -m, --max-concurrent-streams (h2load -m)" },
  { spellings: ["n"], keys: ["requests"], from: "spillway load -n (h2load -n)" },
  { spellings: ["D"], keys: ["duration"], from: "spillway load -D, --duration (h2load -D)" },
  { spellings: ["r", "rate"], keys: ["connect_rate"], from: "spillway load -r, --rate (h2load -r)" },
  { spellings: ["rate_period"], keys: ["connect_period"], from: "spillway load --rate-period (h2load --rate-period)" },
  { spellings: ["close_after"], keys: ["keep_alive.close_after_requests", "keep_alive.requests"], from: "spillway load --close-after" },
  { spellings: ["close_idle"], keys: ["keep_alive.close_after_idle"], from: "spillway load --close-idle" },
  { spellings: ["no_reconnect"], keys: ["reconnect"], from: "spillway load --no-reconnect", note: "reconnect: false" },
  { spellings: ["p"], keys: ["protocol"], from: "spillway load -p" },
  { spellings: ["h1"], keys: ["protocol"], from: "h2load --h1", note: "protocol: h1" },
  { spellings: ["t", "threads"], keys: ["workers"], from: "spillway load -t (h2load -t, --threads)" },
  { spellings: ["source_address"], keys: ["source_addresses"], from: "spillway load --source-address" },
  { spellings: ["warm_up_time"], keys: ["warmup"], from: "h2load --warm-up-time" },
  { spellings: ["count_by"], keys: [], from: "spillway load --count-by", note: "verify counts responses by the stubs' own header; there is nothing to set" },
  { spellings: ["drain"], keys: [], from: "spillway load --drain", note: "it is a flag of spillway load only; a scenario's load ends when its requests, duration or stages do" },
  { spellings: ["max_run"], keys: [], from: "spillway verify --max-run", note: "pass --max-run to spillway verify" },
  { spellings: ["window"], keys: [], from: "spillway verify --window", note: "pass --window to spillway verify" },
  { spellings: ["json", "ndjson", "junit", "html"], keys: [], from: "spillway verify --json, --ndjson, --junit, --html", note: "reports are flags of spillway verify" },
  { spellings: ["q", "quiet"], keys: [], from: "spillway -q, --quiet", note: "it is a flag of every command that reports, not a spec key" },
  { spellings: ["no_preflight", "preflight"], keys: [], from: "spillway verify, explore and load --no-preflight", note: "it is a flag of those commands: a spec cannot skip the check that it fits the machine" },
  { spellings: ["shard"], keys: [], from: "spillway load --shard i/N", note: "it is a flag of spillway load only: a scenario runs its whole load on one machine" },
  { spellings: ["processes"], keys: [], from: "spillway load --processes N", note: "it is a flag of spillway load only: how the driver lays itself out on the machine is not the spec's business, and the driver picks the fewest processes that fit by itself" },
  { spellings: ["nginx_status", "haproxy_stats", "counts"], keys: [], from: "spillway load --nginx-status / --haproxy-stats / --counts", note: "they are flags of spillway load only: verify reads the counters of the proxies it starts by itself" },
  { spellings: ["latency_p50", "p50_latency"], keys: ["latency.p50"], from: "a flattened key" },
  { spellings: ["latency_p90", "p90_latency"], keys: ["latency.p90"], from: "a flattened key" },
  { spellings: ["latency_p99", "p99_latency"], keys: ["latency.p99"], from: "a flattened key" },
  { spellings: ["latency_max", "max_latency"], keys: ["latency.max"], from: "a flattened key" },
  { spellings: ["error_rate", "failures"], keys: ["errors"], from: "a common name for it" },
  { spellings: ["listen"], keys: ["bind"], from: "nginx listen" },
  { spellings: ["default", "backend"], keys: ["default_backend"], from: "HAProxy default_backend" },
  { spellings: ["keepalive_requests"], keys: ["keep_alive.requests"], from: "nginx keepalive_requests" },
  { spellings: ["keepalive_timeout", "timeout_http_keep_alive"], keys: ["timeouts.http_keep_alive"], from: "nginx keepalive_timeout, HAProxy timeout http-keep-alive" },
  { spellings: ["client_header_timeout", "timeout_http_request"], keys: ["timeouts.http_request"], from: "nginx client_header_timeout, HAProxy timeout http-request" },
  { spellings: ["timeout_client", "client_body_timeout", "send_timeout"], keys: ["timeouts.client"], from: "HAProxy timeout client, nginx client_body_timeout and send_timeout" },
  { spellings: ["timeout_connect", "proxy_connect_timeout"], keys: ["timeouts.connect"], from: "HAProxy timeout connect, nginx proxy_connect_timeout" },
  { spellings: ["timeout_server", "proxy_read_timeout", "proxy_send_timeout"], keys: ["timeouts.server"], from: "HAProxy timeout server, nginx proxy_read_timeout and proxy_send_timeout" },
  { spellings: ["timeout_tunnel", "tunnel_timeout", "websocket_timeout"], keys: ["timeouts.tunnel"], from: "HAProxy timeout tunnel" },
  { spellings: ["ws", "websocket", "web_sockets"], keys: ["websockets"], from: "a common name for it" },
  { spellings: ["vus", "users", "members", "sessions"], keys: ["connections"], from: "k6 VUs, or a chat test's users" },
  { spellings: ["interval", "send_interval", "message_rate"], keys: ["message_interval"], from: "a chat test's send interval" },
  { spellings: ["payload", "payload_size", "message_size", "message_bytes", "msg_size"], keys: ["payload_bytes"], from: "a common name for it" },
  { spellings: ["session_duration", "ws_session_duration", "duration"], keys: ["session"], from: "k6 ws_session_duration" },
  { spellings: ["room"], keys: ["rooms"], from: "the stub's ?room= parameter" },
];

/** A spelling as the alias table compares it. */
export function normalizeSpelling(word: string): string {
  const w = word.replace(/^-+/, "").replace(/[-\s]+/g, "_");
  return w.length === 1 ? w : w.toLowerCase();
}

/** The keys allowed in the map at a path relative to where the unknown key was found. */
export type KeysAt = (relative: readonly string[]) => readonly string[];

function resolves(path: string, keysAt: KeysAt): boolean {
  const segments = path.split(".");
  return segments.every((seg, i) => keysAt(segments.slice(0, i)).includes(seg));
}

/** `latency_p99` or `keep_alive.close_after_requests` written as one key: the path it flattens, if the schema has it. */
function unflatten(word: string, keysAt: KeysAt, prefix: readonly string[] = [], depth = 0): string | undefined {
  if (depth > 3) return undefined;
  const known = keysAt(prefix);
  if (prefix.length > 0 && known.includes(word)) return [...prefix, word].join(".");
  for (let i = 1; i < word.length; i++) {
    if (word[i] !== "_" && word[i] !== ".") continue;
    const head = word.slice(0, i);
    if (!known.includes(head)) continue;
    const found = unflatten(word.slice(i + 1), keysAt, [...prefix, head], depth + 1);
    if (found) return found;
  }
  return undefined;
}

export interface KeySuggestion {
  /** The key path meant, relative to the map; null when the spelling has no spec key at all. */
  key: string | null;
  alias?: KeyAlias;
}

/**
 * What a user most likely meant by an unknown key: an alias from the table,
 * the same key with '_' for '-', a flattened path, the one key of that name
 * a level down, the closest known key, or a known key the word starts with.
 */
export function suggestKey(word: string, keysAt: KeysAt): KeySuggestion | undefined {
  if (word.length > MAX_WORD) return undefined;
  const known = keysAt([]);
  const spelling = normalizeSpelling(word);
  for (const alias of KEY_ALIASES) {
    if (!alias.spellings.includes(spelling)) continue;
    if (alias.keys.length === 0) return { key: null, alias };
    const key = alias.keys.find((k) => resolves(k, keysAt));
    if (key) return { key, alias };
  }
  if (spelling !== word && known.includes(spelling)) return { key: spelling };
  const flat = unflatten(spelling, keysAt);
  if (flat) return { key: flat };
  const below = known.filter((k) => keysAt([k]).includes(spelling));
  if (below.length === 1) return { key: `${below[0]}.${spelling}` };
  const close = didYouMean(word, known);
  if (close) return { key: close };
  // `errors_max`, `maxconn_per_server`: a known key with a qualifier the spec writes elsewhere or not at all.
  const head = known.filter((k) => spelling.startsWith(`${k}_`)).sort((a, b) => b.length - a.length)[0];
  return head ? { key: head } : undefined;
}

/** `keep_alive.close_after_requests` and 5 as YAML: `keep_alive: { close_after_requests: 5 }`. */
function nested(path: string, value: unknown): string {
  const shown = value === undefined || (value !== null && typeof value === "object") ? "..." : JSON.stringify(value).length > 40 ? "..." : typeof value === "string" && /^[A-Za-z0-9_.\/-]+$/.test(value) ? value : JSON.stringify(value);
  return path
    .split(".")
    .reverse()
    .reduce((inner, seg, i) => (i === 0 ? `${seg}: ${inner}` : `${seg}: { ${inner} }`), shown);
}

/** The message and hint for an unknown key, with the key meant when one is likely. */
export function unknownKeyMessage(word: string, keysAt: KeysAt, value: unknown): { message: string; hint: string } {
  const allowed = `allowed here: ${keysAt([]).join(", ")}`;
  const s = suggestKey(word, keysAt);
  if (!s) return { message: `unknown key '${word}'`, hint: allowed };
  if (s.key === null) return { message: `unknown key '${word}': ${s.alias!.from} is not a spec key`, hint: `${s.alias!.note ?? ""}; ${allowed}` };
  const from = s.alias ? ` ('${word}' is ${s.alias.from})` : "";
  const write = s.alias?.note ?? (s.key.includes(".") ? nested(s.key, value) : null);
  return { message: `unknown key '${word}'; did you mean '${s.key}'?${from}`, hint: write ? `write ${write}; ${allowed}` : allowed };
}
