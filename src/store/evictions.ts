/**
 * Drop-oldest: a request to delete a device's buffered readings (lowest priority class first, oldest
 * first within a class: evict-order.ts) runs in the next group commit, after its inserts, so the
 * buffer never holds both. Listeners hear what was deleted once it commits.
 */
import type { DB } from './db.js'
import type { SeqLedger } from './ledger.js'
import type { DeviceIds } from './devices.js'
import { type EvictedRow, EvictOrder } from './evict-order.js'
import type { LaneCounts } from './lane-counts.js'
import { ROW_OVERHEAD_BYTES } from './reading.js'
import type { DeviceTotals, UsageLedger } from './usage.js'

/** A request to delete a device's oldest readings in the next group commit, and what it did. */
export interface Eviction {
  device: string
  readings: number
  bytes: number
  reason: string
}
/** What an eviction deleted, in total and per priority class (readings, bytes). */
export type EvictionDone = Eviction & { nextHints: Map<number, number>; byClass: Map<number, [number, number]> }

export class Evictions {
  /** The seqs' fates (ledger.ts): each evicted seq gets one, in the same transaction. */
  fates: SeqLedger | null = null
  private queued: Eviction[] = []
  private readonly listeners: Array<(done: Eviction) => void> = []
  /**
   * Per device and priority class, a seq at or below its oldest buffered reading of that class; evictions
   * scan forward from here. No (device, seq) index: measured, it made every group commit 4-5x slower.
   */
  private readonly oldestHint = new Map<string, Map<number, number>>()
  private readonly order: EvictOrder

  constructor(
    db: DB,
    start: readonly DeviceTotals[],
    private readonly devices: DeviceIds,
    private readonly ledger: UsageLedger,
    private readonly lanes: LaneCounts,
    private readonly requestCommit: () => void
  ) {
    for (const d of start) this.hintsOf(d.device).set(d.cls, d.lowestSeq)
    this.order = new EvictOrder(db)
  }

  /**
   * Delete at least `readings` readings and `bytes` bytes of the device's oldest buffered readings in the
   * next group commit, after its inserts (storage quotas: drop-oldest). Listeners hear what was deleted.
   */
  evictOldest(device: string, readings: number, bytes: number, reason: string): void {
    this.queued.push({ device, readings, bytes, reason })
    this.ledger.addPending(device, -readings, -bytes)
    this.requestCommit()
  }

  onEvict(listener: (done: Eviction) => void): void {
    this.listeners.push(listener)
  }

  /** Requests waiting for the next group commit. */
  queuedCount(): number {
    return this.queued.length
  }

  /** The group commit takes the queued requests. */
  take(): Eviction[] {
    const q = this.queued
    this.queued = []
    return q
  }

  /** A device's reading of priority class `cls` was committed at `seq`: its first one sets where scans start. */
  noteFirst(device: string, seq: number, cls = 0): void {
    const hints = this.hintsOf(device)
    if (!hints.has(cls)) hints.set(cls, seq)
  }

  private hintsOf(device: string): Map<number, number> {
    let hints = this.oldestHint.get(device)
    if (hints === undefined) this.oldestHint.set(device, (hints = new Map()))
    return hints
  }

  /**
   * Inside the commit transaction: delete the device's readings, lowest priority class first.
   * `classes`: the priority classes present, lowest first; `endSeq`: above every reading now stored.
   */
  runInTx(e: Eviction, classes: readonly number[], endSeq: number): EvictionDone {
    const hints = this.oldestHint.get(e.device)
    const id = this.devices.find(e.device)
    const byClass = new Map<number, [number, number]>()
    if (id === undefined)
      return { device: e.device, readings: 0, bytes: 0, reason: e.reason, nextHints: new Map(), byClass }
    const cost = (r: EvictedRow): number => r.n + r.topic.length + ROW_OVERHEAD_BYTES
    const held = this.ledger.usageOf(e.device)
    const done = this.order.evict(
      id,
      cls => hints?.get(cls) ?? 0,
      endSeq,
      classes,
      e,
      cost,
      r => {
        this.fates?.fate(r.seq, id, e.device, e.reason)
        this.lanes.addInTx(r.cls, r.kind, -1)
        const c = byClass.get(r.cls) ?? [0, 0]
        c[0]++
        c[1] += cost(r)
        byClass.set(r.cls, c)
      },
      held.readings > 0 ? held.bytes / held.readings : undefined
    )
    return {
      device: e.device,
      readings: done.readings,
      bytes: done.bytes,
      reason: e.reason,
      nextHints: done.next,
      byClass
    }
  }

  /** After the commit: account what went and tell the listeners. */
  committed(done: readonly EvictionDone[]): void {
    for (const e of done) {
      for (const [cls, [readings, bytes]] of e.byClass) this.ledger.account(e.device, -readings, -bytes, cls)
      const hints = this.hintsOf(e.device)
      for (const [cls, seq] of e.nextHints) hints.set(cls, seq)
      for (const l of this.listeners) l(e)
    }
  }
}
