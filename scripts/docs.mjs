// Writes what is generated from the spec's zod schema: docs/spec.md and the JSON Schema for editors. Run by `npm run docs`, after tsc.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { specReference } from "../dist/spec/reference.js";
import { specJsonSchema, specSchema } from "../dist/spec/schema.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
writeFileSync(join(root, "docs", "spec.md"), specReference(specSchema));
writeFileSync(join(root, "schema", "spillway.schema.json"), `${JSON.stringify(specJsonSchema(), null, 2)}\n`);
console.log("wrote docs/spec.md and schema/spillway.schema.json");
