#!/usr/bin/env bash
# The gateway with a simulated fleet publishing to it. Status: http://127.0.0.1:8080/api/status. Stop: Ctrl-C.
#
#   npm run demo                 MQTT → buffer; no other service needed
#   npm run demo -- --kafka      also starts a local Kafka broker (needs Java 17; its jars come from Maven
#                                Central on first use, like the tests'), forwards to it and prints each
#                                reading as it arrives there, decoded by `holdfast decode`
#
# Installs only when package-lock.json changed since the last install (a stamp of its hash in
# node_modules), builds only when a source is newer than the last build (dist/.build-stamp): a re-run
# starts in seconds. Other arguments go to `holdfast run`; DEVICES, RATE, DURATION size the fleet.
set -euo pipefail
cd "$(dirname "$0")/.."

kafka=0
args=()
for a in "$@"; do
  if [[ "$a" == "--kafka" ]]; then kafka=1; else args+=("$a"); fi
done

lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ "$(cat node_modules/.holdfast-lock-hash 2>/dev/null)" != "$lock_hash" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >node_modules/.holdfast-lock-hash
fi
if [[ ! -f dist/.build-stamp || -n "$(find src test device-sim bench tsconfig.json package.json -newer dist/.build-stamp -print -quit)" ]]; then
  npm run --silent build
  touch dist/.build-stamp
fi

pids=()
# Stop the newest first (simulator, decoder, gateway), Kafka last, so the others leave it cleanly.
cleanup() {
  trap - EXIT INT TERM
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

HTTP_PORT="${HOLDFAST_HTTP_PORT:-8080}"
MQTT_PORT="${HOLDFAST_MQTT_PORT:-1883}"
TOPIC="${HOLDFAST_KAFKA_TOPIC:-holdfast.telemetry}"
if ((kafka)); then
  command -v java >/dev/null || { echo "demo --kafka needs Java 17 (scripts/install-system-deps.sh installs it)" >&2; exit 1; }
  DEVICES="${DEVICES:-5}"
  RATE="${RATE:-1}"
  state="$(mktemp -d)"
  echo "starting the local Kafka broker (log: $state/kafka.log) ..." >&2
  # The tests' shared broker (test/harness/kafka-shared.ts): it stops when told or when this script is
  # gone. Its own session: Ctrl-C reaches the gateway and the decoder first; cleanup stops Kafka last.
  setsid node dist/test/harness/kafka-shared.js "$state/kafka.json" $$ >"$state/kafka.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 1800); do
    [[ -s "$state/kafka.json" ]] && break
    kill -0 "${pids[0]}" 2>/dev/null || { tail -n 30 "$state/kafka.log" >&2; echo "Kafka failed to start" >&2; exit 1; }
    sleep 0.1
  done
  [[ -s "$state/kafka.json" ]] || { echo "Kafka not ready in 180 s (log: $state/kafka.log)" >&2; exit 1; }
  brokers="$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).brokers.join(","))' "$state/kafka.json")"
  node scripts/kafka-topic.mjs "$brokers" "$TOPIC" 3
  echo "Kafka up on $brokers, topic $TOPIC" >&2
  args+=(--kafka-brokers "$brokers" --kafka-topic "$TOPIC")
fi
DEVICES="${DEVICES:-25}"
RATE="${RATE:-2}"

node dist/src/cli/main.js run --allow-anonymous --status-public --data-dir "${HOLDFAST_DATA_DIR:-./data}" "${args[@]+"${args[@]}"}" &
gw=$!
pids+=("$gw")
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/readyz" 2>/dev/null && break
  kill -0 "$gw" 2>/dev/null || { echo "gateway failed to start" >&2; exit 1; }
  sleep 0.1
done
echo "gateway up: http://127.0.0.1:$HTTP_PORT/api/status  ($DEVICES simulated devices at $RATE Hz)" >&2
if ((kafka)); then
  echo "readings arriving in Kafka ($TOPIC), decoded — one JSON line each:" >&2
  node dist/src/cli/main.js decode --brokers "$brokers" --topic "$TOPIC" --from-beginning &
  pids+=($!)
fi
node dist/device-sim/sim.js --url "mqtt://127.0.0.1:$MQTT_PORT" --devices "$DEVICES" --rate "$RATE" --duration "${DURATION:-86400}" --stats-interval 10 &
pids+=($!)
wait "$gw"
