import { describe, expect, it } from "vitest";
import { formatHostPort, isLoopbackIp, noHeaderCause } from "../src/wire.js";

describe("the wire contract", () => {
  it("tells loopback from everything else by parsing, not by prefix", () => {
    const yes = ["127.0.0.1", "127.0.0.2", "127.255.255.254", "127.255.1.2", "::1", "[::1]", "0:0::1", "::ffff:127.0.0.9", "::ffff:7f00:1"];
    // Spelled as the URL parser hands IPv4-mapped addresses over.
    yes.push(new URL("http://[::ffff:127.0.0.1]/").hostname);
    for (const a of yes) expect(isLoopbackIp(a), a).toBe(true);
    const no = ["127.example.com", "localhost", "128.0.0.1", "10.127.0.1", "10.0.0.1", "0.0.0.0", "::", "::2", "::ffff:10.0.0.1",
      "127.0.0.010", "127.1", "0x7f.0.0.1", "127.0.0", "127.0.0.1 ", "::1%lo", "fe80::1%lo", ""];
    for (const a of no) expect(isLoopbackIp(a), a).toBe(false);
  });

  it("brackets IPv6 in host:port", () => {
    expect(formatHostPort({ host: "127.0.0.1", port: 9001 })).toBe("127.0.0.1:9001");
    expect(formatHostPort({ host: "::1", port: 9001 })).toBe("[::1]:9001");
  });

  it("names a response without the counted header by its status", () => {
    expect(noHeaderCause(502)).toBe("status-502-no-header");
  });
});
