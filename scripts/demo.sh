#!/usr/bin/env bash
# Install, build and run the gateway with a simulated fleet publishing to it.
# Status: http://127.0.0.1:8080/api/status   Stop: Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --no-audit --no-fund --loglevel=error
npm run --silent build

DEVICES="${DEVICES:-25}"
RATE="${RATE:-2}"
node dist/src/cli/main.js run --allow-anonymous --status-public --data-dir "${HOLDFAST_DATA_DIR:-./data}" "$@" &
gw=$!
trap 'kill "$sim" 2>/dev/null; kill "$gw" 2>/dev/null; wait' EXIT INT TERM
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:${HOLDFAST_HTTP_PORT:-8080}/readyz" 2>/dev/null && break
  kill -0 "$gw" 2>/dev/null || { echo "gateway failed to start" >&2; exit 1; }
  sleep 0.1
done
echo "gateway up: http://127.0.0.1:${HOLDFAST_HTTP_PORT:-8080}/api/status  ($DEVICES simulated devices at $RATE Hz)" >&2
node dist/device-sim/sim.js --url "mqtt://127.0.0.1:${HOLDFAST_MQTT_PORT:-1883}" --devices "$DEVICES" --rate "$RATE" --duration "${DURATION:-86400}" --stats-interval 10 &
sim=$!
wait "$gw"
