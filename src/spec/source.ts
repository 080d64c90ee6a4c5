import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";

/** A parsed YAML document that can say where any path of it stands in the file. */
export interface SpecSource {
  file: string;
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

export interface Position {
  line: number;
  col: number;
}

export function parseSource(text: string, file: string): SpecSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  return { file, text, doc, lineCounter };
}

export function offsetPosition(source: SpecSource, offset: number): Position {
  const { line, col } = source.lineCounter.linePos(Math.max(0, Math.min(offset, source.text.length)));
  return { line, col };
}

interface Located {
  node: Node | null;
  /** The key node when the path ends on a map entry. */
  key: Node | null;
  /** How many path segments were found. */
  depth: number;
}

function walk(source: SpecSource, path: ReadonlyArray<PropertyKey>): Located {
  let node: unknown = source.doc.contents;
  let key: Node | null = null;
  let depth = 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      key = isScalar(pair.key) ? pair.key : null;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg];
      if (item === undefined) break;
      key = null;
      node = item;
    } else {
      break;
    }
    depth++;
  }
  return { node: (node as Node | null) ?? null, key, depth };
}

/**
 * Where a path stands: its value, or its key with `{ key: true }`. A path that
 * does not exist in the file (a missing key) resolves to its deepest existing
 * parent, so a "missing" error points at the map that lacks the key.
 */
export function locate(source: SpecSource, path: ReadonlyArray<PropertyKey>, opts: { key?: boolean } = {}): Position {
  const found = walk(source, path);
  let target: Node | null = found.node;
  if (found.depth === path.length && opts.key && found.key) target = found.key;
  if (found.depth < path.length) {
    const parent = walk(source, path.slice(0, found.depth));
    target = parent.key ?? parent.node;
  }
  const offset = target?.range?.[0] ?? 0;
  return offsetPosition(source, offset);
}

/**
 * Position of a character inside a scalar's value, for errors inside a
 * condition string. Exact for plain and quoted single-line scalars.
 */
export function locateInScalar(source: SpecSource, path: ReadonlyArray<PropertyKey>, index: number): Position {
  const found = walk(source, path);
  const node = found.node;
  if (!isScalar(node) || !node.range || found.depth !== path.length) return locate(source, path);
  const quoted = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE";
  if (node.type !== "PLAIN" && !quoted) return locate(source, path);
  return offsetPosition(source, node.range[0] + (quoted ? 1 : 0) + index);
}
