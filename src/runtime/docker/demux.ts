/**
 * Docker's log stream for a container without a TTY is multiplexed: frames of
 * an 8-byte header (stream type in byte 0: 0 stdin, 1 stdout, 2 stderr; bytes
 * 4-7 payload length, big-endian) followed by the payload.
 */

export interface DemuxedLog {
  stdout: string;
  stderr: string;
  /** Both streams interleaved in frame order. */
  combined: string;
}

const HEADER_BYTES = 8;

function looksMultiplexed(buf: Buffer): boolean {
  if (buf.length < HEADER_BYTES) return false;
  const type = buf[0];
  return (type === 0 || type === 1 || type === 2) && buf[1] === 0 && buf[2] === 0 && buf[3] === 0;
}

/**
 * Splits a multiplexed log buffer. A buffer that does not start with a valid
 * frame header (a TTY container's raw log) is returned whole as stdout; a
 * truncated last frame keeps the bytes that arrived.
 */
export function demuxDockerLog(buf: Buffer): DemuxedLog {
  if (!looksMultiplexed(buf)) {
    const text = buf.toString("utf8");
    return { stdout: text, stderr: "", combined: text };
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const all: Buffer[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= buf.length) {
    const type = buf.readUInt8(offset);
    const length = buf.readUInt32BE(offset + 4);
    const start = offset + HEADER_BYTES;
    const payload = buf.subarray(start, Math.min(start + length, buf.length));
    if (type === 2) err.push(payload);
    else out.push(payload);
    all.push(payload);
    offset = start + length;
  }
  return {
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
    combined: Buffer.concat(all).toString("utf8"),
  };
}
