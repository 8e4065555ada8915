#!/usr/bin/env bash
# The benchmark suite: one JSON line per scenario on stdout, progress on stderr.
#   npm run bench                 everything (about 30 minutes on 2 cores)
#   npm run bench -- ingest       only the ingest comparison with Mosquitto (flags pass through)
#   npm run bench -- backlog      only the no-uplink backlog, 10 minutes by default (flags pass through)
# Compare ratios measured within one run: the machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npx tsc -p tsconfig.json
[ -f scripts/fetch-kafka.sh ] && bash scripts/fetch-kafka.sh

if [ "${1:-}" = "ingest" ]; then shift; exec node dist/bench/ingest.js "$@"; fi
if [ "${1:-}" = "backlog" ]; then shift; exec node dist/bench/backlog.js "$@"; fi

# Ingest, QoS 1, against Mosquitto in the same run: 100 devices, then 1,000. Medians of 3 runs (warm-up
# excluded), two generator processes (their CPU per process is printed: generatorSaturated says whether
# the generator, not the broker, was the limit).
node dist/bench/ingest.js --repeat 3 --generators 2
node dist/bench/ingest.js --repeat 3 --generators 2 --closed-conns 1000 --closed-inflight 1 --paced-conns 1000
# The closed loop with only the gateway's broker thread on its core, its other threads (commit worker,
# libuv's pool) on every core: a box with a spare core.
node dist/bench/ingest.js --repeat 3 --generators 2 --only closed --pin-threads
# MQTT 5 beside MQTT 3.1.1, same workload, alternating runs; ratio of medians.
node dist/bench/mqtt5.js
# Slow storage: every fsync/fdatasync of the gateway delayed 5 ms (SD card / eMMC), 500 connections:
# closed loop, then paced 5,000 msg/s. Medians of 3.
node dist/bench/ingest.js --targets holdfast --only closed --closed-conns 500 --closed-inflight 4 --fsync-delay-ms 5 --repeat 3
node dist/bench/ingest.js --targets holdfast --only paced --paced-rate 5000 --fsync-delay-ms 5 --repeat 3
# The group commit's cost to the broker thread: transaction inline vs on the commit worker.
node dist/bench/group-commit.js
# A reconnect storm (400 full scrypt checks) beside 20 devices publishing: their PUBACKs must not wait
# behind the checks on libuv's thread pool, where the WAL fdatasync also runs.
node dist/bench/login-storm.js
# RSS / CPU at a steady 5,000 readings/s from 1,000 devices; write amplification.
node dist/bench/resources.js
# Where the memory goes: idle, 1,000 connections, 5,000 msg/s (RSS); the live heap of 1,000 connections.
node dist/bench/memory.js --heap-snapshot connected
# No uplink, 1,000 devices at 5,000 msg/s: RSS timeline and PUBACK p99 while the backlog grows
# (2 minutes here; the 10-minute, 3M-reading run is `npm run bench -- backlog`).
node dist/bench/backlog.js --duration 120 --mosquitto-seconds 30
# Live ingest (500 devices, 5,000 msg/s) while 1M buffered readings drain to the real Kafka broker.
node dist/bench/live-drain.js
# The same with the broker's thread alone on core 1 and the gateway's other threads (read, GZIP and commit
# workers) on core 0: the workers never take the broker thread's core.
node dist/bench/live-drain.js --gateway-cpus 0 --broker-thread-cpu 1
# What releasing acknowledged readings costs the broker's thread, in process (1,024 and 2,048 a transaction).
node dist/bench/release.js
node dist/bench/release.js --chunk 2048
# Uplink against the real Kafka broker: start-up with 1M buffered, drain rate, bytes per reading, e2e latency.
node dist/bench/drain.js
# Bytes per reading in Kafka's log (broker segment files): live at 1, 10, 50 readings/s per device, and a drain.
node dist/bench/wire.js
# The disk budget once full: admission's cost per reading, and everything per reading with its evictions.
node dist/bench/admit.js
# Noisy neighbour: well-behaved devices' PUBACK p99 with and without a flooder.
node dist/bench/flood.js
# Subscription churn: well-behaved devices' PUBACK latency beside a SUBSCRIBE/UNSUBSCRIBE cycler, quota off and on.
node dist/bench/subscribe-churn.js
# Batch format options on simulated telemetry.
node dist/bench/codec.js
# A remote document listing 1,000 / 5,000 / 12,000 devices applied under load: the broker thread's stall.
node dist/bench/remote-config.js
# Status page weight: first load (compressed) and the live feed with 1,000 devices.
node dist/bench/status-page.js
# What a status build holds the broker's thread for: in process, and against a gateway under load.
node dist/bench/status-hold.js
node dist/bench/status-cost.js
for extra in dist/bench/aggregate.js; do [ -f "$extra" ] && node "$extra"; done
exit 0
