import { readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Handlebars from "handlebars";

/** `templates/` at the package root, the same from `src/render` and `dist/render`. */
export const TEMPLATE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "templates");

type Compiled = (view: object) => string;

let cache: { env: typeof Handlebars; templates: Map<string, Compiled> } | null = null;

function load() {
  if (cache) return cache;
  const env = Handlebars.create();
  const partialDir = join(TEMPLATE_DIR, "partials");
  for (const file of readdirSync(partialDir).sort()) {
    if (file.endsWith(".hbs")) env.registerPartial(basename(file, ".hbs"), readFileSync(join(partialDir, file), "utf8"));
  }
  cache = { env, templates: new Map() };
  return cache;
}

/**
 * Renders one template. `strict` makes a missing view field an error rather
 * than an empty string, and `noEscape` is safe because every value in a view
 * has passed the guards in safe.ts.
 */
export function renderTemplate(name: string, view: object): string {
  const { env, templates } = load();
  const compiled = templates.get(name) ?? env.compile(readFileSync(join(TEMPLATE_DIR, name), "utf8"), { noEscape: true, strict: true, preventIndent: true });
  templates.set(name, compiled);
  return compiled(view).replace(/\n{3,}/g, "\n\n");
}
