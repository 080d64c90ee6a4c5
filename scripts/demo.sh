#!/usr/bin/env bash
# spillway's main job on the example spec, on a fresh machine: render the
# configs, check them with the real proxies, then verify the routing under
# HTTP/2 load through HAProxy and nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node bin/spillway.js render fixtures/classic.yaml --out out
node bin/spillway.js check fixtures/classic.yaml
node bin/spillway.js verify fixtures/classic.yaml --json out/verify.json --junit out/verify.xml --html out/verify.html --window 100ms
