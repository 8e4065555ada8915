/**
 * Drop-oldest: a request to delete a device's oldest buffered readings runs in the next group commit,
 * after its inserts, so the buffer never holds both. Listeners hear what was deleted once it commits.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import type { DeviceIds } from './devices.js'
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
export type EvictionDone = Eviction & { nextHint: number }

const SCAN_ROWS = 256

export class Evictions {
  private queued: Eviction[] = []
  private readonly listeners: Array<(done: Eviction) => void> = []
  /**
   * Per device, a seq at or below its oldest buffered reading; evictions scan forward from here.
   * No (device, seq) index: measured, it made every group commit 4-5x slower.
   */
  private readonly oldestHint = new Map<string, number>()
  private readonly selectDeviceOldest: Statement
  private readonly deleteOne: Statement

  constructor(
    db: DB,
    start: readonly DeviceTotals[],
    private readonly devices: DeviceIds,
    private readonly ledger: UsageLedger,
    private readonly lanes: LaneCounts,
    private readonly requestCommit: () => void
  ) {
    for (const d of start) this.oldestHint.set(d.device, d.lowestSeq)
    this.selectDeviceOldest = db.prepare(
      'SELECT seq, topic, length(payload) AS n, cls, kind FROM readings WHERE seq >= ? AND device = ? ORDER BY seq LIMIT ?'
    )
    this.deleteOne = db.prepare('DELETE FROM readings WHERE seq = ?')
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

  /** The group commit takes the queued requests. */
  take(): Eviction[] {
    const q = this.queued
    this.queued = []
    return q
  }

  /** A device's first buffered reading was committed at `seq`: scans start there. */
  noteFirst(device: string, seq: number): void {
    if (!this.oldestHint.has(device)) this.oldestHint.set(device, seq)
  }

  /** Inside the commit transaction: delete the device's oldest readings, scanning forward from its hint. */
  readonly runInTx = (e: Eviction): EvictionDone => {
    let from = this.oldestHint.get(e.device) ?? 0
    const id = this.devices.find(e.device)
    let readings = 0
    let bytes = 0
    while (id !== undefined && (readings < e.readings || bytes < e.bytes)) {
      const rows = this.selectDeviceOldest.all(from, id, SCAN_ROWS) as Array<{
        seq: number
        topic: string
        n: number
        cls: number
        kind: number
      }>
      if (rows.length === 0) break
      for (const r of rows) {
        if (readings >= e.readings && bytes >= e.bytes) break
        this.deleteOne.run(r.seq)
        this.lanes.addInTx(r.cls, r.kind, -1)
        readings++
        bytes += r.n + r.topic.length + ROW_OVERHEAD_BYTES
        from = r.seq + 1
      }
    }
    return { device: e.device, readings, bytes, reason: e.reason, nextHint: from }
  }

  /** After the commit: account what went and tell the listeners. */
  committed(done: readonly EvictionDone[]): void {
    for (const e of done) {
      this.ledger.account(e.device, -e.readings, -e.bytes)
      this.oldestHint.set(e.device, e.nextHint)
      for (const l of this.listeners) l(e)
    }
  }
}
