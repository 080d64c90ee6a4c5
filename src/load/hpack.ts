/**
 * HPACK (RFC 7541) for a load client: a full decoder (dynamic table, Huffman)
 * that keeps the table in sync on every block but only materialises the few
 * response headers the driver reads, and a static encoder for the constant
 * request headers (static-table indices and literals without indexing, so the
 * block never depends on encoder state and can be sent unchanged every time).
 * @internal
 */
import { huffmanDecode, huffmanEncode } from "./huffman.js";

export class HpackError extends Error {}

const STATIC: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
const STATIC_STATUS = [200, 204, 206, 304, 400, 404, 500];
const STATIC_LEN = STATIC.length; // 61

/** Which of the wanted headers a name is. */
const KIND_OTHER = 0;
const KIND_STATUS = 1;
const KIND_COUNT_BY = 2;
const KIND_SERVER = 3;
const KIND_PROXY_CONNS = 4;
const KIND_ROUTE = 5;

export interface WantedHeaders {
  countBy: string;
  server: string;
  proxyConns: string;
  /** The backend the proxy routed to (its stamp on every response, its own included). */
  route: string;
}

/** Filled in by `decode`; the caller resets it before each response. */
export interface DecodedHeaders {
  status: number;
  backend: string | null;
  server: string | null;
  proxyConns: string | null;
  route: string | null;
}

interface NameForm {
  kind: number;
  plain: Buffer;
  huff: Buffer;
}

function parseStatus(v: string): number {
  if (v.length !== 3) return 0;
  const a = v.charCodeAt(0) - 48;
  const b = v.charCodeAt(1) - 48;
  const c = v.charCodeAt(2) - 48;
  if (a < 1 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return 0;
  return a * 100 + b * 10 + c;
}

function sameBytes(buf: Uint8Array, start: number, len: number, form: Buffer): boolean {
  if (form.length !== len) return false;
  for (let i = 0; i < len; i++) if (buf[start + i] !== form[i]) return false;
  return true;
}

/**
 * The header names a run reads, in every form they can arrive in; built once
 * per run and shared by every connection's decoder.
 */
export class WantedNames {
  readonly forms: NameForm[];
  readonly staticKinds: Uint8Array;
  /** Huffman-coded wanted values seen so far (raw latin1 bytes -> text); stateless, so shared. */
  readonly huffCache = new Map<number, { raw: Buffer; text: string }>();

  constructor(wanted: WantedHeaders) {
    // Inserted last so the count-by header wins when it is also one of the others.
    const kinds = new Map([
      [wanted.server.toLowerCase(), KIND_SERVER],
      [wanted.proxyConns.toLowerCase(), KIND_PROXY_CONNS],
      [wanted.route.toLowerCase(), KIND_ROUTE],
      [wanted.countBy.toLowerCase(), KIND_COUNT_BY],
      [":status", KIND_STATUS],
    ]);
    this.forms = [...kinds].map(([name, kind]) => ({
      kind,
      plain: Buffer.from(name, "latin1"),
      huff: huffmanEncode(name),
    }));
    this.staticKinds = new Uint8Array(STATIC_LEN + 1);
    for (let i = 0; i < STATIC_LEN; i++) this.staticKinds[i + 1] = kinds.get(STATIC[i]![0]) ?? KIND_OTHER;
  }
}

export class HpackDecoder {
  private readonly forms: NameForm[];
  private readonly staticKinds: Uint8Array;
  private readonly huffCache: Map<number, { raw: Buffer; text: string }>;
  // Dynamic table as a ring, newest at `head`.
  private dynNames: string[] = [];
  private dynValues: string[] = [];
  private dynKinds: number[] = [];
  private dynSizes: number[] = [];
  private head = -1;
  private count = 0;
  private size = 0;
  /** The string literal `literal()` read last. */
  private litStart = 0;
  private litEnd = 0;
  private litHuff = false;
  private maxSize: number;
  /** Upper bound the peer may raise the table to (our SETTINGS_HEADER_TABLE_SIZE). */
  private readonly limit: number;
  /*
   * The last block decoded, when its meaning does not depend on the table
   * (static references and literals only, no size update): a server sends
   * the same block on almost every response (nginx: only the date changes,
   * once a second), and replaying its inserts and wanted values skips the
   * parse, the Huffman cache look-ups and the name matching.
   */
  private memo: Buffer | null = null;
  private memoOk = false;
  private memoIns: Array<string | number> = [];
  private memoMask = 0;
  private memoStatus = 0;
  private memoBackend: string | null = null;
  private memoServer: string | null = null;
  private memoProxyConns: string | null = null;
  private memoRoute: string | null = null;

  constructor(names: WantedNames, tableSize = 4096) {
    this.limit = tableSize;
    this.maxSize = tableSize;
    this.forms = names.forms;
    this.staticKinds = names.staticKinds;
    this.huffCache = names.huffCache;
  }

  get tableSize(): number {
    return this.size;
  }

  get tableEntries(): number {
    return this.count;
  }

  /**
   * Decodes one complete header block, updating the dynamic table and writing
   * the wanted headers into `out`. Throws HpackError on malformed input (a
   * connection error: the table can no longer be trusted). With `all`, every
   * header is also decoded and appended there (tests, debugging).
   */
  decode(buf: Buffer, start: number, end: number, out: DecodedHeaders, all: Array<[string, string]> | null = null): void {
    const memo = this.memo;
    // A plain loop: Buffer#compare's argument checks cost more than the bytes (~110 from nginx).
    if (all === null && memo !== null && memo.length === end - start && sameBytes(buf, start, end - start, memo)) {
      this.replay(out);
      return;
    }
    this.memo = null;
    this.memoOk = all === null;
    this.memoIns.length = 0;
    this.memoMask = 0;
    this.decodeBlock(buf, start, end, out, all);
    if (this.memoOk) {
      const m = Buffer.allocUnsafe(end - start);
      buf.copy(m, 0, start, end);
      this.memo = m;
    }
  }

  private replay(out: DecodedHeaders): void {
    const ins = this.memoIns;
    for (let i = 0; i < ins.length; i += 4) this.insert(ins[i] as string, ins[i + 1] as string, ins[i + 2] as number, ins[i + 3] as number);
    const mask = this.memoMask;
    if (mask !== 0) {
      if (mask & (1 << KIND_STATUS)) out.status = this.memoStatus;
      if (mask & (1 << KIND_COUNT_BY)) out.backend = this.memoBackend;
      if (mask & (1 << KIND_SERVER)) out.server = this.memoServer;
      if (mask & (1 << KIND_PROXY_CONNS)) out.proxyConns = this.memoProxyConns;
      if (mask & (1 << KIND_ROUTE)) out.route = this.memoRoute;
    }
  }

  private decodeBlock(buf: Buffer, start: number, end: number, out: DecodedHeaders, all: Array<[string, string]> | null): void {
    let p = start;
    let sizeUpdateAllowed = true;
    while (p < end) {
      const b = buf[p]!;
      if (b & 0x80) {
        // Indexed header field.
        let idx = b & 0x7f;
        p++;
        if (idx === 0x7f) {
          [idx, p] = this.readIntTail(buf, p, end, 0x7f);
        }
        if (idx === 0) throw new HpackError("indexed header field with index 0");
        this.emitIndexed(idx, out);
        if (all !== null) all.push([this.nameAt(idx), this.valueAt(idx)]);
        sizeUpdateAllowed = false;
      } else if (b & 0x40) {
        // Literal with incremental indexing: it enters the table, so its size
        // must be known; its text only when the driver reads it.
        let idx = b & 0x3f;
        p++;
        if (idx === 0x3f) [idx, p] = this.readIntTail(buf, p, end, 0x3f);
        let name: string;
        let kind: number;
        if (idx === 0) {
          p = this.literal(buf, p, end);
          kind = this.literalKind(buf);
          name = this.literalText(buf);
        } else {
          name = this.nameAt(idx);
          kind = this.kindAt(idx);
        }
        p = this.literal(buf, p, end);
        if (kind !== KIND_OTHER || all !== null) {
          const value = this.literalText(buf);
          this.insertDecoded(name, value, value.length, kind);
          this.emit(kind, value, out);
          if (all !== null) all.push([name, value]);
        } else {
          this.insertDecoded(name, "", this.literalLength(buf), kind);
        }
        sizeUpdateAllowed = false;
      } else if (b & 0x20) {
        if (!sizeUpdateAllowed) throw new HpackError("dynamic table size update after a header field");
        let size = b & 0x1f;
        p++;
        if (size === 0x1f) [size, p] = this.readIntTail(buf, p, end, 0x1f);
        if (size > this.limit) throw new HpackError(`dynamic table size update ${size} above the limit ${this.limit}`);
        this.maxSize = size;
        this.evict(0);
        this.memoOk = false;
      } else {
        // Literal without indexing (0000) or never indexed (0001): the table is untouched,
        // so a value is only decoded when it is one the driver reads.
        let idx = b & 0x0f;
        p++;
        if (idx === 0x0f) [idx, p] = this.readIntTail(buf, p, end, 0x0f);
        let kind: number;
        let name = "";
        if (idx === 0) {
          p = this.literal(buf, p, end);
          kind = this.literalKind(buf);
          if (all !== null) name = this.literalText(buf);
        } else {
          kind = this.kindAt(idx);
          if (all !== null) name = this.nameAt(idx);
        }
        p = this.literal(buf, p, end);
        if (kind !== KIND_OTHER || all !== null) {
          const value = this.literalText(buf);
          this.emit(kind, value, out);
          if (all !== null) all.push([name, value]);
        }
        sizeUpdateAllowed = false;
      }
    }
  }

  /**
   * Reads the header of the string literal at p (RFC 7541 5.2), the one place
   * a literal is parsed: its bytes are left in litStart..litEnd, Huffman-coded
   * when litHuff, for `literalText`, `literalLength` or `literalKind`, so each
   * caller decodes only what it needs. Returns the offset after the literal.
   */
  private literal(buf: Buffer, p: number, end: number): number {
    if (p >= end) throw new HpackError("truncated string literal");
    const first = buf[p]!;
    let len = first & 0x7f;
    p++;
    if (len === 0x7f) [len, p] = this.readIntTail(buf, p, end, 0x7f);
    if (p + len > end) throw new HpackError("string literal runs past the block");
    this.litHuff = (first & 0x80) !== 0;
    this.litStart = p;
    this.litEnd = p + len;
    return p + len;
  }

  private literalText(buf: Buffer): string {
    return this.litHuff ? this.huffCached(buf, this.litStart, this.litEnd) : buf.toString("latin1", this.litStart, this.litEnd);
  }

  /** The decoded length: all the table needs of a value the driver does not read. */
  private literalLength(buf: Buffer): number {
    // Repeated values hit the cache, which is cheaper than walking the code again.
    return this.litHuff ? this.huffCached(buf, this.litStart, this.litEnd).length : this.litEnd - this.litStart;
  }

  /** Which wanted header a literal name is, by its bytes (a string has one Huffman form), without decoding it. */
  private literalKind(buf: Buffer): number {
    const len = this.litEnd - this.litStart;
    const forms = this.forms;
    for (let i = 0; i < forms.length; i++) {
      const f = forms[i]!;
      if (sameBytes(buf, this.litStart, len, this.litHuff ? f.huff : f.plain)) return f.kind;
    }
    return KIND_OTHER;
  }

  /**
   * Huffman strings repeat (nginx re-inserts server, date and content-type
   * into the table on every response), so decoded text is cached by the raw
   * bytes' hash, with the bytes kept to rule out collisions.
   */
  private huffCached(buf: Buffer, start: number, end: number): string {
    const len = end - start;
    let h = 0x811c9dc5 ^ len;
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 16777619);
    const hit = this.huffCache.get(h);
    if (hit !== undefined && sameBytes(buf, start, len, hit.raw)) return hit.text;
    let text: string;
    try {
      text = huffmanDecode(buf, start, end);
    } catch (e) {
      throw new HpackError((e as Error).message);
    }
    if (this.huffCache.size >= 4096) this.huffCache.clear();
    const raw = Buffer.allocUnsafe(len);
    buf.copy(raw, 0, start, end);
    this.huffCache.set(h, { raw, text });
    return text;
  }

  private emit(kind: number, value: string, out: DecodedHeaders): void {
    switch (kind) {
      case KIND_STATUS:
        out.status = this.memoStatus = parseStatus(value);
        break;
      case KIND_COUNT_BY:
        out.backend = this.memoBackend = value;
        break;
      case KIND_SERVER:
        out.server = this.memoServer = value;
        break;
      case KIND_PROXY_CONNS:
        out.proxyConns = this.memoProxyConns = value;
        break;
      case KIND_ROUTE:
        out.route = this.memoRoute = value;
        break;
      default:
        return;
    }
    this.memoMask |= 1 << kind;
  }

  private emitIndexed(idx: number, out: DecodedHeaders): void {
    if (idx <= STATIC_LEN) {
      if (idx >= 8 && idx <= 14) {
        out.status = this.memoStatus = STATIC_STATUS[idx - 8]!;
        this.memoMask |= 1 << KIND_STATUS;
      }
      return;
    }
    const slot = this.slotOf(idx);
    const kind = this.dynKinds[slot]!;
    if (kind !== KIND_OTHER) this.emit(kind, this.dynValues[slot]!, out);
  }

  private slotOf(idx: number): number {
    this.memoOk = false;
    const i = idx - STATIC_LEN - 1;
    if (i >= this.count) throw new HpackError(`header index ${idx} beyond the dynamic table (${this.count} entries)`);
    const cap = this.dynNames.length;
    return (this.head - i + cap) % cap;
  }

  private nameAt(idx: number): string {
    if (idx <= STATIC_LEN) return STATIC[idx - 1]![0];
    return this.dynNames[this.slotOf(idx)]!;
  }

  private valueAt(idx: number): string {
    if (idx <= STATIC_LEN) return STATIC[idx - 1]![1];
    return this.dynValues[this.slotOf(idx)]!;
  }

  private kindAt(idx: number): number {
    if (idx <= STATIC_LEN) return this.staticKinds[idx]!;
    return this.dynKinds[this.slotOf(idx)]!;
  }

  /** Adds an entry; `value` is "" for headers the driver does not read (only its length counts). */
  private insertDecoded(name: string, value: string, valueLength: number, kind: number): void {
    if (this.memoOk) this.memoIns.push(name, value, valueLength, kind);
    this.insert(name, value, valueLength, kind);
  }

  private insert(name: string, value: string, valueLength: number, kind: number): void {
    const entrySize = name.length + valueLength + 32;
    if (entrySize > this.maxSize) {
      // An entry larger than the table empties it and is not added (RFC 7541 4.4).
      this.count = 0;
      this.size = 0;
      return;
    }
    this.evict(entrySize);
    let cap = this.dynNames.length;
    if (this.count === cap) {
      // Grow the ring, keeping order (oldest..newest) contiguous from 0.
      const newCap = Math.max(8, cap * 2);
      const n: string[] = [];
      const v: string[] = [];
      const k: number[] = [];
      const s: number[] = [];
      for (let i = this.count - 1; i >= 0; i--) {
        const slot = (this.head - i + cap) % cap;
        n.push(this.dynNames[slot]!);
        v.push(this.dynValues[slot]!);
        k.push(this.dynKinds[slot]!);
        s.push(this.dynSizes[slot]!);
      }
      for (let i = n.length; i < newCap; i++) {
        n.push("");
        v.push("");
        k.push(0);
        s.push(0);
      }
      this.dynNames = n;
      this.dynValues = v;
      this.dynKinds = k;
      this.dynSizes = s;
      this.head = this.count - 1;
      cap = newCap;
    }
    this.head = (this.head + 1) % cap;
    this.dynNames[this.head] = name;
    this.dynValues[this.head] = value;
    this.dynKinds[this.head] = kind;
    this.dynSizes[this.head] = entrySize;
    this.count++;
    this.size += entrySize;
  }

  /** Evicts oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    const cap = this.dynNames.length;
    while (this.count > 0 && this.size + room > this.maxSize) {
      const oldest = (this.head - (this.count - 1) + cap) % cap;
      this.size -= this.dynSizes[oldest]!;
      this.dynNames[oldest] = "";
      this.dynValues[oldest] = "";
      this.count--;
    }
  }

  /** Continues a prefix integer whose prefix bits were all ones. */
  private readIntTail(buf: Uint8Array, p: number, end: number, prefixMax: number): [number, number] {
    let value = prefixMax;
    let m = 0;
    for (;;) {
      if (p >= end) throw new HpackError("truncated integer");
      const b = buf[p++]!;
      value += (b & 0x7f) * 2 ** m;
      m += 7;
      if ((b & 0x80) === 0) break;
      if (m > 28) throw new HpackError("integer too large");
    }
    return [value, p];
  }
}

// ---- encoder ----

function writeInt(out: number[], value: number, prefixBits: number, firstByte: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstByte | value);
    return;
  }
  out.push(firstByte | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function writeString(out: number[], s: string, huffman: boolean): void {
  if (huffman) {
    const h = huffmanEncode(s);
    if (h.length < s.length) {
      writeInt(out, h.length, 7, 0x80);
      for (const b of h) out.push(b);
      return;
    }
  }
  const bytes = Buffer.from(s, "latin1");
  writeInt(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/**
 * Encodes a header list without touching any dynamic table: full static
 * matches as indexed fields, the rest as literals without indexing (with a
 * static name index where one exists).
 */
export function encodeStaticBlock(headers: ReadonlyArray<readonly [string, string]>, huffman = false): Buffer {
  const out: number[] = [];
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    let full = 0;
    let nameIdx = 0;
    for (let i = 0; i < STATIC_LEN; i++) {
      const [n, v] = STATIC[i]!;
      if (n === name) {
        if (nameIdx === 0) nameIdx = i + 1;
        if (v === value) {
          full = i + 1;
          break;
        }
      }
    }
    if (full !== 0) {
      writeInt(out, full, 7, 0x80);
      continue;
    }
    writeInt(out, nameIdx, 4, 0x00);
    if (nameIdx === 0) writeString(out, name, huffman);
    writeString(out, value, huffman);
  }
  return Buffer.from(out);
}
