import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { XMLParser } from "fast-xml-parser";
import { runCli } from "./helpers/cli.js";
import { formatElapsed } from "../src/spec/duration.js";

const tmp = () => mkdtempSync(join(tmpdir(), "spillway-verify-"));

describe("spillway verify, end to end through the real proxies", () => {
  it("passes the small spec on both targets, with JSON, JUnit and NDJSON written", () => {
    const dir = tmp();
    const r = runCli(["verify", "fixtures/test/small.yaml", "--json", join(dir, "r.json"), "--junit", join(dir, "r.xml"), "--ndjson", join(dir, "r.ndjson")], { timeoutMs: 180_000 });
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^4 passed, 0 failed$/m);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    expect(json.passed).toBe(true);
    expect(json.results.map((x: { target: string; scenario: string }) => `${x.target}/${x.scenario}`)).toEqual(["haproxy/below", "nginx/below", "haproxy/above", "nginx/above"]);
    for (const res of json.results) {
      expect(res.reconciliation.ok, JSON.stringify(res.reconciliation)).toBe(true);
      expect(res.requests.sent).toBe(res.scenario === "below" ? 2000 : 3000);
      const attributed = Object.values(res.backends as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(attributed + res.unattributed).toBe(res.requests.sent);
      // Both proxies stamp their route on every response, and each was served where it was routed.
      const routed = Object.values(res.routed as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(routed, `${res.target}/${res.scenario}`).toBe(res.requests.completed);
      expect(res.failedAtProxy).toEqual([]);
      // The flip point of `fe_conn > 20`: the proxy routes by the count it stamps, so the default
      // never got a request above 20 and the overflow none at 20 or below.
      expect(res.flips).toHaveLength(1);
      const flip = res.flips[0];
      expect(flip).toMatchObject({ rule: "fe_conn > 20", backend: "overflow" });
      if (res.scenario === "below") {
        expect(flip.last_default_conns).toBeLessThanOrEqual(20);
        expect(flip).toMatchObject({ first_rule_conns: null, at_ms: null });
      } else {
        // After the 300 ms warm-up all 30 connections are normally open, so the default gets no measured request (null).
        if (flip.last_default_conns !== null) expect(flip.last_default_conns).toBeLessThanOrEqual(20);
        expect(flip.first_rule_conns).toBeGreaterThanOrEqual(21);
        expect(flip.at_ms).toBeGreaterThanOrEqual(0);
        expect(r.stdout).toContain(`flip (fe_conn > 20: fe_conn > 20): overflow from ${flip.first_rule_conns} connections at ${formatElapsed(flip.at_ms)}`);
      }
    }
    const haproxyBelow = json.results[0];
    expect(haproxyBelow.reconciliation.rows).toEqual([
      { backend: "main", driver: 2000, stubs: 2000, routed: 2000, proxy: 2000 },
      { backend: "overflow", driver: 0, stubs: 0, routed: 0, proxy: 0 },
    ]);
    const junit = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(readFileSync(join(dir, "r.xml"), "utf8"));
    expect(junit.testsuites).toMatchObject({ failures: "0", errors: "0" });
    const lines = readFileSync(join(dir, "r.ndjson"), "utf8").trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(10_000);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ target: "haproxy", scenario: "below" });
  });

  it("counts each proxy's own 504s against the backend it routed them to, with the cause, and HAProxy's req_tot reconciles with them", () => {
    const dir = tmp();
    const r = runCli(["verify", "fixtures/test/slow.yaml", "--json", join(dir, "r.json"), "--junit", join(dir, "r.xml")], { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    const cause = { haproxy: /^HAProxy: .*timeout server$/, nginx: /^nginx: .*proxy_read_timeout/ };
    for (const res of json.results as Array<{ target: "haproxy" | "nginx"; routed: Record<string, number>; backends: Record<string, number>; failedAtProxy: unknown[]; reconciliation: { ok: boolean; rows: unknown[] } }>) {
      // The stub answers after 2 s, the proxy gives up after 300 ms: no response is the stub's.
      expect(res.backends).toEqual({});
      expect(res.routed).toEqual({ slow: 12 });
      expect(res.failedAtProxy).toEqual([{ backend: "slow", status: 504, count: 12, cause: expect.stringMatching(cause[res.target]) }]);
      // HAProxy counts a request in req_tot when it routes it: its 504s too. Held to the served count (0), this failed.
      expect(res.reconciliation.ok, JSON.stringify(res.reconciliation)).toBe(true);
      if (res.target === "haproxy") expect(res.reconciliation.rows).toEqual([{ backend: "slow", driver: 0, stubs: 0, routed: 12, proxy: 12 }]);
    }
    expect(r.stdout).toContain("failed at the proxy: 12 (100%) routed to slow, answered 504 by haproxy: HAProxy: the server did not answer within timeout server");
    const junit = readFileSync(join(dir, "r.xml"), "utf8");
    expect(junit).toContain("failed at the proxy: 12 (100%) routed to slow, answered 504 by nginx: ");
  });

  it.skipIf(process.env.SPILLWAY_REQUIRE_DOCKER !== "1")("passes the small spec in Docker too, reconciled, with no container left", () => {
    const dir = tmp();
    const r = runCli(["verify", "fixtures/test/small.yaml", "--runtime", "docker", "--json", join(dir, "r.json")], { timeoutMs: 240_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    expect(json.results.map((x: { runtime: string; passed: boolean }) => `${x.runtime}:${x.passed}`)).toEqual(Array(4).fill("docker:true"));
    for (const res of json.results) expect(res.reconciliation.ok).toBe(true);
    expect(json.results[0].proxy.details).toMatch(/^image spillway\/proxies:bookworm id sha256:/);
    const left = spawnSync("docker", ["ps", "-a", "-q", "--filter", "label=spillway.run"], { encoding: "utf8" });
    expect(left.stdout.trim()).toBe("");
  }, 240_000);

  it("exits 4 naming the backend, the expected and the actual share when the threshold is wrong", () => {
    const r = runCli(["verify", "fixtures/test/wrong-threshold.yaml", "--target", "haproxy", "--scenario", "above"], { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/FAIL {2}backends\.overflow >= 90%: got 0% \(0 of 3000\)/);
    expect(r.stdout).toMatch(/0 passed, 1 failed$/m);
  });

  it("exits 1 for an unknown scenario and 2 for an invalid spec", () => {
    const unknown = runCli(["verify", "fixtures/test/small.yaml", "--scenario", "abvoe"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no scenario 'abvoe' in fixtures/test/small.yaml; did you mean 'above'?");
    const invalid = runCli(["verify", "fixtures/bad/never-fires.yaml"]);
    expect(invalid.code).toBe(2);
  });

  it("exits 3 and names what is missing when a proxy cannot be started", () => {
    const dir = tmp();
    const r = runCli(["verify", "fixtures/test/small.yaml", "--target", "haproxy", "--scenario", "below", "--junit", join(dir, "r.xml")], {
      env: { SPILLWAY_HAPROXY: "/nonexistent/haproxy" },
    });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("ERROR  haproxy / below");
    expect(r.stdout).toMatch(/\/nonexistent\/haproxy/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, "r.xml"))).toBe(true);
    expect(readFileSync(join(dir, "r.xml"), "utf8")).toContain('errors="1"');
  });
});
