/** The HTTP/2 client connection preface (RFC 9113 section 3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export type Sniffed = "h1" | "h2" | "more";

/**
 * Tells h2c with prior knowledge from HTTP/1.x by the first bytes a client
 * sends. "more" means every byte so far agrees with the preface and it is not
 * complete yet. An HTTP/1 request diverges from the preface within its first
 * two bytes ("GET", "POST", "PUT"...), so only h2 clients wait for a full preface.
 */
export function sniffProtocol(head: Buffer): Sniffed {
  const n = Math.min(head.length, H2_PREFACE.length);
  if (head.compare(H2_PREFACE, 0, n, 0, n) !== 0) return "h1";
  return n === H2_PREFACE.length ? "h2" : "more";
}
