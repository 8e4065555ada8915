#!/usr/bin/env bash
# Benchmarks: JSON lines on stdout, progress on stderr. Flags pass through to the ingest driver.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npx tsc -p tsconfig.json
node dist/bench/ingest.js "$@"
