/** The per-device rows of /metrics: one per device, those past the label cap summed under `_other`. */
import type { DeviceStats } from './counters.js'
import { quotaShare, quotaUsage } from './quota-view.js'

export interface DeviceRow {
  id: string
  received: number
  stored: number
  forwarded: number
  authFailures: number
  denials: number
  buffered: number
  bufferedBytes: number
  connections: number
  dropped: Record<string, number>
  refused: Record<string, number>
  throttled: number
  held: number
  quotaShare: number | null
}

export function toRow(d: DeviceStats, u: { readings: number; bytes: number }, quota: unknown): DeviceRow {
  return {
    id: d.id,
    received: d.received,
    stored: d.stored,
    forwarded: d.forwarded,
    authFailures: d.authFailures,
    denials: d.denials,
    buffered: u.readings,
    bufferedBytes: u.bytes,
    connections: d.connections,
    dropped: { ...d.dropped } as Record<string, number>,
    refused: { ...d.refused } as Record<string, number>,
    ...quotaUsage(quota),
    quotaShare: quotaShare(quota)
  }
}

export function add(a: DeviceRow, b: DeviceRow): DeviceRow {
  const sum = (x: Record<string, number>, y: Record<string, number>): Record<string, number> => {
    const out = { ...x }
    for (const [k, v] of Object.entries(y)) out[k] = (out[k] ?? 0) + v
    return out
  }
  return {
    id: a.id,
    received: a.received + b.received,
    stored: a.stored + b.stored,
    forwarded: a.forwarded + b.forwarded,
    authFailures: a.authFailures + b.authFailures,
    denials: a.denials + b.denials,
    buffered: a.buffered + b.buffered,
    bufferedBytes: a.bufferedBytes + b.bufferedBytes,
    connections: a.connections + b.connections,
    dropped: sum(a.dropped, b.dropped),
    refused: sum(a.refused, b.refused),
    throttled: a.throttled + b.throttled,
    held: a.held + b.held,
    // A share of different caps does not add up: _other shows the fullest device.
    quotaShare:
      a.quotaShare === null ? b.quotaShare : b.quotaShare === null ? a.quotaShare : Math.max(a.quotaShare, b.quotaShare)
  }
}
