#!/usr/bin/env bash
# spillway's main job on the example spec, on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node bin/spillway.js render fixtures/classic.yaml --out out
node bin/spillway.js check fixtures/classic.yaml
