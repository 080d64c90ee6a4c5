/**
 * Every limit of HAProxy and nginx that a rendered config can reach, in one
 * table. Validation refuses a spec beyond one of them (exit 2, naming the
 * limit); the renderer derives names and splits lines so the rest can never
 * be reached. The README's limits table is this one.
 */

import { DEFAULTS } from "./defaults.js";

export interface ProxyLimit {
  id: string;
  /** What is limited, in a few words. */
  what: string;
  value: string;
  /** Which proxy imposes it, and where its source says so. */
  source: string;
  /** What spillway does about it. */
  handling: string;
  /** Where a spec meets it, for the spec reference: keys in its notation, and value types (`duration`, `address`). Empty when the renderer keeps every spec clear of it. */
  appliesTo: { keys?: readonly string[]; types?: readonly string[] };
}

/** HAProxy refuses a timer of 2^31 ms or more after unit conversion; nginx parses up to 2^63-1 but compares timers as wrapping differences, and Node's setTimeout fires at once past 2^31-1. One cap for all. */
export const MAX_TIMER_MS = 2_147_483_647;
/** HAProxy splits a config line into at most MAX_LINE_ARGS (64) words, keyword included. */
export const HAPROXY_MAX_LINE_WORDS = 64;
/** Longest ACL name spillway generates. HAProxy has no limit; this keeps use_backend lines readable. */
export const ACL_NAME_MAX = 40;
/** Comparisons in one alternative of a condition (after merging comparisons on one metric): one use_backend line each, within HAPROXY_MAX_LINE_WORDS. */
export const MAX_TERMS_PER_ALTERNATIVE = HAPROXY_MAX_LINE_WORDS - 4;
/** nginx reads a configuration token into a 4096-byte buffer (NGX_CONF_BUFFER): "too long parameter". */
export const NGINX_MAX_TOKEN_CHARS = 4096;
/** Longest regex spillway puts in one nginx map line; longer sets are split over several lines. */
export const NGINX_MAP_REGEX_MAX = 1000;

/** HAProxy refuses an ACL named `or` in any letter case: it is the condition grammar's disjunction. */
export const HAPROXY_CONDITION_WORDS = ["or"] as const;
/**
 * HAProxy's predefined ACLs (acl.c, default_acl_list) that a spec name could
 * spell. HAProxy lets a user ACL of that name shadow one, but if the name is
 * used before the `acl` line, the user's expression is OR-ed onto the
 * built-in instead: spillway never defines them.
 */
export const HAPROXY_PREDEFINED_ACLS = [
  "TRUE",
  "FALSE",
  "LOCALHOST",
  "HTTP",
  "HTTP_CONTENT",
  "HTTP_URL_ABS",
  "HTTP_URL_SLASH",
  "HTTP_URL_STAR",
  "METH_CONNECT",
  "METH_DELETE",
  "METH_GET",
  "METH_HEAD",
  "METH_OPTIONS",
  "METH_POST",
  "METH_PUT",
  "METH_TRACE",
  "RDP_COOKIE",
  "REQ_CONTENT",
  "WAIT_END",
] as const;

/** Whether HAProxy would refuse or misread an ACL of this name. */
export function reservedAclName(name: string): "grammar" | "predefined" | null {
  if ((HAPROXY_CONDITION_WORDS as readonly string[]).includes(name.toLowerCase())) return "grammar";
  if ((HAPROXY_PREDEFINED_ACLS as readonly string[]).includes(name)) return "predefined";
  return null;
}

/** nginx upstream zone: 32k minimum; about 16 KiB of overhead and 0.8 KiB per short IPv4 server line (63 servers fill 64k). Twice that per server, for IPv6 lines. */
export function nginxZoneKib(servers: number): number {
  const { minKib, baseKib, perServerKib } = DEFAULTS.nginxZone.value;
  return Math.max(minKib, baseKib + perServerKib * servers);
}

/** Names that are members of every JavaScript object: as YAML keys they are dropped or shadow built-ins. */
export const OBJECT_MEMBER_NAMES = Object.getOwnPropertyNames(Object.prototype);

/** Sources: HAProxy v2.6.0 (behaviour checked on 2.6.12), nginx release-1.22.1 (checked on 1.22.1). */
export const PROXY_LIMITS: readonly ProxyLimit[] = [
  {
    id: "timer",
    what: "any duration: proxy timeouts, and load and stub durations (Node timers)",
    value: `${MAX_TIMER_MS} ms (24d20h31m23s647ms)`,
    source:
      "HAProxy parse_time_err() (src/tools.c): 'timer overflow ... (maximum value is 2147483647 ms or ~24.8 days)'; nginx ngx_parse_time() takes up to 2^63-1 ms, but its timers are compared as wrapping differences; Node's setTimeout() fires at once past 2^31-1 ms",
    handling: "refused at validation (exit 2)",
    appliesTo: { types: ["duration"] },
  },
  {
    id: "line-words",
    what: "words on one HAProxy config line",
    value: String(HAPROXY_MAX_LINE_WORDS),
    source: "HAProxy MAX_LINE_ARGS (include/haproxy/defaults.h): 'too many words, truncating after word 64'; line length itself is unlimited (LINESIZE is only the first buffer)",
    handling: `each alternative of a condition gets its own use_backend line, comparisons on one metric are merged into one range, and an alternative of more than ${MAX_TERMS_PER_ALTERNATIVE} comparisons is refused at validation (a 500-character condition cannot reach it)`,
    appliesTo: { keys: ["frontends.<frontend>.rules[].if"] },
  },
  {
    id: "acl-name",
    what: "HAProxy ACL names",
    value: "not `or` in any letter case; spillway also avoids the predefined ACLs (TRUE, FALSE, LOCALHOST, HTTP, METH_GET, ...)",
    source:
      "HAProxy cfgparse-listen.c: \"acl name 'or' will never match\"; acl.c default_acl_list: a user ACL named like a predefined one shadows it, unless the name was used before the acl line, where the expressions are OR-ed",
    handling: `a rule \`name\` that is one of them is refused at validation; generated names are never one, and at most ${ACL_NAME_MAX} characters (a prefix and a short hash when needed)`,
    appliesTo: { keys: ["frontends.<frontend>.rules[].name"] },
  },
  {
    id: "nginx-names",
    what: "nginx upstream and variable names",
    value: "case-insensitive; variable names cannot hold '-'",
    source:
      "nginx ngx_http_upstream_add(): 'duplicate upstream \"ADE\"'; ngx_http_add_variable() folds case, so two maps defining $web_x and $WEB_x pass nginx -t and both read the last map (a silent misroute)",
    handling: "backend names that differ only in case, and frontend names that differ only in case or in '-' and '_', are refused at validation",
    appliesTo: { keys: ["frontends.<frontend>", "backends.<backend>"] },
  },
  {
    id: "variables-hash",
    what: "length of an nginx variable name",
    value: "46 characters with the default variables_hash_bucket_size 64; 110 with 128",
    source: "nginx ngx_hash_init(): 'could not build variables_hash, you should increase variables_hash_bucket_size: 64'",
    handling: "the rendered nginx.conf sets variables_hash_bucket_size 128, which holds spillway's longest variable name (80 characters)",
    appliesTo: {},
  },
  {
    id: "nginx-token",
    what: "one token (e.g. a map regex) in nginx.conf",
    value: `${NGINX_MAX_TOKEN_CHARS - 1} bytes`,
    source: "nginx NGX_CONF_BUFFER (src/core/ngx_conf_file.c): 'too long parameter'",
    handling: `a map regex longer than ${NGINX_MAP_REGEX_MAX} characters is split over several map lines that choose the same backend`,
    appliesTo: {},
  },
  {
    id: "nginx-keepalive",
    what: "nginx upstream keepalive",
    value: "at least 1; nginx allocates 152 bytes per slot at load time",
    source: "nginx ngx_http_upstream_keepalive(): 'invalid value \"0\" in \"keepalive\" directive'",
    handling: "backend keepalive 0 leaves the directive out: nginx then keeps no idle upstream connection, which is what 0 asks for; the spec allows at most 10000",
    appliesTo: { keys: ["backends.<backend>.keepalive"] },
  },
  {
    id: "nginx-zone",
    what: "nginx upstream zone size",
    value: "at least 32k; 64k holds 63 short IPv4 server lines",
    source: "nginx ngx_http_upstream_zone_module.c: 'zone \"z\" is too small'; 'ngx_slab_alloc() failed: no memory in upstream zone'",
    handling: "each upstream's zone is sized from its server count: max(64k, 32k + 2k per server)",
    appliesTo: {},
  },
  {
    id: "nginx-worker-connections",
    what: "nginx worker_connections",
    value: "at least the number of listening sockets + 1",
    source: "nginx ngx_event.c: '1 worker_connections are not enough for 1 listening sockets'",
    handling: "worker_connections is at least the number of listeners + 64",
    appliesTo: {},
  },
  {
    id: "address",
    what: "listen, bind and server addresses",
    value: "IP literals: dotted-quad IPv4 without leading zeros, or [IPv6] without a zone index; to listen on, not an IPv4-mapped, link-local or multicast IPv6 address",
    source:
      "both proxies resolve anything else as a host name (HAProxy str2ip2(), nginx ngx_parse_url()): 'host not found in \"127.0.0.256:18090\"'; HAProxy reads 127.0.0.010 as octal (127.0.0.8), nginx as decimal (127.0.0.10); nginx's bind() fails with EINVAL on the three IPv6 kinds",
    handling: "refused at validation; addresses are normalised (IPv6 canonical form, wildcards overlap every address) before the port-collision check",
    appliesTo: { types: ["address", "loopback address"] },
  },
  {
    id: "condition-alternatives",
    what: "alternatives of one rule's condition, written out in disjunctive normal form",
    value: "64",
    source: "spillway: HAProxy conditions have no parentheses, so each alternative becomes a use_backend line; `not (a or b ...)` of n equalities has 2^n",
    handling: "refused at validation; split the rule into several rules",
    appliesTo: { keys: ["frontends.<frontend>.rules[].if"] },
  },
  {
    id: "zero-timeout",
    what: "client, connect, server and tunnel timeouts of 0",
    value: "refused",
    source: "HAProxy takes 0 as no timeout at all ('missing timeouts for backend ... please ensure that all following timeouts are set to a non-zero value'), nginx as an immediate one",
    handling: "refused at validation; http_keep_alive and http_request may be 0",
    appliesTo: { keys: ["frontends.<frontend>.timeouts.client", "frontends.<frontend>.timeouts.connect", "frontends.<frontend>.timeouts.server", "frontends.<frontend>.timeouts.tunnel"] },
  },
  {
    id: "stub-ports",
    what: "ports of the stubs spillway runs (`servers: N`)",
    value: "stubs.base_port + stubs - 1 <= 65535",
    source: "TCP ports are 16 bits",
    handling: "refused at validation",
    appliesTo: { keys: ["stubs.base_port", "backends.<backend>.servers"] },
  },
];
