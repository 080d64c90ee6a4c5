/**
 * HPACK Huffman code (RFC 7541 Appendix B).
 *
 * The code is canonical, so the bit length of each of the 257 symbols fully
 * determines it; codes are rebuilt from the lengths at load time (checked
 * against the RFC's printed codes in the tests).
 *
 * Decoding walks the code tree four bits at a time through a precomputed
 * transition table: the shortest code is 5 bits, so a nibble completes at
 * most one symbol and one table lookup per nibble suffices.
 * @internal
 */

const LENGTHS_TEXT =
  "13,23,28,28,28,28,28,28,28,24,30,28,28,30,28,28,28,28,28,28,28,28,30,28,28,28,28,28,28,28,28,28," +
  "6,10,10,12,13,6,8,11,10,10,8,11,8,6,6,6,5,5,5,6,6,6,6,6,6,6,7,8,15,6,12,10,13,6,7,7,7,7,7,7,7,7," +
  "7,7,7,7,7,7,7,7,7,7,7,7,7,7,8,7,8,13,19,13,14,6,15,5,6,5,6,5,6,6,6,5,7,7,6,6,6,5,6,7,6,5,5,6,7,7," +
  "7,7,7,15,11,14,13,28,20,22,20,20,22,22,22,23,22,23,23,23,23,23,24,23,24,24,22,23,24,23,23,23,23," +
  "21,22,23,22,23,23,24,22,21,20,22,22,23,23,21,23,22,22,24,21,22,23,23,21,21,22,21,23,22,23,23,20," +
  "22,22,22,23,22,22,23,26,26,20,19,22,23,22,25,26,26,26,27,27,26,24,25,19,21,26,27,27,26,27,24,21," +
  "21,26,26,28,27,27,27,20,24,20,21,22,21,21,23,22,22,25,25,24,24,26,23,26,27,26,26,27,27,27,27,27," +
  "28,27,27,27,27,27,26,30";

const EOS = 256;

export const HUFFMAN_LENGTHS: readonly number[] = LENGTHS_TEXT.split(",").map(Number);

function canonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes = new Array<number>(lengths.length).fill(0);
  let code = 0;
  let prevLen = lengths[order[0]!]!;
  for (const sym of order) {
    const len = lengths[sym]!;
    code = code * 2 ** (len - prevLen);
    prevLen = len;
    codes[sym] = code;
    code += 1;
  }
  return codes;
}

/** Right-aligned code of each symbol 0..256. */
export const HUFFMAN_CODES: readonly number[] = canonicalCodes(HUFFMAN_LENGTHS);

// Transition table: for state (internal tree node) s and nibble n, entry
// s*16+n = next << 16 | flags << 9 | symbol. flags: 1 emits, 2 may end here
// (only 1-bits, fewer than 8, since the last symbol), 4 fails (EOS decoded).
const F_EMIT = 1;
const F_ACCEPT = 2;
const F_FAIL = 4;

function buildDecodeTable(): Uint32Array {
  // Tree: children of internal node i at child0[i], child1[i]; a value >= 1024 is a leaf (symbol + 1024).
  const child0: number[] = [0];
  const child1: number[] = [0];
  const LEAF = 1024;
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const len = HUFFMAN_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(code / 2 ** b) % 2;
      const arr = bit === 1 ? child1 : child0;
      if (b === 0) {
        arr[node] = LEAF + sym;
      } else {
        let next = arr[node]!;
        if (next === 0) {
          next = nodes++;
          child0.push(0);
          child1.push(0);
          arr[node] = next;
        }
        node = next;
      }
    }
  }
  // Depth and "all ones" property of each internal node, for padding checks.
  const depth = new Array<number>(nodes).fill(0);
  const ones = new Array<boolean>(nodes).fill(false);
  ones[0] = true;
  for (let i = 0; i < nodes; i++) {
    const c0 = child0[i]!;
    const c1 = child1[i]!;
    if (c0 < LEAF && c0 !== 0) {
      depth[c0] = depth[i]! + 1;
      ones[c0] = false;
    }
    if (c1 < LEAF && c1 !== 0) {
      depth[c1] = depth[i]! + 1;
      ones[c1] = ones[i]!;
    }
  }
  const table = new Uint32Array(nodes * 16);
  for (let s = 0; s < nodes; s++) {
    for (let n = 0; n < 16; n++) {
      let node = s;
      let flags = 0;
      let sym = 0;
      for (let b = 3; b >= 0; b--) {
        const bit = (n >> b) & 1;
        const next = bit === 1 ? child1[node]! : child0[node]!;
        if (next >= LEAF) {
          const symbol = next - LEAF;
          if (symbol === EOS) {
            flags |= F_FAIL;
            break;
          }
          flags |= F_EMIT;
          sym = symbol;
          node = 0;
        } else {
          node = next;
        }
      }
      if ((flags & F_FAIL) === 0 && ones[node]! && depth[node]! < 8) flags |= F_ACCEPT;
      table[s * 16 + n] = (node << 16) | (flags << 9) | sym;
    }
  }
  return table;
}

const DECODE = buildDecodeTable();
let scratch = Buffer.allocUnsafe(256);

export class HuffmanError extends Error {}

/** Decodes a Huffman-coded string; throws HuffmanError on invalid input. */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  // Huffman output is at most 8/5 of the input.
  const maxOut = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < maxOut) scratch = Buffer.allocUnsafe(maxOut * 2);
  const out = scratch;
  let n = 0;
  let state = 0;
  let accept = true;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    let t = DECODE[(state << 4) | (byte >> 4)]!;
    if (t & (F_FAIL << 9)) throw new HuffmanError("EOS symbol inside a Huffman string");
    if (t & (F_EMIT << 9)) out[n++] = t & 0x1ff;
    state = t >>> 16;
    t = DECODE[(state << 4) | (byte & 0xf)]!;
    if (t & (F_FAIL << 9)) throw new HuffmanError("EOS symbol inside a Huffman string");
    if (t & (F_EMIT << 9)) out[n++] = t & 0x1ff;
    state = t >>> 16;
    accept = (t & (F_ACCEPT << 9)) !== 0;
  }
  if (!accept) throw new HuffmanError("invalid Huffman padding");
  return out.toString("latin1", 0, n);
}

/** Huffman-encodes a latin1 string (used to precompute header-name forms and in tests). */
export function huffmanEncode(text: string): Buffer {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits += HUFFMAN_LENGTHS[text.charCodeAt(i) & 0xff]!;
  const out = Buffer.alloc(Math.ceil(bits / 8));
  let acc = 0;
  let accBits = 0;
  let pos = 0;
  for (let i = 0; i < text.length; i++) {
    const sym = text.charCodeAt(i) & 0xff;
    const len = HUFFMAN_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    for (let b = len - 1; b >= 0; b--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** b) % 2);
      accBits++;
      if (accBits === 8) {
        out[pos++] = acc;
        acc = 0;
        accBits = 0;
      }
    }
  }
  if (accBits > 0) out[pos] = (acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1);
  return out;
}
