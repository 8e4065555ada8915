#!/usr/bin/env bash
# The whole test suite from a fresh clone: system packages, npm packages, build, Kafka jars, tests.
# `scripts/test.sh unit` runs only the fast in-process tests (npm run test:unit), on the current build.
set -euo pipefail
cd "$(dirname "$0")/.."

# In-process tests (no gateway, broker or browser; real SQLite files in temp dirs): seconds, two at a time.
# Listed as sources and mapped to dist/ only after the build, so a fresh clone (no dist/ yet) lists them too.
unit_files() {
  local f
  for f in test/unit/*.test.ts test/codec.batch.test.ts test/errors.catalogue.test.ts \
    test/layout.dependencies.test.ts test/remote-config.document.test.ts test/status.health.test.ts \
    test/status.verdicts.test.ts; do
    if [ -f "$f" ]; then printf 'dist/%s\n' "${f%.ts}.js"; fi
  done
}
# node --test with no file runs every .js under test/ (harnesses included): never call it with none.
run_files() {
  local concurrency=$1
  shift
  if [ $# -eq 0 ]; then
    echo "test.sh: no test files to run" >&2
    return 1
  fi
  node --test --test-concurrency="$concurrency" "${reporters[@]}" "$@"
}
reporters=(--test-reporter=spec)

# Every temp file of the run (gateways' data dirs and logs, the Kafka brokers' logs, configs, certificates,
# browser profiles) goes under one folder: removed when the run passes, kept and named when it fails.
# Before, each full run left about 80 MB in /tmp.
run_tmp="$(mktemp -d "${TMPDIR:-/tmp}/holdfast-test-run-XXXXXX")"
export TMPDIR="$run_tmp"
kafka_pid=''
kafka_info=''
cleanup() {
  local status=$?
  if [ -n "$kafka_pid" ]; then
    kill "$kafka_pid" 2>/dev/null || true
    wait "$kafka_pid" 2>/dev/null || true
  fi
  if [ -n "$kafka_info" ]; then rm -f "$kafka_info"; fi
  if [ "$status" -eq 0 ]; then
    rm -rf "$run_tmp"
  else
    echo "test.sh: this run's temp files (gateway logs among them) are in $run_tmp" >&2
  fi
}
trap cleanup EXIT

if [ "${1:-}" = unit ]; then
  mapfile -t unit < <(unit_files)
  run_files 2 "${unit[@]}"
  exit
fi

bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund --loglevel=error
npm run --silent lint
npm run --silent build
if [ -f scripts/fetch-kafka.sh ]; then bash scripts/fetch-kafka.sh; fi

# One Kafka broker for every file that only talks to Kafka (test/harness/kafka.ts useKafka), started
# now so the JVM boots while the in-process tests run. Files that stop or restart a broker start their own.
kafka_info="$(mktemp -u "$run_tmp/holdfast-kafka-XXXXXX.json")"
node dist/test/harness/kafka-shared.js "$kafka_info" $$ &
kafka_pid=$!

rc=0
mapfile -t unit < <(unit_files)
run_files 2 "${unit[@]}" || rc=$?

# Light process-level files (a gateway or a CLI, little traffic, no timing-sensitive assertion): two at a time.
light=(
  dist/test/config.validation.test.js
  dist/test/codec.package-exports.test.js
  dist/test/broker.mqtt.test.js
  dist/test/aggregate.payload.test.js
  dist/test/aggregate.late.test.js
  dist/test/aggregate.compaction.test.js
  dist/test/identity.tls.test.js
  dist/test/metrics.prometheus.test.js
  dist/test/ingest.buffer.test.js
)
keep_existing() { for f in "$@"; do if [ -f "$f" ]; then printf '%s\n' "$f"; fi; done; }
mapfile -t light < <(keep_existing "${light[@]}")
run_files 2 "${light[@]}" || rc=$?

for _ in $(seq 1 180); do
  if [ -s "$kafka_info" ] || ! kill -0 "$kafka_pid" 2>/dev/null; then break; fi
  sleep 1
done
if [ -s "$kafka_info" ]; then
  HF_TEST_KAFKA="$(cat "$kafka_info")"
  export HF_TEST_KAFKA
else
  echo "test.sh: the shared Kafka broker did not start; each file starts its own" >&2
fi

# The other process-level tests three at a time (most wait on brokers, outages and timers, not the CPU),
# longest first so the lanes end together; files that load the machine on purpose run alone after.
slow_first=(
  forward.kafka remote-config.fleet.kafka reconcile.kafka budget.retention.kafka expand.kafka chaos.kill20
  remote-config.apply.kafka remote-config.rollback.kafka status.technician.browser durability.kill9 chaos.clock
  remote-config.reject.kafka chaos.sqlite status.limits uplink.tls.kafka kafka.broker budget.kafka
  priority.kafka remote-config.cli.kafka quota.evict-priority aggregate.rollup status.browser
)
alone=(quota.flood fuzz.mqtt threads.broker)
as_dist() { for n in "$@"; do printf 'dist/test/%s.test.js\n' "$n"; done; }
mapfile -t slow_first < <(as_dist "${slow_first[@]}")
mapfile -t alone < <(as_dist "${alone[@]}")
mapfile -t ordered < <(keep_existing "${slow_first[@]}")
listed=" ${unit[*]} ${light[*]} ${slow_first[*]} ${alone[*]} "
for f in dist/test/*.test.js; do
  case "$listed" in *" $f "*) ;; *) ordered+=("$f") ;; esac
done
mapfile -t last < <(keep_existing "${alone[@]}")
reporters=(--test-reporter=spec --test-reporter-destination=stdout
  --test-reporter=./dist/test/harness/file-times.js --test-reporter-destination=stdout)
run_files 3 "${ordered[@]}" || rc=$?
if [ ${#last[@]} -gt 0 ]; then run_files 1 "${last[@]}" || rc=$?; fi
exit "$rc"
