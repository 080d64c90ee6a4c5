import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { render } from "../src/render/index.js";
import { isProblem, parseHostPort } from "../src/spec/address.js";
import { SpecError } from "../src/spec/diagnostics.js";
import { ACL_NAME_MAX, HAPROXY_MAX_LINE_WORDS, PROXY_LIMITS } from "../src/spec/limits.js";
import { loadSpecFile, loadSpecText } from "../src/spec/load.js";
import { ROOT, runCli } from "./helpers/cli.js";

describe("addresses are IP literals, parsed", () => {
  it.each([
    ["127.0.0.1:8080", "127.0.0.1", 8080],
    ["0.0.0.0:1", "0.0.0.0", 1],
    ["255.255.255.255:65535", "255.255.255.255", 65535],
    ["[::1]:80", "::1", 80],
    ["[0:0:0:0:0:0:0:1]:80", "::1", 80],
    ["[::FFFF:127.0.0.1]:80", "::ffff:7f00:1", 80],
  ])("%s is %s port %d", (text, host, port) => {
    expect(parseHostPort(text)).toEqual({ host, port });
  });

  it.each([
    ["999.999.999.999:18080", "above 255"],
    ["127.0.0.010:80", "leading zero"],
    ["127.0.0.256:80", "above 255"],
    ["127.1:80", "not an IPv4 address"],
    ["2130706433:80", "not an IPv4 address"],
    ["127.example.com:80", "names the host"],
    ["localhost:80", "names the host"],
    ["::1:80", "without brackets"],
    ["[fe80::1%eth0]:80", "zone index"],
    ["[::1]", "is not host:port"],
    ["127.0.0.1", "has no port"],
    ["127.0.0.1:0", "port 0"],
    ["127.0.0.1:080", "port 080"],
    ["127.0.0.1:65536", "port 65536"],
    ["127.0.0.1:80\n stats enable", "is not host:port"],
  ])("%j is refused: %s", (text, reason) => {
    const parsed = parseHostPort(text);
    expect(isProblem(parsed)).toBe(true);
    expect(isProblem(parsed) && parsed.reason).toContain(reason);
  });

});

describe("the renderer stays inside every proxy limit (fixtures/edges.yaml)", () => {
  const { model } = loadSpecFile(join(ROOT, "fixtures", "edges.yaml"));
  const out = render(model);

  it("derives ACL names that fit, and never writes a line HAProxy would truncate", () => {
    const acls = [...out.haproxy.matchAll(/^\s*acl (\S+) /gm)].map((m) => m[1]!);
    expect(acls.length).toBeGreaterThan(10);
    for (const name of acls) expect(name.length, name).toBeLessThanOrEqual(ACL_NAME_MAX);
    expect(new Set(acls).size, "every ACL name once").toBe(acls.length);
    expect(acls).toContain("r234567890123456789012345678901_656edfea");
    for (const line of out.haproxy.split("\n")) expect(line.trim().split(/\s+/).length, line).toBeLessThanOrEqual(HAPROXY_MAX_LINE_WORDS);
    // One use_backend line per alternative; 'if' and 'unless' are ordinary ACL names to HAProxy.
    expect(out.haproxy).toContain("use_backend overflow if if_1 if_2\n");
    expect(out.haproxy).toContain("use_backend overflow if unless_5 unless_6\n");
    expect(out.haproxy).not.toContain("||");
  });

  it("gives nginx what it needs for long names, keepalive 0 and 64 servers", () => {
    expect(out.nginx).toContain("variables_hash_bucket_size 128;");
    const upstream = (name: string) => /upstream (\S+) \{[^}]*\}/g.exec(out.nginx.slice(out.nginx.indexOf(`upstream ${name} {`)))?.[0] ?? "";
    expect(upstream("ade")).toContain("zone ade 160k;");
    expect(upstream("ade")).not.toContain("keepalive");
    expect(upstream("overflow")).toContain("keepalive 10000;");
    for (const m of out.nginx.matchAll(/"~([^"]*)"/g)) expect(m[1]!.length).toBeLessThan(4095);
  });
});

describe("errors stay bounded", () => {
  // 1,000 frontends, each with two misspelt backend names among 1,000 backends: 2,000 wrong references.
  const lines = ["version: 1", "frontends:"];
  for (let i = 0; i < 1000; i++) {
    const n = String(i).padStart(4, "0");
    lines.push(`  frontend_number_${n}:`, `    bind: "127.0.0.1:${20000 + i}"`);
    lines.push(`    rules: [ { if: "be_conn(backend_nmber_${n}) > 10", use_backend: backend_numbr_${n} } ]`, `    default_backend: backend_number_${n}`);
  }
  lines.push("backends:");
  for (let i = 0; i < 1000; i++) lines.push(`  backend_number_${String(i).padStart(4, "0")}: { servers: [ { name: s1, address: "127.0.0.2:${30000 + i}" } ] }`);
  const text = `${lines.join("\n")}\n`;

  it("prints 50 problems and counts the rest, with short hints", () => {
    let err: unknown;
    try {
      loadSpecText(text, "big.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpecError);
    const message = (err as SpecError).message;
    expect((err as SpecError).diagnostics.filter((d) => d.severity === "error")).toHaveLength(2000);
    expect(message.length).toBeLessThan(100_000);
    expect(message).toContain("... and 1950 more (1950 errors, 0 warnings) not shown");
    expect(message).toContain("did you mean 'backend_number_0000'?");
    expect(message).toContain("and 990 more");
    expect(message.split("\n").filter((l) => l.startsWith("big.yaml:"))).toHaveLength(50);
  });
});

describe("WebSocket keys refuse what a config or the driver cannot hold", () => {
  const spec = (frontend: string, websockets: string) =>
    `version: 1\nfrontends:\n  web: { bind: "127.0.0.1:8080", http2: { enabled: false }, ${frontend}default_backend: a }\nbackends:\n  a: { servers: 1 }\nscenarios:\n  s: { load: { websockets: { ${websockets} } } }\n`;
  const refused = (text: string): string => {
    try {
      loadSpecText(text, "ws.yaml");
    } catch (e) {
      expect(e).toBeInstanceOf(SpecError);
      expect((e as SpecError).exitCode).toBe(2);
      return (e as SpecError).message;
    }
    throw new Error(`accepted:\n${text}`);
  };
  const ok = "connections: 1, session: 1s";

  it.each([
    ["a newline", '"1s\\n    stats enable"'],
    ["a semicolon", '"1s; return 200"'],
    ["a brace", '"1s { }"'],
    ["a comment", '"1s # x"'],
    ["a quote", "'1s\"'"],
    ["a number without a unit", "5"],
    ["a duration past every proxy's timer", "2147483648ms"],
    ["a huge duration", "99999999999999999999h"],
  ])("timeouts.tunnel with %s is refused, and nothing is rendered", (_, value) => {
    expect(refused(spec(`timeouts: { tunnel: ${value} }, `, ok))).toContain("(frontends.web.timeouts.tunnel)");
  });

  it.each([
    ["connections", "connections: 1e20, session: 1s", "must be at most 100000"],
    ["connections", "connections: 1.5, session: 1s", "expected a whole number"],
    ["payload_bytes", `${ok}, payload_bytes: 1e300`, "must be at most 1048576"],
    ["rooms", `${ok}, rooms: "1; drop"`, "expected a number"],
    ["message_interval", `${ok}, message_interval: "1s\\n"`, "must be a whole number with a unit"],
    ["session", "connections: 1, session: 2147483648ms", "longer than the longest timer"],
    ["connect_rate", `${ok}, connect_rate: -1`, "must be at least 1"],
  ])("websockets.%s out of range or of the wrong form is refused", (key, websockets, message) => {
    const text = refused(spec("", websockets));
    expect(text).toContain(message);
    expect(text).toContain(`(scenarios.s.load.websockets.${key})`);
  });

  it("renders the longest tunnel timeout every proxy accepts as a duration both configs hold", () => {
    const out = render(loadSpecText(spec("timeouts: { tunnel: 2147483647ms }, ", ok), "ws.yaml").model);
    expect(out.haproxy).toMatch(/^ {4}timeout tunnel 2147483647ms$/m);
    expect(out.nginx).toContain("proxy_read_timeout 2147483647ms;");
  });
});

describe("the limits table", () => {
  it("is in the README, row for row", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(PROXY_LIMITS.length).toBeGreaterThanOrEqual(10);
    for (const limit of PROXY_LIMITS) expect(readme, limit.id).toContain(`| ${limit.what} | ${limit.value} |`);
  });
});

describe("check, for a config meant for another machine", () => {
  // nginx -t binds every listen address; as root it runs in a network namespace of its own, where any address binds.
  it.runIf(process.getuid?.() === 0)("passes nginx -t on addresses this machine does not have and ports it holds", async () => {
    const { LocalConfigChecker } = await import("../src/check/index.js");
    const spec = 'version: 1\nfrontends:\n  web: { bind: "10.1.2.3:443", default_backend: app }\n  v6: { bind: "[2001:db8::1]:22", default_backend: app }\nbackends:\n  app: { servers: [ { name: s1, address: "10.1.2.4:8080" } ] }\n';
    const out = render(loadSpecText(spec, "prod.yaml").model);
    const result = await new LocalConfigChecker().check("nginx", out.nginx);
    expect(result.output).not.toContain("bind()");
    expect(result.ok, result.output).toBe(true);
  });
});

describe("up and verify start proxies on loopback only", () => {
  const spec = (bind: string, server: string) =>
    `version: 1\ntargets: [haproxy]\nfrontends:\n  web: { bind: "${bind}", default_backend: app }\nbackends:\n  app: { servers: [ { name: s1, address: "${server}" } ] }\nscenarios:\n  s: { load: { connections: 1, requests: 1 } }\n`;
  const write = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), "spillway-loopback-"));
    const file = join(dir, "spec.yaml");
    writeFileSync(file, text);
    return file;
  };

  it("refuses a backend server off this machine before anything starts (exit 1)", () => {
    const r = runCli(["verify", write(spec("127.0.0.1:18080", "10.9.9.9:8080"))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("backend 'app' server 's1' is at 10.9.9.9:8080: a proxy started by spillway would send traffic off this machine");
    expect(r.stdout).toBe("");
  });

  it.each([["0.0.0.0:18080"], ["[::]:18080"], ["128.0.0.1:18080"]])("refuses a frontend bound to %s (exit 1)", (bind) => {
    const r = runCli(["up", write(spec(bind, "127.0.0.1:18081")), "--for", "1s"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("spillway runs proxies on loopback only");
  });
});
