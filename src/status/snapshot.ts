/** The status document behind /api/status: built from read-only views of the running parts. */
import type { Counters } from '../metrics/counters.js'
import type { UplinkView } from '../forward/uplink.js'
import type { ReadingBuffer } from '../store/buffer.js'
import type { LifetimeTotals } from '../metrics/lifetime.js'
import { VERSION } from '../version.js'

export interface StatusSources {
  gatewayId: string
  startedMs: number
  counters: Counters
  buffer: ReadingBuffer
  /** Totals persisted across restarts (absent in tests that build a snapshot without one). */
  lifetime?: LifetimeTotals
  uplink: () => UplinkView
  /** The forwarder's work for /metrics: produce requests read, read workers running (absent: not reported). */
  forward?: () => { requestsRead: number; readWorkers: number }
  mqtt: () => { listening: boolean; connections: number }
  config: () => { source: string; version: number | null }
  /** Per-device quota object (limits, usage, drops), from the admission step. */
  quotaOf?: (device: string) => unknown
  /** Uplink budget: per period budget, used, remaining, projection; what each class does now. */
  budget?: () => unknown
  /** Rollup windows, compaction, retention, forwarding lanes. */
  aggregation?: () => unknown
}

const ageS = (ms: number, now: number): number => Math.max(0, Math.round((now - ms) / 100) / 10)

/** `rate`: a device's readings per second (the rate history's), the last field of its row. */
export function statusSnapshot(s: StatusSources, rate: (id: string, received: number) => number) {
  const now = Date.now()
  const usage = s.buffer.usage.usageTotal()
  const oldest = s.buffer.usage.oldestRecvMs()
  const c = s.counters
  const lifetimeDevices = s.lifetime?.devices()
  return {
    gatewayId: s.gatewayId,
    version: VERSION,
    uptimeS: Math.round((now - s.startedMs) / 1000),
    now: new Date(now).toISOString(),
    uplink: s.uplink(),
    backlog: {
      readings: usage.readings,
      bytes: usage.bytes,
      oldestAgeS: oldest === null ? 0 : ageS(oldest, now),
      lastSeq: s.buffer.writer.lastSeq()
    },
    store: { recovery: s.buffer.recovery },
    clock: { state: s.buffer.times.clock.state, steps: s.buffer.times.clock.steps },
    counters: {
      received: c.received,
      stored: c.stored,
      forwarded: c.forwarded,
      duplicates: c.duplicates,
      authFailures: c.authFailures,
      dropped: { ...c.dropped },
      refused: { ...c.refused },
      rollups: c.rollups,
      forwardedRollups: c.forwardedRollups,
      lateReadings: c.lateReadings,
      compacted: c.compacted
    },
    lifetime: lifetimeDevices === undefined ? null : s.lifetime!.gateway(lifetimeDevices),
    budget: s.budget?.() ?? null,
    aggregation: s.aggregation?.() ?? null,
    mqtt: s.mqtt(),
    config: s.config(),
    devices: [...c.devices.values()].map(d => {
      const u = s.buffer.usage.usageOf(d.id)
      return {
        id: d.id,
        connected: d.connections > 0,
        protocol: d.protocol,
        lastSeenS: d.lastSeenMs === 0 ? null : ageS(d.lastSeenMs, now),
        received: d.received,
        stored: d.stored,
        forwarded: d.forwarded,
        duplicates: d.duplicates,
        buffered: u.readings,
        bufferedBytes: u.bytes,
        authFailures: d.authFailures,
        denials: d.denials,
        dropped: { ...d.dropped },
        refused: { ...d.refused },
        lifetime: lifetimeDevices?.get(d.id) ?? null,
        quota: s.quotaOf?.(d.id) ?? null,
        ratePerS: rate(d.id, d.received)
      }
    }),
    /** App accounts that had something refused (connections, subscriptions, messages to them). */
    apps: [...c.apps.values()].map(a => ({ id: a.id, refused: { ...a.refused } }))
  }
}

export type StatusSnapshot = ReturnType<typeof statusSnapshot>
