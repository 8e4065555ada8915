/**
 * The heartbeat's body: what an operator needs to see a gateway at a glance from far away —
 * uplink state, backlog, drops (since the last heartbeat and in total), a health verdict made by
 * the same rules as the status page (src/status/health.ts; host facts are left to the page), the
 * configuration in force and the software version.
 */
import type { Config } from '../config/schema.js'
import { processLogRing } from '../log-ring.js'
import type { Counters } from '../metrics/counters.js'
import type { HostFacts } from '../metrics/host.js'
import { assess } from '../status/health.js'
import type { UplinkView } from '../forward/uplink.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { VERSION } from '../version.js'

export interface HeartbeatSources {
  startedMs: number
  counters: Counters
  buffer: ReadingBuffer
  uplink: () => UplinkView
  mqtt: () => { listening: boolean; connections: number }
  config: () => Readonly<Config>
}

const NO_HOST: HostFacts = {
  sampledAt: null,
  hostname: null,
  os: null,
  arch: process.arch,
  cores: null,
  cpuLoadPct: null,
  loadAvg: null,
  memTotalBytes: null,
  memAvailableBytes: null,
  memUsedPct: null,
  disk: null,
  temperatureC: null,
  uptimeS: null,
  network: []
}
const ERROR_WINDOW_MS = 15 * 60_000

export function heartbeatBuilder(s: HeartbeatSources): () => Record<string, unknown> {
  let lastDropped: Record<string, number> = { ...s.counters.dropped }
  let lastRefused: Record<string, number> = { ...s.counters.refused }
  const delta = (now: Record<string, number>, before: Record<string, number>): Record<string, number> =>
    Object.fromEntries(
      Object.entries(now)
        .map(([k, v]) => [k, v - (before[k] ?? 0)])
        .filter(([, v]) => (v as number) > 0)
    )
  return () => {
    const now = Date.now()
    const c = s.counters
    const usage = s.buffer.usage.usageTotal()
    const oldest = s.buffer.usage.oldestRecvMs()
    const uplink = s.uplink()
    const recentDrops = delta(c.dropped, lastDropped)
    const recentRefused = delta(c.refused, lastRefused)
    lastDropped = { ...c.dropped }
    lastRefused = { ...c.refused }
    const backlog = {
      readings: usage.readings,
      bytes: usage.bytes,
      oldestAgeS: oldest === null ? 0 : Math.max(0, Math.round((now - oldest) / 1000))
    }
    const config = s.config()
    const devices = [...c.devices.values()].map(d => ({
      id: d.id,
      connected: d.connections > 0,
      lastSeenS: d.lastSeenMs === 0 ? null : (now - d.lastSeenMs) / 1000
    }))
    const recentErrors = processLogRing
      .problemLines(100)
      .filter(l => (l.level === 'error' || l.level === 'fatal') && now - Date.parse(l.time) < ERROR_WINDOW_MS).length
    const mqtt = s.mqtt()
    const health = assess({
      mqttListening: mqtt.listening,
      bufferWritable: s.buffer.writer.lastCommitOk(),
      uplink,
      backlog,
      storeMaxBytes: config.store.maxBytes,
      minFreeBytes: config.store.minFreeBytes,
      devices,
      recentDrops,
      recentRefused,
      recentErrors,
      host: NO_HOST,
      nowMs: now
    })
    const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0)
    return {
      softwareVersion: VERSION,
      uptimeS: Math.round((now - s.startedMs) / 1000),
      uplink: { state: uplink.state, since: uplink.since, lastError: uplink.lastError, drainRate: uplink.drainRate },
      backlog,
      counters: {
        received: c.received,
        stored: c.stored,
        forwarded: c.forwarded,
        duplicates: c.duplicates,
        dropped: sum(c.dropped),
        droppedSinceLast: recentDrops,
        refused: sum(c.refused)
      },
      mqtt: {
        listening: mqtt.listening,
        connections: mqtt.connections,
        devicesConnected: devices.filter(d => d.connected).length
      },
      health: { level: health.level, problems: health.problems.map(p => p.text) }
    }
  }
}
