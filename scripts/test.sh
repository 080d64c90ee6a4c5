#!/usr/bin/env bash
# Everything the tests need, then the tests: the command the README gives and CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${SPILLWAY_DOCKER_SETUP:-1}" = "1" ] && [ -f .ci/docker-setup.sh ] && [ "$(id -u)" -eq 0 ]; then
  bash .ci/docker-setup.sh
  export SPILLWAY_REQUIRE_DOCKER="${SPILLWAY_REQUIRE_DOCKER:-1}"
fi
npx vitest run "$@"
