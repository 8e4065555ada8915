# syntax=docker/dockerfile:1
#
# Holdfast gateway image: small Debian runtime, non-root, buffer on a volume, health check.
# Multi-architecture with buildx (see "Installing on the box" in README.md):
#
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t holdfast:0.1.0 .
#
# Stages: `compile` turns TypeScript into JavaScript once, on the build machine's own platform
# (the output is the same for every architecture, and tsc under QEMU is slow); `modules` installs
# the production node_modules inside the *target* platform, so better-sqlite3 is compiled from
# source for that CPU (natively, or under QEMU when buildx emulates it) and cbor-extract takes its
# prebuilt binary for that CPU (2.2.2 ships linux-x64, linux-arm64 and linux-arm); `runtime` is
# node:20-bookworm-slim with only what the gateway needs.

FROM --platform=$BUILDPLATFORM node:20-bookworm AS compile
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm AS modules
# node:20-bookworm already carries python3, make and g++; installed explicitly so a change of the
# base image cannot silently drop them. Versions are Debian bookworm's, which differ per architecture.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# postinstall applies patches/*.patch to the pinned aedes (README "MQTT 5").
COPY patches ./patches
COPY scripts/apply-patches.mjs ./scripts/
# Build better-sqlite3 from source (no prebuilt download) against this image's own Node headers
# (/usr/local/include/node), so nothing is fetched but npm packages and the result fits the target.
ENV npm_config_build_from_source=better-sqlite3 \
    npm_config_nodedir=/usr/local
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm prune --omit=dev \
 && node -e "const D = require('better-sqlite3'); new D(':memory:').prepare('select 1').get(); console.log('better-sqlite3 ok on', process.arch)"

FROM node:20-bookworm-slim AS runtime
# UV_THREADPOOL_SIZE: the WAL fdatasync shares libuv's pool with password checks and name lookups (see
# systemd/holdfast.service).
# GLIBC_TUNABLES: malloc gives a drain's large buffers back to the system (see systemd/holdfast.service).
ENV NODE_ENV=production \
    UV_THREADPOOL_SIZE=8 \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072
# Its own system user; the buffer directory is created and owned before VOLUME, so a new named
# volume starts out owned by that user.
RUN groupadd --system --gid 10001 holdfast \
 && useradd --system --uid 10001 --gid holdfast --home-dir /var/lib/holdfast --shell /usr/sbin/nologin holdfast \
 && install -d -o holdfast -g holdfast -m 0750 /var/lib/holdfast
WORKDIR /opt/holdfast
COPY --from=modules /app/node_modules ./node_modules
COPY --from=compile /src/package.json ./
COPY --from=compile /src/dist/src ./dist/src
COPY --from=compile /src/dist/device-sim ./dist/device-sim
USER 10001:10001
VOLUME /var/lib/holdfast
# MQTT and the status page/API (8883 too when MQTT over TLS is configured).
EXPOSE 1883 8080
# No curl in the slim image: Node's fetch asks /healthz (200 while the process serves HTTP).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HOLDFAST_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) runs the gateway's ordered shutdown; give it --stop-timeout 20 or more.
ENTRYPOINT ["node", "--heap-growing-percent=25", "--max-semi-space-size=8", "--single-threaded-gc", "dist/src/cli/main.js", "run", "--data-dir", "/var/lib/holdfast"]
