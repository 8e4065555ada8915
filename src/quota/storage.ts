/**
 * Storage quotas and the gateway-wide disk budget, decided before a reading is appended (so a
 * refused reading is never acknowledged) and carried out in the same group commit as the append
 * (so the buffer never holds both the new reading and the ones it displaces).
 *
 * Per device: over maxBufferedReadings/maxBufferedBytes, `drop-oldest` evicts the device's own
 * oldest readings; `reject-new` refuses the new one. Gateway-wide: the budget is the smaller of
 * store.maxBytes and what the data volume can take while keeping store.minFreeBytes free. When a
 * reading would exceed it, drop-oldest devices that hold more than the publisher (or the publisher
 * itself) pay with their readings, lowest priority class first across all of them, heaviest device
 * first within a class: nobody loses data to a device using more than it, and alarms go only when
 * the payers hold nothing else. If they cannot free enough, the reading is refused (`disk_budget`).
 */
import { statfs } from 'node:fs'
import type { Logger } from '../log.js'
import type { Counters, DropReason } from '../metrics/counters.js'
import type { ReadingBuffer } from '../store/buffer.js'
import type { UsageLedger } from '../store/usage.js'
import type { QuotaBook } from './limits.js'

export type StorageVerdict = null | 'quota_storage' | 'disk_budget'

export interface StorageGuardOptions {
  buffer: Pick<ReadingBuffer, 'usage' | 'evictions'>
  book: QuotaBook
  maxBytes: number
  minFreeBytes: number
  dataDir: string
  counters: Counters
  log: Logger
  /** How often free space on the data volume is read. */
  diskPollMs?: number
}

export class StorageGuard {
  private readonly o: StorageGuardOptions
  private perDevice: boolean
  /** Bytes the buffer may reach according to the last free-space reading. */
  private diskBudget = Number.POSITIVE_INFINITY
  private freeBytes: number | null = null
  private timer: NodeJS.Timeout | undefined
  private full = false
  /** The disk budget's payers: device, projected bytes, device, projected bytes… */
  private readonly payers: Array<string | number> = []

  constructor(o: StorageGuardOptions) {
    this.o = o
    this.perDevice = o.book.hasStorageQuotas()
    o.buffer.evictions.onEvict(e => {
      if (e.readings > 0) o.counters.drop(e.device, e.reason as DropReason, e.readings)
    })
  }

  start(): void {
    const poll = (): void =>
      statfs(this.o.dataDir, (err, st) => {
        if (err !== null) return
        this.freeBytes = st.bavail * st.bsize
        this.diskBudget = this.o.buffer.usage.usageTotal().bytes + this.freeBytes - this.o.minFreeBytes
      })
    poll()
    this.timer = setInterval(poll, this.o.diskPollMs ?? 1000)
    this.timer.unref()
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  /** New quotas and budget (remote configuration); free space is re-read at the next poll. */
  reconfigure(o: Pick<StorageGuardOptions, 'book' | 'maxBytes' | 'minFreeBytes'>): void {
    this.o.book = o.book
    this.o.maxBytes = o.maxBytes
    this.o.minFreeBytes = o.minFreeBytes
    this.perDevice = o.book.hasStorageQuotas()
  }

  budget(): number {
    return Math.min(this.o.maxBytes, this.diskBudget)
  }

  view(): { budgetBytes: number; freeBytes: number | null; full: boolean } {
    return { budgetBytes: Math.max(0, Math.round(this.budget())), freeBytes: this.freeBytes, full: this.full }
  }

  /** May `device` append a reading costing `bytes` buffer bytes? Schedules the evictions that make room. */
  admit(device: string, bytes: number): StorageVerdict {
    const { buffer, book } = this.o
    if (this.perDevice) {
      const l = book.of(device)
      if (l.maxBufferedBytes > 0 || l.maxBufferedReadings > 0) {
        const u = buffer.usage.projectedOf(device)
        const overReadings = l.maxBufferedReadings > 0 ? u.readings + 1 - l.maxBufferedReadings : 0
        const overBytes = l.maxBufferedBytes > 0 ? u.bytes + bytes - l.maxBufferedBytes : 0
        if (overReadings > 0 || overBytes > 0) {
          if (l.storagePolicy === 'reject-new' || (l.maxBufferedBytes > 0 && bytes > l.maxBufferedBytes))
            return 'quota_storage'
          buffer.evictions.evictOldest(device, Math.max(0, overReadings), Math.max(0, overBytes), 'quota_drop_oldest')
        }
      }
    }
    const excess = buffer.usage.projectedTotalBytes() + bytes - this.budget()
    if (excess <= 0) {
      // Logged once per spell at the budget: evictions keep it just under, so "no longer full" waits
      // until the buffer is clearly below it (it flapped: a line per few readings).
      if (excess < -0.05 * this.budget()) this.full = false
      return null
    }
    if (!this.full) {
      this.full = true
      this.o.log.warn(
        { code: 'HF_ERR_DISK_BUDGET', budgetBytes: Math.round(this.budget()), freeBytes: this.freeBytes },
        'buffer reached its disk budget: drop-oldest devices now give way, others are refused'
      )
    }
    // Who may pay: drop-oldest devices holding more than the publisher (or the publisher itself), so
    // nobody loses data to a device using more than it. They pay lowest priority class first across
    // all of them (alarms only when no payer holds anything else), the heaviest first within a class.
    const mine = buffer.usage.projectedBytesOf(device)
    // Reused between calls: this runs for every reading while the budget is full.
    const payers = this.payers
    payers.length = 0
    if (mine > 0 && buffer.usage.isBuffered(device) && book.of(device).storagePolicy === 'drop-oldest')
      payers.push(device, mine)
    const { names, bytes: totals } = buffer.usage.projectedAll()
    for (let i = 0; i < names.length; i++) {
      const total = totals[i]!
      if (total <= mine) continue
      const d = names[i]!
      if (d === device || book.of(d).storagePolicy !== 'drop-oldest') continue
      payers.push(d, total)
    }
    const plan = evictionPlan(payers, excess, buffer.usage)
    if (plan === null) return 'disk_budget'
    for (const [d, b] of plan) buffer.evictions.evictOldest(d, 0, b, 'disk_drop_oldest')
    return null
  }
}

/**
 * Bytes each payer gives up to free `excess`, taken class by class (lowest first) across payers, the
 * heaviest payer first within a class; null when they cannot free that much together. Merged per
 * device: one eviction per payer, which takes its own lowest classes first. Usually the heaviest
 * payer's lowest class covers it: one pass over the payers, no sort.
 */
function evictionPlan(
  payers: ReadonlyArray<string | number>,
  excess: number,
  usage: Pick<UsageLedger, 'classesPresent' | 'projectedClassBytes'>
): Map<string, number> | null {
  const plan = new Map<string, number>()
  let left = excess
  for (const cls of usage.classesPresent()) {
    const taken = new Set<string>()
    while (left > 0) {
      let best: string | null = null
      let bestTotal = -1
      let bestHeld = 0
      for (let i = 0; i < payers.length; i += 2) {
        const d = payers[i] as string
        const total = payers[i + 1] as number
        if (total <= bestTotal || taken.has(d)) continue
        const held = usage.projectedClassBytes(d, cls)
        if (held <= 0) continue
        best = d
        bestTotal = total
        bestHeld = held
      }
      if (best === null) break
      taken.add(best)
      const take = Math.min(bestHeld, left)
      plan.set(best, (plan.get(best) ?? 0) + take)
      left -= take
    }
    if (left <= 0) return plan
  }
  return null
}
