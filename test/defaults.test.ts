import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { formatFidelity, render } from "../src/render/index.js";
import { DEFAULTS, type DefaultEntry } from "../src/spec/defaults.js";
import { loadSpecFile, loadSpecText } from "../src/spec/load.js";
import { ROOT } from "./helpers/cli.js";

/** Only what a spec cannot leave out: every optional key takes the table's value. */
const BARE = `version: 1
frontends:
  web: { bind: "127.0.0.1:18080", default_backend: app }
backends:
  app: { servers: 2 }
scenarios:
  s: { load: { connections: 1, requests: 1 } }
`;

/** Every optional key the table stands in for, given. */
const FULL = `version: 1
targets: [haproxy, nginx]
stubs: { host: 127.0.0.2, base_port: 9100 }
frontends:
  web:
    bind: "127.0.0.1:18080"
    maxconn: 100
    timeouts: { client: 1m, http_keep_alive: 1s, http_request: 2s, connect: 3s, server: 1m, tunnel: 10m }
    http2: { enabled: true, max_concurrent_streams: 50 }
    keep_alive: { requests: 500 }
    default_backend: app
backends:
  app: { servers: 2, maxconn: 10, balance: leastconn, keepalive: 8, stub: { latency: 1ms, body_bytes: 10, failure_rate: 0, failure_status: 500 } }
scenarios:
  s: { targets: [haproxy], frontend: web, load: { connections: 1, requests: 1 } }
`;

const bare = () => render(loadSpecText(BARE, "bare.yaml").model);

describe("the defaults table", () => {
  const saved = new Map<DefaultEntry, unknown>();
  /** Changes one entry's value for one test: a config that follows proves the value comes from the table, not from a literal. */
  const swap = <E extends DefaultEntry & { value: unknown }>(e: E, value: E["value"]) => {
    if (!saved.has(e)) saved.set(e, e.value);
    (e as { value: unknown }).value = value;
  };
  afterEach(() => {
    for (const [e, value] of saved) (e as { value: unknown }).value = value;
    saved.clear();
  });

  it("is in the README, row for row", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const entries: DefaultEntry[] = Object.values(DEFAULTS);
    expect(entries.length).toBeGreaterThanOrEqual(25);
    for (const e of entries) expect(readme, e.name).toContain(`| \`${e.name}\` | ${e.text} | ${e.feeds} | ${e.why} |`);
    const rows = readme.slice(readme.indexOf("## Defaults")).split("\n## ")[0]!.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows, "no README row without an entry").toHaveLength(entries.length);
  });

  it("gives a bare spec's configs the values the issue named", () => {
    const out = bare();
    expect(out.haproxy).toContain("    timeout client 30s\n");
    expect(out.haproxy).toContain("    timeout queue 30s\n");
    // One frontend without maxconn is counted as 2000, written once, in global.
    expect(out.haproxy).toMatch(/^global\n {4}maxconn 2000\n/m);
    expect(out.haproxy.match(/maxconn/g)).toHaveLength(1);
    expect(out.nginx).toContain("        keepalive 64;\n");
    expect(out.nginx).toContain("        keepalive_requests 10000000;\n");
    // 2000 for the frontend, 256 for each of two servers without maxconn, 64 spare.
    expect(out.nginx).toContain("worker_connections 2576;");
  });

  it.each([
    ["haproxyTimeoutQueue", DEFAULTS.haproxyTimeoutQueue, 7_000, "haproxy", "timeout queue 7s\n"],
    ["frontendConnections", DEFAULTS.frontendConnections, 1500, "haproxy", "maxconn 1500\n"],
    ["haproxyGlobalMaxconn", DEFAULTS.haproxyGlobalMaxconn, { floor: 4096 }, "haproxy", "maxconn 4096\n"],
    ["keepAliveRequests", DEFAULTS.keepAliveRequests, 777, "nginx", "keepalive_requests 777;"],
    ["nginxWorkerProcesses", DEFAULTS.nginxWorkerProcesses, 2, "nginx", "worker_processes 2;"],
    ["nginxWorkerConnections", DEFAULTS.nginxWorkerConnections, { floor: 1024, cap: 2000, headroom: 64 }, "nginx", "worker_connections 2000;"],
    ["serverConnections", DEFAULTS.serverConnections, 100, "nginx", "worker_connections 2264;"],
    ["nginxVariablesHashBucketSize", DEFAULTS.nginxVariablesHashBucketSize, 256, "nginx", "variables_hash_bucket_size 256;"],
    ["nginxZone", DEFAULTS.nginxZone, { minKib: 128, baseKib: 32, perServerKib: 2 }, "nginx", "zone app 128k;"],
    ["nginxProxyHttpVersion", DEFAULTS.nginxProxyHttpVersion, "1.0", "nginx", "proxy_http_version 1.0;"],
  ] as const)("renders %s from the table", (_, e, value, target, text) => {
    expect(bare()[target]).not.toContain(text);
    swap(e as DefaultEntry & { value: unknown }, value);
    expect(bare()[target]).toContain(text);
  });

  it.each([
    ["timeoutClient", DEFAULTS.timeoutClient, 61_000, "haproxy", "timeout client 61s\n"],
    ["timeoutConnect", DEFAULTS.timeoutConnect, 4_000, "nginx", "proxy_connect_timeout 4s;"],
    ["timeoutTunnel", DEFAULTS.timeoutTunnel, 120_000, "haproxy", "timeout tunnel 2m\n"],
    ["upstreamKeepalive", DEFAULTS.upstreamKeepalive, 9, "nginx", "keepalive 9;"],
    ["balance", DEFAULTS.balance, "leastconn", "haproxy", "balance leastconn"],
    ["stubsBasePort", DEFAULTS.stubsBasePort, 9500, "haproxy", "server s1 127.0.0.1:9500"],
  ] as const)("fills the spec key of %s from the table", (_, e, value, target, text) => {
    expect(bare()[target]).not.toContain(text);
    swap(e as DefaultEntry & { value: unknown }, value);
    expect(bare()[target]).toContain(text);
  });

  it("fills stub behaviour and scenario keys from the table", () => {
    const { model } = loadSpecText(BARE, "bare.yaml");
    const app = model.backends[0]!;
    expect(app.stub).toEqual({ latencyMs: 0, bodyBytes: null, failureRate: 0, failureStatus: 503 });
    expect(model.scenarios[0]).toMatchObject({ frontend: "web", targets: ["haproxy", "nginx"] });
    swap(DEFAULTS.stubFailureStatus, 429);
    expect(loadSpecText(BARE, "bare.yaml").model.backends[0]!.stub.failureStatus).toBe(429);
  });
});

describe("the fidelity report's defaults", () => {
  it("lists every default a bare spec used, with whom it stood in for", () => {
    const out = bare();
    const text = formatFidelity(out.fidelity, ["haproxy", "nginx"], out.defaults);
    const section = text.slice(text.indexOf("Defaults ("));
    expect(section).toContain("  frontends.<frontend>.timeouts.client = 30s (web)\n");
    expect(section).toContain("  frontends.<frontend>.maxconn = counted as 2000, not written (web)\n");
    expect(section).toContain("  frontends.<frontend>.http2.max_concurrent_streams = not written: HAProxy 100, nginx 128 (web)\n");
    expect(section).toContain("  backends.<backend>.keepalive = 64 (app)\n");
    expect(section).toContain("  haproxy: global maxconn = 2000\n");
    expect(section).toContain("  haproxy: timeout queue = 30s\n");
    expect(section).toContain("  nginx: worker_connections = 2576\n");
    expect(section).toContain("  scenarios.<scenario>.frontend = the first frontend (s)\n");
    const listed = new Set(out.defaults.map((u) => u.id));
    // Everything but the compose file's parts can stand in for a bare spec.
    const expected = Object.entries(DEFAULTS).filter(([, e]) => !(e.targets as readonly string[]).includes("compose")).map(([id]) => id);
    expect([...listed].sort()).toEqual(expected.sort());
  });

  it("lists only the configs' fixed parts for a spec that gives every key", () => {
    const out = render(loadSpecText(FULL, "full.yaml").model);
    expect(out.defaults.filter((u) => DEFAULTS[u.id].kind === "spec")).toEqual([]);
    expect(out.nginx).toContain("keepalive_requests 500;");
  });

  it("shows one target's defaults only for that target", () => {
    const out = bare();
    const haproxy = formatFidelity(out.fidelity, ["haproxy"], out.defaults);
    expect(haproxy).toContain("haproxy: timeout queue");
    expect(haproxy).not.toContain("nginx: worker_connections");
    expect(haproxy).not.toContain("keep_alive.requests");
    expect(haproxy).toContain("backends.<backend>.stub.latency");
  });

  it("lists the classic spec's defaults", () => {
    const out = render(loadSpecFile(join(ROOT, "fixtures", "classic.yaml")).model);
    expect(out.defaults.map((u) => `${u.id} ${u.owner}`)).toEqual(
      expect.arrayContaining(["upstreamKeepalive ade", "upstreamKeepalive pbcoffee", "keepAliveRequests webserver", "balance pbcoffee"]),
    );
    expect(out.defaults.map((u) => u.id)).not.toContain("timeoutClient");
  });
});
