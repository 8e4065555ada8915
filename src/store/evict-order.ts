/**
 * Which readings a storage quota or the disk budget takes from a device: lowest priority class
 * first, oldest first within a class, so alarms go only when the device holds nothing else.
 * Runs inside the group commit's transaction. Bulk readings (class 0) are found by scanning the
 * table forward from a per-device lower bound (no (device, seq) index: it made every group commit
 * 4-5x slower); the rare prioritised rows through the partial lanes index.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import { KIND_RAW, KIND_ROLLUP, PROPS_BYTES_SQL } from './reading.js'

export interface EvictedRow {
  seq: number
  topic: string
  /** Payload and metadata bytes. */
  n: number
  cls: number
  kind: number
}

const COLS = `seq, topic, length(payload) + ${PROPS_BYTES_SQL} AS n, cls, kind`
const CHUNK = 256
/** A small row's cost (overhead, short topic and payload): the row size assumed when the caller knows none. */
const MIN_ROW_BYTES = 64

export class EvictOrder {
  private readonly bulk: Statement
  private readonly ranked: Statement
  private readonly deleteOne: Statement

  constructor(db: DB) {
    this.bulk = db.prepare(
      `SELECT ${COLS} FROM readings WHERE seq >= ? AND device = ? AND cls = 0 ORDER BY seq LIMIT ?`
    )
    // One kind at a time: with cls and kind fixed, the lanes index (cls, kind, seq) gives rows in seq
    // order from the hint on, so LIMIT ends the scan (with cls alone SQLite sorted every row of the class).
    this.ranked = db.prepare(
      `SELECT ${COLS} FROM readings WHERE (cls > 0 OR kind > 0) AND cls = ? AND kind = ? AND device = ? AND seq >= ? ORDER BY seq LIMIT ?`
    )
    this.deleteOne = db.prepare('DELETE FROM readings WHERE seq = ?')
  }

  /**
   * Delete at least `readings` readings and `bytes` bytes (row cost from `cost`) of a device, class by
   * class from `classes` (ascending). `from(cls)` is at or below the device's oldest reading of that
   * class and `endSeq` above every reading now stored; returns what was deleted and, per class scanned,
   * the new lower bound.
   */
  evict(
    device: number,
    from: (cls: number) => number,
    endSeq: number,
    classes: readonly number[],
    want: { readings: number; bytes: number },
    cost: (r: EvictedRow) => number,
    onDelete: (r: EvictedRow) => void,
    /** The device's mean row cost: sizes the first read of an eviction by bytes. */
    rowBytes = MIN_ROW_BYTES
  ): { readings: number; bytes: number; next: Map<number, number> } {
    let readings = 0
    let bytes = 0
    const next = new Map<number, number>()
    const enough = (): boolean => readings >= want.readings && bytes >= want.bytes
    for (const cls of classes) {
      let at = from(cls)
      // Read about as many rows as are wanted, then twice as many each round: with no (device, seq)
      // index a read of n rows steps over n rows of every other device too (a fixed 256 made a
      // one-reading eviction among 5,000 devices step over 1.3M rows).
      let limit = Math.max(1, want.readings - readings, Math.ceil((want.bytes - bytes) / Math.max(rowBytes, 1)))
      while (!enough()) {
        limit = Math.min(CHUNK, limit)
        const rows =
          cls === 0 ? (this.bulk.all(at, device, limit) as EvictedRow[]) : this.rankedRows(cls, device, at, limit)
        for (const r of rows) {
          if (enough()) break
          this.deleteOne.run(r.seq)
          onDelete(r)
          readings++
          bytes += cost(r)
          at = r.seq + 1
        }
        if (rows.length < limit) {
          // Scanned to the end: the device has no reading of this class left, so later scans start after today's rows.
          if (!enough()) at = endSeq
          break
        }
        limit *= 2
      }
      next.set(cls, at)
      if (enough()) break
    }
    return { readings, bytes, next }
  }

  /** A prioritised class's oldest `limit` rows of the device from seq `at` on: raw readings and rollups, merged by seq. */
  private rankedRows(cls: number, device: number, at: number, limit: number): EvictedRow[] {
    const raw = this.ranked.all(cls, KIND_RAW, device, at, limit) as EvictedRow[]
    const rollups = this.ranked.all(cls, KIND_ROLLUP, device, at, limit) as EvictedRow[]
    if (rollups.length === 0) return raw
    if (raw.length === 0) return rollups
    return [...raw, ...rollups].sort((x, y) => x.seq - y.seq).slice(0, limit)
  }
}

/** The priority classes present (lanes holding readings, plus those of the batch being committed), lowest first. */
export function classesLowestFirst(laneCls: Iterable<number>, batchCls: Iterable<number>): number[] {
  const set = new Set<number>([0])
  for (const c of laneCls) set.add(c)
  for (const c of batchCls) set.add(c)
  return [...set].sort((a, b) => a - b)
}
