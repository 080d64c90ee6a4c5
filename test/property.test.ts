/**
 * Property tests of the whole pipeline, spec text to configs the real proxies
 * accept, over random valid-looking specs (test/helpers/spec-gen.ts).
 *
 *   SPILLWAY_PROPERTY_RUNS  runs per property (default 200)
 *   SPILLWAY_PROPERTY_SEED  fast-check seed (default fixed, so CI is reproducible)
 *   SPILLWAY_PROPERTY_PATH  replay one counterexample: the `path` printed with a failure
 *
 * A failure prints its seed and path, the shrunk spec as YAML, and the
 * command that replays it.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { LocalConfigChecker, detectVersion } from "../src/check/index.js";
import { render, type Version } from "../src/render/index.js";
import { NGINX_WORKER_FILL } from "../src/render/nginx.js";
import { proxyLimits } from "../src/runtime/limits.js";
import { loadSpecText } from "../src/spec/load.js";
import { formatDiagnostic } from "../src/spec/diagnostics.js";
import {
  comparisonsOf,
  evalCondition,
  haproxyChoice,
  messageClass,
  nginxChoice,
  onlyFeConn,
  parseHaproxy,
  parseNginx,
  specOutcome,
  type Metrics,
} from "./helpers/proxy-eval.js";
import { specArb, type GeneratedSpec } from "./helpers/spec-gen.js";

function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be a whole number, not ${JSON.stringify(text)}`);
  return n;
}

const RUNS = envInt("SPILLWAY_PROPERTY_RUNS", 200);
const SEED = envInt("SPILLWAY_PROPERTY_SEED", 20_261_123);
const PATH = process.env.SPILLWAY_PROPERTY_PATH || undefined;
const checker = new LocalConfigChecker();

/** Runs a property; on failure, the error names the seed, the path and the command that replays it. */
async function assertProperty<T>(name: string, property: fc.IAsyncPropertyWithHooks<[T]> | fc.IAsyncProperty<[T]>) {
  const details = await fc.check(property, { numRuns: RUNS, seed: SEED, ...(PATH ? { path: PATH } : {}), endOnFailure: false });
  if (details.failed) {
    const replay = `SPILLWAY_PROPERTY_SEED=${details.seed} SPILLWAY_PROPERTY_PATH=${details.counterexamplePath ?? ""} npx vitest run test/property.test.ts -t '${name}'`;
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`${fc.defaultReportMessage(details)}\n\nFailure: ${cause}\n\nReplay: ${replay}`);
  }
}

/**
 * Messages a SpecError may give for a generated spec: each must name a
 * documented limit. null accepts every located SpecError and only collects
 * the messages (printed after the run); set it to tighten property 1.
 */
const DOCUMENTED_LIMITS: RegExp[] | null = [
  // A limit of src/spec/limits.ts (the README's limits table), named in the message.
  /\(limit: [a-z-]+\)/,
  // The README's documented semantic checks: a rule that can never fire given maxconn.
  /^rule can never fire: /,
];

/** SpecError messages seen, by kind, for the summary. */
const specErrors = new Map<string, { count: number; example: string }>();
const tally = { specs: 0, specError: 0, accepted: 0 };
const routed = { specs: 0, comparisons: 0 };

afterAll(() => {
  if (routed.specs > 0) console.log(`property 2: routing compared on ${routed.specs} runs (shrinking included) whose configs both proxies accept, ${routed.comparisons} connection counts`);
  if (tally.specs === 0) return;
  const lines = [...specErrors.entries()].sort((a, b) => b[1].count - a[1].count).map(([k, v]) => `  ${String(v.count).padStart(5)}  ${k}\n         e.g. ${v.example}`);
  console.log(`property 1: ${tally.specs} runs (shrinking included), ${tally.specError} refused with a SpecError, ${tally.accepted} rendered and accepted by both proxies\nSpecError messages by kind:\n${lines.join("\n")}`);
});

describe("random valid-looking specs", async () => {
  const versions: { haproxy?: Version; nginx?: Version } = {};
  const h = await detectVersion("haproxy");
  const n = await detectVersion("nginx");
  if (h) versions.haproxy = h.version;
  if (n) versions.nginx = n.version;

  it("finds both proxies installed", () => {
    expect(versions.haproxy, "haproxy installed").toBeDefined();
    expect(versions.nginx, "nginx installed").toBeDefined();
  });

  it(
    "property 1: every spec is refused with located SpecErrors, or renders configs that haproxy -c and nginx -t accept",
    async () => {
      await assertProperty(
        "property 1",
        fc.asyncProperty(specArb(), async (spec: GeneratedSpec) => {
          const outcome = await specOutcome(spec.yaml, versions, checker);
          tally.specs++;
          switch (outcome.kind) {
            case "spec-error": {
              if (outcome.errors.length === 0) throw new Error("SpecError without an error diagnostic");
              if (outcome.unlocated.length > 0) throw new Error(`SpecError diagnostics without file:line:col:\n${outcome.unlocated.map(formatDiagnostic).join("\n")}`);
              const undocumented = DOCUMENTED_LIMITS ? outcome.errors.filter((d) => !DOCUMENTED_LIMITS.some((re) => re.test(d.message))) : [];
              if (undocumented.length > 0) throw new Error(`SpecError names no documented limit:\n${undocumented.map(formatDiagnostic).join("\n")}`);
              tally.specError++;
              for (const d of outcome.errors) {
                const key = messageClass(d.message);
                const entry = specErrors.get(key) ?? { count: 0, example: formatDiagnostic(d).split("\n")[0]! };
                entry.count++;
                specErrors.set(key, entry);
              }
              return;
            }
            case "crash": {
              const e = outcome.error;
              throw new Error(`${outcome.stage} threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)} (the CLI reports this as an internal error, exit 3)`);
            }
            case "rejected":
              throw new Error(
                outcome.failed
                  .map((r) => `${r.target} rejected the rendered config:\n${r.output}\n${r.places.map((p) => `  line ${p.configLine}: ${p.text}  <- ${p.origin ?? "?"}`).join("\n")}`)
                  .join("\n\n"),
              );
            case "accepted":
              tally.accepted++;
              return;
          }
        }),
      );
      // Not vacuous: the generator must reach the renderer and the proxies, not only the loader's checks.
      expect(tally.accepted, `of ${tally.specs} specs none rendered configs both proxies accept; the generator needs tuning`).toBeGreaterThan(0);
    },
    RUNS * 3_000 + 600_000,
  );

  it(
    "property 2: for connection counts around every threshold, the rendered nginx map and HAProxy ACLs choose the backend the rules choose",
    async () => {
      await assertProperty(
        "property 2",
        fc.asyncProperty(fc.tuple(specArb({ routing: true }), fc.array(fc.nat(99), { minLength: 8, maxLength: 8 })), async ([spec, picks]) => {
          const outcome = await specOutcome(spec.yaml, versions, checker);
          // Refused specs, renderer crashes and configs a proxy rejects are property 1's
          // concern; here only configs both proxies accept, whose routing is what runs.
          if (outcome.kind !== "accepted") return;
          routed.specs++;
          const haproxy = parseHaproxy(outcome.rendered.haproxy);
          const nginx = parseNginx(outcome.rendered.nginx);
          const mismatches: string[] = [];
          for (const [frontend, conditions] of Object.entries(spec.conditions)) {
            const fe = spec.data.frontends[frontend]!;
            const hfe = haproxy.get(frontend);
            if (!hfe) throw new Error(`haproxy.cfg has no frontend '${frontend}'`);
            const rules = (fe.rules ?? []).map((r, i) => ({ backend: r.use_backend, condition: conditions[i]! }));
            const feCounts = connectionCounts(conditions, fe.maxconn);
            const backends = Object.keys(spec.data.backends);
            feCounts.forEach((feConn, j) => {
              // nginx: rules reading be_conn or nbsrv are left out (see the fidelity notes of src/render/nginx.ts).
              const onlyFe: Metrics = { feConn, beConn: {}, nbsrv: {} };
              const wantNginx = rules.find((r) => onlyFeConn(r.condition) && evalCondition(r.condition, onlyFe))?.backend ?? fe.default_backend;
              const gotNginx = nginxChoice(nginx, frontend, feConn);
              routed.comparisons++;
              if (gotNginx !== wantNginx) mismatches.push(`nginx, frontend '${frontend}', $connections_active ${feConn}: rules choose '${wantNginx}', the map chooses '${gotNginx}'`);
              // HAProxy: every rule, with be_conn and nbsrv around their thresholds too.
              const m = metricsFor(feConn, backends, conditions, picks, j);
              const wantHaproxy = rules.find((r) => evalCondition(r.condition, m))?.backend ?? fe.default_backend;
              const gotHaproxy = haproxyChoice(hfe, m);
              if (gotHaproxy !== wantHaproxy) {
                mismatches.push(`haproxy, frontend '${frontend}', fe_conn ${feConn}, be_conn ${JSON.stringify(m.beConn)}, nbsrv ${JSON.stringify(m.nbsrv)}: rules choose '${wantHaproxy}', the ACLs choose '${gotHaproxy}'`);
              }
            });
          }
          if (mismatches.length > 0) throw new Error(`${mismatches.length} routing mismatches:\n${mismatches.slice(0, 10).join("\n")}`);
        }),
      );
      // Not vacuous: some generated specs reached both proxies and were compared.
      expect(routed.comparisons, `of ${RUNS} specs none rendered configs both proxies accept; the generator needs tuning`).toBeGreaterThan(0);
    },
    RUNS * 3_000 + 600_000,
  );
});

/** A spec whose one scenario on nginx asks for `connections` (up to the schema's 100,000), and how its backends' servers are capped. */
const sizingArb = fc.record({
  frontends: fc.integer({ min: 1, max: 3 }),
  servers: fc.array(fc.option(fc.integer({ min: 1, max: 50_000 }), { nil: null }), { minLength: 1, maxLength: 6 }),
  connections: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 2_000, max: 100_000 })),
  streams: fc.integer({ min: 1, max: 100 }),
  // null: `render` alone (the table's worker_connections); a number: the open-file limit `up` and `verify` size from.
  fdLimit: fc.option(fc.integer({ min: 1024, max: 20_000 }), { nil: null }),
});

function sizingSpec(c: { frontends: number; servers: (number | null)[]; connections: number; streams: number }): string {
  const lines = ["version: 1", "targets: [nginx]", "stubs: { host: 127.0.0.1, base_port: 21000 }", "frontends:"];
  for (let i = 0; i < c.frontends; i++) lines.push(`  f${i}:`, `    bind: "127.0.0.1:${20_000 + i}"`, "    default_backend: app");
  lines.push("backends:", "  app:", "    servers:");
  c.servers.forEach((maxconn, i) => lines.push(`      - { name: s${i}, address: "127.0.0.1:${21_000 + i}"${maxconn === null ? "" : `, maxconn: ${maxconn}`} }`));
  lines.push("scenarios:", "  hold:", `    load: { connections: ${c.connections}, streams: ${c.streams}, duration: 30s }`, "");
  return lines.join("\n");
}

describe("nginx sized to hold a scenario's connections", async () => {
  const nginx = await detectVersion("nginx");

  it.runIf(nginx !== null)(
    "property 3: the fewest workers whose worker_connections hold the connections, reuseport with more than one, and nginx -t accepts it",
    async () => {
      let several = 0;
      await assertProperty(
        "property 3",
        fc.asyncProperty(sizingArb, async (c) => {
          const model = loadSpecText(sizingSpec(c), "sizing.yaml").model;
          const limits = c.fdLimit === null ? null : proxyLimits(c.fdLimit);
          const runtime = limits && {
            stamp: false,
            haproxyStats: null,
            haproxyGlobalMaxconn: null,
            nginxStatusListen: { host: "127.0.0.1", port: 20_999 },
            nginxWorkerConnections: limits.nginxWorkerConnections,
            nginxRlimitNofile: limits.nginxRlimitNofile,
          };
          const conf = render(model, { versions: { nginx: nginx!.version }, ...(runtime ? { runtime } : {}) }).nginx;
          const workers = Number(/^worker_processes (\d+);$/m.exec(conf)?.[1]);
          const perWorker = Number(/^\s*worker_connections (\d+);$/m.exec(conf)?.[1]);
          const rlimit = /^worker_rlimit_nofile (\d+);$/m.exec(conf);
          const listeners = c.frontends + (runtime ? 1 : 0);
          const upstream = c.servers.reduce<number>((n, m) => n + (m ?? 256), 0);
          const demand = c.connections + Math.min(upstream, c.connections * c.streams);
          const holds = (w: number) => (w === 1 ? perWorker - listeners : w * Math.floor((perWorker - listeners) * NGINX_WORKER_FILL));
          expect(holds(workers), `worker_processes ${workers} x worker_connections ${perWorker} for ${demand}`).toBeGreaterThanOrEqual(demand);
          if (workers > 1) {
            several++;
            expect(holds(workers - 1), "one worker fewer would hold them too").toBeLessThan(demand);
            expect((conf.match(/ reuseport;/g) ?? []).length, "every frontend's listen has reuseport").toBe(c.frontends);
            // Every worker's own descriptors hold its worker_connections.
            expect(Number(rlimit?.[1])).toBeGreaterThanOrEqual(perWorker);
          } else {
            expect(conf).not.toContain("reuseport");
          }
          const checked = await checker.check("nginx", conf);
          if (!checked.ok) throw new Error(`nginx -t rejected worker_processes ${workers}:\n${checked.output}`);
        }),
      );
      // Not vacuous: some specs needed more than one worker.
      expect(several).toBeGreaterThan(0);
    },
    RUNS * 3_000 + 600_000,
  );
});

/**
 * fe_conn values to try: t-2..t+2 around every fe_conn comparison value, 1,
 * and the frontend's maxconn. Not 0: both proxies count the connection being
 * routed, so fe_conn and $connections_active are at least 1.
 */
function connectionCounts(conditions: GeneratedSpec["conditions"][string], maxconn: number | undefined): number[] {
  const out = new Set<number>([1, 2]);
  if (maxconn !== undefined) for (const d of [-1, 0, 1]) out.add(maxconn + d);
  for (const c of conditions) for (const cmp of comparisonsOf(c)) if (cmp.metric.kind === "fe_conn") for (let d = -2; d <= 2; d++) out.add(cmp.value + d);
  return [...out].filter((v) => v >= 1).sort((a, b) => a - b);
}

/** be_conn and nbsrv per backend, each picked from 0 and the values around that metric's thresholds. */
function metricsFor(feConn: number, backends: string[], conditions: GeneratedSpec["conditions"][string], picks: number[], j: number): Metrics {
  const candidates = { be_conn: new Map<string, number[]>(), nbsrv: new Map<string, number[]>() };
  for (const c of conditions) {
    for (const cmp of comparisonsOf(c)) {
      if (cmp.metric.kind === "fe_conn") continue;
      const list = candidates[cmp.metric.kind].get(cmp.metric.backend) ?? [0];
      list.push(Math.max(0, cmp.value - 1), cmp.value, cmp.value + 1);
      candidates[cmp.metric.kind].set(cmp.metric.backend, list);
    }
  }
  const m: Metrics = { feConn, beConn: {}, nbsrv: {} };
  backends.forEach((b, k) => {
    const be = candidates.be_conn.get(b) ?? [0, 1];
    const nb = candidates.nbsrv.get(b) ?? [0, 1];
    m.beConn[b] = be[picks[(j * 7 + 2 * k) % picks.length]! % be.length]!;
    m.nbsrv[b] = nb[picks[(j * 7 + 2 * k + 1) % picks.length]! % nb.length]!;
  });
  return m;
}
