/**
 * `spillway load` checks its flags against the schema's JSON form instead of
 * loading zod. It must never accept what the zod schema refuses, and what it
 * accepts must come out of the load's checks exactly as through zod.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { acceptedByJsonSchema } from "../src/cli/load-flags.js";
import { checkLoadWith, type LoadInput } from "../src/spec/load-check.js";
import { validateLoad } from "../src/spec/load-profile.js";

/** Mostly values a user gives, sometimes one out of every range: the comparison needs both sides. */
const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) => fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: bad, weight: 1 });
const count = mostly(
  fc.integer({ min: 1, max: 400 }),
  fc.oneof(fc.integer({ min: -3, max: 0 }), fc.integer({ min: 10_000, max: 200_000_000 }), fc.constantFrom(0.5, 1.5, Number.NaN, Infinity, 2 ** 53)),
);
const duration = mostly(
  fc.tuple(fc.integer({ min: 0, max: 120 }), fc.constantFrom("ms", "s", "m")).map(([n, u]) => `${n}${u}`),
  fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 99_999_999_999 }), fc.constantFrom("ms", "s", "m", "h", "d", "")).map(([n, u]) => `${n}${u}`),
    fc.constantFrom("2147483647ms", "2147483648ms", "596h", "597h", "01s", "-1s", " 1s", "1.5s"),
  ),
);
const flags = fc.record(
  {
    protocol: mostly(fc.constantFrom("h2c", "h1", "h1-close", "h2"), fc.constantFrom("h3", "")),
    connections: count,
    streams: count,
    connect_rate: count,
    connect_period: duration,
    budget: mostly(fc.constantFrom("per-client", "pooled"), fc.constant("shared")),
    requests: mostly(fc.integer({ min: 1, max: 100_000 }), count),
    duration,
    warmup: duration,
    stages: mostly(
      fc.array(fc.record({ duration, target: mostly(fc.integer({ min: 0, max: 400 }), count) }), { minLength: 1, maxLength: 3 }),
      fc.constantFrom([], Array.from({ length: 101 }, () => ({ duration: "1s", target: 1 })), [{ duration: "1s", target: 1, extra: 1 }]),
    ),
    arrival_rate: mostly(fc.double({ min: 0.001, max: 1e6, noNaN: true }), fc.oneof(count, fc.double({ min: -1, max: 2e7, noNaN: true }))),
    think_time: duration,
    keep_alive: mostly(fc.record({ close_after_requests: count, close_after_idle: duration }, { requiredKeys: [] }), fc.constant({ close_after: 1 })),
    reconnect: mostly(fc.boolean(), fc.constant("yes")),
    source_addresses: fc.array(fc.constantFrom("127.0.0.2", "127.999.0.1", "::1", "10.0.0.1")),
    workers: mostly(fc.integer({ min: 1, max: 64 }), count),
    timeout: duration,
    h2load: fc.constantFrom("-c10 -n100", ""),
    spare: fc.constant(1),
  },
  { requiredKeys: [] },
).map((r) => {
  // Keys the JSON form leaves to zod, and a key no load has, come now and then, not in half the inputs.
  const { source_addresses, h2load, spare, ...rest } = r;
  const n = source_addresses?.length ?? 0;
  return n % 4 === 1 ? { ...rest, source_addresses, h2load } : n % 4 === 2 ? { ...rest, spare: n % 8 === 2 ? spare : undefined } : rest;
});

describe("spillway load's flags against the schema's JSON form", () => {
  it("accepts the flags of an ordinary run, so the run loads no zod", () => {
    expect(acceptedByJsonSchema({ connections: 50, streams: 20, requests: 200_000, timeout: "10s", workers: 1, reconnect: true })).toBe(true);
    expect(acceptedByJsonSchema({ connections: 300, duration: "30s", connect_rate: 100, connect_period: "1s", stages: undefined, timeout: "10s" })).toBe(true);
    expect(acceptedByJsonSchema({ stages: [{ duration: "10s", target: 100 }], keep_alive: { close_after_requests: 100 }, timeout: "10s" })).toBe(true);
  });

  it("leaves to zod what its JSON form cannot say: source addresses, an h2load command line, a duration past Node's longest timer", () => {
    expect(acceptedByJsonSchema({ connections: 5, requests: 10, source_addresses: ["127.0.0.2"] })).toBe(false);
    expect(acceptedByJsonSchema({ h2load: "-c10 -n100" })).toBe(false);
    expect(acceptedByJsonSchema({ connections: 5, duration: "2147483648ms" })).toBe(false);
    expect(acceptedByJsonSchema({ connections: 5, requests: 10 }, "not json")).toBe(false);
  });

  it("never accepts what zod refuses, and what it accepts checks as through zod", () => {
    let accepted = 0;
    fc.assert(
      fc.property(flags, (input) => {
        if (!acceptedByJsonSchema(input)) return;
        accepted++;
        const viaZod = validateLoad(input, { tls: false });
        expect(viaZod.load).not.toBeNull();
        expect(checkLoadWith(input as LoadInput, { tls: false }, null)).toEqual(viaZod);
      }),
      { numRuns: 20_000, seed: 11 },
    );
    // Enough accepted inputs for the comparison to mean something.
    expect(accepted).toBeGreaterThan(1000);
  });
});
