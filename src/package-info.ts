import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the package is installed: package.json, templates/, schema/. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
