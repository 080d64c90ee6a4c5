import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatFidelity, render, type Version } from "../src/render/index.js";
import { NGINX_MAP_REGEX_MAX } from "../src/spec/limits.js";
import { loadSpecFile, loadSpecText } from "../src/spec/load.js";
import { ROOT } from "./helpers/cli.js";
import { expectGolden } from "./helpers/golden.js";

const FIXTURES = readdirSync(join(ROOT, "fixtures")).filter((f) => f.endsWith(".yaml"));
const VERSIONS: { haproxy: Version; nginx: Version }[] = [
  { haproxy: { major: 2, minor: 6, patch: 0 }, nginx: { major: 1, minor: 22, patch: 0 } },
  { haproxy: { major: 3, minor: 0, patch: 0 }, nginx: { major: 1, minor: 26, patch: 0 } },
];
const v = (x: Version) => `${x.major}.${x.minor}`;

describe.each(FIXTURES)("rendering %s", (fixture) => {
  const { model } = loadSpecFile(join(ROOT, "fixtures", fixture));
  const name = fixture.replace(/\.yaml$/, "");

  it.each(VERSIONS.map((versions) => ({ versions, label: `haproxy ${v(versions.haproxy)} and nginx ${v(versions.nginx)}` })))("matches the golden files for $label", ({ versions }) => {
    const out = render(model, { versions });
    expectGolden(join(ROOT, "test", "golden", name, `haproxy-${v(versions.haproxy)}.cfg`), out.haproxy);
    expectGolden(join(ROOT, "test", "golden", name, `nginx-${v(versions.nginx)}.conf`), out.nginx);
    expectGolden(join(ROOT, "test", "golden", name, `fidelity-${v(versions.haproxy)}-${v(versions.nginx)}.txt`), `${formatFidelity(out.fidelity, ["haproxy", "nginx"], out.defaults)}\n`);
  });

  it("renders byte-identical text twice, also from a fresh load", () => {
    const a = render(model);
    const b = render(loadSpecFile(join(ROOT, "fixtures", fixture)).model);
    expect(b.haproxy).toBe(a.haproxy);
    expect(b.nginx).toBe(a.nginx);
    expect(JSON.stringify(b.fidelity)).toBe(JSON.stringify(a.fidelity));
  });
});

// After the rendering tests, so an UPDATE_GOLDEN=1 run writes a new fixture's files before they are listed.
describe("golden files", () => {
  it("exist for every fixture and every version pair, and for nothing else", () => {
    // Without this, an empty fixtures list would make the golden tests above run zero times.
    expect(FIXTURES.length).toBeGreaterThan(0);
    const expected = FIXTURES.flatMap((f) =>
      VERSIONS.flatMap((versions) => {
        const dir = f.replace(/\.yaml$/, "");
        return [`${dir}/haproxy-${v(versions.haproxy)}.cfg`, `${dir}/nginx-${v(versions.nginx)}.conf`, `${dir}/fidelity-${v(versions.haproxy)}-${v(versions.nginx)}.txt`];
      }),
    );
    const golden = join(ROOT, "test", "golden");
    const actual = readdirSync(golden).flatMap((dir) => readdirSync(join(golden, dir)).map((file) => `${dir}/${file}`));
    expect(actual.sort()).toEqual(expected.sort());
  });
});

describe("version-specific syntax", () => {
  const { model } = loadSpecFile(join(ROOT, "fixtures", "classic.yaml"));

  it("uses listen ... http2 before nginx 1.25.1 and `http2 on` from it", () => {
    expect(render(model, { versions: { nginx: { major: 1, minor: 22, patch: 1 } } }).nginx).toContain("listen 127.0.0.1:8080 http2;");
    const newer = render(model, { versions: { nginx: { major: 1, minor: 25, patch: 1 } } }).nginx;
    expect(newer).toContain("listen 127.0.0.1:8080;");
    expect(newer).toContain("http2 on;");
  });

  it("uses the per-frontend HTTP/2 stream limit from HAProxy 2.7", () => {
    expect(render(model, { versions: { haproxy: { major: 2, minor: 6, patch: 9 } } }).haproxy).toContain("tune.h2.max-concurrent-streams 100");
    expect(render(model, { versions: { haproxy: { major: 2, minor: 7, patch: 0 } } }).haproxy).toContain("tune.h2.fe.max-concurrent-streams 100");
  });
});

describe("fidelity report", () => {
  it("names every approximation of the classic spec", () => {
    const { model } = loadSpecFile(join(ROOT, "fixtures", "classic.yaml"));
    const { fidelity } = render(model);
    const nginxNotExact = fidelity.filter((e) => e.nginx && e.nginx.level !== "exact").map((e) => `${e.construct} ${e.what}: ${e.nginx!.level}`);
    expect(nginxNotExact).toEqual([
      "frontends.webserver.rules[0] if fe_conn > 300 use pbcoffee: approximate",
      "frontends.webserver maxconn 310: unsupported",
      "frontends.webserver.bind bind 127.0.0.1:8080: approximate",
      "frontends.webserver.timeouts timeouts: approximate",
      "backends.ade maxconn 200: approximate",
      "backends.pbcoffee maxconn 200: approximate",
    ]);
    expect(fidelity.find((e) => e.construct === "frontends.webserver.rules[0]")?.nginx?.detail).toMatch(/\$connections_active .* whole nginx instance/);
  });

  it("drops rules nginx cannot express and says so", () => {
    const { model } = loadSpecFile(join(ROOT, "fixtures", "multi-frontend.yaml"));
    const out = render(model);
    expect(out.nginx).not.toContain("be_conn");
    expect(out.fidelity.filter((e) => e.nginx?.level === "unsupported").map((e) => e.construct)).toContain("frontends.api.rules[2]");
  });
});

describe("runtime rendering", () => {
  it("stamps the routed connection count and opens the stats endpoints", () => {
    const { model } = loadSpecFile(join(ROOT, "fixtures", "classic.yaml"));
    const out = render(model, {
      runtime: {
        stamp: true,
        haproxyStats: { host: "127.0.0.1", port: 9998 },
        haproxyGlobalMaxconn: 9000,
        nginxStatusListen: { host: "127.0.0.1", port: 9999 },
        nginxWorkerConnections: 5000,
        nginxRlimitNofile: 12000,
      },
    });
    expect(out.haproxy).toContain("http-request set-var(txn.spillway_conns) fe_conn");
    expect(out.haproxy).toContain("http-after-response set-header x-spillway-proxy-conns %[var(txn.spillway_conns)]");
    expect(out.haproxy).toContain("http-after-response set-header x-spillway-route %[be_name]");
    expect(out.haproxy).toContain("stats socket ipv4@127.0.0.1:9998 level admin");
    expect(out.haproxy).toContain("    maxconn 9000\n");
    expect(out.nginx).toContain("add_header x-spillway-proxy-conns $spillway_webserver_conns always;");
    expect(out.nginx).toContain("add_header x-spillway-route $spillway_webserver_backend always;");
    expect(out.nginx).toContain("listen 127.0.0.1:9999;");
    expect(out.nginx).toContain("worker_rlimit_nofile 12000;");
  });

  it("refuses to render an unsafe runtime address instead of emitting it", () => {
    const { model } = loadSpecFile(join(ROOT, "fixtures", "classic.yaml"));
    expect(() =>
      render(model, {
        runtime: { stamp: false, haproxyStats: { host: "127.0.0.1:1\n    stats enable", port: 1 }, haproxyGlobalMaxconn: null, nginxStatusListen: null, nginxWorkerConnections: null, nginxRlimitNofile: null },
      }),
    ).toThrow(/refusing to render address/);
  });
});

describe("nginx map for rules whose fe_conn sets overlap", () => {
  // HAProxy takes the first rule that matches. Each later rule's map entry must
  // hold only the counts no earlier rule takes, so the entries are disjoint and
  // the route never depends on nginx trying regexes in order.
  const RULES: { if: string; use: string; holds: (n: number) => boolean }[] = [
    { if: "fe_conn > 100", use: "big", holds: (n) => n > 100 },
    { if: "fe_conn > 50", use: "mid", holds: (n) => n > 50 }, // 51..100 of its own
    { if: "fe_conn >= 10 and fe_conn <= 20", use: "band", holds: (n) => n >= 10 && n <= 20 },
    { if: "fe_conn > 60 and fe_conn < 80", use: "never", holds: (n) => n > 60 && n < 80 }, // wholly taken by "mid"
    { if: "fe_conn < 15", use: "low", holds: (n) => n < 15 }, // 10..14 taken by "band"
  ];
  const spec = [
    "version: 1",
    "frontends:",
    "  web:",
    '    bind: "127.0.0.1:18480"',
    "    rules:",
    ...RULES.map((r) => `      - { if: "${r.if}", use_backend: ${r.use} }`),
    "    default_backend: main",
    "backends:",
    ...["main", ...RULES.map((r) => r.use)].map((b) => `  ${b}: { servers: 1 }`),
    "",
  ].join("\n");
  const out = render(loadSpecText(spec, "overlap.yaml").model);
  const map = /map \$spillway_web_conns \$spillway_web_backend \{\n([\s\S]*?)\n\s*\}/.exec(out.nginx)?.[1] ?? "";
  const entries = [...map.matchAll(/^\s*"~(.+)" (\S+);$/gm)].map((m) => ({ regex: new RegExp(m[1]!), backend: m[2]! }));

  it("gives each rule only the counts no earlier rule takes", () => {
    expect(map).toContain("default main;");
    expect(entries.map((e) => `${e.regex.source} ${e.backend}`)).toEqual([
      "^(10[1-9]|1[1-9][0-9]|[2-9][0-9][0-9]|[1-9][0-9][0-9][0-9]+)$ big",
      "^(5[1-9]|[6-9][0-9]|100)$ mid",
      "^(1[0-9]|20)$ band",
      "^([1-9])$ low",
    ]);
  });

  it("routes every connection count as HAProxy's first matching rule does, each count matched by at most one entry", () => {
    // $connections_active counts the request's own connection, so it is never 0.
    for (let n = 1; n <= 2000; n++) {
      const matching = entries.filter((e) => e.regex.test(String(n))).map((e) => e.backend);
      const first = RULES.find((r) => r.holds(n))?.use;
      expect(matching, `fe_conn ${n}`).toEqual(first === undefined ? [] : [first]);
    }
  });

  it("leaves out a rule an earlier one wholly covers, and says so", () => {
    expect(out.nginx).not.toMatch(/\bnever;/);
    const note = out.fidelity.find((e) => e.construct === "frontends.web.rules[3]")?.nginx;
    expect(note?.level).toBe("unsupported");
    expect(note?.detail).toMatch(/earlier rule already takes every connection count/);
  });
});

describe("nginx map for a rule whose fe_conn set needs a long regex", () => {
  // Ten ranges with awkward ends: over 2,000 characters of regex from a condition within the 500-character limit.
  const ranges = Array.from({ length: 10 }, (_, i) => ({ lo: (2 * i + 1) * 1_000_000 + 38, hi: (2 * i + 1) * 1_000_000 + 987_962 }));
  const condition = ranges.map((r) => `fe_conn > ${r.lo - 1} and fe_conn < ${r.hi + 1}`).join(" or ");
  const spec = [
    "version: 1",
    "frontends:",
    "  web:",
    '    bind: "127.0.0.1:18480"',
    "    rules:",
    `      - { if: "${condition}", use_backend: bands }`,
    "    default_backend: main",
    "backends:",
    "  main: { servers: 1 }",
    "  bands: { servers: 1 }",
    "",
  ].join("\n");
  const out = render(loadSpecText(spec, "long.yaml").model);
  const entries = [...out.nginx.matchAll(/^\s*"~(.+)" (\S+);$/gm)].map((m) => ({ regex: new RegExp(m[1]!), backend: m[2]! }));

  it("is split over several map lines for the same backend, none longer than the limit", () => {
    expect(entries.length).toBeGreaterThan(1);
    expect(entries.map((e) => e.backend)).toEqual(entries.map(() => "bands"));
    for (const e of entries) expect(e.regex.source.length).toBeLessThanOrEqual(NGINX_MAP_REGEX_MAX);
  });

  it("together the lines match exactly the rule's set, each count on at most one line", () => {
    const inSet = (n: number) => ranges.some((r) => n >= r.lo && n <= r.hi);
    const probes = new Set<number>();
    for (const r of ranges) for (const n of [r.lo - 1, r.lo, r.lo + 1, r.hi - 1, r.hi, r.hi + 1]) probes.add(n);
    for (let n = 1; n <= 22_000_000; n += 997) probes.add(n);
    const wrong: string[] = [];
    for (const n of probes) {
      const matching = entries.filter((e) => e.regex.test(String(n))).length;
      if (matching !== (inSet(n) ? 1 : 0)) wrong.push(`${n}: ${matching} lines`);
    }
    expect(wrong).toEqual([]);
  });
});

describe("the render folder's imports", () => {
  const dir = join(ROOT, "src", "render");
  const imports = (file: string) => [...readFileSync(join(dir, file), "utf8").matchAll(/^(?:import|export)[^;]*? from "([^"]+)";/gm)].map((m) => m[1]!);

  it("keep the two renderers apart: what both use is in common.ts", () => {
    expect(imports("haproxy.ts")).toContain("./common.js");
    expect(imports("nginx.ts")).toContain("./common.js");
    expect(imports("haproxy.ts")).not.toContain("./nginx.js");
    expect(imports("nginx.ts")).not.toContain("./haproxy.js");
  });

  it("point only at the spec, the wire contract and packages, never at runtime, load or the CLI", () => {
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      for (const target of imports(file)) {
        expect(target.startsWith("./") || target.startsWith("../spec/") || target === "../wire.js" || !target.startsWith("."), `${file} imports ${target}`).toBe(true);
      }
    }
  });
});
