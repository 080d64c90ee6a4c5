import { specSchema } from "./schema.js";

/**
 * The spec schema's own definitions, walked by path: validation's "did you
 * mean" lists the keys allowed where an unknown one was written, and
 * `explore --vary` checks its paths and value types against the same nodes.
 * Only the parts of zod's internal definition these walks read are typed.
 */
export interface SchemaDef {
  type: string;
  shape?: Record<string, { _zod: { def: SchemaDef } }>;
  innerType?: { _zod: { def: SchemaDef } };
  valueType?: { _zod: { def: SchemaDef } };
  element?: { _zod: { def: SchemaDef } };
  options?: { _zod: { def: SchemaDef } }[];
  in?: { _zod: { def: SchemaDef } };
  checks?: { _zod: { def: { format?: string; pattern?: RegExp } } }[];
}

/** The definitions a value may meet: wrappers (optional, default, pipe, ...) removed, unions spread. */
export function unwrap(def: SchemaDef): SchemaDef[] {
  switch (def.type) {
    case "optional":
    case "default":
    case "nullable":
    case "readonly":
      return def.innerType ? unwrap(def.innerType._zod.def) : [];
    case "pipe":
      return def.in ? unwrap(def.in._zod.def) : [];
    case "union":
      return (def.options ?? []).flatMap((o) => unwrap(o._zod.def));
    default:
      return [def];
  }
}

const ROOT: SchemaDef[] = unwrap((specSchema as unknown as { _zod: { def: SchemaDef } })._zod.def);

/** The definitions at a path of the spec (map keys as strings, list indexes as numbers); empty where the schema has nothing. */
export function defsAt(path: ReadonlyArray<PropertyKey>): SchemaDef[] {
  let defs = ROOT;
  for (const seg of path) {
    const next: SchemaDef[] = [];
    for (const def of defs) {
      if (def.type === "object" && typeof seg === "string" && def.shape?.[seg]) next.push(...unwrap(def.shape[seg]._zod.def));
      else if (def.type === "record" && typeof seg === "string" && def.valueType) next.push(...unwrap(def.valueType._zod.def));
      else if (def.type === "array" && typeof seg === "number" && def.element) next.push(...unwrap(def.element._zod.def));
    }
    defs = next;
  }
  return defs;
}

/** The keys the schema allows for the object(s) among `defs`. */
export function keysOf(defs: readonly SchemaDef[]): string[] {
  return defs.flatMap((d) => (d.type === "object" && d.shape ? Object.keys(d.shape) : []));
}
