#!/usr/bin/env bash
# The whole test suite from a fresh clone: system packages, npm packages, build, Kafka jars, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund --loglevel=error
npm run --silent lint
npm run --silent build
if [ -f scripts/fetch-kafka.sh ]; then bash scripts/fetch-kafka.sh; fi

# One file at a time: several tests start gateways, a Kafka broker and device fleets.
files=(dist/test/*.test.js)
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
