/**
 * `spillway doctor`: the parsers on fed text, the needs and verdicts of 10k,
 * 30k and 100k connections against this machine's limits, and the built CLI.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diagnose, haproxyCeiling, needsFor, needsInput, parseCapSysResource, parsePortRange, parseSysctlNumber, readFacts, verdictFor, type DoctorReport, type MachineFacts, type NeedsInput, type Verdict } from "../src/doctor/index.js";
import { DRIVER_BASE_FDS, type MemoryPerConnection } from "../src/doctor/needs.js";
import { measureProxy, parseSlabBytes, parseSockstatMem, parseVmRss } from "../src/doctor/measure.js";
import { detectVersion } from "../src/check/index.js";
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { doctor, loadSpec } from "../src/index.js";
import type { Target } from "../src/spec/model.js";
import { runCli } from "./helpers/cli.js";

/**
 * This machine, as /proc said on 2026-11-23: open files 20,000 soft and hard,
 * which root here cannot raise (CapEff 000001fffeffffff lacks bit 24,
 * CAP_SYS_RESOURCE: `ulimit -n 100000` is "Operation not permitted").
 */
const THIS_MACHINE: MachineFacts = {
  openFiles: { soft: 20_000, hard: 20_000 },
  canRaiseHardLimit: false,
  fileMax: 2_466_170,
  nrOpen: 1_048_576,
  portRange: { low: 32768, high: 60999, count: 28_232 },
  somaxconn: 4096,
  tcpMaxSynBacklog: 2048,
  tcpTwReuse: 2,
  conntrackMax: 262_144,
  memory: { totalBytes: 24 * 2 ** 30, freeBytes: 23 * 2 ** 30, availableBytes: 23 * 2 ** 30 },
  cores: 2,
  versions: { haproxy: "2.6.12", nginx: "1.22.1" },
};

/** One frontend, two stubs without a maxconn; `load` is the scenario's. */
function spec(load: string): string {
  return [
    "version: 1",
    "targets: [haproxy, nginx]",
    "frontends:",
    "  web:",
    '    bind: "127.0.0.1:8080"',
    "    default_backend: app",
    "backends:",
    "  app: { servers: 2 }",
    "scenarios:",
    "  hold:",
    `    load: ${load}`,
    "",
  ].join("\n");
}

function input(load: string, target: Target): NeedsInput {
  const model = loadSpec({ text: spec(load) }).model;
  return needsInput(model, model.scenarios[0]!, target);
}

function verdict(load: string, target: Target, facts: MachineFacts = THIS_MACHINE): Verdict {
  const i = input(load, target);
  return verdictFor(i, needsFor(i, facts), facts);
}

function limit(v: Verdict, id: string) {
  const l = v.limits.find((x) => x.id === id);
  if (!l) throw new Error(`no ${id} in ${v.limits.map((x) => x.id).join(", ")}`);
  return l;
}

/** The driver's own limits, in the order a run meets them. */
function driverOrder(v: Verdict): string[] {
  return v.limits.filter((l) => l.participant === "driver").map((l) => l.id);
}

const proc = (text: string) => {
  const dir = mkdtempSync(join(tmpdir(), "spillway-doctor-proc-"));
  mkdirSync(join(dir, "sys", "net", "ipv4"), { recursive: true });
  mkdirSync(join(dir, "sys", "fs"), { recursive: true });
  writeFileSync(join(dir, "sys", "net", "ipv4", "ip_local_port_range"), text);
  writeFileSync(join(dir, "sys", "fs", "file-max"), "9223372036854775807\n");
  return dir;
};

describe("parsing /proc text", () => {
  it("reads the port range, a tab between its ends, both ends counted", () => {
    expect(parsePortRange("32768\t60999\n")).toEqual({ low: 32768, high: 60999, count: 28_232 });
    expect(parsePortRange("1024 65535")).toEqual({ low: 1024, high: 65535, count: 64_512 });
    expect(parsePortRange("60999 32768")).toBeNull();
    expect(parsePortRange("32768")).toBeNull();
    expect(parsePortRange(null)).toBeNull();
  });

  it("reads a one-number sysctl and nothing else", () => {
    expect(parseSysctlNumber("4096\n")).toBe(4096);
    expect(parseSysctlNumber("")).toBeNull();
    expect(parseSysctlNumber("4096 1")).toBeNull();
    expect(parseSysctlNumber(null)).toBeNull();
  });

  it("finds CAP_SYS_RESOURCE (bit 24) in CapEff", () => {
    expect(parseCapSysResource("Name:\tnode\nCapPrm:\t000001ffffffffff\nCapEff:\t000001fffeffffff\n")).toBe(false);
    expect(parseCapSysResource("CapEff:\t000001ffffffffff\n")).toBe(true);
    expect(parseCapSysResource("CapEff:\t0000000001000000\n")).toBe(true);
    expect(parseCapSysResource("Name:\tnode\n")).toBeNull();
  });

  it("gives null for a file that is missing, and the value of one that is there", async () => {
    const facts = await readFacts({ proc: proc("40000 40999\n"), versions: false });
    expect(facts.portRange).toEqual({ low: 40000, high: 40999, count: 1000 });
    expect(facts.conntrackMax).toBeNull();
    expect(facts.somaxconn).toBeNull();
    expect(facts.nrOpen).toBeNull();
    expect(facts.canRaiseHardLimit).toBeNull();
    // Past 2^53 it is not a count a limit can be compared with exactly, but it is read.
    expect(facts.fileMax).toBeGreaterThan(2 ** 62);
    expect(facts.versions).toEqual({ haproxy: null, nginx: null });
  });
});

/** The same input with the driver's processes forced, as `load --processes P` does. */
function forced(load: string, target: Target, processes: number, facts: MachineFacts = THIS_MACHINE): Verdict {
  const i = { ...input(load, target), processes };
  return verdictFor(i, needsFor(i, facts), facts);
}

/** The scenario's frontend bound to ::1, where the driver has no second source address. */
function onIpv6(load: string, target: Target, facts: MachineFacts = THIS_MACHINE): Verdict {
  const i = { ...input(load, target), host: "::1" };
  return verdictFor(i, needsFor(i, facts), facts);
}

describe("WebSocket sessions", () => {
  it("count as connections through the proxy beside the HTTP ones", () => {
    const httpOnly = verdict("{ connections: 5000, connect_rate: 1000, duration: 30s }", "haproxy");
    expect(httpOnly.fits).toBe(true);
    const both = verdict("{ connections: 5000, connect_rate: 1000, duration: 30s, protocol: h1, websockets: { connections: 5000, session: 10s } }", "haproxy");
    expect(both.fits).toBe(false);
    expect(both.first?.id).toBe("haproxy-connections");
    expect(both.first?.needs).toBe(10_000);
  });

  it("through nginx each session takes two worker connections (client and tunnel), and the stubs' one process bounds them at 19,934", () => {
    const fits = verdict("{ websockets: { connections: 19000, rooms: 0, message_interval: 10s, session: 20s, connect_rate: 3000 } }", "nginx");
    expect(fits.fits).toBe(true);
    expect(limit(fits, "nginx-worker-connections").needs).toBe(Math.ceil((2 * 19_000) / 3) + 2);
    expect(limit(fits, "nginx-worker-connections").basis).toContain("two per WebSocket session (its client side and its tunnel's upstream)");
    expect(limit(fits, "nginx-worker-connections").limit).toContain("x 3 workers");
    // 2 stubs: 64 descriptors kept aside plus one listener each.
    expect(limit(fits, "stub-open-files")).toMatchObject({ needs: 19_000 + 66, has: 20_000, holds: 19_934, exceeded: false, fatal: true });
    const over = verdict("{ websockets: { connections: 21000, rooms: 0, message_interval: 10s, session: 20s, connect_rate: 3000 } }", "nginx");
    expect(over.fits).toBe(false);
    expect(over.first?.id).toBe("stub-open-files");
    expect(over.first?.participant).toBe("stubs");
    expect(over.first?.fix?.kind).toBe("stub-sessions");
    expect(over.first?.fix?.text).toContain("fewer WebSocket sessions in one scenario: at most 19,934 here (the stubs are one process");
    // HTTP connections ride on few upstream ones: the stubs' limit does not bound them.
    const http = verdict("{ connections: 21000, connect_rate: 3000, duration: 10s }", "nginx");
    expect(http.limits.some((l) => l.id === "stub-open-files")).toBe(false);
  });
});

describe("10k connections here", () => {
  it("through HAProxy: its one process's maxconn, 9,936, comes first", () => {
    const v = verdict("{ connections: 10000, connect_rate: 1000, duration: 30s }", "haproxy");
    expect(v.fits).toBe(false);
    expect(v.first?.id).toBe("haproxy-connections");
    // (20,000 - 128 reserved) / 2 descriptors per proxied connection.
    expect(v.first?.holds).toBe(9936);
    expect(v.first?.fix?.kind).toBe("haproxy-ceiling");
    expect(v.first?.fix?.text).toContain("HAProxy is one process: at most 9,936 connections here");
    expect(limit(v, "driver-open-files").exceeded).toBe(false);
    expect(limit(v, "driver-ports").exceeded).toBe(false);
  });

  it("through nginx: one worker holds them (10,000 clients + 512 upstream within 19,872), and it fits", () => {
    const v = verdict("{ connections: 10000, connect_rate: 500, duration: 30s }", "nginx");
    expect(v.fits).toBe(true);
    const nginx = limit(v, "nginx-worker-connections");
    expect(nginx).toMatchObject({ holds: null, exceeded: false, has: 19_872, needs: 10_000 + 2 * 256 + 2 });
    expect(nginx.limit).toContain("x 1 worker,");
    // Nothing of the driver's or nginx's bounds it: the machine-wide flow table comes first.
    expect(v.first?.id).toBe("conntrack");
  });

  it("the driver alone holds them in one process: 10,000 + its 20 descriptors is within 20,000", () => {
    const v = verdict("{ connections: 10000, connect_rate: 1000, duration: 30s }", "haproxy");
    expect(limit(v, "driver-open-files")).toMatchObject({ needs: 10_000 + DRIVER_BASE_FDS, holds: null, exceeded: false });
    expect(limit(v, "driver-open-files").basis).toContain("1 driver process,");
  });
});

describe("30k connections here", () => {
  it("the driver spreads them by itself: 2 processes, 2 source addresses; nginx gets 2 workers; conntrack bounds first and it fits", () => {
    const v = verdict("{ connections: 30000, connect_rate: 1000, duration: 30s }", "nginx");
    expect(driverOrder(v)).toEqual(["driver-open-files", "driver-ports"]);
    expect(limit(v, "driver-open-files")).toMatchObject({ holds: null, exceeded: false, needs: 15_000 + DRIVER_BASE_FDS });
    expect(limit(v, "driver-open-files").basis).toContain("2 driver processes");
    // 90% of 28,232 ports per address: 25,408.
    expect(limit(v, "driver-ports")).toMatchObject({ holds: null, needs: 15_000 });
    expect(limit(v, "driver-ports").basis).toContain("over 2 source addresses (127.0.0.1…)");
    // 30,512 connections over floor((19,872 - 2) x 0.9) = 17,883 per worker.
    expect(limit(v, "nginx-worker-connections").limit).toContain("x 2 workers");
    expect(v.first?.id).toBe("conntrack");
    expect(v.fits).toBe(true);
  });

  it("with --processes 1 forced, one process's open files (19,980) come first, and the fix is more processes", () => {
    const v = forced("{ connections: 30000, connect_rate: 1000, duration: 30s }", "nginx", 1);
    expect(v.first?.id).toBe("driver-open-files");
    expect(v.first?.holds).toBe(19_980);
    expect(v.fits).toBe(false);
    // The hard limit cannot be raised here, so the fix is a second process, not a ulimit line.
    expect(v.first?.fix).toMatchObject({ kind: "driver-processes", command: null });
    expect(v.first?.fix?.text).toContain("--processes 2");
  });

  it("to ::1, one source address's ports (28,232) come first: there is no second loopback address", () => {
    const v = onIpv6("{ connections: 30000, connect_rate: 1000, duration: 30s }", "nginx");
    expect(v.first?.id).toBe("driver-ports");
    expect(v.first?.holds).toBe(28_232);
    expect(v.first?.fix?.kind).toBe("source-addresses");
    expect(v.first?.fix?.text).toContain("connect over IPv4 loopback");
    expect(v.first?.fix?.text).toContain('sysctl -w net.ipv4.ip_local_port_range="1024 65535"');
    expect(v.fits).toBe(false);
  });

  it("through HAProxy: its one process's ceiling comes first", () => {
    const v = verdict("{ connections: 30000, connect_rate: 1000, duration: 30s }", "haproxy");
    expect(v.first?.id).toBe("haproxy-connections");
    expect(v.first?.fix?.text).toContain("at most 9,936 connections here");
  });

  it("a soft limit under the hard one is fixed by a ulimit line", () => {
    const low: MachineFacts = { ...THIS_MACHINE, openFiles: { soft: 1024, hard: 20_000 } };
    const v = verdict("{ connections: 2000, connect_rate: 500, duration: 30s }", "haproxy", low);
    expect(v.first?.id).toBe("haproxy-connections");
    expect(v.first?.holds).toBe(448);
    expect(v.first?.fix).toEqual({ kind: "ulimit", text: expect.stringContaining("ulimit -n 20000") as unknown as string, command: "ulimit -n 20000" });
    expect(limit(forced("{ connections: 2000, connect_rate: 500, duration: 30s }", "haproxy", 1, low), "driver-open-files").fix?.command).toBe("ulimit -n 20000");
  });
});

describe("100k connections here", () => {
  const load = "{ connections: 100000, connect_rate: 500, duration: 30s, workers: 2, source_addresses: [127.0.0.1, 127.0.0.2, 127.0.0.3, 127.0.0.4] }";

  it("through nginx: 6 workers, 6 driver processes; the four given source addresses bound first (112,928) and hold them", () => {
    const v = verdict(load, "nginx");
    expect(limit(v, "nginx-worker-connections").limit).toContain("x 6 workers");
    // Two worker threads: 20 + 10 of the driver's own, per process.
    expect(limit(v, "driver-open-files").basis).toContain("6 driver processes");
    expect(limit(v, "driver-ports")).toMatchObject({ holds: 4 * 28_232, exceeded: false });
    expect(limit(v, "conntrack")).toMatchObject({ holds: 131_072, needs: 200_000, exceeded: false });
    expect(v.first?.id).toBe("driver-ports");
    expect(v.fits).toBe(true);
  });

  it("to ::1: ephemeral ports, with the range's own sysctl out of reach", () => {
    const v = onIpv6("{ connections: 100000, connect_rate: 500, duration: 30s }", "nginx");
    expect(v.first?.id).toBe("driver-ports");
    expect(v.first?.fix?.text).toContain("over 4 source addresses");
    // 100,000 is more than any port range holds: no sysctl line is offered.
    expect(v.first?.fix?.text).not.toContain("ip_local_port_range");
  });

  it("on a machine whose conntrack table is the default 65,536: the flow table comes first, with its sysctl line", () => {
    const v = verdict("{ connections: 100000, connect_rate: 500, duration: 30s }", "nginx", { ...THIS_MACHINE, conntrackMax: 65_536 });
    expect(v.first).toMatchObject({ id: "conntrack", holds: 32_768, exceeded: true });
    expect(v.first?.fix?.command).toBe("sysctl -w net.netfilter.nf_conntrack_max=200000");
  });
});

describe("the accept queue", () => {
  it("a burst past somaxconn but within HAProxy's backlog: the fix is a sysctl line, and the run still fits", () => {
    const v = verdict("{ connections: 5000, duration: 30s }", "haproxy");
    const queue = limit(v, "accept-queue");
    expect(queue).toMatchObject({ needs: 5000, has: 4096, exceeded: true, fatal: false });
    expect(queue.fix?.command).toBe("sysctl -w net.core.somaxconn=5000");
    expect(v.fits).toBe(true);
  });

  it("nginx's backlog is 511 whatever somaxconn says: the fix is a connect_rate", () => {
    const v = verdict("{ connections: 5000, duration: 30s }", "nginx");
    expect(limit(v, "accept-queue").fix).toMatchObject({ kind: "connect-rate", text: expect.stringContaining("load.connect_rate 511") as unknown as string });
    expect(verdict("{ connections: 5000, connect_rate: 500, duration: 30s }", "nginx").limits.find((l) => l.id === "accept-queue")?.holds).toBeNull();
  });

  it("limits a machine does not show are left out", () => {
    const bare: MachineFacts = { ...THIS_MACHINE, portRange: null, conntrackMax: null, somaxconn: null, fileMax: null };
    const v = verdict("{ connections: 10, duration: 1s }", "haproxy", bare);
    expect(v.limits.map((l) => l.id).sort()).toEqual(["driver-open-files", "haproxy-connections"]);
  });
});

const realFacts = await readFacts({ versions: false });
const isThisMachine = realFacts.openFiles.hard === 20_000 && realFacts.portRange?.count === 28_232;

describe.runIf(isThisMachine)("this machine's real facts", () => {
  it("name the same first limits as the figures above", () => {
    for (const [load, target, first] of [
      ["{ connections: 10000, connect_rate: 1000, duration: 30s }", "haproxy", "haproxy-connections"],
      ["{ connections: 30000, connect_rate: 1000, duration: 30s }", "nginx", "conntrack"],
    ] as const) {
      expect(verdict(load, target, realFacts).first?.id).toBe(first);
    }
    const v = verdict("{ connections: 30000, connect_rate: 1000, duration: 30s }", "nginx", realFacts);
    expect(driverOrder(v)).toEqual(["driver-open-files", "driver-ports"]);
    expect(realFacts.portRange).toEqual(parsePortRange(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")));
  });
});

describe("spillway doctor", () => {
  it("on the classic fixture: the facts, and every scenario on both targets fits", () => {
    const r = runCli(["doctor", "fixtures/classic.yaml", "--json", "-", "--no-measure"]);
    expect(r.stderr).toContain("what each scenario meets first");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as DoctorReport;
    expect(report.spec).toBe("fixtures/classic.yaml");
    expect(report.fits).toBe(true);
    expect(report.facts.openFiles.soft).toBeGreaterThan(0);
    expect(report.results.map((x) => [x.scenario, x.target])).toEqual([
      ["under-threshold", "haproxy"],
      ["under-threshold", "nginx"],
      ["over-threshold", "haproxy"],
      ["over-threshold", "nginx"],
    ]);
    for (const x of report.results) {
      expect(x.fits).toBe(true);
      expect(x.first?.id).toBe(x.target === "haproxy" ? "haproxy-connections" : realFacts.conntrackMax !== null ? "conntrack" : "file-max");
      expect(x.limits.length).toBeGreaterThanOrEqual(3);
    }
    expect(report.results[0]!.connections).toBe(300);
  });

  it("without a spec: the facts only, exit 0", () => {
    const r = runCli(["doctor", "--no-measure"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Memory per connection: not measured");
    expect(r.stdout).toContain("HAProxy is one process: at most");
    expect(r.stdout).toContain("net.ipv4.ip_local_port_range");
    expect(r.stdout).toContain("open files (this process)");
    expect(r.stdout).not.toContain("meets first");
    const j = runCli(["doctor", "--json", "-", "-q", "--no-measure"]);
    expect(j.stderr).toBe("");
    expect(JSON.parse(j.stdout)).toMatchObject({ spec: null, fits: true, results: [], memory: null });
  });

  it.runIf(isThisMachine)("exit 3 for a scenario that does not fit here, with the first limit and its fix", () => {
    const dir = mkdtempSync(join(tmpdir(), "spillway-doctor-"));
    writeFileSync(join(dir, "big.yaml"), spec("{ connections: 30000, connect_rate: 1000, duration: 30s }"));
    const r = runCli(["doctor", join(dir, "big.yaml"), "--target", "haproxy", "--no-measure"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("HAProxy is one process: at most 9,936 connections here");
    expect(r.stdout).toContain("does not fit on this machine");
  });

  it("an unknown scenario is a usage error", () => {
    const r = runCli(["doctor", "fixtures/classic.yaml", "--scenario", "nope", "--no-measure"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no scenario named 'nope'");
  });

  it("the library's doctor() gives the object --json writes", async () => {
    const report = await doctor("fixtures/classic.yaml", { scenarios: ["over-threshold"], targets: ["nginx"] });
    expect(report.spec).toBe("fixtures/classic.yaml");
    expect(report.results.map((x) => [x.scenario, x.target, x.connections, x.fits])).toEqual([["over-threshold", "nginx", 310, true]]);
    await expect(doctor(loadSpec("fixtures/classic.yaml"), { scenarios: ["nope"] })).rejects.toThrow("no scenario named 'nope'");
  });

  it("the library's diagnose without a model gives the facts alone", () => {
    expect(diagnose(null, THIS_MACHINE)).toEqual({ spec: null, facts: THIS_MACHINE, haproxyCeiling: { maxconn: 9936, atHardLimit: 9936 }, memory: null, fits: true, results: [] });
  });
});

/** Figures of the size `doctor` measured here (nginx 1.22.1, HAProxy 2.6.12, 1,000 connections). */
const MEASURED: MemoryPerConnection = { driver: 33, nginx: 6, haproxy: 7, kernel: 8, connections: 1000 };

describe("memory per connection", () => {
  it("parses VmRSS, sockstat's mem pages and slab bytes", () => {
    expect(parseVmRss("Name:\tnginx\nVmRSS:\t    5120 kB\n")).toBe(5120 * 1024);
    expect(parseSockstatMem("sockets: used 5\nTCP: inuse 11 orphan 0 tw 287 alloc 11 mem 3\nUDP: inuse 0 mem 9\n")).toBe(3 * 4096);
    expect(parseSlabBytes("TCP                  127    169   2368   13    8 : tunables\nfilp  870 924 192 21 1 : x\nother 5 5 8 1 1\n", ["TCP", "filp"])).toBe(127 * 2368 + 870 * 192);
  });

  it("checks the scenario's connections against MemAvailable with the measured figures, and names the figures", () => {
    const small: MachineFacts = { ...THIS_MACHINE, memory: { ...THIS_MACHINE.memory, availableBytes: 2 * 2 ** 30 } };
    const i = input("{ connections: 100000, connect_rate: 500, duration: 30s }", "nginx");
    const v = verdictFor(i, needsFor(i, small, MEASURED), small);
    // 2 GiB / (33 + 6 + 8) KiB = 44,620 connections.
    expect(v.first).toMatchObject({ id: "memory", holds: 44_620, exceeded: true, fatal: true });
    expect(v.first?.basis).toContain("driver 33.0 KiB, nginx 6.0 KiB, kernel 8.0 KiB");
    expect(v.first?.fix?.text).toContain("at most 44,620 here");
    expect(v.fits).toBe(false);
    // Not measured: no memory row, and no guess.
    expect(verdictFor(i, needsFor(i, small), small).limits.map((l) => l.id)).not.toContain("memory");
  });
});

/** Pids of haproxy or nginx processes that are children of this test process. */
function proxyChildren(): number[] {
  return readdirSync("/proc")
    .filter((d) => /^[0-9]+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        return ppid === process.pid && /\((haproxy|nginx)\)/.test(stat);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const installed = { nginx: await detectVersion("nginx"), haproxy: await detectVersion("haproxy") };

describe("measured for real, at a small count", () => {
  for (const target of ["nginx", "haproxy"] as const) {
    it.runIf(installed[target] !== null)(`${target}: every figure is positive and under 1 MiB per connection, and nothing is left running`, async () => {
      const m = await measureProxy(target, 300);
      expect(m).not.toBeNull();
      for (const [side, kib] of Object.entries(m!)) {
        expect(kib, side).toBeGreaterThan(0);
        expect(kib, side).toBeLessThan(1024);
      }
      expect(proxyChildren()).toEqual([]);
    }, 60_000);
  }

  it.runIf(installed.nginx !== null && installed.haproxy !== null)("spillway doctor measures by default and states the figures", () => {
    const r = runCli(["doctor", "--json", "-"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as DoctorReport;
    expect(report.memory).toMatchObject({ connections: 1000 });
    for (const k of ["driver", "nginx", "haproxy", "kernel"] as const) expect(report.memory![k]).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/Memory per connection, measured over 1,000 HTTP\/2 connections: driver [0-9.]+ KiB, nginx [0-9.]+ KiB, haproxy [0-9.]+ KiB, kernel [0-9.]+ KiB/);
  }, 120_000);
});

/** HAProxy's own `show info` lines from a stats socket on loopback. */
async function showInfo(port: number): Promise<Record<string, string>> {
  const text = await new Promise<string>((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => s.write("show info\n"));
    let b = "";
    s.on("data", (d) => (b += d));
    s.on("end", () => resolve(b));
    s.on("error", reject);
  });
  return Object.fromEntries(text.split("\n").filter((l) => l.includes(": ")).map((l) => [l.slice(0, l.indexOf(": ")), l.slice(l.indexOf(": ") + 2)]));
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A real haproxy with `global` lines, started and asked; stopped by its pid. */
async function haproxyInfo(globalLines: string[]): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), "spillway-ceiling-"));
  const [port, bind] = [await freePort(), await freePort()];
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(cfg, ["global", ...globalLines.map((l) => `    ${l}`), `    stats socket ipv4@127.0.0.1:${port} level admin`, "defaults", "    mode http", "    timeout client 5s", "    timeout server 5s", "    timeout connect 5s", "frontend f", `    bind 127.0.0.1:${bind}`, ""].join("\n"));
  const child = spawn(installed.haproxy!.binary, ["-db", "-f", cfg], { stdio: "ignore" });
  try {
    for (let i = 0; i < 100; i++) {
      try {
        return await showInfo(port);
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error("haproxy's stats socket never answered");
  } finally {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(child.pid!, "SIGTERM");
    await exited;
  }
}

describe.runIf(installed.haproxy !== null)("HAProxy's ceiling, against the real haproxy", () => {
  it("the rendered global maxconn is what HAProxy runs with, its sockets fit the open-file limit, and it is within 1% of what HAProxy derives itself", async () => {
    const ceiling = haproxyCeiling(realFacts);
    const rendered = await haproxyInfo([`maxconn ${ceiling.maxconn}`]);
    expect(Number(rendered.Maxconn)).toBe(ceiling.maxconn);
    expect(Number(rendered.Maxsock)).toBeLessThanOrEqual(realFacts.openFiles.soft);
    // Without a maxconn line HAProxy derives its own from the same limit (9,986 here: it keeps 28 descriptors aside, spillway 128).
    const derived = Number((await haproxyInfo([])).Maxconn);
    expect(derived).toBeGreaterThanOrEqual(ceiling.maxconn);
    expect(derived - ceiling.maxconn).toBeLessThanOrEqual(Math.ceil(derived / 100));
  }, 30_000);
});
