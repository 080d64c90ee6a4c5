/**
 * An h2load (nghttp2 1.52) command line, parsed as h2load's getopt_long
 * parses it, mapped onto the spec's `load:` keys that mean the same on
 * spillway's driver. Options that change what is sent are mapped, or refused
 * by name with the reason; options that only change h2load's output are
 * refused by name. Pure: returns every problem with its offset in the text.
 */
import { formatDuration, UNIT_MS } from "./duration.js";
import { MAX_TIMER_MS } from "./limits.js";
import type { LoadInput } from "./schema.js";

/**
 * The keys an h2load command line stands for: it sets them, or (stages,
 * arrival_rate, think_time) its meaning leaves no room for them.
 */
/** The h2load option behind each key a command line sets: a problem with the key is named by what the user wrote. */
export const H2LOAD_OPTION_OF: Readonly<Record<string, string>> = {
  protocol: "-p",
  connections: "-c",
  streams: "-m",
  connect_rate: "-r",
  connect_period: "--rate-period",
  requests: "-n",
  duration: "-D",
  warmup: "--warm-up-time",
  workers: "-t",
};

export const H2LOAD_KEYS = ["protocol", "connections", "streams", "connect_rate", "connect_period", "budget", "requests", "duration", "warmup", "stages", "arrival_rate", "think_time", "workers"] as const satisfies readonly (keyof LoadInput)[];

export interface H2loadProblem {
  /** Offset of the offending token in the text. */
  offset: number;
  message: string;
}

export interface H2loadCommand {
  /** The load it stands for, in the spec's keys (no URL). */
  load: LoadInput;
  /** URIs given in the text, with their offsets. */
  urls: { url: string; offset: number }[];
  problems: H2loadProblem[];
}

type Kind = "uint" | "duration" | "size" | "string" | "flag";

interface OptionSpec {
  long: string;
  short?: string;
  kind: Kind;
  /** Refused: why. */
  refuse?: string;
}

const OUTPUT_ONLY = "changes only what h2load prints, not the load; spillway prints its own summary (use --json or --ndjson for details)";
const FIXED_REQUEST = "spillway sends one fixed GET request per stream";
const FIXED_SETTINGS = "spillway's HTTP/2 SETTINGS are fixed (stream and connection windows 2^31-1, header table 4096, frame size 16K)";

/** h2load 1.52's options (h2load.cc main(), getopt string "hvW:c:d:m:n:p:t:w:f:H:i:r:T:N:D:B:"). */
const OPTIONS: OptionSpec[] = [
  { long: "requests", short: "n", kind: "uint" },
  { long: "clients", short: "c", kind: "uint" },
  { long: "threads", short: "t", kind: "uint" },
  { long: "max-concurrent-streams", short: "m", kind: "uint" },
  { long: "rate", short: "r", kind: "uint" },
  { long: "rate-period", kind: "duration" },
  { long: "duration", short: "D", kind: "duration" },
  { long: "warm-up-time", kind: "duration" },
  { long: "no-tls-proto", short: "p", kind: "string" },
  { long: "h1", kind: "flag" },
  // Accepted at h2load's defaults only (which spillway's fixed values match in effect).
  { long: "window-bits", short: "w", kind: "uint" },
  { long: "connection-window-bits", short: "W", kind: "uint" },
  { long: "header-table-size", kind: "size" },
  { long: "encoder-header-table-size", kind: "size" },
  { long: "max-frame-size", short: "f", kind: "size" },
  { long: "npn-list", kind: "string" },
  // Change what is sent, and spillway cannot do the same.
  { long: "header", short: "H", kind: "string", refuse: `${FIXED_REQUEST} (method, :authority from the URL, user-agent spillway): extra headers are not supported` },
  { long: "data", short: "d", kind: "string", refuse: `${FIXED_REQUEST}: request bodies (POST) are not supported` },
  { long: "input-file", short: "i", kind: "string", refuse: `${FIXED_REQUEST} to one URL: a list of URIs is not supported` },
  { long: "timing-script-file", kind: "string", refuse: "spillway has no timing scripts: use --arrival-rate for an open-model schedule" },
  { long: "base-uri", short: "B", kind: "string", refuse: "give the URL itself (a loopback address) instead of a base URI" },
  { long: "connect-to", kind: "string", refuse: "spillway connects to the URL's own loopback address; put that address in the URL" },
  { long: "rps", kind: "string", refuse: "spillway has no per-client request rate; --arrival-rate is a rate for the whole run (open model), which is not the same" },
  {
    long: "connection-active-timeout",
    short: "T",
    kind: "duration",
    refuse: "spillway bounds each request by its own timeout (spillway's --timeout), not a connection by the time since its last request; h2load's -T has no equivalent here",
  },
  {
    long: "connection-inactivity-timeout",
    short: "N",
    kind: "duration",
    refuse: "spillway has no connection inactivity timeout that fails the connection's remaining requests (--close-idle reconnects instead)",
  },
  { long: "ciphers", kind: "string", refuse: "spillway uses Node's TLS defaults; cipher lists are not supported" },
  { long: "tls13-ciphers", kind: "string", refuse: "spillway uses Node's TLS defaults; cipher lists are not supported" },
  { long: "groups", kind: "string", refuse: "spillway uses Node's TLS defaults; key exchange groups are not supported" },
  { long: "ktls", kind: "flag", refuse: "kernel TLS is not supported" },
  { long: "max-udp-payload-size", kind: "size", refuse: "QUIC only: spillway does not speak HTTP/3" },
  { long: "no-udp-gso", kind: "flag", refuse: "QUIC only: spillway does not speak HTTP/3" },
  // Output only.
  { long: "verbose", short: "v", kind: "flag", refuse: OUTPUT_ONLY },
  { long: "log-file", kind: "string", refuse: `${OUTPUT_ONLY}; --ndjson writes one line per request` },
  { long: "qlog-file-base", kind: "string", refuse: OUTPUT_ONLY },
  { long: "help", short: "h", kind: "flag", refuse: OUTPUT_ONLY },
  { long: "version", kind: "flag", refuse: OUTPUT_ONLY },
];

const BY_SHORT = new Map(OPTIONS.filter((o) => o.short).map((o) => [o.short!, o]));
const BY_LONG = new Map(OPTIONS.map((o) => [o.long, o]));

interface Token {
  text: string;
  offset: number;
}

/** Splits like a POSIX shell would (quotes and backslashes), keeping each word's offset. */
export function splitWords(text: string): { words: Token[]; problem: H2loadProblem | null } {
  const words: Token[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    const start = i;
    let word = "";
    while (i < text.length && !/\s/.test(text[i]!)) {
      const ch = text[i]!;
      if (ch === "'" || ch === '"') {
        const end = text.indexOf(ch, i + 1);
        if (end < 0) return { words, problem: { offset: i, message: `unclosed ${ch === "'" ? "single" : "double"} quote` } };
        word += text.slice(i + 1, end);
        i = end + 1;
      } else if (ch === "\\" && i + 1 < text.length) {
        word += text[i + 1];
        i += 2;
      } else {
        word += ch;
        i++;
      }
    }
    words.push({ text: word, offset: start });
  }
  return { words, problem: null };
}

/** h2load's parse_uint: decimal digits only. */
function parseUint(v: string): number | null {
  return /^[0-9]+$/.test(v) && v.length <= 15 ? Number(v) : null;
}

/**
 * h2load's parse_duration_with_unit: an integer and optionally s, m
 * (minutes), ms or h, any case. The one way it differs from the spec's
 * durations, kept for h2load's command lines and `spillway load
 * --rate-period`: no unit is seconds.
 */
export function parseH2loadDuration(v: string): number | null {
  const m = /^([0-9]{1,12})(ms|s|m|h)?$/i.exec(v);
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[(m[2] ?? "s").toLowerCase() as keyof typeof UNIT_MS];
}

/** h2load's parse_uint_with_unit: digits and at most one of k, m, g (powers of 1024, any case). */
function parseSize(v: string): number | null {
  const m = /^([0-9]{1,12})([kmg])?$/i.exec(v);
  if (!m) return null;
  const mult = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? "").toLowerCase() as "k" | "m" | "g"] ?? 1;
  return Number(m[1]) * mult;
}

function name(o: OptionSpec): string {
  return o.short ? `-${o.short} (--${o.long})` : `--${o.long}`;
}

/**
 * Parses an h2load command line (with or without a leading `h2load`).
 * Everything h2load itself rejects is a problem here too, with h2load's
 * reason; so is every option spillway cannot carry out the same way.
 */
export function parseH2loadCommand(text: string): H2loadCommand {
  const problems: H2loadProblem[] = [];
  const urls: { url: string; offset: number }[] = [];
  const { words, problem } = splitWords(text);
  if (problem) return { load: {}, urls, problems: [problem] };
  let k = 0;
  if (words[0] && /(^|\/)h2load$/.test(words[0].text)) k = 1;
  const seen = new Map<string, { value: string | true; offset: number }>();

  const take = (o: OptionSpec, value: string | true, offset: number): void => {
    if (o.refuse) {
      problems.push({ offset, message: `h2load option ${name(o)} is not supported: ${o.refuse}` });
      return;
    }
    seen.set(o.long, { value, offset });
  };

  let endOfOptions = false;
  for (; k < words.length; k++) {
    const w = words[k]!;
    if (endOfOptions || !w.text.startsWith("-") || w.text === "-") {
      urls.push({ url: w.text, offset: w.offset });
      continue;
    }
    if (w.text === "--") {
      endOfOptions = true;
      continue;
    }
    if (w.text.startsWith("--")) {
      const eq = w.text.indexOf("=");
      const key = w.text.slice(2, eq < 0 ? undefined : eq);
      // getopt_long: an exact name, or an unambiguous prefix of one.
      let o = BY_LONG.get(key);
      if (!o) {
        const matches = OPTIONS.filter((x) => x.long.startsWith(key));
        if (matches.length === 1) o = matches[0];
        else if (matches.length > 1) {
          problems.push({ offset: w.offset, message: `h2load option --${key} is ambiguous (${matches.map((x) => `--${x.long}`).join(", ")})` });
          continue;
        }
      }
      if (!o) {
        problems.push({ offset: w.offset, message: `--${key} is not an h2load 1.52 option` });
        continue;
      }
      if (o.kind === "flag") {
        if (eq >= 0) problems.push({ offset: w.offset, message: `h2load option --${o.long} takes no value` });
        else take(o, true, w.offset);
        continue;
      }
      if (eq >= 0) take(o, w.text.slice(eq + 1), w.offset);
      else if (k + 1 < words.length) take(o, words[++k]!.text, w.offset);
      else problems.push({ offset: w.offset, message: `h2load option --${o.long} needs a value` });
      continue;
    }
    // A cluster of short options: -vc10, -c 10, -c10.
    for (let j = 1; j < w.text.length; j++) {
      const ch = w.text[j]!;
      const o = BY_SHORT.get(ch);
      if (!o) {
        problems.push({ offset: w.offset + j, message: `-${ch} is not an h2load 1.52 option` });
        break;
      }
      if (o.kind === "flag") {
        take(o, true, w.offset + j);
        continue;
      }
      const rest = w.text.slice(j + 1);
      if (rest.length > 0) take(o, rest, w.offset + j);
      else if (k + 1 < words.length) take(o, words[++k]!.text, w.offset + j);
      else problems.push({ offset: w.offset + j, message: `h2load option -${ch} needs a value` });
      break;
    }
  }

  const load: LoadInput = {};
  const num = (long: string, parse: (v: string) => number | null, what: string): number | undefined => {
    const s = seen.get(long);
    if (!s) return undefined;
    const v = typeof s.value === "string" ? parse(s.value) : null;
    if (v === null) {
      problems.push({ offset: s.offset, message: `h2load option ${name(BY_LONG.get(long)!)}: ${JSON.stringify(s.value)} is not ${what}` });
      return undefined;
    }
    return v;
  };
  const at = (long: string): number => seen.get(long)?.offset ?? 0;
  const N = "a whole number (digits only, as h2load reads it)";
  const D = "a duration (an integer with s, m, ms or h, or seconds without a unit, as h2load reads it)";
  const timer = (v: string) => {
    const ms = parseH2loadDuration(v);
    return ms === null || ms > MAX_TIMER_MS ? null : ms;
  };
  const n = num("requests", parseUint, N);
  const c = num("clients", parseUint, N);
  const t = num("threads", parseUint, N);
  const m = num("max-concurrent-streams", parseUint, N);
  const r = num("rate", parseUint, N);
  const period = num("rate-period", timer, `${D}, at most ${MAX_TIMER_MS}ms`);
  const duration = num("duration", timer, `${D}, at most ${MAX_TIMER_MS}ms`);
  const warmup = num("warm-up-time", timer, `${D}, at most ${MAX_TIMER_MS}ms`);

  // h2load's own checks, with its messages.
  if (c === 0) problems.push({ offset: at("clients"), message: "-c: the number of clients must be greater than 0" });
  if (t === 0) problems.push({ offset: at("threads"), message: "-t: the number of threads must be greater than 0" });
  if (m === 0) problems.push({ offset: at("max-concurrent-streams"), message: "-m: the max concurrent streams must be greater than 0" });
  if (r === 0) problems.push({ offset: at("rate"), message: "-r: the rate at which connections are made must be positive" });
  if (period === 0) problems.push({ offset: at("rate-period"), message: "--rate-period: spillway needs a period above 0 (h2load would open one burst only and never the rest)" });
  const timed = duration !== undefined && duration > 0;
  if (r !== undefined && timed) problems.push({ offset: at("rate"), message: "-r, -D: they are mutually exclusive (as in h2load)" });
  const clients = c ?? 1;
  const threads = t ?? 1;
  const requests = n ?? 1;
  if (!timed) {
    if (n === 0) problems.push({ offset: at("requests"), message: "-n: the number of requests must be greater than 0 (or give -D)" });
    else if (requests < clients) problems.push({ offset: at("requests") || at("clients"), message: "-n, -c: the number of requests must be greater than or equal to the clients (as in h2load)" });
  }
  if (clients > 0 && threads > clients) problems.push({ offset: at("threads"), message: "-c, -t: the number of clients must be greater than or equal to the number of threads (as in h2load)" });
  if (r !== undefined && r > 0) {
    if (r > clients) problems.push({ offset: at("rate"), message: "-r, -c: the connection rate must be smaller than or equal to the number of clients (as in h2load)" });
    if (r < threads) problems.push({ offset: at("rate"), message: "-r, -t: the connection rate must be greater than or equal to the number of threads (as in h2load)" });
  }

  // Options accepted at h2load's default only.
  const onlyDefault = (long: string, parse: (v: string) => number | null, def: number, defText: string): void => {
    const s = seen.get(long);
    if (!s) return;
    const v = typeof s.value === "string" ? parse(s.value) : null;
    if (v !== def) problems.push({ offset: s.offset, message: `h2load option ${name(BY_LONG.get(long)!)} is supported only at h2load's default ${defText}: ${FIXED_SETTINGS}` });
  };
  onlyDefault("window-bits", parseUint, 30, "30");
  onlyDefault("connection-window-bits", parseUint, 30, "30");
  onlyDefault("header-table-size", parseSize, 4096, "4K");
  onlyDefault("encoder-header-table-size", parseSize, 4096, "4K");
  onlyDefault("max-frame-size", parseSize, 16384, "16K");
  const npn = seen.get("npn-list");
  if (npn && npn.value !== "h2,h2-16,h2-14,http/1.1") {
    problems.push({ offset: npn.offset, message: "h2load option --npn-list is supported only at its default (h2 first); use --h1 for HTTP/1.1" });
  }

  // Protocol: h2load speaks h2c to http:// by default, h2 (ALPN) to https://; -p http/1.1 or --h1 make it HTTP/1.1.
  const proto = seen.get("no-tls-proto");
  let h1 = seen.has("h1");
  if (proto && typeof proto.value === "string") {
    const p = proto.value.toLowerCase();
    if (p === "http/1.1") h1 = true;
    else if (p !== "h2c") problems.push({ offset: proto.offset, message: `h2load option -p (--no-tls-proto): ${JSON.stringify(proto.value)} is not h2c or http/1.1` });
  }
  if (h1) load.protocol = "h1";

  load.connections = clients;
  load.streams = m ?? 1;
  load.workers = threads;
  if (timed) {
    // -D: -n is ignored, every client connects at the start and keeps -m streams busy until the end.
    load.duration = formatDuration(duration);
    if (warmup !== undefined && warmup > 0) load.warmup = formatDuration(warmup);
  } else {
    load.requests = requests;
    load.budget = "per-client";
  }
  if (r !== undefined && r > 0) {
    load.connect_rate = r;
    if (period !== undefined && period > 0) load.connect_period = formatDuration(period);
  }
  if (h1 && (m ?? 1) > 1) {
    problems.push({ offset: at("max-concurrent-streams"), message: "-m above 1 with HTTP/1.1 is h2load's pipelining, which spillway does not do (one request at a time per HTTP/1.1 connection); use -c" });
  }
  if (urls.length > 1) {
    problems.push({ offset: urls[1]!.offset, message: "spillway sends load to one URL; h2load's several URIs (requests cycling through their paths) are not supported" });
  }
  problems.sort((a, b) => a.offset - b.offset);
  return { load, urls, problems };
}
