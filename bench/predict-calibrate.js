#!/usr/bin/env node
// The prediction model against measured runs: for each spec#scenario and
// target, runs `spillway verify` N times and prints the share the rule's
// backend got (by the proxy's route stamp) beside two predictions: one made
// before anything runs (the stubs' latency, the default capacity), and one
// given the run's own req/s as the capacity. The gap is measured minus
// predicted, in percentage points.
//
//   npx tsc -p tsconfig.json
//   node bench/predict-calibrate.js --runs 2 --target haproxy,nginx --out /tmp/cal \
//     fixtures/classic.yaml#under-threshold fixtures/classic.yaml#over-threshold
//
// Runs already in --out (its JSON and stdout saved by an earlier call) are
// read back instead of run again, so a long calibration can be resumed.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadSpecFile } from "../dist/spec/load.js";
import { predict } from "../dist/predict/index.js";
import { DEFAULT_CAPACITY_RPS, predictInputFromSpec } from "../dist/predict/from-spec.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const runs = Number(opt("runs", "2"));
const targets = opt("target", "haproxy,nginx").split(",");
const out = opt("out", join(root, ".calibration"));
const cases = argv.filter((a) => a.includes("#"));
if (cases.length === 0) {
  console.error("usage: node bench/predict-calibrate.js [--runs N] [--target haproxy,nginx] [--out DIR] SPEC#SCENARIO ...");
  process.exit(1);
}
mkdirSync(out, { recursive: true });

/** One measured run: the verify JSON's result and the req/s from its summary line. */
function measure(spec, scenario, target, i) {
  const tag = `${basename(spec, ".yaml")}-${scenario}-${target}-${i}`;
  const json = join(out, `${tag}.json`);
  const text = join(out, `${tag}.txt`);
  if (!existsSync(json) || !existsSync(text)) {
    const r = spawnSync(process.execPath, [join(root, "bin/spillway.js"), "verify", spec, "--target", target, "-s", scenario, "--json", json], { encoding: "utf8" });
    writeFileSync(text, r.stdout + r.stderr);
    // 4: an expectation failed, which a variant made for calibration is expected to do.
    if (r.status !== 0 && r.status !== 4) throw new Error(`${tag}: spillway verify exited ${r.status}\n${r.stderr}`);
  }
  const result = JSON.parse(readFileSync(json, "utf8")).results[0];
  const m = /(\d+) req\/s over ([\d.]+) s/.exec(readFileSync(text, "utf8"));
  return { tag, result, rps: m ? Number(m[1]) : null };
}

const pct = (x) => (x === null ? "-" : `${(100 * x).toFixed(1)}%`);
const band = (p, b) => `${(100 * p.bands[b][0]).toFixed(0)}-${(100 * p.bands[b][1]).toFixed(0)}`;
const pp = (a, b) => (a === null || b === null ? "-" : `${(100 * (a - b)).toFixed(1)}`);
const rows = [];
for (const c of cases) {
  const [spec, scenarioName] = c.split("#");
  const model = loadSpecFile(spec).model;
  const scenario = model.scenarios.find((s) => s.name === scenarioName);
  if (!scenario) throw new Error(`${spec}: no scenario ${scenarioName}`);
  const frontend = model.frontends.find((f) => f.name === scenario.frontend);
  const ruleBackend = frontend.rules[0]?.useBackend;
  for (const target of targets) {
    if (!scenario.targets.includes(target)) continue;
    const before = predict(predictInputFromSpec(model, scenario, target));
    for (let i = 1; i <= runs; i++) {
      const { tag, result, rps } = measure(spec, scenarioName, target, i);
      const routed = result.routed ?? {};
      const total = Object.values(routed).reduce((a, n) => a + n, 0);
      const measured = total > 0 ? (routed[ruleBackend] ?? 0) / total : null;
      const given =
        rps !== null
          ? predict(predictInputFromSpec(model, scenario, target, { service: { capacityRps: rps, source: `the measured run's ${rps} req/s` } }))
          : null;
      const flip = result.flips?.[0];
      rows.push({
        case: `${basename(spec)}#${scenarioName}`,
        target,
        run: i,
        rps,
        measured: pct(measured),
        predicted: pct(before.backends[ruleBackend] ?? 0),
        band: band(before, ruleBackend),
        gap: pp(measured, before.backends[ruleBackend] ?? 0),
        "predicted@rps": given ? pct(given.backends[ruleBackend] ?? 0) : "-",
        "band@rps": given ? band(given, ruleBackend) : "-",
        "gap@rps": given ? pp(measured, given.backends[ruleBackend] ?? 0) : "-",
        "flip measured": flip ? `${flip.last_default_conns}/${flip.first_rule_conns} at ${flip.at_ms} ms` : "-",
        "flip predicted": before.flips[0] ? `${before.flips[0].lastDefaultConns}/${before.flips[0].firstRuleConns} at ${before.flips[0].atMs} ms` : "-",
        run_tag: tag,
      });
    }
  }
}

const cols = Object.keys(rows[0] ?? {});
const width = cols.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)));
console.log(`rule backend share (routed, by the proxy's stamp); capacity before the run: ${DEFAULT_CAPACITY_RPS} req/s; gaps in percentage points (measured - predicted)`);
console.log(cols.map((k, i) => k.padEnd(width[i])).join("  "));
console.log(width.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(cols.map((k, i) => String(r[k]).padEnd(width[i])).join("  "));
