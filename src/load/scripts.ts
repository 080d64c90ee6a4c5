/**
 * Where a compiled entry script of the driver lives (worker.js, child.js,
 * ws/child.js). Under a TypeScript runner (tests) the modules are .ts files,
 * and threads and processes still run the compiled JavaScript.
 * @internal
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { InfraError } from "../errors.js";

/** The path of `dist/load/<name>.js`; InfraError (exit 3) when the project is not built. */
export function compiledScript(name: string): string {
  const here = new URL(import.meta.url);
  const url = here.pathname.endsWith(".ts") ? new URL(`../../dist/load/${name}.js`, here) : new URL(`./${name}.js`, here);
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    throw new InfraError(`load ${name} script ${path} is missing`, "build the project first (npx tsc -p tsconfig.json)");
  }
  return path;
}
