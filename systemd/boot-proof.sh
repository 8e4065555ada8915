#!/usr/bin/env bash
# Proof that holdfast.service works under a real systemd: boots a Debian 12 container (debootstrap +
# systemd-nspawn, systemd as its PID 1, its own network namespace) with this checkout bound read-only
# at /opt/holdfast and the host's node at /usr/bin/node, installs the unit and the sysusers.d snippet
# as systemd/README.md says, and checks what the unit promises:
#
#   1. Type=notify: the service becomes active only through READY=1 sent by systemd-notify (a child
#      process, NotifyAccess=all), with the status text it sent
#   2. the sandbox: not root, no capabilities, no_new_privs, seccomp, / and /etc/holdfast read-only,
#      /var/lib/holdfast writable; and the gateway still works in it: MQTT ingest, host facts
#   3. the watchdog: a frozen process (SIGSTOP) is killed and restarted, the buffer kept
#   4. SIGTERM: an orderly stop, exit 0
#   5. exit code 2 (bad configuration): failed, not restarted
#   6. a crash loop (SIGKILL again and again) stops at the start limit
#
# Not part of `npm test`: it needs root, installs Debian's debootstrap and systemd-container, and
# takes a few minutes the first time (the root file system is kept in $HF_SYSTEMD_WORK for later runs).
# Needs a build (dist/) and node_modules in this checkout.
#
#   sudo bash systemd/boot-proof.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${HF_SYSTEMD_WORK:-/tmp/hf-systemd-proof}"
RFS="$WORK/root"
NODE_BIN="$(readlink -f "$(command -v node)")"
MACHINE=hfproof
[ "$(id -u)" -eq 0 ] || { echo "boot-proof: needs root (debootstrap, systemd-nspawn)" >&2; exit 2; }
[ -f "$ROOT/dist/src/cli/main.js" ] && [ -d "$ROOT/node_modules/better-sqlite3" ] || { echo "boot-proof: build first (npm ci && npx tsc -p tsconfig.json)" >&2; exit 2; }

log () { printf '\n== %s\n' "$*" >&2; }
fails=0 total=0
check () { # $1 = description, rest = command
  local what=$1; shift
  total=$((total + 1))
  if "$@"; then echo "PASS  $what"; else echo "FAIL  $what"; fails=$((fails + 1)); fi
}

need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x "$RFS/lib/systemd/systemd" ]; then
  log "debootstrap: Debian 12 with systemd into $RFS"
  rm -rf "$RFS" && mkdir -p "$WORK"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$RFS" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
fi

log "installing the unit as systemd/README.md says"
rm -rf "$RFS/var/lib/holdfast" "$RFS/var/lib/private/holdfast" "$RFS/etc/systemd/system/holdfast.service.d"
mkdir -p "$RFS/opt/holdfast" "$RFS/etc/holdfast"
[ -e "$RFS/usr/bin/node" ] || install -m 0755 /dev/null "$RFS/usr/bin/node"   # bind-mount target
install -m 0644 "$ROOT/systemd/holdfast.sysusers" "$RFS/usr/lib/sysusers.d/holdfast.conf"
install -m 0644 "$ROOT/systemd/holdfast.service" "$RFS/etc/systemd/system/holdfast.service"
GOOD_CONFIG='{ "gatewayId": "boot-proof", "mqtt": { "allowAnonymous": true }, "status": { "public": true } }'
echo "$GOOD_CONFIG" > "$RFS/etc/holdfast/holdfast.json"
chroot "$RFS" systemctl enable holdfast.service >/dev/null 2>&1
chroot "$RFS" systemctl mask console-getty.service systemd-networkd-wait-online.service >/dev/null 2>&1

# Until src/main.ts calls src/platform/sdnotify.ts, a stand-in launcher does what that wiring does.
if grep -rqs 'sdnotify' "$ROOT/dist/src/main.js" "$ROOT/dist/src/cli/run.js"; then
  WIRED=yes
else
  WIRED="no (stand-in launcher)"
  mkdir -p "$RFS/etc/systemd/system/holdfast.service.d"
  cat > "$RFS/opt/launch.mjs" <<'EOF'
// What src/main.ts is to do with src/platform/sdnotify.ts: watchdog from the start, READY=1 once
// the gateway answers /readyz, STOPPING=1 on SIGTERM.
import { notifyReady, notifyStopping, startWatchdog } from '/opt/holdfast/dist/src/platform/sdnotify.js'
startWatchdog()
process.on('SIGTERM', () => { void notifyStopping('stopping (SIGTERM)') })
process.argv.splice(1, 1, '/opt/holdfast/dist/src/cli/main.js')
await import('/opt/holdfast/dist/src/cli/main.js')
for (;;) {
  try { if ((await fetch('http://127.0.0.1:8080/readyz')).ok) break } catch {}
  await new Promise((resolve) => setTimeout(resolve, 100))
}
await notifyReady('accepting MQTT on 1883')
EOF
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/node /opt/launch.mjs run --config /etc/holdfast/holdfast.json --data-dir /var/lib/holdfast\n' \
    > "$RFS/etc/systemd/system/holdfast.service.d/launch.conf"
fi

log "booting the container"
setsid systemd-nspawn -b -D "$RFS" --machine="$MACHINE" --private-network --console=passive --register=no --keep-unit \
  --bind-ro="$NODE_BIN:/usr/bin/node" --bind-ro="$ROOT:/opt/holdfast" > "$WORK/boot.log" 2>&1 < /dev/null &
NSPAWN=$!
cleanup () { kill -TERM "$NSPAWN" 2>/dev/null || true; wait "$NSPAWN" 2>/dev/null || true; }
trap cleanup EXIT
LEADER=""
for _ in $(seq 1 100); do LEADER=$(pgrep -P "$NSPAWN" -x systemd || true); [ -n "$LEADER" ] && break; sleep 0.1; done
[ -n "$LEADER" ] || { cat "$WORK/boot.log" >&2; exit 1; }
IN=(nsenter -t "$LEADER" -a)
NET=(nsenter -t "$LEADER" -n)
prop () { "${IN[@]}" systemctl show holdfast -p "$1" --value 2>/dev/null; }
wait_active () { for _ in $(seq 1 "$1"); do [ "$(prop ActiveState)" = active ] && [ -n "$(prop StatusText)" ] && return 0; sleep 0.5; done; return 1; }
journal () { "${IN[@]}" journalctl -b -u holdfast --no-pager -o cat "$@"; }
T0=$(date +%s)
wait_active 120 || true

echo "holdfast.service under systemd $("${IN[@]}" systemctl --version | head -1 | cut -d' ' -f2) in systemd-nspawn; sdnotify wired into main: $WIRED"
check "1. Type=notify: active after READY=1 from systemd-notify, status \"$(prop StatusText)\"" \
  test "$(prop ActiveState)" = active -a -n "$(prop StatusText)"

MP=$(prop MainPID)
status_of () { "${IN[@]}" grep "^$1:" "/proc/$MP/status" | awk '{print $2}'; }
mount_opts () { "${IN[@]}" awk -v p="$1" '$5 == p { split($6, o, ","); print o[1] }' "/proc/$MP/mountinfo" | tail -1; }
check "2a. runs as the holdfast user, no capabilities, no_new_privs, seccomp filter" \
  test "$(status_of Uid)" = "$("${IN[@]}" id -u holdfast)" -a "$(status_of CapEff)" = 0000000000000000 -a "$(status_of NoNewPrivs)" = 1 -a "$(status_of Seccomp)" = 2
check "2b. / and /etc/holdfast read-only, /var/lib/holdfast writable" \
  test "$(mount_opts /)" = ro -a "$(mount_opts /etc/holdfast)" = ro -a "$(mount_opts /var/lib/holdfast)" = rw
SIM=$("${NET[@]}" node "$ROOT/dist/device-sim/sim.js" --url mqtt://127.0.0.1:1883 --devices 5 --count 200 --rate 0 --qos 1 2>/dev/null | tail -1)
check "2c. MQTT ingest inside the sandbox: $SIM" grep -q '"acked":1000' <<< "$SIM"
sleep 2
STATUS=$("${NET[@]}" node -e 'fetch("http://127.0.0.1:8080/api/status").then((r) => r.json()).then((j) => console.log(JSON.stringify({ backlog: j.backlog?.readings, mem: j.host?.memTotalBytes, disk: j.host?.disk?.mount, net: j.host?.network?.length, cpu: j.host?.cpuLoadPct, cores: j.host?.cores })))')
check "2d. host facts readable in the sandbox (host-read.ts and systeminformation: /proc, /sys, netlink): $STATUS" \
  node -e 'const j = JSON.parse(process.argv[1]); process.exit(j.backlog === 1000 && j.mem > 0 && j.disk && j.net > 0 && typeof j.cpu === "number" && j.cores > 0 ? 0 : 1)' "$STATUS"

"${IN[@]}" kill -STOP "$MP"
for _ in $(seq 1 120); do [ "$(prop NRestarts)" = 1 ] && break; sleep 0.5; done
wait_active 60 || true
check "3. watchdog: a frozen gateway is killed and restarted ($(journal | grep -c 'Watchdog timeout') watchdog timeout, NRestarts=$(prop NRestarts))" \
  test "$(journal | grep -c 'Watchdog timeout')" = 1 -a "$(prop NRestarts)" = 1 -a "$(prop ActiveState)" = active
check "3b. the buffer survived: $(sqlite3 -readonly "$RFS/var/lib/holdfast/buffer.db" 'select count(*) from readings') readings" \
  test "$(sqlite3 -readonly "$RFS/var/lib/holdfast/buffer.db" 'select count(*) from readings')" = 1000

"${IN[@]}" systemctl stop holdfast
check "4. SIGTERM: orderly stop, exit status $(prop ExecMainStatus), result $(prop Result)" \
  test "$(prop Result)" = success -a "$(prop ExecMainStatus)" = 0 -a "$(journal | grep -c '"msg":"stopped"')" -ge 1

echo '{ "mqtt": { "prot": 1 } }' > "$RFS/etc/holdfast/holdfast.json"
"${IN[@]}" systemctl start holdfast 2>/dev/null || true
sleep 5
check "5. bad configuration: exit $(prop ExecMainStatus), $(prop ActiveState), not restarted (NRestarts=$(prop NRestarts))" \
  test "$(prop ExecMainStatus)" = 2 -a "$(prop ActiveState)" = failed -a "$(prop NRestarts)" = 0
echo "$GOOD_CONFIG" > "$RFS/etc/holdfast/holdfast.json"

"${IN[@]}" systemctl reset-failed holdfast
"${IN[@]}" systemctl start holdfast 2>/dev/null || true
wait_active 60 || true
for _ in 1 2 3 4 5 6; do
  [ "$(prop ActiveState)" = failed ] && break
  n=$(prop NRestarts)
  "${IN[@]}" kill -KILL "$(prop MainPID)" 2>/dev/null || true
  # Until systemd has restarted it and it is ready again (or has given up).
  for _ in $(seq 1 80); do
    st=$(prop ActiveState)
    [ "$st" = failed ] && break
    [ "$st" = active ] && [ "$(prop NRestarts)" -gt "$n" ] && break
    sleep 0.25
  done
done
sleep 3
check "6. crash loop stops at the start limit ($(prop NRestarts) restarts, $(prop ActiveState))" \
  test "$(prop ActiveState)" = failed -a "$(journal | grep -c 'Start request repeated too quickly')" -ge 1

echo "$((total - fails)) of $total checks passed in $(( $(date +%s) - T0 )) s"
[ "$fails" -eq 0 ]
