#!/usr/bin/env node
const args = process.argv.slice(2);

// The version needs none of the CLI: not commander, not a command's modules, which would double a cold start.
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  const { PACKAGE_VERSION } = await import("../dist/package-info.js");
  process.stdout.write(`${PACKAGE_VERSION}\n`);
} else {
  const { main } = await import("../dist/cli/main.js");
  process.exitCode = await main(args);
}
