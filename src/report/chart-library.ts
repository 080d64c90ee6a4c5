import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * Chart.js and its matrix (heatmap) controller, as the browser builds that
 * their packages ship, ready to inline in a page. They are read from the
 * installed packages rather than copied into this repository, so `npm update`
 * is the whole upgrade and the page never fetches anything.
 */
export interface ChartLibrary {
  /** `<script>` bodies in load order: Chart.js, then the matrix controller that registers itself on it. */
  scripts: string[];
  /** `name version` of each, for the page's footer. */
  versions: string[];
}

const require = createRequire(import.meta.url);

interface Asset {
  pkg: string;
  /** The browser build, beside the file the package's `main` resolves to (Chart.js exports no other subpath). */
  file: string;
}

const ASSETS: Asset[] = [
  { pkg: "chart.js", file: "chart.umd.min.js" },
  { pkg: "chartjs-chart-matrix", file: "chartjs-chart-matrix.min.js" },
];

/**
 * Makes a script's text safe between `<script>` and `</script>`. `</script`
 * would end the element early; `<\/` means the same in every place it can
 * occur in JavaScript (string, template, regular expression, comment). The
 * source map comment goes, since the map is not inlined and a devtools
 * window would otherwise ask for it over the network.
 */
export function inlineScript(source: string, name: string): string {
  if (/<!--/.test(source)) throw new Error(`${name} contains "<!--", which cannot be inlined in a <script> unchanged`);
  return source.replace(/^\/\/# sourceMappingURL=.*$/gm, "").replace(/<\/(script)/gi, "<\\/$1");
}

let cached: ChartLibrary | undefined;

export function chartLibrary(): ChartLibrary {
  if (cached) return cached;
  const scripts: string[] = [];
  const versions: string[] = [];
  for (const { pkg, file } of ASSETS) {
    let main: string;
    try {
      main = require.resolve(pkg);
    } catch {
      throw new Error(`the HTML report needs the npm package ${pkg}, which is not installed: run npm install`);
    }
    const path = join(dirname(main), file);
    scripts.push(inlineScript(readFileSync(path, "utf8"), path));
    const version = /^\s*\*\s*\S+ v(\d+\.\d+\.\d+\S*)/m.exec(scripts[scripts.length - 1]!)?.[1];
    versions.push(version ? `${pkg} ${version}` : pkg);
  }
  cached = { scripts, versions };
  return cached;
}
