/**
 * ExploreReport fixtures for the explore page, generated rather than stored:
 * the classic spec's keep-alive x think-time grid on both targets, and a
 * ramp of 1 vs 2 `ade` servers with knees. The numbers follow the mechanism
 * the page is meant to show (idle connections closing before the next
 * request take the proxy's count under the threshold; nginx's max_conns
 * refuses what HAProxy would queue), and every total agrees with its
 * timeline, so the charts read as a real run's would.
 */
import type { ExploreCell, ExploreFlip, ExploreReport, ExploreTimelineWindow, Knee, TargetDifference, VaryAxis } from "../../src/explore/types.js";

type Target = "haproxy" | "nginx";

const KEEP_ALIVE = "frontends.webserver.timeouts.http_keep_alive";
const THINK = "load.think_time";
const SERVERS = "backends.ade.servers";
const CONNECTIONS = "load.connections";
const THRESHOLD = 300;
const RULE = "too_many_connections";

/** Text that must stay text wherever the page shows it, and must not close the JSON's <script>. */
export const HOSTILE = `</script><img src="http://127.0.0.1:9/x" onerror="window.__pwned=1">'"&`;

function ms(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v);
  if (!m) throw new Error(`not a duration: ${v}`);
  return Number(m[1]) * (m[2] === "s" ? 1000 : 1);
}

/** Deterministic jitter in [-1, 1), so the fixture is the same on every run. */
function jitter(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

/**
 * The share of time a client's connection stays open at the proxy: all of it
 * when the keep-alive timeout outlasts the think time, otherwise the request
 * plus the idle time the proxy allows before it closes.
 */
function openFraction(keepAliveMs: number, thinkMs: number): number {
  const serviceMs = 5;
  return thinkMs <= keepAliveMs ? 1 : (serviceMs + keepAliveMs) / (serviceMs + thinkMs);
}

interface Windowed {
  timeline: ExploreTimelineWindow[];
  flips: ExploreFlip[];
}

function flipOf(timeline: ExploreTimelineWindow[], windowMs: number, offsetMs: number): ExploreFlip[] {
  const i = timeline.findIndex((w) => (w.max_proxy_conns ?? 0) > THRESHOLD);
  if (i < 0) return [];
  return [{ rule: RULE, backend: "pbcoffee", last_default_conns: THRESHOLD, first_rule_conns: timeline[i]!.max_proxy_conns, at_ms: i * windowMs + offsetMs }];
}

/** Windows of a run whose proxy count is `conns(i)`; above the threshold the rule sends to pbcoffee. */
function windows(n: number, windowMs: number, perWindow: (i: number) => number, conns: (i: number) => number, target: Target, rnd: () => number): Windowed {
  const timeline: ExploreTimelineWindow[] = [];
  for (let i = 0; i < n; i++) {
    const c = conns(i);
    const total = Math.max(0, Math.round(perWindow(i) * (1 + 0.06 * rnd())));
    const over = c > THRESHOLD;
    const toRule = over ? Math.round(total * (0.96 + 0.03 * rnd())) : 0;
    // nginx has no queue: with its one server at max_conns, most of what the rule sends there is refused (502).
    const refused = target === "nginx" && over ? Math.round(toRule * (0.55 + 0.1 * rnd())) : 0;
    const by: Record<string, number> = { ade: total - toRule };
    if (toRule - refused > 0) by.pbcoffee = toRule - refused;
    timeline.push({ t_ms: i * windowMs, by_backend: by, errors: refused, open_connections: Math.min(310, Math.round(c + 4 + 3 * rnd())), max_proxy_conns: total > 0 ? c : null });
  }
  return { timeline, flips: flipOf(timeline, windowMs, Math.round(windowMs * 0.3)) };
}

function measuredFrom(w: Windowed, windowMs: number, p50: number, p99: number): NonNullable<ExploreCell["measured"]> {
  const served: Record<string, number> = {};
  let errors = 0;
  for (const x of w.timeline) {
    for (const [b, n] of Object.entries(x.by_backend)) served[b] = (served[b] ?? 0) + n;
    errors += x.errors;
  }
  const succeeded = Object.values(served).reduce((a, b) => a + b, 0);
  const sent = succeeded + errors;
  const durationMs = w.timeline.length * windowMs;
  const backends = Object.fromEntries(Object.entries(served).map(([b, count]) => [b, { count, share: sent ? count / sent : 0 }]));
  return {
    backends,
    routed: { ade: served.ade ?? 0, pbcoffee: (served.pbcoffee ?? 0) + errors },
    sent,
    succeeded,
    failed: errors ? { "status-502-no-header": errors } : {},
    latency_ms: { p50, p99 },
    rps: Math.round(sent / (durationMs / 1000)),
    max_proxy_conns_seen: Math.max(...w.timeline.map((x) => x.max_proxy_conns ?? 0)),
    flips: w.flips,
    timeline: w.timeline,
    window_ms: windowMs,
    duration_ms: durationMs,
  };
}

function gapOf(measured: ExploreCell["measured"], predicted: ExploreCell["predicted"]): Record<string, number> | null {
  if (!measured || !predicted) return null;
  const names = [...new Set([...Object.keys(measured.backends), ...Object.keys(predicted.backends)])].sort();
  return Object.fromEntries(names.map((b) => [b, Math.round(((measured.backends[b]?.share ?? 0) - (predicted.backends[b] ?? 0)) * 1000) / 10]));
}

function command(spec: string, scenario: string, target: Target, values: Record<string, string>, extra = ""): string {
  const vary = Object.entries(values).map(([p, v]) => `--vary ${p}=${v}`).join(" ");
  return `spillway explore ${spec} --scenario ${scenario} --target ${target} ${vary}${extra}`;
}

const CONFIGS = (spec: string): Record<string, string> => ({
  haproxy: [
    `# Generated by spillway 0.1.0 from ${spec}; edit the spec, not this file.`,
    "global",
    "    maxconn 310",
    "defaults",
    "    mode http",
    "    option http-keep-alive",
    "frontend webserver",
    "    bind 127.0.0.1:8080",
    "    maxconn 310",
    "    timeout http-keep-alive 100ms",
    `    acl ${RULE} fe_conn gt ${THRESHOLD}`,
    `    use_backend pbcoffee if ${RULE}`,
    "    default_backend ade",
    "backend ade",
    "    server s1 127.0.0.1:9001 maxconn 200",
    "    server s2 127.0.0.1:9002 maxconn 200",
    "backend pbcoffee",
    "    server s1 127.0.0.1:9003 maxconn 200",
  ].join("\n"),
  nginx: [
    `# Generated by spillway 0.1.0 from ${spec}; edit the spec, not this file.`,
    "http {",
    "    upstream ade { zone ade 64k; server 127.0.0.1:9001 max_conns=200; server 127.0.0.1:9002 max_conns=200; }",
    "    upstream pbcoffee { zone pbcoffee 64k; server 127.0.0.1:9003 max_conns=200; }",
    "    map $spillway_webserver_conns $spillway_webserver_backend {",
    "        default ade;",
    '        "~^(30[1-9]|3[1-9][0-9]|[4-9][0-9][0-9]|[1-9][0-9][0-9][0-9]+)$" pbcoffee;',
    "    }",
    "    server {",
    "        listen 127.0.0.1:8080 http2;",
    "        keepalive_timeout 100ms;",
    "        location / {",
    "            set $spillway_webserver_conns $connections_active;",
    "            proxy_pass http://$spillway_webserver_backend;",
    "        }",
    "    }",
    "}",
  ].join("\n"),
});

const FIDELITY = [
  {
    id: "frontends.webserver.rules[0]",
    construct: `frontends.webserver.rules[0]: if fe_conn > ${THRESHOLD} use pbcoffee`,
    note: "map on $connections_active, which counts every client connection of the whole nginx instance, idle keep-alive connections included, where HAProxy's fe_conn counts one frontend's",
  },
  {
    id: "backends.pbcoffee.maxconn",
    construct: "backends.pbcoffee: maxconn 200",
    note: "max_conns on each server: open-source nginx has no queue, so a request arriving when the server is at max_conns fails with 502 instead of waiting as in HAProxy",
  },
  { id: "frontends.webserver.maxconn", construct: "frontends.webserver: maxconn 310", note: "not rendered: nginx has no per-listener connection cap that queues like HAProxy's maxconn" },
];

function differences(cells: ExploreCell[], vary: VaryAxis[]): TargetDifference[] {
  const key = (v: Record<string, string>) => vary.map((a) => v[a.path]).join("\u0000");
  const out: TargetDifference[] = [];
  const seen = new Set<string>();
  for (const c of cells) {
    const k = key(c.values);
    if (seen.has(k)) continue;
    seen.add(k);
    const h = cells.find((x) => x.target === "haproxy" && key(x.values) === k)?.measured;
    const n = cells.find((x) => x.target === "nginx" && key(x.values) === k)?.measured;
    if (!h || !n) continue;
    const hs = (h.backends.pbcoffee?.share ?? 0) * 100;
    const ns = (n.backends.pbcoffee?.share ?? 0) * 100;
    if (Math.abs(hs - ns) < 2) continue;
    const refused = (n.failed["status-502-no-header"] ?? 0) / n.sent;
    out.push({
      values: c.values,
      text: `nginx served ${ns.toFixed(1)}% from pbcoffee where HAProxy served ${hs.toFixed(1)}%: nginx routed as often, but ${(refused * 100).toFixed(0)}% were refused by max_conns with no queue to wait in`,
      fidelity_row: "backends.pbcoffee.maxconn",
    });
  }
  return out;
}

export interface GridOptions {
  /** Put HOSTILE into every kind of text the page shows. */
  hostile?: boolean;
  /** A third axis, so the page needs its slice selector. */
  connectionsAxis?: boolean;
  /** This cell index broke: no measurement, an error instead. */
  brokenCell?: number;
}

/** `--vary http_keep_alive=100ms,1s,10s --vary think_time=0,500ms,2s` on both targets: 18 cells. */
export function exploreGridReport(opts: GridOptions = {}): ExploreReport {
  const spec = opts.hostile ? `fixtures/classic${HOSTILE}.yaml` : "fixtures/classic.yaml";
  const scenario = "keep-alive";
  const vary: VaryAxis[] = [
    { path: KEEP_ALIVE, values: ["100ms", "1s", "10s"] },
    { path: THINK, values: ["0", "500ms", "2s"] },
  ];
  if (opts.connectionsAxis) vary.push({ path: CONNECTIONS, values: ["300", "310"] });
  const targets: Target[] = ["haproxy", "nginx"];
  const cells: ExploreCell[] = [];
  const windowMs = 200;
  const n = 30;
  const points: Record<string, string>[] = [{}];
  for (const a of vary) {
    const next: Record<string, string>[] = [];
    for (const p of points) for (const v of a.values) next.push({ ...p, [a.path]: v });
    points.splice(0, points.length, ...next);
  }
  for (const target of targets) {
    for (const values of points) {
      const index = cells.length;
      const rnd = jitter(index + 7);
      const ka = ms(values[KEEP_ALIVE]!);
      const think = ms(values[THINK]!);
      const clients = Number(values[CONNECTIONS] ?? "310");
      const open = openFraction(ka, think);
      // Connections open at once for the first ~400 ms; after that the count settles where idle closes leave it.
      const settled = Math.round(clients * open);
      const conns = (i: number) => (i < 2 ? clients : Math.max(1, Math.min(clients, Math.round(settled + (i % 10 < 2 ? clients - settled : 0) * 0.4 + 2 * rnd()))));
      // Each client sends once per service time plus think time; h2load's streams cap it near 20,000 req/s.
      const perWindow = (i: number) => Math.min(4000, (clients / (5 + think)) * windowMs) / (i < 2 ? 1.3 : 1);
      const w = windows(n, windowMs, perWindow, conns, target, rnd);
      const p99 = think === 0 ? 48 : 11;
      const measured = index === opts.brokenCell ? null : measuredFrom(w, windowMs, p99 / 4, p99 + 4 * rnd());
      // The model predicts routing; for nginx that is not what was served, which is the finding the gap shows.
      const sent = measured?.sent ?? 1;
      const routedPb = measured ? measured.routed.pbcoffee! / sent : 0;
      const predictedPb = Math.max(0, Math.min(1, routedPb + 0.03 * rnd() + (think > ka && ka >= 1000 ? 0.05 : 0)));
      const predicted = {
        backends: { ade: 1 - predictedPb, pbcoffee: predictedPb },
        flips: flipOf(w.timeline, windowMs, Math.round(windowMs * 0.1)),
        max_proxy_conns_seen: Math.max(...w.timeline.map((x) => x.max_proxy_conns ?? 0)),
        assumptions: [
          `${clients} connections open in one burst at 310/s and stay open while their client thinks less than the keep-alive timeout (${values[KEEP_ALIVE]})`,
          `think time ${values[THINK]} between a response and the next request on the same connection`,
          "service time 5 ms, from the stubs' latency",
          ...(opts.hostile ? [`assumed ${HOSTILE}`] : []),
        ],
      };
      const error = measured ? null : "haproxy did not come up within 10 s: [ALERT] cannot bind socket 127.0.0.1:8080 (Address already in use)";
      cells.push({
        target,
        values,
        measured,
        predicted,
        gap: gapOf(measured, predicted),
        knee: null,
        error,
        command: command(spec, scenario, target, values),
        overhead_ms: index % points.length === 0 ? 1450 : 120 + Math.round(30 * rnd()),
      });
    }
  }
  const diffs = differences(cells, vary);
  if (opts.hostile && diffs[0]) diffs[0].text += ` ${HOSTILE}`;
  const configs = CONFIGS(spec);
  if (opts.hostile) configs.haproxy += `\n# ${HOSTILE}`;
  const fidelity = opts.hostile ? [...FIDELITY, { id: `hostile${HOSTILE}`, construct: HOSTILE, note: HOSTILE }] : FIDELITY;
  return {
    spec,
    scenario,
    started_at: "2026-11-23T09:30:00.000Z",
    vary,
    targets,
    cells,
    differences: diffs,
    configs,
    fidelity,
    thresholds: [{ rule: RULE, backend: "pbcoffee", conns: THRESHOLD }],
    complete: opts.brokenCell === undefined,
  };
}

/**
 * `--vary backends.ade.servers=1,2 --ramp connections=10..400` on both
 * targets: throughput stops rising where the ade servers are saturated
 * (about 1,800 req/s each), latency turns up there, and errors start once
 * the queue (HAProxy) or max_conns (nginx) gives out.
 */
export function exploreRampReport(): ExploreReport {
  const spec = "fixtures/classic.yaml";
  const scenario = "ramp";
  const vary: VaryAxis[] = [{ path: SERVERS, values: ["1", "2"] }];
  const targets: Target[] = ["haproxy", "nginx"];
  const cells: ExploreCell[] = [];
  const windowMs = 500;
  const steps = 40;
  for (const target of targets) {
    for (const servers of vary[0]!.values) {
      const rnd = jitter(cells.length + 101);
      const cap = (target === "haproxy" ? 1800 : 1700) * Number(servers);
      const perConn = 12;
      const plateau = Math.round(cap / perConn / 10) * 10;
      const load = (i: number) => 10 * (i + 1);
      const curve: Knee["curve"] = [];
      for (let i = 0; i < steps; i++) {
        const l = load(i);
        const rps = Math.min(l * perConn, cap - (l > plateau ? 40 * rnd() : 0));
        const p99 = l <= plateau ? 8 + rnd() : 8 + (l - plateau) * (target === "nginx" ? 1.1 : 0.8);
        const errorRate = l <= plateau + 40 ? 0 : Math.min(0.5, (l - plateau - 40) / (target === "nginx" ? 300 : 600));
        curve.push({ load: l, rps: Math.round(rps), p99_ms: Math.round(p99 * 10) / 10, error_rate: Math.round(errorRate * 1000) / 1000 });
      }
      const knee: Knee = {
        load: "connections",
        throughput_plateau_at: plateau <= load(steps - 1) ? plateau : null,
        latency_turn_at: plateau + 10 <= load(steps - 1) ? plateau + 10 : null,
        errors_start_at: plateau + 50 <= load(steps - 1) ? plateau + 50 : null,
        curve,
      };
      const w = windows(steps, windowMs, (i) => (curve[i]!.rps * windowMs) / 1000, (i) => load(i), target, rnd);
      const measured = measuredFrom(w, windowMs, 6, 8 + (target === "nginx" ? 40 : 25));
      const values = { [SERVERS]: servers };
      cells.push({
        target,
        values,
        measured,
        predicted: null,
        gap: null,
        knee,
        error: null,
        command: command(spec, scenario, target, values, " --ramp connections=10..400/10"),
        overhead_ms: 1400 + Math.round(50 * rnd()),
      });
    }
  }
  return {
    spec,
    scenario,
    started_at: "2026-11-23T10:05:00.000Z",
    vary,
    targets,
    cells,
    differences: differences(cells, vary),
    configs: CONFIGS(spec),
    fidelity: FIDELITY,
    thresholds: [{ rule: RULE, backend: "pbcoffee", conns: THRESHOLD }],
    complete: true,
  };
}

/**
 * `spillway explore fixtures/chat.yaml --vary load.websockets.connections=50,100,200`
 * as a report: a room of N, one message a second each for 10 s, sessions
 * alone (no HTTP), on both targets. nginx at 200 lost 0.04% of what it owed
 * and one session failed, so the page has a loss to show that rounding
 * must not hide.
 */
export function exploreWsReport(): ExploreReport {
  const spec = "fixtures/chat.yaml";
  const scenario = "room-of-100";
  const path = "load.websockets.connections";
  const vary: VaryAxis[] = [{ path, values: ["50", "100", "200"] }];
  const targets: Target[] = ["haproxy", "nginx"];
  const windowMs = 320;
  const cells: ExploreCell[] = [];
  for (const target of targets) {
    for (const value of vary[0]!.values) {
      const n = Number(value);
      const lossy = target === "nginx" && n === 200;
      const rnd = jitter(cells.length + 7);
      const timeline = Array.from({ length: 34 }, (_, i) => {
        const open = i === 0 ? Math.round(n / 2) : i < 32 ? n - (lossy && i > 20 ? 1 : 0) : Math.round(n / 3);
        const sent = i < 32 ? Math.round((open * windowMs) / 1000 + rnd()) : 0;
        const expected = sent * open;
        const delivered = lossy && i === 25 ? expected - Math.round(expected * 0.012) : expected;
        return { t_ms: i * windowMs, open_sessions: open, sent, received: delivered, expected, delivered };
      });
      const sum = (k: "sent" | "received" | "expected" | "delivered") => timeline.reduce((a, w) => a + w[k], 0);
      const values = { [path]: value };
      const p99 = Math.round((2 + n / 25 + (target === "nginx" ? 3 : 0) + rnd()) * 10) / 10;
      cells.push({
        target,
        values,
        measured: {
          backends: {},
          routed: {},
          sent: 0,
          succeeded: 0,
          failed: {},
          latency_ms: { p50: null, p99: null },
          rps: 0,
          max_proxy_conns_seen: null,
          flips: [],
          timeline: [],
          window_ms: windowMs,
          duration_ms: 10_900,
          websockets: {
            sessions: { asked: n, opened: n, failed: lossy ? 1 : 0, completed: lossy ? n - 1 : n, max_open: n },
            failed_by_cause: lossy ? { "closed-early-1006": 1 } : {},
            msgs_sent: sum("sent"),
            msgs_received: sum("received"),
            expected: sum("expected"),
            delivered: sum("delivered"),
            delivery_ratio: sum("delivered") / sum("expected"),
            fanout_ms: { p50: Math.round(p99 * 3) / 10, p99 },
            upgrades: { rooms: n },
            timeline,
            window_ms: windowMs,
          },
        },
        predicted: null,
        gap: null,
        knee: null,
        error: null,
        command: command(spec, scenario, target, values),
        overhead_ms: 300 + Math.round(40 * rnd()),
      });
    }
  }
  return {
    spec,
    scenario,
    started_at: "2026-11-23T23:00:00.000Z",
    vary,
    targets,
    cells,
    differences: vary[0]!.values.map((v) => {
      const lossy = cells.find((c) => c.target === "nginx" && c.values[path] === v)!.measured!.websockets!.delivery_ratio!;
      const text = lossy < 1 ? `HAProxy delivered 100% of the WebSocket messages owed and nginx ${(Math.floor(lossy * 10_000) / 100).toFixed(2)}%.` : "Both delivered 100% of the WebSocket messages owed.";
      return { values: { [path]: v }, text, fidelity_row: null };
    }),
    configs: CONFIGS(spec),
    fidelity: FIDELITY,
    thresholds: [],
    complete: true,
  };
}
