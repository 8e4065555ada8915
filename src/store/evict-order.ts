/**
 * Which readings a storage quota or the disk budget takes from a device: lowest priority class
 * first, oldest first within a class, so alarms go only when the device holds nothing else.
 * Runs inside the group commit's transaction. Bulk readings (class 0) are found by scanning the
 * table forward from a per-device lower bound (no (device, seq) index: it made every group commit
 * 4-5x slower); the rare prioritised rows through the partial lanes index.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import { PROPS_BYTES_SQL } from './reading.js'

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

export class EvictOrder {
  private readonly bulk: Statement
  private readonly ranked: Statement
  private readonly deleteOne: Statement

  constructor(db: DB) {
    this.bulk = db.prepare(
      `SELECT ${COLS} FROM readings WHERE seq >= ? AND device = ? AND cls = 0 ORDER BY seq LIMIT ?`
    )
    this.ranked = db.prepare(
      `SELECT ${COLS} FROM readings WHERE (cls > 0 OR kind > 0) AND cls = ? AND device = ? AND seq >= ? ORDER BY seq LIMIT ?`
    )
    this.deleteOne = db.prepare('DELETE FROM readings WHERE seq = ?')
  }

  /**
   * Delete at least `readings` readings and `bytes` bytes (row cost from `cost`) of a device, class by
   * class from `classes` (ascending). `bulkFrom` is at or below the device's oldest class-0 reading and
   * `endSeq` above every reading now stored; returns what was deleted and the new lower bound.
   */
  evict(
    device: number,
    bulkFrom: number,
    endSeq: number,
    classes: readonly number[],
    want: { readings: number; bytes: number },
    cost: (r: EvictedRow) => number,
    onDelete: (r: EvictedRow) => void
  ): { readings: number; bytes: number; bulkFrom: number } {
    let readings = 0
    let bytes = 0
    const enough = (): boolean => readings >= want.readings && bytes >= want.bytes
    for (const cls of classes) {
      let from = cls === 0 ? bulkFrom : 0
      while (!enough()) {
        const rows = (
          cls === 0 ? this.bulk.all(from, device, CHUNK) : this.ranked.all(cls, device, from, CHUNK)
        ) as EvictedRow[]
        for (const r of rows) {
          if (enough()) break
          this.deleteOne.run(r.seq)
          onDelete(r)
          readings++
          bytes += cost(r)
          from = r.seq + 1
        }
        if (rows.length < CHUNK) {
          // Scanned to the end: the device has no bulk reading left, so later scans start after today's rows.
          if (cls === 0 && !enough()) from = endSeq
          break
        }
      }
      if (cls === 0) bulkFrom = from
      if (enough()) break
    }
    return { readings, bytes, bulkFrom }
  }
}

/** The priority classes present (lanes holding readings, plus those of the batch being committed), lowest first. */
export function classesLowestFirst(laneCls: Iterable<number>, batchCls: Iterable<number>): number[] {
  const set = new Set<number>([0])
  for (const c of laneCls) set.add(c)
  for (const c of batchCls) set.add(c)
  return [...set].sort((a, b) => a - b)
}
