import { describe, expect, it } from "vitest";
import { demuxDockerLog } from "../src/runtime/docker/demux.js";

function frame(stream: 0 | 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const header = Buffer.alloc(8);
  header.writeUInt8(stream, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe("demuxDockerLog", () => {
  it("splits stdout and stderr frames and keeps their order in combined", () => {
    const buf = Buffer.concat([frame(1, "out 1\n"), frame(2, "err 1\n"), frame(1, "out 2\n")]);
    expect(demuxDockerLog(buf)).toEqual({
      stdout: "out 1\nout 2\n",
      stderr: "err 1\n",
      combined: "out 1\nerr 1\nout 2\n",
    });
  });

  it("keeps a multi-byte character split across frames intact", () => {
    const bytes = Buffer.from("é", "utf8");
    const a = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 1]), bytes.subarray(0, 1)]);
    const b = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 1]), bytes.subarray(1)]);
    expect(demuxDockerLog(Buffer.concat([a, b])).stdout).toBe("é");
  });

  it("keeps the bytes of a truncated last frame", () => {
    const whole = frame(1, "complete\n");
    const cut = frame(2, "cut off here").subarray(0, 8 + 3);
    expect(demuxDockerLog(Buffer.concat([whole, cut]))).toEqual({
      stdout: "complete\n",
      stderr: "cut",
      combined: "complete\ncut",
    });
  });

  it("returns a raw (TTY) log whole as stdout", () => {
    expect(demuxDockerLog(Buffer.from("plain text log\n"))).toEqual({
      stdout: "plain text log\n",
      stderr: "",
      combined: "plain text log\n",
    });
  });

  it("an empty buffer is empty text", () => {
    expect(demuxDockerLog(Buffer.alloc(0))).toEqual({ stdout: "", stderr: "", combined: "" });
  });
});
