/**
 * `spillway load`'s glance at the machine before its preflight: it reads the
 * figures doctor reads, and never clears a run doctor's full verdict would
 * refuse, whatever the machine and the load.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readFacts, type MachineFacts } from "../src/doctor/facts.js";
import { fitsAtAGlance, glanceFacts, type GlanceFacts } from "../src/doctor/glance.js";
import { loadNeedsInput, needsFor, type NeedsInput } from "../src/doctor/needs.js";
import { verdictFor } from "../src/doctor/verdict.js";

function fullVerdictFits(load: NeedsInput["load"], host: string, processes: number | null, g: GlanceFacts): boolean {
  const facts: MachineFacts = {
    openFiles: { soft: g.softOpenFiles, hard: g.softOpenFiles },
    canRaiseHardLimit: false,
    fileMax: g.fileMax,
    nrOpen: 1_048_576,
    portRange: g.ports === null ? null : { low: 1024, high: 1024 + g.ports - 1, count: g.ports },
    somaxconn: 4096,
    tcpMaxSynBacklog: 2048,
    tcpTwReuse: 2,
    conntrackMax: g.conntrackMax,
    memory: { totalBytes: 2 ** 34, freeBytes: 2 ** 33, availableBytes: 2 ** 33 },
    cores: 2,
    versions: { haproxy: null, nginx: null },
  };
  const input = loadNeedsInput(load, host, processes);
  return verdictFor(input, needsFor(input, facts), facts).fits;
}

const load = (connections: number, workers = 1, extra: Partial<NeedsInput["load"]> = {}): NeedsInput["load"] => ({
  connections,
  streams: 1,
  connectRate: null,
  workers,
  sourceAddresses: [],
  stages: null,
  ...extra,
});

describe("the preflight's glance", () => {
  it("reads the figures doctor reads, from /proc and from a folder standing in for it", async () => {
    const here = await readFacts({ versions: false });
    expect(glanceFacts()).toEqual({ softOpenFiles: here.openFiles.soft, ports: here.portRange?.count ?? null, fileMax: here.fileMax, conntrackMax: here.conntrackMax });

    const proc = mkdtempSync(join(tmpdir(), "spillway-glance-"));
    mkdirSync(join(proc, "sys/net/ipv4"), { recursive: true });
    mkdirSync(join(proc, "sys/fs"), { recursive: true });
    writeFileSync(join(proc, "sys/net/ipv4/ip_local_port_range"), "40000\t40999\n");
    writeFileSync(join(proc, "sys/fs/file-max"), "5000\n");
    const fake = await readFacts({ proc, versions: false });
    expect(glanceFacts(proc)).toMatchObject({ ports: 1000, fileMax: 5000, conntrackMax: null });
    expect(fake.portRange?.count).toBe(1000);
    expect(fake.conntrackMax).toBeNull();
  });

  it("clears the bench's runs on a machine like this one, and leaves a run past a limit to the full preflight", () => {
    const thisMachine: GlanceFacts = { softOpenFiles: 20_000, ports: 28_232, fileMax: 2_466_170, conntrackMax: 262_144 };
    expect(fitsAtAGlance(load(50), null, thisMachine)).toBe(true);
    expect(fitsAtAGlance(load(300), null, thisMachine)).toBe(true);
    // The preflight test's refusal: 30,000 connections to ::1, more than one address's ports.
    expect(fitsAtAGlance(load(30_000), null, thisMachine)).toBe(false);
    expect(fullVerdictFits(load(30_000), "::1", null, thisMachine)).toBe(false);
    // Fits only over several processes: the full verdict says so, the glance does not try.
    expect(fitsAtAGlance(load(25_000), null, thisMachine)).toBe(false);
    expect(fullVerdictFits(load(25_000), "127.0.0.1", null, thisMachine)).toBe(true);
  });

  it("never clears a run the full verdict refuses", () => {
    const facts = fc.record({
      softOpenFiles: fc.integer({ min: 64, max: 100_000 }),
      ports: fc.option(fc.integer({ min: 1, max: 64_000 }), { nil: null }),
      fileMax: fc.option(fc.integer({ min: 1, max: 200_000 }), { nil: null }),
      conntrackMax: fc.option(fc.integer({ min: 1, max: 200_000 }), { nil: null }),
    });
    const run = fc.record({
      connections: fc.integer({ min: 1, max: 120_000 }),
      workers: fc.integer({ min: 1, max: 64 }),
      stageTarget: fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: null }),
      sources: fc.constantFrom([], ["127.0.0.2"], ["127.0.0.2", "127.0.0.3"]),
      host: fc.constantFrom("127.0.0.1", "::1", "localhost"),
      processes: fc.option(fc.integer({ min: 1, max: 64 }), { nil: null }),
    });
    fc.assert(
      fc.property(facts, run, (g, r) => {
        const l = load(r.connections, r.workers, { sourceAddresses: r.sources, stages: r.stageTarget === null ? null : [{ durationMs: 1000, target: r.stageTarget }] });
        if (fitsAtAGlance(l, r.processes, g)) expect(fullVerdictFits(l, r.host, r.processes, g)).toBe(true);
      }),
      { numRuns: 5000, seed: 8 },
    );
  });
});
