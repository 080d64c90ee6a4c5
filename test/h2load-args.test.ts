/** Reading an h2load command line as h2load 1.52's getopt_long reads it, and the CLI's --h2load, --rate and --stages. */
import { describe, expect, it } from "vitest";
import { parseH2loadCommand, parseH2loadDuration } from "../src/spec/h2load-args.js";
import { parseLoadProfile } from "../src/load/index.js";
import { runCli } from "./helpers/cli.js";

function ok(text: string) {
  const r = parseH2loadCommand(text);
  expect(r.problems).toEqual([]);
  return r;
}

function problems(text: string): string[] {
  return parseH2loadCommand(text).problems.map((p) => `${p.offset}: ${p.message}`);
}

describe("parsing an h2load command line", () => {
  it("short, clustered, long, --opt=value and --opt value forms all mean the same", () => {
    const want = { connections: 310, streams: 40, requests: 40_000, connect_rate: 310, workers: 1, budget: "per-client" };
    expect(ok("-c310 -m40 -n40000 --rate=310").load).toEqual(want);
    expect(ok("-c 310 -m 40 -n 40000 -r 310").load).toEqual(want);
    expect(ok("--clients=310 --max-concurrent-streams 40 --requests=40000 --rate 310").load).toEqual(want);
    // getopt_long takes an unambiguous prefix of a long option.
    expect(ok("--cli 310 --max-c 40 --req 40000 --rate=310").load).toEqual(want);
    expect(ok("h2load -c310 -m40 -n40000 --rate=310 http://127.0.0.1:8080/").urls).toEqual([{ url: "http://127.0.0.1:8080/", offset: 37 }]);
  });

  it("uses h2load's defaults: -n 1, -c 1, -m 1, -t 1, --rate-period 1s", () => {
    expect(ok("").load).toEqual({ connections: 1, streams: 1, requests: 1, workers: 1, budget: "per-client" });
    const p = parseLoadProfile({ h2load: "-c4 -n8 -r2" }, { url: "http://127.0.0.1/" });
    expect([p.connectRate, p.connectPeriodMs, p.budget]).toEqual([2, 1000, "per-client"]);
  });

  it("reads durations as h2load does: integer and unit, no unit is seconds, no fractions", () => {
    expect(["10", "10s", "1m", "500ms", "1h", "2S", "0"].map(parseH2loadDuration)).toEqual([10_000, 10_000, 60_000, 500, 3_600_000, 2000, 0]);
    expect(["1.5s", "0.5", "10x", "", "-1"].map(parseH2loadDuration)).toEqual([null, null, null, null, null]);
    expect(ok("-c2 -n4 -r1 --rate-period=500ms").load.connect_period).toBe("500ms");
    expect(ok("-c2 -n4 -r1 --rate-period=2").load.connect_period).toBe("2s");
    expect(problems("-c2 -n4 -r1 --rate-period 1.5s")).toEqual([expect.stringContaining('"1.5s" is not a duration')]);
    // Past the longest timer, as a spec's duration would be.
    expect(problems("-D 597h -c1")).toEqual([expect.stringContaining("at most 2147483647ms")]);
    expect(ok("-D 596h -c1").load.duration).toBe("596h");
  });

  it("-D: -n is ignored, no per-client budget; --warm-up-time counts only with -D", () => {
    expect(ok("-D 10 -c 4 -m 8 -n 5 --warm-up-time 2s").load).toEqual({ connections: 4, streams: 8, workers: 1, duration: "10s", warmup: "2s" });
    expect(ok("-c 4 -n 8 --warm-up-time 2s").load.warmup).toBeUndefined();
  });

  it("refuses what h2load refuses, with h2load's reasons, at the offending option", () => {
    expect(problems("-c3 -n2")).toEqual(["5: -n, -c: the number of requests must be greater than or equal to the clients (as in h2load)"]);
    expect(problems("-c2 -t3 -n4")).toEqual([expect.stringContaining("-c, -t: the number of clients must be greater than or equal to the number of threads")]);
    expect(problems("-c4 -n4 -r5")).toEqual([expect.stringContaining("-r, -c: the connection rate must be smaller than or equal")]);
    expect(problems("-c4 -n4 -t3 -r2")).toEqual([expect.stringContaining("-r, -t: the connection rate must be greater than or equal")]);
    expect(problems("-D 1 -r 2 -c 2")).toEqual([expect.stringContaining("-r, -D: they are mutually exclusive")]);
    expect(problems("-c0 -m0 -n1")).toEqual([expect.stringContaining("-c:"), expect.stringContaining("-m:")]);
    expect(problems("-n 1e3")).toEqual([expect.stringContaining('"1e3" is not a whole number')]);
    expect(problems("-q")).toEqual(["1: -q is not an h2load 1.52 option"]);
    expect(problems("--sni x")).toEqual(["0: --sni is not an h2load 1.52 option"]);
    expect(problems("--c 4")).toEqual([expect.stringContaining("--c is ambiguous")]);
    expect(problems("-c")).toEqual([expect.stringContaining("-c needs a value")]);
  });

  it("refuses output-only options by name", () => {
    for (const opt of ["-v", "--verbose", "--log-file=/tmp/l", "--qlog-file-base x", "-h", "--version"]) {
      const ps = problems(`-c1 -n1 ${opt}`);
      expect(ps, opt).toEqual([expect.stringMatching(/is not supported: changes only what h2load prints/)]);
    }
  });

  it("refuses options that change what is sent and cannot be carried out the same way, saying why", () => {
    const why: Record<string, RegExp> = {
      "-H 'x-a: 1'": /-H \(--header\) is not supported: .*extra headers/,
      "-d /etc/hosts": /-d \(--data\) is not supported: .*POST/,
      "-i urls.txt": /-i \(--input-file\)/,
      "--timing-script-file=t": /--timing-script-file/,
      "-B http://127.0.0.1:1": /-B \(--base-uri\)/,
      "--connect-to 127.0.0.1:9": /--connect-to/,
      "--rps 10": /--rps is not supported: .*per-client request rate/,
      "-T 5": /-T \(--connection-active-timeout\) is not supported/,
      "-N 5": /-N \(--connection-inactivity-timeout\) is not supported/,
      "--ciphers X": /--ciphers/,
      "--ktls": /--ktls/,
      "--no-udp-gso": /QUIC only/,
      "-w 16": /-w \(--window-bits\) is supported only at h2load's default 30/,
      "--header-table-size 8K": /--header-table-size is supported only at h2load's default 4K/,
      "--npn-list=http/1.1": /--npn-list is supported only at its default/,
      "-p h3": /"h3" is not h2c or http\/1.1/,
      "--h1 -m 4": /pipelining/,
    };
    for (const [opt, re] of Object.entries(why)) expect(problems(`-c1 -n1 ${opt}`), opt).toEqual([expect.stringMatching(re)]);
    // At h2load's defaults they change nothing, and are accepted.
    ok("-c1 -n1 -w 30 -W 30 --header-table-size 4K --encoder-header-table-size=4096 -f 16K --npn-list h2,h2-16,h2-14,http/1.1 -p h2c");
  });

  it("maps -p http/1.1 and --h1 to HTTP/1.1", () => {
    expect(ok("-c1 -n1 -p http/1.1").load.protocol).toBe("h1");
    expect(ok("-c1 -n1 --h1").load.protocol).toBe("h1");
    expect(ok("-c1 -n1 -p H2C").load.protocol).toBeUndefined();
  });

  it("splits words as a shell does and reports an unclosed quote", () => {
    expect(problems(`-c1 -n1 -H "x: 1`)).toEqual([expect.stringContaining("unclosed double quote")]);
  });
});

describe("spillway load's h2load flags", () => {
  it("--h2load refuses output-only and unsupported options by name, exit 1", () => {
    const r = runCli(["load", "--h2load", "-c2 -n4 -v --log-file=/tmp/x -H 'a: b'", "http://127.0.0.1:9/"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("-v (--verbose) is not supported");
    expect(r.stderr).toContain("--log-file is not supported");
    expect(r.stderr).toContain("-H (--header) is not supported");
  });

  it("--h2load cannot be mixed with the flags it sets, or given two URLs", () => {
    const mixed = runCli(["load", "--h2load", "-c2 -n4", "-c", "3", "http://127.0.0.1:9/"]);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain("-c cannot be given with --h2load");
    const two = runCli(["load", "--h2load", "-c2 -n4 http://127.0.0.1:8/", "http://127.0.0.1:9/"]);
    expect(two.code).toBe(1);
    expect(two.stderr).toContain("two URLs");
  });

  it("--rate is h2load's: more than -c is refused, --rate-period alone too, and the old --connect-rate names its replacement", () => {
    const over = runCli(["load", "-c", "4", "-n", "4", "-r", "5", "http://127.0.0.1:9/"]);
    expect(over.code).toBe(1);
    expect(over.stderr).toContain("more than the 4 connections");
    const period = runCli(["load", "-c", "4", "-n", "4", "--rate-period", "2", "http://127.0.0.1:9/"]);
    expect(period.code).toBe(1);
    expect(period.stderr).toContain("--rate-period is the period of -r's bursts, and -r is not given");
    const old = runCli(["load", "-c", "4", "-n", "4", "--connect-rate", "2", "http://127.0.0.1:9/"]);
    expect(old.code).toBe(1);
    expect(old.stderr).toContain("use --rate N");
  });

  it("--stages takes k6's DURATION:TARGET list and refuses anything else, exit 1", () => {
    const bad = runCli(["load", "--stages", "10s:100,30s", "http://127.0.0.1:9/"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('stage 2 "30s" is not DURATION:TARGET');
  });
});
