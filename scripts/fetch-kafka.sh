#!/usr/bin/env bash
# Download the official Apache Kafka broker jars from Maven Central into
# .cache/kafka/<version>/lib (no Docker, no tarball: plain Maven artifacts).
#
# Idempotent: once a fetch has completed, a marker file is written and later
# runs exit immediately without touching Maven or the network.
#
#   KAFKA_VERSION  broker version to fetch; default must match KAFKA_VERSION
#                  in test/harness/kafka.ts (keep the two in sync).
#
# Prints the lib directory on stdout.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
DEST="$ROOT/.cache/kafka/$KAFKA_VERSION"
LIB="$DEST/lib"
MARKER="$DEST/.fetch-complete"

if [[ -f "$MARKER" ]]; then
  echo "$LIB"
  exit 0
fi

mkdir -p "$DEST"

# Serialise concurrent fetches (node --test runs test files in parallel).
exec 9>"$DEST/.fetch.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if [[ -f "$MARKER" ]]; then
  echo "$LIB"
  exit 0
fi

command -v mvn >/dev/null 2>&1 || { echo "fetch-kafka: mvn not found on PATH" >&2; exit 1; }

TMP="$DEST/lib.tmp.$$"
rm -rf "$TMP"
trap 'rm -rf "$TMP"' EXIT

echo "fetch-kafka: downloading Apache Kafka $KAFKA_VERSION from Maven Central ..." >&2
start=$(date +%s)
MVN_LOG="$DEST/fetch.log"
if ! mvn -q -B -Dstyle.color=never \
  -Dkafka.version="$KAFKA_VERSION" \
  dependency:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$TMP" \
  -f "$SCRIPT_DIR/kafka/pom.xml" >"$MVN_LOG" 2>&1; then
  cat "$MVN_LOG" >&2
  echo "fetch-kafka: mvn failed (is Maven Central reachable?)" >&2
  exit 1
fi

for jar in kafka_2.13 kafka-server kafka-storage kafka-clients; do
  if [[ ! -s "$TMP/$jar-$KAFKA_VERSION.jar" ]]; then
    echo "fetch-kafka: download incomplete, $jar-$KAFKA_VERSION.jar missing" >&2
    exit 1
  fi
done

rm -rf "$LIB"
mv "$TMP" "$LIB"
trap - EXIT
printf '%s\n' "kafka=$KAFKA_VERSION" "jars=$(ls "$LIB" | wc -l)" "fetched=$(date -u +%FT%TZ)" >"$MARKER"
echo "fetch-kafka: $(ls "$LIB" | wc -l) jars in $LIB ($(( $(date +%s) - start ))s)" >&2
echo "$LIB"
