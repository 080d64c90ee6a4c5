#!/usr/bin/env bash
# Everything the tests need, then the tests: the command the README gives and CI runs.
# As root it also prepares Docker (.ci/docker-setup.sh), so the Docker runtime is
# tested against a real engine; SPILLWAY_DOCKER_SETUP=0 skips that.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${SPILLWAY_DOCKER_SETUP:-1}" = "1" ] && [ "$(id -u)" -eq 0 ]; then
  bash .ci/docker-setup.sh
  if ! command -v docker-compose >/dev/null 2>&1; then
    echo "test: installing docker-compose from Debian's packages (the compose file is tested live)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  fi
  export SPILLWAY_REQUIRE_DOCKER="${SPILLWAY_REQUIRE_DOCKER:-1}"
  # The HTML reports are checked in a real headless browser: Debian's chromium, no browser download.
  if ! command -v chromium >/dev/null 2>&1; then
    echo "test: installing chromium from Debian's packages (the HTML report is checked in a real browser)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
  export SPILLWAY_REQUIRE_BROWSER="${SPILLWAY_REQUIRE_BROWSER:-1}"
fi
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line that any CI can read.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$report" || true
rm -f "$report"
exit "$status"
