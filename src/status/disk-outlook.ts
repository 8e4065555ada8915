/**
 * The urgent figure while the uplink is down: how long until the buffer reaches its disk budget
 * at the current net inflow (stored minus forwarded), and what the gateway does then, in the
 * words of the configured storage policies (see src/quota/storage.ts).
 */
import type { Config } from '../config/schema.js'

/** Bytes per reading assumed before any is buffered (payload plus row overhead). */
const FALLBACK_BYTES_PER_READING = 200

export interface DiskOutlook {
  /** The budget now: store.maxBytes, or less when the data volume must keep store.minFreeBytes free. */
  budgetBytes: number
  /** Buffer bytes gained per second now (negative: shrinking). */
  netBytesPerS: number
  /** Seconds until the budget is full at that rate; null when the backlog is not growing, or is full. */
  fullInS: number | null
  /** The buffer is at its budget (95 % or more): readings now make room for one another (or are refused). */
  atBudget: boolean
  fullAt: string | null
  /** What happens when it is full. */
  whenFull: string
}

export interface OutlookInput {
  backlog: { readings: number; bytes: number }
  ingestPerS: number
  forwardPerS: number
  diskFreeBytes: number | null
  nowMs: number
}

export function whenFull(config: Readonly<Config>): string {
  const devices = Object.values(config.devices)
  const policies = new Set([
    config.quota.storagePolicy,
    ...devices.map(d => d.storagePolicy ?? config.quota.storagePolicy)
  ])
  const compact =
    Object.keys(config.aggregate.rules).length > 0
      ? `from ${Math.round(config.store.compactAt * 100)}% the oldest raw readings of aggregated topics are compacted into rollups; when full, `
      : ''
  const refuse = 'new readings are refused (not acknowledged, so devices keep them and retry)'
  if (policies.has('drop-oldest'))
    return `${compact}devices with storage policy drop-oldest lose their oldest buffered readings to make room${policies.size > 1 ? `; the others' ${refuse.replace('new readings are', 'are')}` : ''}`
  return `${compact}${refuse}`
}

export function diskOutlook(config: Readonly<Config>, i: OutlookInput): DiskOutlook {
  const { maxBytes, minFreeBytes } = config.store
  const budgetBytes = Math.max(
    0,
    i.diskFreeBytes === null ? maxBytes : Math.min(maxBytes, i.backlog.bytes + i.diskFreeBytes - minFreeBytes)
  )
  const perReading = i.backlog.readings > 0 ? i.backlog.bytes / i.backlog.readings : FALLBACK_BYTES_PER_READING
  const netBytesPerS = Math.round((i.ingestPerS - i.forwardPerS) * perReading)
  const room = Math.max(0, budgetBytes - i.backlog.bytes)
  // At the budget the inflow is paid for by evictions (or refusals): it no longer fills anything.
  const atBudget = budgetBytes > 0 && i.backlog.bytes >= budgetBytes * 0.95
  const fullInS = netBytesPerS > 0 && !atBudget ? Math.round(room / netBytesPerS) : null
  return {
    budgetBytes,
    netBytesPerS,
    fullInS,
    atBudget,
    fullAt: fullInS === null ? null : new Date(i.nowMs + fullInS * 1000).toISOString(),
    whenFull: whenFull(config)
  }
}
