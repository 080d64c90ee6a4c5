import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode, huffmanEncode } from "../src/load/huffman.js";
import { encodeStaticBlock, HpackDecoder, HpackError, WantedNames, type DecodedHeaders } from "../src/load/hpack.js";

const wanted = new WantedNames({ countBy: "x-spillway-backend", server: "x-spillway-server", proxyConns: "x-spillway-proxy-conns", route: "x-spillway-route" });
const fresh = (): DecodedHeaders => ({ status: 0, backend: null, server: null, proxyConns: null, route: null });
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("Huffman code", () => {
  it("rebuilds the RFC 7541 Appendix B codes from the lengths", () => {
    // Spot checks against the printed table, across lengths 5 to 30.
    const printed: Array<[number, number, number]> = [
      [0, 0x1ff8, 13],
      [1, 0x7fffd8, 23],
      [9, 0xffffea, 24],
      [10, 0x3ffffffc, 30],
      [32, 0x14, 6],
      [48, 0x0, 5],
      [97, 0x3, 5],
      [92, 0x7fff0, 19],
      [123, 0x7ffe, 15],
      [195, 0x7fff1, 19],
      [255, 0x3ffffee, 26],
      [256, 0x3fffffff, 30],
    ];
    for (const [sym, code, len] of printed) {
      expect([sym, HUFFMAN_CODES[sym], HUFFMAN_LENGTHS[sym]]).toEqual([sym, code, len]);
    }
    // A complete prefix code: Kraft sum exactly 1.
    expect(HUFFMAN_LENGTHS.reduce((a, l) => a + 2 ** -l, 0)).toBe(1);
  });

  it("matches the RFC 7541 Appendix C examples", () => {
    const vectors: Array<[string, string]> = [
      ["www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"],
      ["no-cache", "a8eb10649cbf"],
      ["custom-key", "25a849e95ba97d7f"],
      ["custom-value", "25a849e95bb8e8b4bf"],
      ["302", "6402"],
      ["private", "aec3771a4b"],
      ["Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff"],
      ["https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3"],
    ];
    for (const [text, code] of vectors) {
      expect(huffmanEncode(text).toString("hex")).toBe(code);
      const b = hex(code);
      expect(huffmanDecode(b, 0, b.length)).toBe(text);
    }
  });

  it("round-trips every byte value", () => {
    let all = "";
    for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
    for (const text of [all, all.split("").reverse().join(""), "", "a", "x-spillway-backend"]) {
      const b = huffmanEncode(text);
      expect(huffmanDecode(b, 0, b.length)).toBe(text);
    }
  });

  it("rejects bad padding and an encoded EOS", () => {
    // 'a' is 00011 (5 bits); padding with zeros instead of ones is invalid.
    expect(() => huffmanDecode(Buffer.from([0b00011000]), 0, 1)).toThrow();
    // A whole byte of padding (8 one-bits) is too long.
    expect(() => huffmanDecode(Buffer.from([0b00011111, 0xff]), 0, 2)).toThrow();
    // EOS (30 one-bits) inside the string.
    expect(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4)).toThrow();
  });
});

describe("HPACK decoder", () => {
  it("decodes the RFC 7541 C.4 request sequence with its dynamic table", () => {
    const d = new HpackDecoder(wanted);
    const blocks = [
      "828684418cf1e3c2e5f23a6ba0ab90f4ff",
      "828684be5886a8eb10649cbf",
      "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
    ];
    const expected = [
      [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
      [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], ["cache-control", "no-cache"]],
      [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]],
    ];
    blocks.forEach((h, i) => {
      const all: Array<[string, string]> = [];
      const b = hex(h);
      d.decode(b, 0, b.length, fresh(), all);
      expect(all).toEqual(expected[i]);
    });
    expect(d.tableEntries).toBe(3);
    expect(d.tableSize).toBe(164);
  });

  it("decodes the RFC 7541 C.6 responses, evicting from a 256-byte table", () => {
    const d = new HpackDecoder(wanted, 256);
    const blocks = [
      "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
      "4883640effc1c0bf",
      "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
    ];
    const statuses = [302, 307, 200];
    const sizes = [222, 222, 215];
    const last: Array<[string, string]> = [];
    blocks.forEach((h, i) => {
      const all: Array<[string, string]> = [];
      const out = fresh();
      const b = hex(h);
      d.decode(b, 0, b.length, out, all);
      expect(out.status).toBe(statuses[i]);
      expect(d.tableSize).toBe(sizes[i]);
      if (i === 2) last.push(...all);
    });
    expect(last).toEqual([
      [":status", "200"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
      ["location", "https://www.example.com"],
      ["content-encoding", "gzip"],
      ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
    ]);
  });

  it("reads only the wanted headers into the result", () => {
    const d = new HpackDecoder(wanted);
    const block = encodeStaticBlock(
      [
        [":status", "503"],
        ["server", "x"],
        ["x-spillway-backend", "ade"],
        ["x-spillway-server", "ade/s1"],
        ["x-spillway-proxy-conns", "301"],
        ["x-spillway-route", "pbcoffee"],
      ],
      true,
    );
    const out = fresh();
    d.decode(block, 0, block.length, out);
    expect(out).toEqual({ status: 503, backend: "ade", server: "ade/s1", proxyConns: "301", route: "pbcoffee" });
  });

  it("gives the same values and table when a repeated block is replayed (nginx's response block)", () => {
    // nginx 1.22 `return 200` with three add_header lines: server, date and content-type enter the table every time.
    const nginx = hex(
      "887689aa6355e580ae212e1f6196d07abe94132a693f75040138a05cb827ee32ca98b46f5f87497ca58ae819aa5c0130008ef2b22b3514781fa5a3193a96a93f848cb5127f008cf2b22b3514781fa5ac3da92f848cb5127f0091f2b22b3514781fa5abb0fe7d2c43d5523f0131",
    );
    // A block that refers to the dynamic table (index 62: the newest entry) must never be replayed from memory.
    const dyn = hex("88be");
    const memo = new HpackDecoder(wanted);
    const full = new HpackDecoder(wanted);
    const seq = [nginx, nginx, dyn, dyn, nginx, nginx, nginx];
    for (const [i, b] of seq.entries()) {
      const a = fresh();
      const c = fresh();
      // A copy at an offset inside a larger buffer, as blocks arrive inside a read.
      const inside = Buffer.concat([Buffer.from([1, 2, 3]), b, Buffer.from([4])]);
      memo.decode(inside, 3, 3 + b.length, a);
      full.decode(b, 0, b.length, c, []);
      expect(a, `block ${i}`).toEqual(c);
      expect([memo.tableSize, memo.tableEntries], `block ${i}`).toEqual([full.tableSize, full.tableEntries]);
    }
    const out = fresh();
    memo.decode(nginx, 0, nginx.length, out);
    expect(out).toEqual({ status: 200, backend: "bench", server: null, proxyConns: "1", route: "bench" });
  });

  it("rejects malformed blocks", () => {
    const bad = [
      "80",
      "bf",
      "3fe21f",
      "0f",
      "0085f2b24a84",
      // Every literal form, its name or its value cut short or running past the block.
      "40",
      "4002",
      "400161",
      "40016102",
      "41",
      "4105",
      "10",
      "100161",
      "0f2d",
      // A name index cut short, and one past the dynamic table.
      "1f",
      "7f00ff",
      // A value that enters the table is measured even when nobody reads it: bad Huffman padding is caught.
      "40016181ff",
    ];
    for (const h of bad) {
      const d = new HpackDecoder(wanted);
      const b = hex(h);
      expect(() => d.decode(b, 0, b.length, fresh()), h).toThrow(HpackError);
    }
    // A size update after a header field.
    const d = new HpackDecoder(wanted);
    const b = hex("8820");
    expect(() => d.decode(b, 0, b.length, fresh())).toThrow(HpackError);
  });
});

/**
 * Node's http2 server (nghttp2's encoder: Huffman, incremental indexing,
 * never-indexed sensitive headers, eviction) as a reference: a raw client
 * reads the exact header blocks and our decoder must give back what the
 * server was told to send.
 */
describe("HPACK decoder against Node's http2 server", () => {
  let server: http2.Http2Server;
  let port = 0;
  const sent = new Map<number, Record<string, string>>();

  beforeAll(async () => {
    server = http2.createServer();
    server.on("stream", (stream, headers) => {
      const n = Number(String(headers[":path"]).slice(1));
      const h: Record<string, string> = {
        "x-spillway-backend": `be-${n % 3}`,
        "x-spillway-server": `be-${n % 3}/s${n % 2}`,
        "x-spillway-route": `be-${(n + 1) % 3}`,
        "x-random": `v${n}-${"q".repeat(n % 97)}-${Math.random().toString(36).slice(2)}`,
        "cache-control": n % 2 === 0 ? "no-store" : "private, max-age=3600",
        "x-odd-bytes": `~!#$%&'*+-.^_|${n}[]{}<>"\\`,
      };
      if (n % 5 === 0) h["x-big"] = "B".repeat(3000 + n);
      sent.set(n, h);
      stream.respond({ ":status": 200 + (n % 3), ...h, [http2.sensitiveHeaders]: n % 4 === 0 ? ["x-random"] : [] });
      stream.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("decodes 300 responses exactly, across table churn", async () => {
    const d = new HpackDecoder(wanted);
    // The driver's own path: no list of every header, only the wanted ones, from the same blocks.
    const lean = new HpackDecoder(wanted);
    const wantedGot = new Map<number, DecodedHeaders>();
    const got = new Map<number, Array<[string, string]>>();
    const N = 300;
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(port, "127.0.0.1");
      let buf = Buffer.alloc(0);
      let cont: Buffer[] | null = null;
      let contSid = 0;
      let nextSid = 1;
      let sentCount = 0;
      const sendSome = (k: number): void => {
        const frames: Buffer[] = [];
        for (let i = 0; i < k && sentCount < N; i++, sentCount++) {
          const block = encodeStaticBlock([
            [":method", "GET"],
            [":scheme", "http"],
            [":authority", `127.0.0.1:${port}`],
            [":path", `/${sentCount}`],
          ]);
          const h = Buffer.alloc(9);
          h.writeUIntBE(block.length, 0, 3);
          h[3] = 1;
          h[4] = 5;
          h.writeUInt32BE(nextSid, 5);
          nextSid += 2;
          frames.push(h, block);
        }
        if (frames.length) sock.write(Buffer.concat(frames));
      };
      const onBlock = (sid: number, block: Buffer): void => {
        const all: Array<[string, string]> = [];
        d.decode(block, 0, block.length, fresh(), all);
        got.set((sid - 1) / 2, all);
        const out = fresh();
        lean.decode(block, 0, block.length, out);
        wantedGot.set((sid - 1) / 2, out);
        if (got.size === N) {
          sock.destroy();
          resolve();
        } else if (got.size % 10 === 0) sendSome(10);
      };
      sock.on("connect", () => {
        sock.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
        sendSome(10);
      });
      sock.on("error", reject);
      sock.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 9) {
          const len = buf.readUIntBE(0, 3);
          if (buf.length < 9 + len) break;
          const type = buf[3]!;
          const flags = buf[4]!;
          const sid = buf.readUInt32BE(5) & 0x7fffffff;
          const payload = buf.subarray(9, 9 + len);
          buf = buf.subarray(9 + len);
          if (type === 4 && (flags & 1) === 0) sock.write(Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]));
          if (type === 1) {
            let p = payload;
            if (flags & 8) p = p.subarray(1, p.length - p[0]!);
            if (flags & 0x20) p = p.subarray(5);
            if (flags & 4) onBlock(sid, Buffer.from(p));
            else {
              cont = [Buffer.from(p)];
              contSid = sid;
            }
          } else if (type === 9 && cont && sid === contSid) {
            cont.push(Buffer.from(payload));
            if (flags & 4) {
              const block = Buffer.concat(cont);
              cont = null;
              onBlock(sid, block);
            }
          }
        }
      });
    });
    for (let n = 0; n < N; n++) {
      const headers = Object.fromEntries(got.get(n)!.filter(([k]) => !["date", "content-length"].includes(k)));
      expect(headers).toEqual({ ":status": String(200 + (n % 3)), ...sent.get(n) });
      const s = sent.get(n)!;
      expect(wantedGot.get(n)).toEqual({ status: 200 + (n % 3), backend: s["x-spillway-backend"], server: s["x-spillway-server"], proxyConns: null, route: s["x-spillway-route"] });
    }
  });
});
